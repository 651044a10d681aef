/* cpu-gemv.c — matrix products for few rows of A (decode, batched decode): B is streamed once,
 * row by row, and converted from bf16/f16 in registers, so decode runs at memory speed; from
 * 3 rows a bf16 weight block is converted once and multiplied into several rows (by AVX-512
 * where the CPU has it), each row keeping the one-row summation order (a batched row is
 * bit-identical to the row alone). */
#include "cpu-gemm-private.h"
#include "quantize.h"

#include <string.h>

/* a · b in eight interleaved partial sums: independent chains instead of one long dependency
 * (and a shape compilers vectorise), so the portable path is not latency-bound. */
static float dot_portable(const float *a, const void *b, ivl_dtype dtype, int64_t k)
{
  float s[8] = {0}, w[8];
  int64_t kk = 0;
  for (; kk + 8 <= k; kk += 8) {
    if (dtype == IVL_DTYPE_BF16)
      for (int l = 0; l < 8; l++)
        w[l] = cpu_bf16_to_f32(((const uint16_t *)b)[kk + l]);
    else
      cpu_row_to_f32(w, (const char *)b + kk * (int64_t)ivl_dtype_size(dtype), dtype, 8);
    for (int l = 0; l < 8; l++)
      s[l] += a[kk + l] * w[l];
  }
  float sum = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
  if (kk < k) {
    cpu_row_to_f32(w, (const char *)b + kk * (int64_t)ivl_dtype_size(dtype), dtype, k - kk);
    for (int64_t l = 0; l < k - kk; l++)
      sum += a[kk + l] * w[l];
  }
  return sum;
}

#if HAVE_X86_SIMD
/* a · b over k values of b in dtype, four accumulators to cover FMA latency. One row at a time:
 * a thread then reads its share of B as one sequential stream, which the hardware prefetcher
 * follows better than several interleaved rows (measured: ~80% of the read bandwidth of one
 * core against ~67% with four rows in step). */
__attribute__((target("avx2,fma,f16c"), always_inline)) static inline float
dot_avx2_t(const float *a, const void *b, ivl_dtype dtype, int64_t k)
{
  __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
  int64_t kk = 0;
  for (; kk + 32 <= k; kk += 32) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + kk), load8(b, kk, dtype), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + kk + 8), load8(b, kk + 8, dtype), s1);
    s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + kk + 16), load8(b, kk + 16, dtype), s2);
    s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + kk + 24), load8(b, kk + 24, dtype), s3);
  }
  for (; kk + 8 <= k; kk += 8)
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + kk), load8(b, kk, dtype), s0);
  return hsum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3))) +
         dot_portable(a + kk, (const char *)b + kk * (int64_t)ivl_dtype_size(dtype), dtype, k - kk);
}

__attribute__((target("avx2,fma,f16c"))) static float dot_avx2(const float *a, const void *b,
                                                               ivl_dtype dtype, int64_t k)
{
  return dtype == IVL_DTYPE_F16 ? dot_avx2_t(a, b, IVL_DTYPE_F16, k)
                                : dot_avx2_t(a, b, IVL_DTYPE_F32, k);
}

/* a split per 16 values into even and odd halves, so that a 32-byte load of 16 bf16 becomes
 * two f32 vectors by a shift (even elements) and a mask (odd ones), without a shuffle. */
static void split_even_odd(float *dst, const float *a, int64_t k)
{
  for (int64_t j = 0; j + 16 <= k; j += 16)
    for (int i = 0; i < 8; i++) {
      dst[j + i] = a[j + 2 * i];
      dst[j + 8 + i] = a[j + 2 * i + 1];
    }
}

/* dot_avx2 for bf16, with a_split = split_even_odd(a). */
__attribute__((target("avx2,fma"))) static float dot_bf16_avx2(const float *a, const float *a_split,
                                                               const uint16_t *w, int64_t k)
{
  const __m256i odd = _mm256_set1_epi32((int)0xffff0000u);
  __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
  int64_t kk = 0;
  for (; kk + 32 <= k; kk += 32) {
    _mm_prefetch((const char *)(w + kk) + CPU_GEMV_PREFETCH, _MM_HINT_T0);
    __m256i w0 = _mm256_loadu_si256((const __m256i *)(w + kk));
    __m256i w1 = _mm256_loadu_si256((const __m256i *)(w + kk + 16));
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a_split + kk),
                         _mm256_castsi256_ps(_mm256_slli_epi32(w0, 16)), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a_split + kk + 8),
                         _mm256_castsi256_ps(_mm256_and_si256(w0, odd)), s1);
    s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a_split + kk + 16),
                         _mm256_castsi256_ps(_mm256_slli_epi32(w1, 16)), s2);
    s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a_split + kk + 24),
                         _mm256_castsi256_ps(_mm256_and_si256(w1, odd)), s3);
  }
  return hsum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3))) +
         dot_portable(a + kk, w + kk, IVL_DTYPE_BF16, k - kk);
}
#endif

/* -- several rows against one bf16 weight row (batched decode) --
 *
 * The kernels below give each row of A exactly the bits of the one-row kernels (dot_portable,
 * dot_bf16_avx2): the same partial sums, each over the same values in the same order, so a
 * sequence decoded in a batch matches it decoded alone. What changes is the work per weight
 * value: it is converted once for several rows instead of once per row. */
#define ROWS_MAX 8

/* dots[r] = dot_portable(a[r], w, BF16, k) for r < nr. */
static void dots_bf16_portable(float *dots, const float *const *a, int nr, const uint16_t *w,
                               int64_t k)
{
  float s[ROWS_MAX][8] = {{0}}, wf[8];
  int64_t kk = 0;
  for (; kk + 8 <= k; kk += 8) {
    for (int l = 0; l < 8; l++)
      wf[l] = cpu_bf16_to_f32(w[kk + l]);
    for (int r = 0; r < nr; r++)
      for (int l = 0; l < 8; l++)
        s[r][l] += a[r][kk + l] * wf[l];
  }
  for (int r = 0; r < nr; r++) {
    const float *t = s[r];
    float sum = ((t[0] + t[1]) + (t[2] + t[3])) + ((t[4] + t[5]) + (t[6] + t[7]));
    for (int64_t l = kk; l < k; l++)
      sum += a[r][l] * cpu_bf16_to_f32(w[l]);
    dots[r] = sum;
  }
}

/* What follows the 32-value blocks of the vector kernels (k % 32 values, w_tail: the weights
 * from k32): dot_portable's result for them, added as the one-row kernels add it (+0.0f when
 * there are none). */
static void tails_bf16(float *tails, const float *const *a, int nr, const uint16_t *w_tail,
                       int64_t k32, int64_t k)
{
  if (k32 == k) {
    for (int r = 0; r < nr; r++)
      tails[r] = 0.0f;
    return;
  }
  const float *a_tail[ROWS_MAX];
  for (int r = 0; r < nr; r++)
    a_tail[r] = a[r] + k32;
  dots_bf16_portable(tails, a_tail, nr, w_tail, k - k32);
}

#if HAVE_X86_SIMD
/* Partial sums c0..c0+nc-1 (s0..s3 of dot_bf16_avx2) of nr rows over the first k32 values. A
 * tile of all four sums of 4 rows would need 16 accumulators, so up to 2 rows take all four in
 * one pass over the weight row and more rows take two sums in each of two passes: 8
 * accumulators, enough independent FMAs to cover their latency. The weight row (at most a
 * few KiB) comes from memory on the first pass and from L1 on the second. */
__attribute__((target("avx2,fma"), always_inline)) static inline void
sums_bf16_avx2(const int nr, const int c0, const int nc, __m256 out[4][4],
               const float *const *split, const uint16_t *w, int64_t k32, const gboolean prefetch)
{
  const __m256i odd = _mm256_set1_epi32((int)0xffff0000u);
  __m256 acc[4][4];
#pragma GCC unroll 4
  for (int r = 0; r < nr; r++)
#pragma GCC unroll 4
    for (int c = 0; c < nc; c++)
      acc[r][c] = _mm256_setzero_ps();
  for (int64_t kk = 0; kk < k32; kk += 32) {
    if (prefetch)
      _mm_prefetch((const char *)(w + kk) + CPU_GEMV_PREFETCH, _MM_HINT_T0);
    __m256 wv[4];
#pragma GCC unroll 4
    for (int c = 0; c < nc; c++) {
      __m256i v = _mm256_loadu_si256((const __m256i *)(w + kk + (c0 + c) / 2 * 16));
      wv[c] =
          _mm256_castsi256_ps((c0 + c) % 2 ? _mm256_and_si256(v, odd) : _mm256_slli_epi32(v, 16));
    }
#pragma GCC unroll 4
    for (int r = 0; r < nr; r++)
#pragma GCC unroll 4
      for (int c = 0; c < nc; c++)
        acc[r][c] =
            _mm256_fmadd_ps(_mm256_loadu_ps(split[r] + kk + (c0 + c) * 8), wv[c], acc[r][c]);
  }
#pragma GCC unroll 4
  for (int r = 0; r < nr; r++)
#pragma GCC unroll 4
    for (int c = 0; c < nc; c++)
      out[r][c0 + c] = acc[r][c];
}

/* dots[r] = dot_bf16_avx2(a[r], split[r], w, k) for r < nr <= 4. */
__attribute__((target("avx2,fma"), always_inline)) static inline void
dots_bf16_avx2_t(const int nr, float *dots, const float *const *a, const float *const *split,
                 const uint16_t *w, int64_t k, gboolean prefetch)
{
  __m256 s[4][4];
  int64_t k32 = k / 32 * 32;
  if (nr <= 2) {
    sums_bf16_avx2(nr, 0, 4, s, split, w, k32, prefetch);
  } else {
    sums_bf16_avx2(nr, 0, 2, s, split, w, k32, prefetch);
    sums_bf16_avx2(nr, 2, 2, s, split, w, k32, FALSE);
  }
  float tails[4];
  tails_bf16(tails, a, nr, w + k32, k32, k);
  for (int r = 0; r < nr; r++)
    dots[r] =
        hsum(_mm256_add_ps(_mm256_add_ps(s[r][0], s[r][1]), _mm256_add_ps(s[r][2], s[r][3]))) +
        tails[r];
}

/* dots[r] = dot_bf16_avx2(a[r], split[r], w, k) for r < nr <= ROWS_MAX, in groups of 4. */
__attribute__((target("avx2,fma"))) static void dots_bf16_avx2(float *dots, const float *const *a,
                                                               const float *const *split, int nr,
                                                               const uint16_t *w, int64_t k,
                                                               gboolean prefetch)
{
  for (int r0 = 0; r0 < nr; r0 += 4, prefetch = FALSE) {
    switch (MIN(4, nr - r0)) {
    case 4:
      dots_bf16_avx2_t(4, dots + r0, a + r0, split + r0, w, k, prefetch);
      break;
    case 3:
      dots_bf16_avx2_t(3, dots + r0, a + r0, split + r0, w, k, prefetch);
      break;
    case 2:
      dots_bf16_avx2_t(2, dots + r0, a + r0, split + r0, w, k, prefetch);
      break;
    default:
      dots_bf16_avx2_t(1, dots + r0, a + r0, split + r0, w, k, prefetch);
      break;
    }
  }
}

/* The AVX-512 layout of a row: per 32 values, the 16 even ones then the 16 odd ones. A 64-byte
 * load of 32 bf16 weights then gives, by a shift, [s0 | s2] of dot_bf16_avx2's sums (the even
 * values of each half) and, by a mask, [s1 | s3]: each lane multiplies the values it does in
 * the AVX2 kernel, in the same order, so the sums keep their bits. */
__attribute__((target("avx512f"))) static void split_even_odd_512(float *dst, const float *a,
                                                                  int64_t k)
{
  const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
  const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
  for (int64_t j = 0; j + 32 <= k; j += 32) {
    __m512 lo = _mm512_loadu_ps(a + j), hi = _mm512_loadu_ps(a + j + 16);
    _mm512_storeu_ps(dst + j, _mm512_permutex2var_ps(lo, even, hi));
    _mm512_storeu_ps(dst + j + 16, _mm512_permutex2var_ps(lo, odd, hi));
  }
}

static float bias_at(const cpu_gemm_args *g, int64_t j);

#define AVX512_GEMV __attribute__((target("avx512f,avx512bw,avx2,fma"), always_inline))

/* C[i0 + r][j] for r < nr from the two accumulators of each row over the first k / 32 * 32
 * values ([s0 | s2] and [s1 | s3] of dot_bf16_avx2), then the tail as dot_bf16_avx2 adds it. */
AVX512_GEMV static inline void rows_bf16_avx512_store(const int nr, const gboolean coded,
                                                      const cpu_gemm_args *g, int64_t i0,
                                                      const float *const *a, int64_t j,
                                                      __m512 acc[ROWS_MAX][2])
{
  /* the sums first, so that no register is live across the calls below */
  float dots[ROWS_MAX], tails[ROWS_MAX];
#pragma GCC unroll 8
  for (int r = 0; r < nr; r++) {
    /* [s0 + s1 | s2 + s3], then (s0 + s1) + (s2 + s3) as dot_bf16_avx2 adds them */
    __m512 s = _mm512_add_ps(acc[r][0], acc[r][1]);
    __m256 lo = _mm512_castps512_ps256(s);
    __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(s), 1));
    dots[r] = hsum(_mm256_add_ps(lo, hi));
  }
  const int64_t k32 = g->k / 32 * 32;
  uint16_t tail[32];
  if (coded && k32 < g->k)
    cpu_compact_bf16_values(g->bc, j, k32, g->k - k32, tail);
  tails_bf16(tails, a, nr, coded ? tail : (const uint16_t *)g->b + j * g->ldb + k32, k32, g->k);
  const float bias = bias_at(g, j);
  for (int r = 0; r < nr; r++)
    g->c[(i0 + r) * g->ldc + j] = g->alpha * (dots[r] + tails[r]) + bias;
}

/* The group's rows of A (a) and their split copies (as). */
__attribute__((always_inline)) static inline void group_rows(const int nr, const cpu_gemm_args *g,
                                                             int64_t i0, const float *split512,
                                                             int64_t per_row, const float **a,
                                                             const float **as)
{
#pragma GCC unroll 8
  for (int r = 0; r < nr; r++) {
    a[r] = g->a + (i0 + r) * g->lda;
    as[r] = split512 + r * per_row;
  }
}

/* acc[r] += 32 weights w (values kk..kk + 31 of a row) times row r's split values there. */
AVX512_GEMV static inline void fma_rows(const int nr, __m512 acc[ROWS_MAX][2],
                                        const float *const *as, int64_t kk, __m512i w)
{
  const __m512i odd = _mm512_set1_epi32((int)0xffff0000u);
  __m512 we = _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
  __m512 wo = _mm512_castsi512_ps(_mm512_and_si512(w, odd));
#pragma GCC unroll 8
  for (int r = 0; r < nr; r++) {
    acc[r][0] = _mm512_fmadd_ps(_mm512_loadu_ps(as[r] + kk), we, acc[r][0]);
    acc[r][1] = _mm512_fmadd_ps(_mm512_loadu_ps(as[r] + kk + 16), wo, acc[r][1]);
  }
}

/* Where a kernel asks for weights ahead of its reads: the row jp, dk values past the ones it
 * reads, then `ahead` bytes further on in B's stream. */
typedef struct {
  gboolean on;
  int64_t jp, dk, ahead;
} weights_ahead;

/* acc[r] += weight row j's values [k0, k1) (multiples of 32, k0 of 64) times row r's, 64 at a
 * time: as stored, or decoded from the compact layout (coded), in the same order. */
AVX512_GEMV static inline void row_products(const int nr, const gboolean coded,
                                            const cpu_gemm_args *g, const uint8_t (*tables)[16],
                                            int64_t j, int64_t k0, int64_t k1,
                                            const float *const *as, __m512 acc[ROWS_MAX][2],
                                            const weights_ahead *pf)
{
  const uint16_t *w = coded ? NULL : (const uint16_t *)g->b + j * g->ldb;
  const uint16_t *wp = coded ? NULL : (const uint16_t *)g->b + pf->jp * g->ldb + pf->dk;
  __m512i v[2];
  int64_t kk = k0;
  for (; kk + 64 <= k1; kk += 64) {
    if (pf->on && coded)
      cpu_compact_bf16_prefetch(g->bc, pf->jp, (kk + pf->dk) / 64, pf->ahead);
    if (pf->on && !coded) {
      _mm_prefetch((const char *)(wp + kk) + pf->ahead, _MM_HINT_T0);
      _mm_prefetch((const char *)(wp + kk + 32) + pf->ahead, _MM_HINT_T0);
    }
    if (coded) {
      cpu_compact_bf16_block(g->bc, tables, j, kk / 64, v);
    } else {
      v[0] = _mm512_loadu_si512(w + kk);
      v[1] = _mm512_loadu_si512(w + kk + 32);
    }
    fma_rows(nr, acc, as, kk, v[0]);
    fma_rows(nr, acc, as, kk + 32, v[1]);
  }
  if (kk < k1) { /* 32 values: the first half of a block */
    if (pf->on && !coded)
      _mm_prefetch((const char *)(wp + kk) + pf->ahead, _MM_HINT_T0);
    if (coded)
      cpu_compact_bf16_block(g->bc, tables, j, kk / 64, v);
    else
      v[0] = _mm512_loadu_si512(w + kk);
    fma_rows(nr, acc, as, kk, v[0]);
  }
}

/* C[i0 + r][j] for r < nr (the rows of one group, split512 = split_even_odd_512 of each, one
 * every per_row floats) and j0 <= j < j1: two accumulators per row, 2 * nr of AVX-512's 32
 * registers, each sum ending as dot_bf16_avx2's. For rows that fit in L1 together. */
AVX512_GEMV static inline void rows_bf16_avx512_t(const int nr, const gboolean coded,
                                                  const cpu_gemm_args *g, int64_t i0,
                                                  const float *split512, int64_t per_row,
                                                  int64_t j0, int64_t j1, const gboolean prefetch)
{
  const uint8_t(*tables)[16] = coded ? cpu_compact_bf16_tables() : NULL;
  const int64_t k32 = g->k / 32 * 32;
  const float *a[ROWS_MAX], *as[ROWS_MAX];
  group_rows(nr, g, i0, split512, per_row, a, as);
  for (int64_t j = j0; j < j1; j++) {
    __m512 acc[ROWS_MAX][2];
#pragma GCC unroll 8
    for (int r = 0; r < nr; r++)
      acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    const weights_ahead pf = {prefetch, j, 0, CPU_GEMV_PREFETCH};
    row_products(nr, coded, g, tables, j, 0, k32, as, acc, &pf);
    rows_bf16_avx512_store(nr, coded, g, i0, a, j, acc);
  }
}

/* rows_bf16_avx512_t for long rows (k = 4864: 8 split rows are 152 KiB, beyond L1) and
 * j1 - j0 <= KB_COLS: the sums go over KB_VALUES values of the rows at a time, for each weight
 * row in turn, and wait in registers spilled to memory (their bits unchanged) for the next
 * values; the rows' values of a chunk then stay in L1 for all the weight rows. Each sum still
 * runs over its values in order. */
#define KB_VALUES 512
#define KB_COLS 8
AVX512_GEMV static inline void rows_bf16_avx512_kb_t(const int nr, const gboolean coded,
                                                     const cpu_gemm_args *g, int64_t i0,
                                                     const float *split512, int64_t per_row,
                                                     int64_t j0, int64_t j1,
                                                     const gboolean prefetch)
{
  const uint8_t(*tables)[16] = coded ? cpu_compact_bf16_tables() : NULL;
  const int64_t k32 = g->k / 32 * 32;
  const float *a[ROWS_MAX], *as[ROWS_MAX];
  group_rows(nr, g, i0, split512, per_row, a, as);
  const int64_t jb = j0;
  const int nb = (int)(j1 - j0);
  __m512 held[KB_COLS][ROWS_MAX][2]; /* the sums between chunks */
  for (int64_t k0 = 0; k0 < k32; k0 += KB_VALUES) {
    const int64_t k1 = MIN(k32, k0 + KB_VALUES);
    for (int t = 0; t < nb; t++) {
      /* the piece two turns ahead: the next rows' at these values, then the first rows'
       * at the next ones */
      const int ahead = (t + 2) % nb;
      const weights_ahead pf = {prefetch, jb + ahead, t + 2 < nb ? 0 : KB_VALUES, 0};
      __m512 acc[ROWS_MAX][2];
#pragma GCC unroll 8
      for (int r = 0; r < nr; r++) {
        acc[r][0] = k0 == 0 ? _mm512_setzero_ps() : held[t][r][0];
        acc[r][1] = k0 == 0 ? _mm512_setzero_ps() : held[t][r][1];
      }
      row_products(nr, coded, g, tables, jb + t, k0, k1, as, acc, &pf);
#pragma GCC unroll 8
      for (int r = 0; r < nr; r++) {
        held[t][r][0] = acc[r][0];
        held[t][r][1] = acc[r][1];
      }
    }
  }
  for (int t = 0; t < nb; t++) {
    if (k32 == 0)
      for (int r = 0; r < nr; r++)
        held[t][r][0] = held[t][r][1] = _mm512_setzero_ps();
    rows_bf16_avx512_store(nr, coded, g, i0, a, jb + t, held[t]);
  }
}

#define ROWS_CASE(KERNEL, NR)                                                                      \
  case NR:                                                                                         \
    if (coded)                                                                                     \
      KERNEL(NR, TRUE, g, i0, split512, per_row, j0, j1, prefetch);                                \
    else                                                                                           \
      KERNEL(NR, FALSE, g, i0, split512, per_row, j0, j1, prefetch);                               \
    break

/* rows_bf16_avx512_kb_t for 1 <= nr <= ROWS_MAX. */
__attribute__((target("avx512f,avx512bw,avx2,fma"))) static void
rows_bf16_avx512_kb(int nr, const gboolean coded, const cpu_gemm_args *g, int64_t i0,
                    const float *split512, int64_t per_row, int64_t j0, int64_t j1,
                    gboolean prefetch)
{
  switch (nr) {
    ROWS_CASE(rows_bf16_avx512_kb_t, 8);
    ROWS_CASE(rows_bf16_avx512_kb_t, 7);
    ROWS_CASE(rows_bf16_avx512_kb_t, 6);
    ROWS_CASE(rows_bf16_avx512_kb_t, 5);
    ROWS_CASE(rows_bf16_avx512_kb_t, 4);
    ROWS_CASE(rows_bf16_avx512_kb_t, 3);
    ROWS_CASE(rows_bf16_avx512_kb_t, 2);
  default:
    ROWS_CASE(rows_bf16_avx512_kb_t, 1);
  }
}

/* rows_bf16_avx512_t for 1 <= nr <= ROWS_MAX. */
__attribute__((target("avx512f,avx512bw,avx2,fma"))) static void
rows_bf16_avx512(int nr, const gboolean coded, const cpu_gemm_args *g, int64_t i0,
                 const float *split512, int64_t per_row, int64_t j0, int64_t j1, gboolean prefetch)
{
  switch (nr) {
    ROWS_CASE(rows_bf16_avx512_t, 8);
    ROWS_CASE(rows_bf16_avx512_t, 7);
    ROWS_CASE(rows_bf16_avx512_t, 6);
    ROWS_CASE(rows_bf16_avx512_t, 5);
    ROWS_CASE(rows_bf16_avx512_t, 4);
    ROWS_CASE(rows_bf16_avx512_t, 3);
    ROWS_CASE(rows_bf16_avx512_t, 2);
  default:
    ROWS_CASE(rows_bf16_avx512_t, 1);
  }
}
#endif

static float bias_at(const cpu_gemm_args *g, int64_t j)
{
  float v = 0.0f;
  if (g->bias)
    cpu_row_to_f32(&v, (const char *)g->bias + j * (int64_t)ivl_dtype_size(g->bias_dtype),
                   g->bias_dtype, 1);
  return v;
}

#if HAVE_X86_SIMD
/* The AVX-512 few-row product, rows in groups of up to ROWS_MAX. While a group's split rows
 * fit in L1 together (k = 896: 28 KiB for 8 rows), each weight row is multiplied into all of
 * them in one pass; longer rows go KB_VALUES values at a time (rows_bf16_avx512_kb_t). Measured
 * on one Zen 4 core, 8 rows, weights from memory on a shared machine: k = 896 at 55-65 GFLOP/s
 * of the core's 117 (the AVX2 kernel: 40-45); k = 4864 at 60-65, against 50 for two weight rows
 * at a time over whole rows and 37 for the AVX2 kernel. With several groups, the columns go in
 * chunks whose weights stay in L2 while each group reads them. */
__attribute__((target("avx512f,avx512bw,avx2,fma"))) static void
gemv_bf16_rows_avx512(const cpu_gemm_args *g, int64_t i0, int64_t i1, int64_t j0, int64_t j1)
{
  const int64_t m = i1 - i0;
  const int64_t per_row = (g->k + 15) / 16 * 16;
  float *split = g_aligned_alloc(m * per_row, sizeof(float), 64);
  for (int64_t r = 0; r < m; r++)
    split_even_odd_512(split + r * per_row, g->a + (i0 + r) * g->lda, g->k);
  const int n_groups = (int)((m + ROWS_MAX - 1) / ROWS_MAX);
  const gboolean in_l1 =
      (m + n_groups - 1) / n_groups * per_row * (int64_t)sizeof(float) <= 32 * 1024;
  const int64_t chunk = !in_l1          ? KB_COLS
                        : n_groups == 1 ? j1 - j0
                                        : MAX(1, 256 * 1024 / (g->k * (int64_t)sizeof(uint16_t)));
  for (int64_t jc = j0; jc < j1; jc += chunk)
    for (int gr = 0; gr < n_groups; gr++) {
      const int64_t r0 = m * gr / n_groups, r1 = m * (gr + 1) / n_groups, jc1 = MIN(j1, jc + chunk);
      const float *s = split + r0 * per_row;
      if (in_l1)
        rows_bf16_avx512((int)(r1 - r0), g->bc != NULL, g, i0 + r0, s, per_row, jc, jc1,
                         gr == 0);
      else
        rows_bf16_avx512_kb((int)(r1 - r0), g->bc != NULL, g, i0 + r0, s, per_row, jc, jc1,
                            gr == 0);
    }
  g_aligned_free(split);
}
#endif

/* Rows i0..i1 of A (at least 3, or any for the compact layout, which g->avx512 comes with)
 * against bf16 weight rows j0..j1, each weight block converted once for a group of rows; each
 * weight row is read from memory by the first group and from L1 by the others. */
static void gemv_bf16_rows(const cpu_gemm_args *g, int64_t i0, int64_t i1, int64_t j0, int64_t j1,
                           gboolean simd)
{
#if HAVE_X86_SIMD
  if (simd && g->avx512) {
    gemv_bf16_rows_avx512(g, i0, i1, j0, j1);
    return;
  }
#endif
  const int64_t m = i1 - i0;
  /* each row on a cache line of its own: vector loads split across two lines cost double */
  const int64_t per_row = (g->k + 15) / 16 * 16;
  float *split = NULL;
#if HAVE_X86_SIMD
  if (simd) {
    split = g_aligned_alloc(m * per_row, sizeof(float), 64);
    for (int64_t r = 0; r < m; r++)
      split_even_odd(split + r * per_row, g->a + (i0 + r) * g->lda, g->k);
  }
#endif
  const int n_groups = (int)((m + ROWS_MAX - 1) / ROWS_MAX);
  for (int64_t j = j0; j < j1; j++) {
    const uint16_t *w = (const uint16_t *)b_at(g, j * g->ldb);
    const float bias = bias_at(g, j);
    for (int gr = 0; gr < n_groups; gr++) {
      const int64_t r0 = m * gr / n_groups, r1 = m * (gr + 1) / n_groups;
      const int nr = (int)(r1 - r0);
      const float *a[ROWS_MAX], *a_split[ROWS_MAX];
      float dots[ROWS_MAX];
      for (int r = 0; r < nr; r++) {
        a[r] = g->a + (i0 + r0 + r) * g->lda;
        a_split[r] = split ? split + (r0 + r) * per_row : NULL;
      }
#if HAVE_X86_SIMD
      if (split)
        dots_bf16_avx2(dots, a, a_split, nr, w, g->k, gr == 0);
      else
#endif
        dots_bf16_portable(dots, a, nr, w, g->k);
      for (int r = 0; r < nr; r++)
        g->c[(i0 + r0 + r) * g->ldc + j] = g->alpha * dots[r] + bias;
    }
  }
  g_aligned_free(split);
}

static void gemv_rows_are_n(const cpu_gemm_args *g, int64_t i0, int64_t i1, int64_t j0, int64_t j1,
                            gboolean simd)
{
  /* from 3 rows: at 2 the step is still bound by the weights' bandwidth, and the one-row
   * kernel's single stream per row read it faster (1B decode, 2 streams: 48 against 46 tok/s).
   * The compact layout is read there from 1 row: its AVX-512 kernels decode it. */
  if (g->b_dtype == IVL_DTYPE_BF16 && (i1 - i0 >= 3 || g->bc)) {
    gemv_bf16_rows(g, i0, i1, j0, j1, simd);
    return;
  }
  /* the rows of A split for dot_bf16_avx2 (and the 4-bit dot, which also takes the sums of
   * its groups after them): a few KiB, rebuilt per tile */
  float *split = NULL;
  /* each row on a cache line of its own: 32-byte loads split across two lines cost double */
  const int64_t per_row =
      (g->k + (g->b_dtype == IVL_DTYPE_Q4 ? g->k / IVL_Q4_GROUP : 0) + 15) / 16 * 16;
#if HAVE_X86_SIMD
  if (simd && (g->b_dtype == IVL_DTYPE_BF16 || g->b_dtype == IVL_DTYPE_Q4)) {
    split = g_aligned_alloc(MAX(1, (i1 - i0) * per_row), sizeof(float), 64);
    for (int64_t r = i0; r < i1; r++) {
      split_even_odd(split + (r - i0) * per_row, g->a + r * g->lda, g->k);
      if (g->b_dtype == IVL_DTYPE_Q4)
        cpu_q4_group_sums(split + (r - i0) * per_row + g->k, g->a + r * g->lda, g->k);
    }
  }
#endif
  const gboolean quant = cpu_dtype_is_quant(g->b_dtype);
  for (int64_t j = j0; j < j1; j++) {
    const void *b = quant ? NULL : b_at(g, j * g->ldb);
    float bias = bias_at(g, j);
    for (int64_t r = i0; r < i1; r++) {
      const float *a = g->a + r * g->lda;
      float dot;
      if (quant)
        dot = cpu_quant_dot(a, split ? split + (r - i0) * per_row : NULL, g, j, simd);
#if HAVE_X86_SIMD
      else if (split)
        dot = dot_bf16_avx2(a, split + (r - i0) * per_row, b, g->k);
      else if (simd)
        dot = dot_avx2(a, b, g->b_dtype, g->k);
#endif
      else
        dot = dot_portable(a, b, g->b_dtype, g->k);
      g->c[r * g->ldc + j] = g->alpha * dot + bias;
    }
  }
  g_aligned_free(split);
  (void)simd;
}

/* c[j] += s * b[j] for j < n, b in dtype. */
static void axpy_portable(float *c, float s, const void *b, ivl_dtype dtype, int64_t n)
{
  if (dtype == IVL_DTYPE_F32) {
    for (int64_t j = 0; j < n; j++)
      c[j] += s * ((const float *)b)[j];
    return;
  }
  float tmp[256];
  for (int64_t j0 = 0; j0 < n; j0 += 256) {
    int64_t nb = MIN(256, n - j0);
    cpu_row_to_f32(tmp, (const char *)b + j0 * (int64_t)ivl_dtype_size(dtype), dtype, nb);
    for (int64_t j = 0; j < nb; j++)
      c[j0 + j] += s * tmp[j];
  }
}

#if HAVE_X86_SIMD
__attribute__((target("avx2,fma"))) static void axpy_avx2(float *c, float s, const float *b,
                                                          int64_t n)
{
  __m256 sv = _mm256_set1_ps(s);
  int64_t j = 0;
  for (; j + 8 <= n; j += 8)
    _mm256_storeu_ps(c + j, _mm256_fmadd_ps(sv, _mm256_loadu_ps(b + j), _mm256_loadu_ps(c + j)));
  for (; j < n; j++)
    c[j] += s * b[j];
}
#endif

static void gemv_rows_are_k(const cpu_gemm_args *g, int64_t i0, int64_t i1, int64_t j0, int64_t j1,
                            gboolean simd)
{
  for (int64_t r = i0; r < i1; r++) {
    float *c = g->c + r * g->ldc + j0;
    const float *a = g->a + r * g->lda;
    memset(c, 0, (size_t)(j1 - j0) * sizeof(float));
    for (int64_t kk = 0; kk < g->k; kk++) {
      const void *b = b_at(g, kk * g->ldb + j0);
#if HAVE_X86_SIMD
      if (simd && g->b_dtype == IVL_DTYPE_F32)
        axpy_avx2(c, a[kk], b, j1 - j0);
      else
#endif
        axpy_portable(c, a[kk], b, g->b_dtype, j1 - j0);
    }
    for (int64_t j = j0; j < j1; j++)
      c[j - j0] = g->alpha * c[j - j0] + bias_at(g, j);
  }
  (void)simd;
}

void cpu_gemv_tile(const cpu_gemm_args *g, int64_t i0, int64_t i1, int64_t j0, int64_t j1,
                   gboolean simd)
{
  if (g->b_rows_are_n)
    gemv_rows_are_n(g, i0, i1, j0, j1, simd);
  else
    gemv_rows_are_k(g, i0, i1, j0, j1, simd);
}
