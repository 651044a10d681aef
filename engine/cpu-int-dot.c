/* Integer dot products for quantized weights (cpu-kernels.h): activations quantized per block
 * of 32 to int8, products in int32 per block, one float multiply-add per block.
 *
 * On AVX2 a block is one _mm256_maddubs_epi16 (unsigned × signed bytes into pairs of int16)
 * and one _mm256_madd_epi16 (pairs into int32). For int8 weights the activation's sign is
 * moved onto the weight (|a| · sign(a)·w), so the unsigned operand is |a| <= 127 and a pair
 * sums to at most 2 · 127 · 127 < 32768, never saturating. 4-bit weights go in as stored,
 * q + 8 in [0, 15], unsigned; the offset, 8 · Σa of the block, is taken off in float once per
 * block and row (cpu_qact.neg_dsum): one instruction less per product than the sign trick,
 * which made the 4-bit GEMM ~25% faster. The block sums of int8 weights are exact integers,
 * as in the portable path; the float sums over blocks (and the 4-bit offset) round
 * differently, within f32 rounding of each other.
 *
 * Few rows (decode): one weight row streamed at a time, two accumulators over alternate
 * blocks to cover the FMA latency. More rows (prefill, vision): tiles of 4 rows of A × 2
 * weight rows, the weights unpacked once per block for 4 rows and A read from cache. With
 * AVX-512 VNNI (g->avx512 and the CPU has it) the tiles are 4 × 4 and vpdpbusd takes the place
 * of maddubs + madd: the same int32 lanes, so the same results bit for bit.
 */
#include "cpu-kernels.h"

#include "quantize.h"

#include <math.h>
#include <string.h>

#include "cpu-simd.h"

#define QB CPU_QACT_BLOCK
/* Up to this many rows of A, B is streamed one row at a time. */
#define GEMV_MAX_ROWS 3
#define TILE_ROWS 4
#define TILE_COLS 2
#define A_SLICE_BYTES (128 * 1024)

gboolean cpu_int_dot_enabled(void)
{
  return g_strcmp0(g_getenv("IVL_CPU_INT_DOT"), "0") != 0;
}

cpu_qact *cpu_qact_new(int64_t m, int64_t k, ivl_dtype b_dtype)
{
  cpu_qact *qa = g_new0(cpu_qact, 1);
  qa->m = m;
  qa->k = k;
  qa->n_blocks = (k + QB - 1) / QB;
  qa->split = b_dtype == IVL_DTYPE_Q4;
  qa->q = g_malloc(MAX(1, (size_t)m * (size_t)qa->n_blocks * QB));
  qa->d = g_new(float, MAX(1, m * qa->n_blocks));
  qa->neg_dsum = qa->split ? g_new(float, MAX(1, m * qa->n_blocks)) : NULL;
  return qa;
}

void cpu_qact_free(cpu_qact *qa)
{
  if (qa == NULL)
    return;
  g_free(qa->q);
  g_free(qa->d);
  g_free(qa->neg_dsum);
  g_free(qa);
}

/* Where value t of a block goes: Q4's order puts the even values first. */
static int block_pos(gboolean split, int t)
{
  return split ? t / 2 + (t % 2) * (QB / 2) : t;
}

static void qact_block_portable(int8_t *q, float *d, const float *x, int n, gboolean split)
{
  float amax = 0.0f;
  for (int t = 0; t < n; t++)
    amax = fmaxf(amax, fabsf(x[t]));
  *d = amax / 127.0f;
  const float id = amax != 0.0f ? 1.0f / *d : 0.0f;
  memset(q, 0, QB);
  /* clamped as the AVX2 path (a NaN to -127 there by max's operand order, here by fmaxf's),
   * so that a NaN or infinite activation is no undefined conversion; nearbyintf rounds to
   * nearest even, as _mm256_cvtps_epi32 */
  for (int t = 0; t < n; t++)
    q[block_pos(split, t)] = (int8_t)nearbyintf(fminf(fmaxf(x[t] * id, -127.0f), 127.0f));
}

#if HAVE_X86_SIMD
__attribute__((target("avx2,fma"), always_inline)) static inline float hmax(__m256 v)
{
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

/* qact_block_portable for a whole block, bit for bit: the same max, the same product x · id
 * and the same rounding. */
__attribute__((target("avx2,fma"))) static void qact_block_avx2(int8_t *q, float *d, const float *x,
                                                                gboolean split)
{
  const __m256 sign = _mm256_set1_ps(-0.0f);
  __m256 v[4];
  for (int i = 0; i < 4; i++)
    v[i] = _mm256_loadu_ps(x + 8 * i);
  __m256 m =
      _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(sign, v[0]), _mm256_andnot_ps(sign, v[1])),
                    _mm256_max_ps(_mm256_andnot_ps(sign, v[2]), _mm256_andnot_ps(sign, v[3])));
  float amax = hmax(m);
  *d = amax / 127.0f;
  const __m256 id = _mm256_set1_ps(amax != 0.0f ? 1.0f / *d : 0.0f);
  const __m256 lo = _mm256_set1_ps(-127.0f), hi = _mm256_set1_ps(127.0f);
  __m256i iv[4];
  for (int i = 0; i < 4; i++) /* max(NaN, lo) is lo: its second operand */
    iv[i] = _mm256_cvtps_epi32(_mm256_min_ps(_mm256_max_ps(_mm256_mul_ps(v[i], id), lo), hi));
  __m256i i0 = iv[0], i1 = iv[1], i2 = iv[2], i3 = iv[3];
  /* the packs interleave 128-bit lanes: values 0-3 8-11 16-19 24-27 | 4-7 12-15 20-23 28-31 */
  __m256i b = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
  b = _mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
  if (split) { /* per 16: evens then odds, then the lanes' halves regrouped */
    const __m256i eo = _mm256_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15, 0, 2,
                                        4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
    b = _mm256_permute4x64_epi64(_mm256_shuffle_epi8(b, eo), _MM_SHUFFLE(3, 1, 2, 0));
  }
  _mm256_storeu_si256((__m256i *)q, b);
}
#endif

void cpu_qact_rows(cpu_qact *qa, const float *a, int64_t lda, int64_t r0, int64_t r1, gboolean simd)
{
  for (int64_t r = r0; r < r1; r++)
    for (int64_t b = 0; b < qa->n_blocks; b++) {
      int8_t *q = qa->q + (r * qa->n_blocks + b) * QB;
      float *d = qa->d + r * qa->n_blocks + b;
      const float *x = a + r * lda + b * QB;
      int n = (int)MIN(QB, qa->k - b * QB);
#if HAVE_X86_SIMD
      if (simd && n == QB)
        qact_block_avx2(q, d, x, qa->split);
      else
#endif
        qact_block_portable(q, d, x, n, qa->split);
      if (qa->neg_dsum) {
        int32_t sum = 0;
        for (int t = 0; t < QB; t++)
          sum += q[t];
        qa->neg_dsum[r * qa->n_blocks + b] = -*d * (float)sum;
      }
    }
  (void)simd;
}

/* -- the products -- */

/* One call's product: C[i][j] = mul[j - j0] · (Σ over blocks) + add[j - j0], the row scale
 * (Q8), alpha and the bias taken once per column instead of per element. */
typedef struct {
  const cpu_gemm_args *g;
  const uint16_t *q4_scales; /* NULL for Q8 */
  int64_t j0;
  float *mul, *add;
} prod;

static void prod_init(prod *p, const cpu_gemm_args *g, int64_t j0, int64_t j1)
{
  p->g = g;
  p->j0 = j0;
  p->q4_scales = g->b_dtype == IVL_DTYPE_Q4 ? ivl_q4_scales(g->b, g->b_rows, g->k) : NULL;
  p->mul = g_new(float, 2 * (j1 - j0));
  p->add = p->mul + (j1 - j0);
  const float *q8_scales = p->q4_scales ? NULL : ivl_q8_scales(g->b, g->b_rows, g->k);
  for (int64_t j = j0; j < j1; j++)
    p->mul[j - j0] = q8_scales ? g->alpha * q8_scales[j] : g->alpha;
  if (g->bias)
    cpu_row_to_f32(p->add, (const char *)g->bias + j0 * (int64_t)ivl_dtype_size(g->bias_dtype),
                   g->bias_dtype, j1 - j0);
  else
    memset(p->add, 0, (size_t)(j1 - j0) * sizeof(float));
}

static inline void store(const prod *p, int64_t i, int64_t j, float sum)
{
  p->g->c[i * p->g->ldc + j] = p->mul[j - p->j0] * sum + p->add[j - p->j0];
}

/* Weight block b of row j as 32 int8 values in the activations' order of the block, n of them
 * (the last Q8 block may be partial); the weights' scale of the block is returned (Q8: 1, the
 * row scale is applied once at the end). */
static float weight_block(int8_t w[QB], const prod *p, int64_t j, int64_t b, int n)
{
  const cpu_gemm_args *g = p->g;
  if (!p->q4_scales) {
    memcpy(w, (const int8_t *)g->b + j * g->k + b * QB, (size_t)n);
    return 1.0f;
  }
  const uint8_t *v = (const uint8_t *)g->b + (j * g->k + b * QB) / 2;
  for (int t = 0; t < QB / 2; t++) {
    w[t] = (int8_t)((v[t] & 15) - 8);
    w[QB / 2 + t] = (int8_t)((v[t] >> 4) - 8);
  }
  return cpu_f16_to_f32(p->q4_scales[j * (g->k / QB) + b]);
}

static float dot_portable(const prod *p, int64_t i, int64_t j)
{
  const cpu_gemm_args *g = p->g;
  const cpu_qact *qa = g->aq;
  float sum = 0.0f;
  for (int64_t b = 0; b < qa->n_blocks; b++) {
    int n = (int)MIN(QB, g->k - b * QB);
    int8_t w[QB];
    float ws = weight_block(w, p, j, b, n);
    const int8_t *q = qa->q + (i * qa->n_blocks + b) * QB;
    int32_t isum = 0;
    for (int t = 0; t < n; t++)
      isum += (int32_t)q[t] * w[t];
    sum += qa->d[i * qa->n_blocks + b] * ws * (float)isum;
  }
  return sum;
}

#if HAVE_X86_SIMD
/* A block of 32 weights: Q8 as signed bytes, Q4's 16 bytes as the stored nibbles q + 8
 * (unsigned, low nibbles first). */
__attribute__((target("avx2"), always_inline)) static inline __m256i load_w(const void *p,
                                                                            const int q4)
{
  if (!q4)
    return _mm256_loadu_si256((const __m256i *)p);
  __m128i bytes = _mm_loadu_si128((const __m128i *)p);
  __m256i v = _mm256_inserti128_si256(_mm256_castsi128_si256(bytes), _mm_srli_epi16(bytes, 4), 1);
  return _mm256_and_si256(v, _mm256_set1_epi8(15));
}

/* Σ (q + 8) · a of a 4-bit block in 8 int32 lanes, as floats: the nibbles are maddubs'
 * unsigned operand as they are (a pair sums to at most 2 · 15 · 127). */
__attribute__((target("avx2"), always_inline)) static inline __m256 block_dot_q4(__m256i u,
                                                                                 __m256i a)
{
  return _mm256_cvtepi32_ps(_mm256_madd_epi16(_mm256_maddubs_epi16(u, a), _mm256_set1_epi16(1)));
}

/* The 32 products of a block summed into 8 int32 lanes, as floats; ax = |a|. */
__attribute__((target("avx2"), always_inline)) static inline __m256 block_dot(__m256i ax, __m256i a,
                                                                              __m256i w)
{
  __m256i p16 = _mm256_maddubs_epi16(ax, _mm256_sign_epi8(w, a));
  return _mm256_cvtepi32_ps(_mm256_madd_epi16(p16, _mm256_set1_epi16(1)));
}

/* The last, partial block of a Q8 row (k % 32 values), in integers as the portable path. */
static float tail_dot(const cpu_gemm_args *g, int64_t i, int64_t j)
{
  const cpu_qact *qa = g->aq;
  const int64_t b = g->k / QB;
  const int8_t *q = qa->q + (i * qa->n_blocks + b) * QB;
  const int8_t *w = (const int8_t *)g->b + j * g->k + b * QB;
  int32_t isum = 0;
  for (int64_t t = 0; t < g->k - b * QB; t++)
    isum += (int32_t)q[t] * w[t];
  return qa->d[i * qa->n_blocks + b] * (float)isum;
}

/* Row i of A · weight row j, streaming the weights: even and odd blocks in two accumulators. */
__attribute__((target("avx2,fma,f16c"), always_inline)) static inline float
dot_row_avx2(const prod *p, const int q4, int64_t i, int64_t j)
{
  const cpu_gemm_args *g = p->g;
  const cpu_qact *qa = g->aq;
  const int64_t full = g->k / QB;
  const int8_t *q = qa->q + i * qa->n_blocks * QB;
  const float *d = qa->d + i * qa->n_blocks;
  const float *m = q4 ? qa->neg_dsum + i * qa->n_blocks : NULL;
  const uint16_t *ws = q4 ? p->q4_scales + j * (g->k / QB) : NULL;
  const char *wrow = (const char *)g->b + (q4 ? j * g->k / 2 : j * g->k);
  __m256 acc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
  for (int64_t b = 0; b < full; b++) {
    _mm_prefetch(wrow + b * (q4 ? QB / 2 : QB) + CPU_GEMV_PREFETCH, _MM_HINT_T0);
    __m256i a = _mm256_loadu_si256((const __m256i *)(q + b * QB));
    __m256i w = load_w(wrow + b * (q4 ? QB / 2 : QB), q4);
    if (q4) { /* d · ws · (Σ (q + 8) · a - 8 Σa), the offset spread over the 8 lanes */
      __m256 t = _mm256_fmadd_ps(block_dot_q4(w, a), _mm256_set1_ps(d[b]), _mm256_set1_ps(m[b]));
      acc[b % 2] = _mm256_fmadd_ps(t, _mm256_set1_ps(_cvtsh_ss(ws[b])), acc[b % 2]);
    } else {
      __m256 p = block_dot(_mm256_abs_epi8(a), a, w);
      acc[b % 2] = _mm256_fmadd_ps(p, _mm256_set1_ps(d[b]), acc[b % 2]);
    }
  }
  float sum = hsum(_mm256_add_ps(acc[0], acc[1]));
  return full < qa->n_blocks ? sum + tail_dot(g, i, j) : sum;
}

/* The tile's weight rows (wrow) and, for 4-bit, their block scales (wsc). */
__attribute__((always_inline)) static inline void tile_weight_rows(const prod *p, const int q4,
                                                                   const int nr, int64_t j0,
                                                                   const char **wrow,
                                                                   const uint16_t **wsc)
{
  const cpu_gemm_args *g = p->g;
  const int64_t row_bytes = q4 ? g->k / 2 : g->k;
#pragma GCC unroll 4
  for (int c = 0; c < nr; c++) {
    wrow[c] = (const char *)g->b + (j0 + c) * row_bytes;
    wsc[c] = q4 ? p->q4_scales + (j0 + c) * (g->k / QB) : NULL;
  }
}

/* C from a tile's accumulators (acc[r * cols + c]), the blocks past the last full one added. */
__attribute__((target("avx2,fma,f16c"), always_inline)) static inline void
tile_store(const prod *p, const int mr, const int nr, int64_t i0, int64_t j0, const __m256 *acc,
           const int cols)
{
  const cpu_gemm_args *g = p->g;
  const int64_t full = g->k / QB, nb = g->aq->n_blocks;
#pragma GCC unroll 4
  for (int r = 0; r < mr; r++)
#pragma GCC unroll 4
    for (int c = 0; c < nr; c++) {
      float sum = hsum(acc[r * cols + c]);
      store(p, i0 + r, j0 + c, full < nb ? sum + tail_dot(g, i0 + r, j0 + c) : sum);
    }
}

/* C[i0 .. i0+mr, j0 .. j0+nr] from A's rows and the weights' rows, one accumulator each. */
__attribute__((target("avx2,fma,f16c"), always_inline)) static inline void
tile_avx2(const prod *p, const int q4, const int mr, const int nr, int64_t i0, int64_t j0)
{
  const cpu_gemm_args *g = p->g;
  const cpu_qact *qa = g->aq;
  const int64_t full = g->k / QB, nb = qa->n_blocks;
  const int64_t block_bytes = q4 ? QB / 2 : QB;
  const char *wrow[TILE_COLS];
  const uint16_t *wsc[TILE_COLS];
  __m256 acc[TILE_ROWS][TILE_COLS];
  tile_weight_rows(p, q4, nr, j0, wrow, wsc);
#pragma GCC unroll 4
  for (int r = 0; r < mr; r++)
#pragma GCC unroll 4
    for (int c = 0; c < nr; c++)
      acc[r][c] = _mm256_setzero_ps();
  for (int64_t b = 0; b < full; b++) {
    __m256i w[TILE_COLS];
    __m256 ws[TILE_COLS];
#pragma GCC unroll 4
    for (int c = 0; c < nr; c++) {
      w[c] = load_w(wrow[c] + b * block_bytes, q4);
      ws[c] = q4 ? _mm256_set1_ps(_cvtsh_ss(wsc[c][b])) : _mm256_setzero_ps();
    }
#pragma GCC unroll 4
    for (int r = 0; r < mr; r++) {
      __m256i a = _mm256_loadu_si256((const __m256i *)(qa->q + ((i0 + r) * nb + b) * QB));
      __m256 d = _mm256_broadcast_ss(qa->d + (i0 + r) * nb + b);
      if (q4) { /* as in dot_row_avx2 */
        __m256 m = _mm256_broadcast_ss(qa->neg_dsum + (i0 + r) * nb + b);
#pragma GCC unroll 4
        for (int c = 0; c < nr; c++)
          acc[r][c] =
              _mm256_fmadd_ps(_mm256_fmadd_ps(block_dot_q4(w[c], a), d, m), ws[c], acc[r][c]);
      } else {
        __m256i ax = _mm256_abs_epi8(a);
#pragma GCC unroll 4
        for (int c = 0; c < nr; c++)
          acc[r][c] = _mm256_fmadd_ps(block_dot(ax, a, w[c]), d, acc[r][c]);
      }
    }
  }
  tile_store(p, mr, nr, i0, j0, &acc[0][0], TILE_COLS);
}

#define TILE_CASE(q4, mr, nr)                                                                      \
  case (q4)*100 + (mr)*10 + (nr):                                                                  \
    tile_avx2(p, q4, mr, nr, i0, j0);                                                              \
    break;
#define TILE_CASES(q4)                                                                             \
  TILE_CASE(q4, 1, 1)                                                                              \
  TILE_CASE(q4, 2, 1)                                                                              \
  TILE_CASE(q4, 3, 1)                                                                              \
  TILE_CASE(q4, 4, 1)                                                                              \
  TILE_CASE(q4, 1, 2)                                                                              \
  TILE_CASE(q4, 2, 2)                                                                              \
  TILE_CASE(q4, 3, 2)                                                                              \
  TILE_CASE(q4, 4, 2)

__attribute__((target("avx2,fma,f16c"))) static void
tile_dispatch_avx2(const prod *p, int mr, int nr, int64_t i0, int64_t j0)
{
  switch ((p->q4_scales != NULL) * 100 + mr * 10 + nr) {
    TILE_CASES(0)
    TILE_CASES(1)
  default:
    g_assert_not_reached();
  }
}

/* -- AVX-512 VNNI: vpdpbusd sums the 4 products of each int32 lane in one instruction, the
 * same exact integers per lane as maddubs + madd, so that the float operations after it, and
 * the results, are those of tile_avx2 bit for bit. Its 32 registers hold 4 × 4 tiles. -- */
#define VNNI_TARGET "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c"
#define VNNI_COLS 4

/* Q8 weights go in as w + 128 (unsigned, shared by the tile's rows) and each lane starts from
 * -128 · Σa of its 4 activations (shared by the columns): Σ (w + 128) · a - 128 Σa = Σ w · a,
 * in int32 without overflow (4 · 255 · 127). One instruction per product where AVX2 takes
 * three (sign, maddubs, madd). */
__attribute__((target(VNNI_TARGET), always_inline)) static inline void
tile_vnni(const prod *p, const int q4, const int mr, const int nr, int64_t i0, int64_t j0)
{
  const cpu_gemm_args *g = p->g;
  const cpu_qact *qa = g->aq;
  const int64_t full = g->k / QB, nb = qa->n_blocks;
  const int64_t block_bytes = q4 ? QB / 2 : QB;
  const __m256i bias = _mm256_set1_epi8((char)0x80);
  const char *wrow[VNNI_COLS];
  const uint16_t *wsc[VNNI_COLS];
  __m256 acc[TILE_ROWS][VNNI_COLS];
  tile_weight_rows(p, q4, nr, j0, wrow, wsc);
#pragma GCC unroll 4
  for (int r = 0; r < mr; r++)
#pragma GCC unroll 4
    for (int c = 0; c < nr; c++)
      acc[r][c] = _mm256_setzero_ps();
  for (int64_t b = 0; b < full; b++) {
    __m256i w[VNNI_COLS];
    __m256 ws[VNNI_COLS];
#pragma GCC unroll 4
    for (int c = 0; c < nr; c++) {
      w[c] = load_w(wrow[c] + b * block_bytes, q4);
      if (!q4)
        w[c] = _mm256_xor_si256(w[c], bias);
      ws[c] = q4 ? _mm256_set1_ps(_cvtsh_ss(wsc[c][b])) : _mm256_setzero_ps();
    }
#pragma GCC unroll 4
    for (int r = 0; r < mr; r++) {
      __m256i a = _mm256_loadu_si256((const __m256i *)(qa->q + ((i0 + r) * nb + b) * QB));
      __m256 d = _mm256_broadcast_ss(qa->d + (i0 + r) * nb + b);
      if (q4) { /* as in tile_avx2 */
        __m256 m = _mm256_broadcast_ss(qa->neg_dsum + (i0 + r) * nb + b);
#pragma GCC unroll 4
        for (int c = 0; c < nr; c++) {
          __m256 s = _mm256_cvtepi32_ps(_mm256_dpbusd_epi32(_mm256_setzero_si256(), w[c], a));
          acc[r][c] = _mm256_fmadd_ps(_mm256_fmadd_ps(s, d, m), ws[c], acc[r][c]);
        }
      } else {
        __m256i off = _mm256_sub_epi32(_mm256_setzero_si256(),
                                       _mm256_dpbusd_epi32(_mm256_setzero_si256(), bias, a));
#pragma GCC unroll 4
        for (int c = 0; c < nr; c++)
          acc[r][c] =
              _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_dpbusd_epi32(off, w[c], a)), d, acc[r][c]);
      }
    }
  }
  tile_store(p, mr, nr, i0, j0, &acc[0][0], VNNI_COLS);
}

#define VNNI_CASE(q4, mr, nr)                                                                      \
  case (q4)*100 + (mr)*10 + (nr):                                                                  \
    tile_vnni(p, q4, mr, nr, i0, j0);                                                              \
    break;
#define VNNI_ROW_CASES(q4, mr)                                                                     \
  VNNI_CASE(q4, mr, 1) VNNI_CASE(q4, mr, 2) VNNI_CASE(q4, mr, 3) VNNI_CASE(q4, mr, 4)
#define VNNI_CASES(q4)                                                                             \
  VNNI_ROW_CASES(q4, 1) VNNI_ROW_CASES(q4, 2) VNNI_ROW_CASES(q4, 3) VNNI_ROW_CASES(q4, 4)

__attribute__((target(VNNI_TARGET))) static void tile_dispatch_vnni(const prod *p, int mr, int nr,
                                                                    int64_t i0, int64_t j0)
{
  switch ((p->q4_scales != NULL) * 100 + mr * 10 + nr) {
    VNNI_CASES(0)
    VNNI_CASES(1)
  default:
    g_assert_not_reached();
  }
}

/* dot_row_avx2 with vpdpbusd in place of maddubs + madd (Q8 keeps the sign trick: with one
 * weight row there is no tile to share the offset of w + 128 over). */
__attribute__((target(VNNI_TARGET), always_inline)) static inline float
dot_row_vnni(const prod *p, const int q4, int64_t i, int64_t j)
{
  const cpu_gemm_args *g = p->g;
  const cpu_qact *qa = g->aq;
  const int64_t full = g->k / QB;
  const int8_t *q = qa->q + i * qa->n_blocks * QB;
  const float *d = qa->d + i * qa->n_blocks;
  const float *m = q4 ? qa->neg_dsum + i * qa->n_blocks : NULL;
  const uint16_t *ws = q4 ? p->q4_scales + j * (g->k / QB) : NULL;
  const char *wrow = (const char *)g->b + (q4 ? j * g->k / 2 : j * g->k);
  const __m256i zero = _mm256_setzero_si256();
  __m256 acc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
  for (int64_t b = 0; b < full; b++) {
    _mm_prefetch(wrow + b * (q4 ? QB / 2 : QB) + CPU_GEMV_PREFETCH, _MM_HINT_T0);
    __m256i a = _mm256_loadu_si256((const __m256i *)(q + b * QB));
    __m256i w = load_w(wrow + b * (q4 ? QB / 2 : QB), q4);
    if (q4) {
      __m256 s = _mm256_cvtepi32_ps(_mm256_dpbusd_epi32(zero, w, a));
      __m256 t = _mm256_fmadd_ps(s, _mm256_set1_ps(d[b]), _mm256_set1_ps(m[b]));
      acc[b % 2] = _mm256_fmadd_ps(t, _mm256_set1_ps(_cvtsh_ss(ws[b])), acc[b % 2]);
    } else {
      __m256i s = _mm256_dpbusd_epi32(zero, _mm256_abs_epi8(a), _mm256_sign_epi8(w, a));
      acc[b % 2] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_set1_ps(d[b]), acc[b % 2]);
    }
  }
  float sum = hsum(_mm256_add_ps(acc[0], acc[1]));
  return full < qa->n_blocks ? sum + tail_dot(g, i, j) : sum;
}

__attribute__((target(VNNI_TARGET))) static float dot_row_dispatch_vnni(const prod *p, int64_t i,
                                                                        int64_t j)
{
  return p->q4_scales ? dot_row_vnni(p, 1, i, j) : dot_row_vnni(p, 0, i, j);
}

/* AVX-512 VNNI and VL, checked once; used where g->avx512 (cpu_avx512_available()) is set. */
static gboolean vnni_available(void)
{
  /* 1 + the answer, so that 0 is "not checked yet" for g_once_init_* (the backend's threads
   * may ask together) */
  static gsize have = 0;
  if (g_once_init_enter(&have))
    g_once_init_leave(
        &have, 1 + (__builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vl")));
  return have == 2;
}

__attribute__((target("avx2,fma,f16c"))) static float dot_row_dispatch_avx2(const prod *p,
                                                                            int64_t i, int64_t j)
{
  return p->q4_scales ? dot_row_avx2(p, 1, i, j) : dot_row_avx2(p, 0, i, j);
}
#endif

void cpu_int_dot_tile(const cpu_gemm_args *g, int64_t i0, int64_t i1, int64_t j0, int64_t j1,
                      gboolean simd)
{
  prod p;
  prod_init(&p, g, j0, j1);
#if HAVE_X86_SIMD
  if (simd && g->m > GEMV_MAX_ROWS) {
    /* rows in slices of about A_SLICE_BYTES of quantized A, so that the slice stays in L2
     * while every column pair of the tile passes over it (all of A per pair was L3 traffic
     * of a gigabyte per prefill product) */
    const int64_t slice = MAX(TILE_ROWS, A_SLICE_BYTES / MAX(1, g->k) / TILE_ROWS * TILE_ROWS);
    const gboolean vnni = g->avx512 && vnni_available();
    const int64_t cols = vnni ? VNNI_COLS : TILE_COLS;
    for (int64_t is = i0; is < i1; is += slice)
      for (int64_t jb = j0; jb < j1; jb += cols)
        for (int64_t ib = is; ib < MIN(i1, is + slice); ib += TILE_ROWS) {
          int mr = (int)MIN(TILE_ROWS, MIN(i1, is + slice) - ib), nr = (int)MIN(cols, j1 - jb);
          if (vnni)
            tile_dispatch_vnni(&p, mr, nr, ib, jb);
          else
            tile_dispatch_avx2(&p, mr, nr, ib, jb);
        }
  } else if (simd && g->avx512 && vnni_available()) {
    for (int64_t j = j0; j < j1; j++)
      for (int64_t i = i0; i < i1; i++)
        store(&p, i, j, dot_row_dispatch_vnni(&p, i, j));
  } else if (simd) {
    for (int64_t j = j0; j < j1; j++)
      for (int64_t i = i0; i < i1; i++)
        store(&p, i, j, dot_row_dispatch_avx2(&p, i, j));
  } else
#endif
  {
    for (int64_t j = j0; j < j1; j++)
      for (int64_t i = i0; i < i1; i++)
        store(&p, i, j, dot_portable(&p, i, j));
  }
  (void)simd;
  g_free(p.mul);
}
