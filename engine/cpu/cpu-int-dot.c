/* Integer dot products for quantized weights (cpu-kernels.h): activations quantized per block
 * of 32 to int8, products in int32 per block, one float multiply-add per block, on the
 * weights' panel layout (cpu-qpanel.h: lane r of a 64-byte group is weight row r).
 *
 * One arithmetic for every path, so that portable C, AVX2 and AVX-512 VNNI give the same bits:
 * for each output (i, j) and block b, isum = Σ q_a · q_w exactly in int32; then
 * acc = fmaf((float)isum, s, acc) with s = d_a[i, b] · ws[j, b] (Q4) or d_a[i, b] (Q8), and
 * C = fmaf(mul[j], acc, add[j]) with mul = alpha (· the Q8 row scale) and add the bias. The
 * int32 sum is exact (at most 32 · 127 · 127 < 2^24, so its float is too); how the kernels
 * reach it differs:
 *   - 4-bit weights go in as stored, q + 8 in [0, 15], as the unsigned operand; the offset
 *     −8 · Σq_a of the activation block (cpu_qact.sum) starts the int32 sum.
 *   - VNNI: one vpdpbusd per group adds the 4 products of 16 weight rows against the 4
 *     activation bytes broadcast. Int8 weights go in as w + 128 (unsigned), the sum starting
 *     from −128 · Σq_a.
 *   - AVX2: 8 rows per ymm. Int8 weights take the sign trick (|a| · sign(a)·w in
 *     maddubs, a pair at most 2 · 127 · 127 < 32768) and madd into int32; 4-bit ones add
 *     maddubs' int16 pairs over the block's 8 groups (at most 8 · 2 · 15 · 127 < 32768) and
 *     madd once per block.
 * Few rows (decode): all of them against two panels (32 weight rows) at a time, the weights
 * streamed with prefetches ahead. More rows (prefill, vision): tiles of 6 rows × 2 panels
 * (VNNI) or 3 rows × 1 panel (AVX2) over slices of A that stay in L2; a panel pair's weights
 * stay in L1 while every tile of the slice passes over them.
 */
#include "cpu-kernels.h"

#include "cpu-qpanel.h"

#include <math.h>
#include <string.h>

#include "cpu-simd.h"

#define QB CPU_QACT_BLOCK
#define PR CPU_QPANEL_ROWS
/* Up to this many rows, the weights are streamed: each panel passes once. */
#define GEMV_MAX_ROWS 3
#define A_SLICE_BYTES (128 * 1024)
/* Bytes of one block of a panel: Q4 256 of nibbles and 64 of scales, Q8 512. */
#define Q4_BLOCK_BYTES (QB / 2 * PR + PR * 4)
#define Q8_BLOCK_BYTES (QB * PR)

gboolean cpu_int_dot_enabled(void)
{
  return g_strcmp0(g_getenv("IVL_CPU_INT_DOT"), "0") != 0;
}

cpu_qact *cpu_qact_new(int64_t m, int64_t k)
{
  cpu_qact *qa = g_new0(cpu_qact, 1);
  qa->m = m;
  qa->k = k;
  qa->n_blocks = (k + QB - 1) / QB;
  qa->q = g_malloc(MAX(1, (size_t)m * (size_t)qa->n_blocks * QB));
  qa->d = g_new(float, MAX(1, m * qa->n_blocks));
  qa->sum = g_new(int32_t, MAX(1, m * qa->n_blocks));
  return qa;
}

void cpu_qact_free(cpu_qact *qa)
{
  if (qa == NULL)
    return;
  g_free(qa->q);
  g_free(qa->d);
  g_free(qa->sum);
  g_free(qa);
}

static void qact_block_portable(int8_t *q, float *d, const float *x, int n)
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
    q[t] = (int8_t)nearbyintf(fminf(fmaxf(x[t] * id, -127.0f), 127.0f));
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
__attribute__((target("avx2,fma"))) static void qact_block_avx2(int8_t *q, float *d, const float *x)
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
        qact_block_avx2(q, d, x);
      else
#endif
        qact_block_portable(q, d, x, n);
      int32_t sum = 0;
      for (int t = 0; t < QB; t++)
        sum += q[t];
      qa->sum[r * qa->n_blocks + b] = sum;
    }
  (void)simd;
}

/* -- the products -- */

/* One call's product over whole panels [pan0, pan1): C[i][j] = fmaf(mul[j - j0], acc, add[j -
 * j0]) for j in [j0, j1), mul and add held for every row of the panels (j0 = pan0 · 16 here). */
typedef struct {
  const cpu_gemm_args *g;
  int q4;
  size_t panel_bytes;
  int64_t pan0, pan1, j0, j1; /* j0, j1: the columns to store */
  float *mul, *add;
} prod;

static void prod_init(prod *p, const cpu_gemm_args *g, int64_t j0, int64_t j1)
{
  p->g = g;
  p->q4 = g->b_dtype == IVL_DTYPE_Q4;
  p->panel_bytes = cpu_qpanel_bytes(g->b_dtype, g->k);
  p->pan0 = j0 / PR;
  p->pan1 = (j1 + PR - 1) / PR;
  p->j0 = j0;
  p->j1 = j1;
  const int64_t cols = (p->pan1 - p->pan0) * PR, base = p->pan0 * PR;
  p->mul = g_new0(float, 2 * cols);
  p->add = p->mul + cols;
  const int64_t n_blocks = (g->k + QB - 1) / QB;
  for (int64_t c = 0; c < cols; c++) {
    int64_t j = base + c;
    float s = 1.0f;
    if (!p->q4) /* the row scales after the panel's blocks */
      memcpy(&s,
             (const char *)g->b + (j / PR) * p->panel_bytes + n_blocks * Q8_BLOCK_BYTES +
                 (j % PR) * sizeof(float),
             sizeof(float));
    p->mul[c] = g->alpha * s;
  }
  int64_t nb = MIN(g->n, p->pan1 * PR) - base; /* the bias ends at n */
  if (g->bias)
    cpu_row_to_f32(p->add, (const char *)g->bias + base * (int64_t)ivl_dtype_size(g->bias_dtype),
                   g->bias_dtype, nb);
}

static inline const uint8_t *panel_block(const prod *p, int64_t pan, int64_t b)
{
  return (const uint8_t *)p->g->b + pan * p->panel_bytes +
         b * (p->q4 ? Q4_BLOCK_BYTES : Q8_BLOCK_BYTES);
}

/* Weight row r of a panel block against 32 activation values, exactly, the 4-bit offset
 * included. */
static int32_t block_isum_portable(const prod *p, const uint8_t *blk, int r, const int8_t *a)
{
  int32_t s = 0;
  for (int gr = 0; gr < QB / 4; gr++)
    for (int t = 0; t < 4; t++) {
      int w;
      if (p->q4) {
        uint8_t byte = blk[(gr / 2) * 64 + 4 * r + t];
        w = (gr % 2 == 0 ? byte & 15 : byte >> 4) - 8;
      } else
        w = (int8_t)blk[gr * 64 + 4 * r + t];
      s += (int32_t)a[4 * gr + t] * w;
    }
  return s;
}

static void product_portable(const prod *p, int64_t i0, int64_t i1)
{
  const cpu_gemm_args *g = p->g;
  const cpu_qact *qa = g->aq;
  const int64_t nb = qa->n_blocks;
  for (int64_t i = i0; i < i1; i++)
    for (int64_t j = p->j0; j < p->j1; j++) {
      const int64_t pan = j / PR;
      const int r = (int)(j % PR);
      float acc = 0.0f;
      for (int64_t b = 0; b < nb; b++) {
        const uint8_t *blk = panel_block(p, pan, b);
        int32_t isum = block_isum_portable(p, blk, r, qa->q + (i * nb + b) * QB);
        float s = qa->d[i * nb + b];
        if (p->q4) {
          float ws;
          memcpy(&ws, blk + QB / 2 * PR + r * sizeof(float), sizeof(float));
          s = s * ws;
        }
        acc = fmaf((float)isum, s, acc);
      }
      int64_t c = j - p->pan0 * PR;
      g->c[i * g->ldc + j] = fmaf(p->mul[c], acc, p->add[c]);
    }
}

#if HAVE_X86_SIMD
/* The 4 activation bytes at a, in every int32 lane. */
__attribute__((target("avx2"), always_inline)) static inline __m256i bcast4_256(const int8_t *a)
{
  int32_t v;
  memcpy(&v, a, sizeof(v));
  return _mm256_set1_epi32(v);
}

/* Row i of C over panel pan from its two 8-lane accumulators. */
__attribute__((target("avx2,fma"), always_inline)) static inline void
store_panel_avx2(const prod *p, int64_t i, int64_t pan, __m256 acc0, __m256 acc1)
{
  const cpu_gemm_args *g = p->g;
  const int64_t base = pan * PR, c = base - p->pan0 * PR;
  float *crow = g->c + i * g->ldc;
  __m256 y0 = _mm256_fmadd_ps(_mm256_loadu_ps(p->mul + c), acc0, _mm256_loadu_ps(p->add + c));
  __m256 y1 =
      _mm256_fmadd_ps(_mm256_loadu_ps(p->mul + c + 8), acc1, _mm256_loadu_ps(p->add + c + 8));
  if (base >= p->j0 && base + PR <= p->j1) {
    _mm256_storeu_ps(crow + base, y0);
    _mm256_storeu_ps(crow + base + 8, y1);
    return;
  }
  float t[PR];
  _mm256_storeu_ps(t, y0);
  _mm256_storeu_ps(t + 8, y1);
  for (int64_t j = MAX(base, p->j0); j < MIN(base + PR, p->j1); j++)
    crow[j] = t[j - base];
}

#define AVX2_ROWS 3

/* C[i0 .. i0+mr] over panel pan: 8 weight rows per ymm. */
__attribute__((target("avx2,fma,f16c"), always_inline)) static inline void
tile_avx2(const prod *p, const int q4, const int mr, int64_t i0, int64_t pan)
{
  const cpu_qact *qa = p->g->aq;
  const int64_t nb = qa->n_blocks, bb = q4 ? Q4_BLOCK_BYTES : Q8_BLOCK_BYTES;
  const __m256i low = _mm256_set1_epi8(15), ones = _mm256_set1_epi16(1);
  const uint8_t *wp = panel_block(p, pan, 0);
  __m256 acc[AVX2_ROWS][2];
#pragma GCC unroll 4
  for (int r = 0; r < mr; r++)
    acc[r][0] = acc[r][1] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; b++) {
    const uint8_t *blk = wp + b * bb;
    for (int64_t l = 0; l < bb; l += 64)
      _mm_prefetch((const char *)blk + l + CPU_GEMV_PREFETCH, _MM_HINT_T0);
    const int8_t *a[AVX2_ROWS];
    __m256i isum[AVX2_ROWS][2]; /* 4-bit: int16 pairs until the block's end */
#pragma GCC unroll 4
    for (int r = 0; r < mr; r++) {
      a[r] = qa->q + ((i0 + r) * nb + b) * QB;
      isum[r][0] = isum[r][1] = _mm256_setzero_si256();
    }
#pragma GCC unroll 4
    for (int h = 0; h < QB / 8; h++) {
      __m256i w[2][2]; /* [group 2h + e][half] */
#pragma GCC unroll 2
      for (int hf = 0; hf < 2; hf++) {
        if (q4) {
          __m256i v = _mm256_loadu_si256((const __m256i *)(blk + 64 * h + 32 * hf));
          w[0][hf] = _mm256_and_si256(v, low);
          w[1][hf] = _mm256_and_si256(_mm256_srli_epi16(v, 4), low);
        } else {
          w[0][hf] = _mm256_loadu_si256((const __m256i *)(blk + 128 * h + 32 * hf));
          w[1][hf] = _mm256_loadu_si256((const __m256i *)(blk + 128 * h + 64 + 32 * hf));
        }
      }
#pragma GCC unroll 2
      for (int e = 0; e < 2; e++)
#pragma GCC unroll 4
        for (int r = 0; r < mr; r++) {
          __m256i av = bcast4_256(a[r] + 4 * (2 * h + e));
          if (q4) {
#pragma GCC unroll 2
            for (int hf = 0; hf < 2; hf++)
              isum[r][hf] = _mm256_add_epi16(isum[r][hf], _mm256_maddubs_epi16(w[e][hf], av));
          } else {
            __m256i ax = _mm256_abs_epi8(av);
#pragma GCC unroll 2
            for (int hf = 0; hf < 2; hf++)
              isum[r][hf] = _mm256_add_epi32(
                  isum[r][hf], _mm256_madd_epi16(
                                   _mm256_maddubs_epi16(ax, _mm256_sign_epi8(w[e][hf], av)), ones));
          }
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < mr; r++) {
      const __m256 dv = _mm256_set1_ps(qa->d[(i0 + r) * nb + b]);
      const __m256i off = _mm256_set1_epi32(-8 * qa->sum[(i0 + r) * nb + b]);
#pragma GCC unroll 2
      for (int hf = 0; hf < 2; hf++) {
        __m256i i32 =
            q4 ? _mm256_add_epi32(_mm256_madd_epi16(isum[r][hf], ones), off) : isum[r][hf];
        __m256 s =
            q4 ? _mm256_mul_ps(dv, _mm256_loadu_ps((const float *)(blk + QB / 2 * PR) + 8 * hf))
               : dv;
        acc[r][hf] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(i32), s, acc[r][hf]);
      }
    }
  }
#pragma GCC unroll 4
  for (int r = 0; r < mr; r++)
    store_panel_avx2(p, i0 + r, pan, acc[r][0], acc[r][1]);
}

#define AVX2_CASE(q4, mr)                                                                          \
  case (q4)*10 + (mr):                                                                             \
    tile_avx2(p, q4, mr, i0, pan);                                                                 \
    break;

__attribute__((target("avx2,fma,f16c"))) static void tile_dispatch_avx2(const prod *p, int mr,
                                                                        int64_t i0, int64_t pan)
{
  switch (p->q4 * 10 + mr) {
    AVX2_CASE(0, 1)
    AVX2_CASE(0, 2)
    AVX2_CASE(0, 3)
    AVX2_CASE(1, 1)
    AVX2_CASE(1, 2)
    AVX2_CASE(1, 3)
  default:
    g_assert_not_reached();
  }
}

/* -- AVX-512 VNNI: lane r of a zmm is weight row r of the panel. -- */
#define VNNI_TARGET "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c"
#define VNNI_ROWS 6
#define VNNI_PANELS 2

__attribute__((target(VNNI_TARGET), always_inline)) static inline __m512i
bcast4_512(const int8_t *a)
{
  int32_t v;
  memcpy(&v, a, sizeof(v));
  return _mm512_set1_epi32(v);
}

__attribute__((target(VNNI_TARGET), always_inline)) static inline void
store_panel_vnni(const prod *p, int64_t i, int64_t pan, __m512 acc)
{
  const cpu_gemm_args *g = p->g;
  const int64_t base = pan * PR, c = base - p->pan0 * PR;
  __m512 y = _mm512_fmadd_ps(_mm512_loadu_ps(p->mul + c), acc, _mm512_loadu_ps(p->add + c));
  const int64_t lo = MAX(base, p->j0) - base, hi = MIN(base + PR, p->j1) - base;
  const __mmask16 mask = (__mmask16)(((1u << hi) - 1) & ~((1u << lo) - 1));
  _mm512_mask_storeu_ps(g->c + i * g->ldc + base, mask, y);
}

/* C[i0 .. i0+mr] over panels pan .. pan+np: one vpdpbusd per group, row and panel. */
__attribute__((target(VNNI_TARGET), always_inline)) static inline void
tile_vnni(const prod *p, const int q4, const int mr, const int np, int64_t i0, int64_t pan)
{
  const cpu_qact *qa = p->g->aq;
  const int64_t nb = qa->n_blocks, bb = q4 ? Q4_BLOCK_BYTES : Q8_BLOCK_BYTES;
  const int streamed = mr <= GEMV_MAX_ROWS; /* then the weights come from memory */
  const __m512i low = _mm512_set1_epi8(15), flip = _mm512_set1_epi8((char)0x80);
  const uint8_t *wp[VNNI_PANELS];
  __m512 acc[VNNI_ROWS][VNNI_PANELS];
#pragma GCC unroll 2
  for (int c = 0; c < np; c++)
    wp[c] = panel_block(p, pan + c, 0);
#pragma GCC unroll 6
  for (int r = 0; r < mr; r++)
#pragma GCC unroll 2
    for (int c = 0; c < np; c++)
      acc[r][c] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; b++) {
    /* into L2 only: prefetches into L1 hold its few miss buffers, and one core's stream of
     * 4-bit panels ran at ~14 GB/s with them against ~19 into L2 (lm_head, one thread); 1B
     * decode, 2 threads: 4-bit 60-71 -> 75-85 tok/s, int8 48-53 -> 53-58 (the AVX2 kernel
     * measured no change) */
    if (streamed)
#pragma GCC unroll 2
      for (int c = 0; c < np; c++)
        for (int64_t l = 0; l < bb; l += 64)
          _mm_prefetch((const char *)wp[c] + b * bb + l + CPU_GEMV_PREFETCH, _MM_HINT_T1);
    const int8_t *a[VNNI_ROWS];
    __m512i isum[VNNI_ROWS][VNNI_PANELS];
#pragma GCC unroll 6
    for (int r = 0; r < mr; r++) {
      a[r] = qa->q + ((i0 + r) * nb + b) * QB;
      const __m512i off = _mm512_set1_epi32(qa->sum[(i0 + r) * nb + b] * (q4 ? -8 : -128));
#pragma GCC unroll 2
      for (int c = 0; c < np; c++)
        isum[r][c] = off;
    }
#pragma GCC unroll 4
    for (int h = 0; h < QB / 8; h++) {
      __m512i w[VNNI_PANELS][2]; /* [panel][group 2h + e] */
#pragma GCC unroll 2
      for (int c = 0; c < np; c++) {
        const uint8_t *blk = wp[c] + b * bb;
        if (q4) {
          __m512i v = _mm512_loadu_si512(blk + 64 * h);
          w[c][0] = _mm512_and_si512(v, low);
          w[c][1] = _mm512_and_si512(_mm512_srli_epi16(v, 4), low);
        } else {
          w[c][0] = _mm512_xor_si512(_mm512_loadu_si512(blk + 128 * h), flip);
          w[c][1] = _mm512_xor_si512(_mm512_loadu_si512(blk + 128 * h + 64), flip);
        }
      }
#pragma GCC unroll 2
      for (int e = 0; e < 2; e++)
#pragma GCC unroll 6
        for (int r = 0; r < mr; r++) {
          const __m512i av = bcast4_512(a[r] + 4 * (2 * h + e));
#pragma GCC unroll 2
          for (int c = 0; c < np; c++)
            isum[r][c] = _mm512_dpbusd_epi32(isum[r][c], w[c][e], av);
        }
    }
#pragma GCC unroll 6
    for (int r = 0; r < mr; r++) {
      const __m512 dv = _mm512_set1_ps(qa->d[(i0 + r) * nb + b]);
#pragma GCC unroll 2
      for (int c = 0; c < np; c++) {
        __m512 s = q4 ? _mm512_mul_ps(dv, _mm512_loadu_ps(wp[c] + b * bb + QB / 2 * PR)) : dv;
        acc[r][c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[r][c]), s, acc[r][c]);
      }
    }
  }
#pragma GCC unroll 6
  for (int r = 0; r < mr; r++)
#pragma GCC unroll 2
    for (int c = 0; c < np; c++)
      store_panel_vnni(p, i0 + r, pan + c, acc[r][c]);
}

#define VNNI_CASE(q4, mr, np)                                                                      \
  case (q4)*100 + (mr)*10 + (np):                                                                  \
    tile_vnni(p, q4, mr, np, i0, pan);                                                             \
    break;
#define VNNI_ROW_CASES(q4, mr) VNNI_CASE(q4, mr, 1) VNNI_CASE(q4, mr, 2)
#define VNNI_CASES(q4)                                                                             \
  VNNI_ROW_CASES(q4, 1)                                                                            \
  VNNI_ROW_CASES(q4, 2)                                                                            \
  VNNI_ROW_CASES(q4, 3)                                                                            \
  VNNI_ROW_CASES(q4, 4) VNNI_ROW_CASES(q4, 5) VNNI_ROW_CASES(q4, 6)

__attribute__((target(VNNI_TARGET))) static void tile_dispatch_vnni(const prod *p, int mr, int np,
                                                                    int64_t i0, int64_t pan)
{
  switch (p->q4 * 100 + mr * 10 + np) {
    VNNI_CASES(0)
    VNNI_CASES(1)
  default:
    g_assert_not_reached();
  }
}
#endif

gboolean cpu_int_dot_vnni_available(void)
{
#if HAVE_X86_SIMD
  /* 1 + the answer, so that 0 is "not checked yet" for g_once_init_* (the backend's threads
   * may ask together) */
  static gsize have = 0;
  if (g_once_init_enter(&have))
    g_once_init_leave(
        &have, 1 + (__builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vl")));
  return have == 2;
#else
  return FALSE;
#endif
}

void cpu_int_dot_tile(const cpu_gemm_args *g, int64_t i0, int64_t i1, int64_t j0, int64_t j1,
                      gboolean simd)
{
  prod p;
  prod_init(&p, g, j0, j1);
#if HAVE_X86_SIMD
  if (simd) {
    const gboolean vnni = g->avx512 && cpu_int_dot_vnni_available();
    const int rows = vnni ? VNNI_ROWS : AVX2_ROWS;
    /* streamed weights (few rows) one panel at a time: one sequential stream per thread, which
     * the prefetchers follow better than two panels in step (one thread, lm_head: 4-bit 17 ->
     * 22 GB/s, int8 22 -> 29) */
    const int panels = vnni && i1 - i0 > GEMV_MAX_ROWS ? VNNI_PANELS : 1;
    /* few rows: all of them against each panel once. More: rows in slices of about
     * A_SLICE_BYTES of quantized A, so that the slice stays in L2 while every panel passes
     * over it (all of A per panel would be L3 traffic) */
    const int64_t slice = i1 - i0 <= GEMV_MAX_ROWS
                              ? GEMV_MAX_ROWS
                              : MAX(rows, A_SLICE_BYTES / MAX(1, g->k) / rows * rows);
    for (int64_t is = i0; is < i1; is += slice) {
      const int64_t ie = MIN(i1, is + slice);
      for (int64_t pan = p.pan0; pan < p.pan1; pan += panels)
        for (int64_t ib = is; ib < ie; ib += rows) {
          int mr = (int)MIN(rows, ie - ib), np = (int)MIN(panels, p.pan1 - pan);
          if (vnni)
            tile_dispatch_vnni(&p, mr, np, ib, pan);
          else
            tile_dispatch_avx2(&p, mr, ib, pan);
        }
    }
  } else
#endif
    product_portable(&p, i0, i1);
  (void)simd;
  g_free(p.mul);
}
