/* cpu-gemv.c — matrix products for few rows of A (decode, batched decode): B is streamed once,
 * row by row, and converted from bf16/f16 in registers, so decode runs at memory speed; from
 * 3 rows a bf16 weight block is converted once and multiplied into several rows, each row
 * keeping the one-row summation order (a batched row is bit-identical to the row alone). */
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
 * value: it is converted once for up to ROWS_MAX rows instead of once per row. */
#define ROWS_MAX 4

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

#if HAVE_X86_SIMD
/* Partial sums c0..c0+nc-1 (s0..s3 of dot_bf16_avx2) of nr rows over the first k32 values. A
 * tile of all four sums of ROWS_MAX rows would need 16 accumulators, so up to 2 rows take all
 * four in one pass over the weight row and more rows take two sums in each of two passes:
 * 8 accumulators, enough independent FMAs to cover their latency. The weight row (at most a
 * few KiB) comes from memory on the first pass and from L1 on the second. */
__attribute__((target("avx2,fma"), always_inline)) static inline void
sums_bf16_avx2(const int nr, const int c0, const int nc, __m256 out[ROWS_MAX][4],
               const float *const *split, const uint16_t *w, int64_t k32, const gboolean prefetch)
{
  const __m256i odd = _mm256_set1_epi32((int)0xffff0000u);
  __m256 acc[ROWS_MAX][4];
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

__attribute__((target("avx2,fma"), always_inline)) static inline void
dots_bf16_avx2_t(const int nr, float *dots, const float *const *a, const float *const *split,
                 const uint16_t *w, int64_t k, gboolean prefetch)
{
  __m256 s[ROWS_MAX][4];
  int64_t k32 = k / 32 * 32;
  if (nr <= 2) {
    sums_bf16_avx2(nr, 0, 4, s, split, w, k32, prefetch);
  } else {
    sums_bf16_avx2(nr, 0, 2, s, split, w, k32, prefetch);
    sums_bf16_avx2(nr, 2, 2, s, split, w, k32, FALSE);
  }
  float tails[ROWS_MAX];
  const float *a_tail[ROWS_MAX];
  for (int r = 0; r < nr; r++)
    a_tail[r] = a[r] + k32;
  dots_bf16_portable(tails, a_tail, nr, w + k32, k - k32);
  for (int r = 0; r < nr; r++)
    dots[r] =
        hsum(_mm256_add_ps(_mm256_add_ps(s[r][0], s[r][1]), _mm256_add_ps(s[r][2], s[r][3]))) +
        tails[r];
}

/* dots[r] = dot_bf16_avx2(a[r], split[r], w, k) for r < nr <= ROWS_MAX. */
__attribute__((target("avx2,fma"))) static void dots_bf16_avx2(float *dots, const float *const *a,
                                                               const float *const *split, int nr,
                                                               const uint16_t *w, int64_t k,
                                                               gboolean prefetch)
{
  switch (nr) {
  case 4:
    dots_bf16_avx2_t(4, dots, a, split, w, k, prefetch);
    break;
  case 3:
    dots_bf16_avx2_t(3, dots, a, split, w, k, prefetch);
    break;
  case 2:
    dots_bf16_avx2_t(2, dots, a, split, w, k, prefetch);
    break;
  default:
    dots_bf16_avx2_t(1, dots, a, split, w, k, prefetch);
    break;
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

static void gemv_rows_are_n(const cpu_gemm_args *g, int64_t i0, int64_t i1, int64_t j0, int64_t j1,
                            gboolean simd)
{
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
  /* from 3 rows: at 2 the step is still bound by the weights' bandwidth, and the one-row
   * kernel's single stream per row read it faster (1B decode, 2 streams: 48 against 46 tok/s) */
  if (g->b_dtype == IVL_DTYPE_BF16 && i1 - i0 >= 3) {
    for (int64_t j = j0; j < j1; j++) {
      const uint16_t *w = (const uint16_t *)b_at(g, j * g->ldb);
      float bias = bias_at(g, j);
      for (int64_t r0 = i0; r0 < i1; r0 += ROWS_MAX) {
        int nr = (int)MIN(ROWS_MAX, i1 - r0);
        const float *a[ROWS_MAX], *a_split[ROWS_MAX];
        float dots[ROWS_MAX];
        for (int r = 0; r < nr; r++) {
          a[r] = g->a + (r0 + r) * g->lda;
          a_split[r] = split ? split + (r0 + r - i0) * per_row : NULL;
        }
#if HAVE_X86_SIMD
        if (split)
          dots_bf16_avx2(dots, a, a_split, nr, w, g->k, r0 == i0);
        else
#endif
          dots_bf16_portable(dots, a, nr, w, g->k);
        for (int r = 0; r < nr; r++)
          g->c[(r0 + r) * g->ldc + j] = g->alpha * dots[r] + bias;
      }
    }
    g_aligned_free(split);
    return;
  }
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
