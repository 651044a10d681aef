/* The CPU products' float path for quantized weights (quantize.h; IVL_CPU_INT_DOT=0, else
 * cpu-int-dot.c): rows dequantized to f32 for the packed GEMM, and dot products straight from
 * the int8/4-bit values for decode, where the whole point of quantizing is reading fewer bytes
 * per token. */
#include "cpu-kernels.h"

#include "quantize.h"

#include "cpu-simd.h"

#if HAVE_X86_SIMD
__attribute__((target("avx2,fma"), always_inline)) static inline __m256 i8x8(const int8_t *q)
{
  return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)q)));
}

__attribute__((target("avx2,fma"))) static void q8_row_avx2(float *dst, const int8_t *q, float s,
                                                            int64_t n)
{
  __m256 sv = _mm256_set1_ps(s);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(dst + i, _mm256_mul_ps(i8x8(q + i), sv));
  for (; i < n; i++)
    dst[i] = (float)q[i] * s;
}

/* Σ a[i]·q[i] over n values (n a multiple of 32 for the vector part). */
__attribute__((target("avx2,fma"))) static float q8_dot_avx2(const float *a, const int8_t *q,
                                                             int64_t n)
{
  __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    _mm_prefetch((const char *)(q + i) + CPU_GEMV_PREFETCH, _MM_HINT_T0);
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), i8x8(q + i), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), i8x8(q + i + 8), s1);
    s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), i8x8(q + i + 16), s2);
    s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), i8x8(q + i + 24), s3);
  }
  float sum = hsum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
  for (; i < n; i++)
    sum += a[i] * (float)q[i];
  return sum;
}

/* The 32 values of one Q4 group as four vectors: the even values of the first 16, the odd
 * ones, then the same for the last 16 (the order split_even_odd puts a in). With offset 8
 * they are q, with 0 the stored q + 8. */
__attribute__((target("avx2,fma"), always_inline)) static inline void
q4_group(const uint8_t *q, __m256 v[4], int offset)
{
  const __m256i low = _mm256_set1_epi32(15), off = _mm256_set1_epi32(offset);
  __m128i bytes = _mm_loadu_si128((const __m128i *)q);
  __m256i b0 = _mm256_cvtepu8_epi32(bytes), b1 = _mm256_cvtepu8_epi32(_mm_srli_si128(bytes, 8));
  v[0] = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_and_si256(b0, low), off));
  v[1] = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_srli_epi32(b0, 4), off));
  v[2] = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_and_si256(b1, low), off));
  v[3] = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_srli_epi32(b1, 4), off));
}

/* Σ_g s_g · Σ a·(q + 8) − 8 · Σ_g s_g · Σ a: the stored nibbles as they are, the offset
 * taken once per group through the precomputed group sums of a (a_split + n). */
__attribute__((target("avx2,fma,f16c"))) static float
q4_dot_avx2(const float *a_split, const uint8_t *q, const uint16_t *scales, int64_t n)
{
  const float *sums = a_split + n;
  const int64_t n_groups = n / IVL_Q4_GROUP;
  __m256 s0 = _mm256_setzero_ps(), s1 = s0, corr = s0;
  for (int64_t g = 0; g < n_groups; g++) {
    const float *a = a_split + g * IVL_Q4_GROUP;
    __m256 v[4];
    _mm_prefetch((const char *)(q + g * IVL_Q4_GROUP / 2) + CPU_GEMV_PREFETCH, _MM_HINT_T0);
    q4_group(q + g * IVL_Q4_GROUP / 2, v, 0);
    __m256 acc = _mm256_mul_ps(_mm256_loadu_ps(a), v[0]);
    acc = _mm256_fmadd_ps(_mm256_loadu_ps(a + 8), v[1], acc);
    acc = _mm256_fmadd_ps(_mm256_loadu_ps(a + 16), v[2], acc);
    acc = _mm256_fmadd_ps(_mm256_loadu_ps(a + 24), v[3], acc);
    __m256 s = _mm256_set1_ps(_cvtsh_ss(scales[g]));
    if (g % 2 == 0)
      s0 = _mm256_fmadd_ps(acc, s, s0);
    else
      s1 = _mm256_fmadd_ps(acc, s, s1);
  }
  int64_t g = 0;
  for (; g + 8 <= n_groups; g += 8)
    corr = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(scales + g))),
                           _mm256_loadu_ps(sums + g), corr);
  float tail = 0.0f;
  for (; g < n_groups; g++)
    tail += _cvtsh_ss(scales[g]) * sums[g];
  return hsum(_mm256_add_ps(s0, s1)) - 8.0f * (hsum(corr) + tail);
}

/* Dequantizes a whole number of Q4 groups: the split order is undone on the store. */
__attribute__((target("avx2,fma,f16c"))) static void
q4_row_avx2(float *dst, const uint8_t *q, const uint16_t *scales, int64_t n_groups)
{
  for (int64_t g = 0; g < n_groups; g++) {
    __m256 v[4];
    q4_group(q + g * IVL_Q4_GROUP / 2, v, 8);
    __m256 s = _mm256_set1_ps(_cvtsh_ss(scales[g]));
    float *d = dst + g * IVL_Q4_GROUP;
    for (int h = 0; h < 2; h++) { /* interleave evens and odds back: unpack + lane fix */
      __m256 even = _mm256_mul_ps(v[2 * h], s), odd = _mm256_mul_ps(v[2 * h + 1], s);
      __m256 lo = _mm256_unpacklo_ps(even, odd), hi = _mm256_unpackhi_ps(even, odd);
      _mm256_storeu_ps(d + 16 * h, _mm256_permute2f128_ps(lo, hi, 0x20));
      _mm256_storeu_ps(d + 16 * h + 8, _mm256_permute2f128_ps(lo, hi, 0x31));
    }
  }
}
#endif

void cpu_q4_group_sums(float *sums, const float *a, int64_t k)
{
  for (int64_t g = 0; g < k / IVL_Q4_GROUP; g++) {
    float s = 0.0f;
    for (int i = 0; i < IVL_Q4_GROUP; i++)
      s += a[g * IVL_Q4_GROUP + i];
    sums[g] = s;
  }
}

void cpu_quant_row_to_f32(float *dst, const cpu_gemm_args *g, int64_t j, int64_t k0, int64_t n,
                          gboolean simd)
{
#if HAVE_X86_SIMD
  if (simd && g->b_dtype == IVL_DTYPE_Q8) {
    q8_row_avx2(dst, (const int8_t *)g->b + j * g->k + k0, ivl_q8_scales(g->b, g->b_rows, g->k)[j],
                n);
    return;
  }
  if (simd && g->b_dtype == IVL_DTYPE_Q4 && k0 % IVL_Q4_GROUP == 0 && n % IVL_Q4_GROUP == 0) {
    q4_row_avx2(dst, (const uint8_t *)g->b + (j * g->k + k0) / 2,
                ivl_q4_scales(g->b, g->b_rows, g->k) + (j * g->k + k0) / IVL_Q4_GROUP,
                n / IVL_Q4_GROUP);
    return;
  }
#endif
  (void)simd;
  ivl_dequantize_row(g->b_dtype, dst, g->b, g->b_rows, g->k, j, k0, n);
}

float cpu_quant_dot(const float *a, const float *a_split, const cpu_gemm_args *g, int64_t j,
                    gboolean simd)
{
#if HAVE_X86_SIMD
  if (simd && g->b_dtype == IVL_DTYPE_Q8)
    return q8_dot_avx2(a, (const int8_t *)g->b + j * g->k, g->k) *
           ivl_q8_scales(g->b, g->b_rows, g->k)[j];
  if (simd && a_split != NULL)
    return q4_dot_avx2(a_split, (const uint8_t *)g->b + j * g->k / 2,
                       ivl_q4_scales(g->b, g->b_rows, g->k) + j * (g->k / IVL_Q4_GROUP), g->k);
#endif
  (void)a_split;
  (void)simd;
  float w[256], sum = 0.0f;
  for (int64_t k0 = 0; k0 < g->k; k0 += 256) {
    int64_t n = MIN(256, g->k - k0);
    ivl_dequantize_row(g->b_dtype, w, g->b, g->b_rows, g->k, j, k0, n);
    for (int64_t i = 0; i < n; i++)
      sum += a[k0 + i] * w[i];
  }
  return sum;
}
