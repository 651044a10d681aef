/* Row-wise ops of the CPU backend: norms, activations, softmax, RoPE. Reductions run in f32. */
#include "cpu-kernels.h"

#include <math.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define HAVE_X86_SIMD 1
#else
#define HAVE_X86_SIMD 0
#endif

void cpu_layer_norm_row(float *y, const float *x, const float *w, const float *b, int64_t n,
                        float eps)
{
  float sum = 0.0f, var = 0.0f;
  for (int64_t i = 0; i < n; i++)
    sum += x[i];
  float mean = sum / (float)n;
  /* two passes: var = mean((x - mean)²) does not cancel like mean(x²) - mean² would */
  for (int64_t i = 0; i < n; i++)
    var += (x[i] - mean) * (x[i] - mean);
  float inv = 1.0f / sqrtf(var / (float)n + eps);
  for (int64_t i = 0; i < n; i++)
    y[i] = (x[i] - mean) * inv * w[i] + b[i];
}

void cpu_rms_norm_row(float *y, const float *x, const float *w, int64_t n, float eps)
{
  float ss = 0.0f;
  for (int64_t i = 0; i < n; i++)
    ss += x[i] * x[i];
  float inv = 1.0f / sqrtf(ss / (float)n + eps);
  for (int64_t i = 0; i < n; i++)
    y[i] = x[i] * inv * w[i];
}

void cpu_rope_row(float *x, int n_heads, int head_dim, int64_t pos, const float *inv_freq)
{
  int half = head_dim / 2;
  float cs[256], sn[256]; /* head_dim <= 512 is checked by the caller */
  for (int i = 0; i < half; i++) {
    /* as transformers: angle = float(pos) * inv_freq in f32, then cos/sin in f32 */
    float angle = (float)pos * inv_freq[i];
    cs[i] = cosf(angle);
    sn[i] = sinf(angle);
  }
  for (int h = 0; h < n_heads; h++) {
    float *xh = x + (int64_t)h * head_dim;
    for (int i = 0; i < half; i++) {
      float x1 = xh[i], x2 = xh[i + half];
      xh[i] = x1 * cs[i] - x2 * sn[i];
      xh[i + half] = x2 * cs[i] + x1 * sn[i];
    }
  }
}

#if HAVE_X86_SIMD
/* e^x as in Cephes expf: x = n ln2 + r, |r| <= ln2/2, e^r by a degree-7 polynomial, then
 * scaled by 2^n through the exponent bits. Relative error ~2 ulp; inputs are clamped to the
 * range where 2^n stays a normal float, so e^-inf gives 1e-38 instead of 0 (softmax inputs are
 * max-subtracted, where that difference vanishes against the sum >= 1). */
__attribute__((target("avx2,fma"), always_inline)) static inline __m256 exp_avx2(__m256 x)
{
  x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.3365448f)),
                    _mm256_set1_ps(88.3762626647949f));
  __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                             _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  __m256i e =
      _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

__attribute__((target("avx2,fma"))) static float exp_row_avx2(float *x, int64_t n)
{
  __m256 mv = _mm256_set1_ps(-INFINITY);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    mv = _mm256_max_ps(mv, _mm256_loadu_ps(x + i));
  float lanes[8];
  _mm256_storeu_ps(lanes, mv);
  float m = lanes[0];
  for (int l = 1; l < 8; l++)
    m = m > lanes[l] ? m : lanes[l];
  for (int64_t j = i; j < n; j++)
    m = m > x[j] ? m : x[j];
  __m256 sv = _mm256_setzero_ps();
  __m256 mb = _mm256_set1_ps(m);
  for (i = 0; i + 8 <= n; i += 8) {
    __m256 e = exp_avx2(_mm256_sub_ps(_mm256_loadu_ps(x + i), mb));
    _mm256_storeu_ps(x + i, e);
    sv = _mm256_add_ps(sv, e);
  }
  _mm256_storeu_ps(lanes, sv);
  float sum = 0.0f;
  for (int l = 0; l < 8; l++)
    sum += lanes[l];
  for (; i < n; i++) {
    x[i] = expf(x[i] - m);
    sum += x[i];
  }
  return sum;
}

/* GELU(x) = x/2 · (1 + erf(x/√2)) with erfc(z) = poly(t) e^(-z²), t = 1/(1 + p z), z = |x|/√2
 * (Abramowitz & Stegun 7.1.26, absolute error <= 1.5e-7, about an f32 ulp of erf near 1).
 * For x < 0, 1 + erf(x/√2) = erfc(z) is computed directly, so there is no cancellation. */
__attribute__((target("avx2,fma"))) static void gelu_avx2(float *x, int64_t n)
{
  const __m256 half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.0f), two = _mm256_set1_ps(2.0f);
  const __m256 sign = _mm256_set1_ps(-0.0f);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 v = _mm256_loadu_ps(x + i);
    __m256 z = _mm256_mul_ps(_mm256_andnot_ps(sign, v), _mm256_set1_ps((float)M_SQRT1_2));
    __m256 t = _mm256_div_ps(one, _mm256_fmadd_ps(_mm256_set1_ps(0.3275911f), z, one));
    __m256 p = _mm256_set1_ps(1.061405429f);
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-1.453152027f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(1.421413741f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-0.284496736f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.254829592f));
    p = _mm256_mul_ps(p, t);
    __m256 erfc =
        _mm256_mul_ps(p, exp_avx2(_mm256_sub_ps(_mm256_setzero_ps(), _mm256_mul_ps(z, z))));
    __m256 negative = _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_LT_OQ);
    __m256 cdf2 = _mm256_blendv_ps(_mm256_sub_ps(two, erfc), erfc, negative);
    _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_mul_ps(half, v), cdf2));
  }
  for (; i < n; i++)
    x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * (float)M_SQRT1_2));
}

__attribute__((target("avx2,fma"))) static void silu_mul_avx2(float *g, const float *u, int64_t n)
{
  int64_t i = 0;
  __m256 one = _mm256_set1_ps(1.0f);
  for (; i + 8 <= n; i += 8) {
    __m256 x = _mm256_loadu_ps(g + i);
    __m256 e = exp_avx2(_mm256_sub_ps(_mm256_setzero_ps(), x));
    __m256 s = _mm256_div_ps(x, _mm256_add_ps(one, e));
    _mm256_storeu_ps(g + i, _mm256_mul_ps(s, _mm256_loadu_ps(u + i)));
  }
  for (; i < n; i++)
    g[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}
#endif

float cpu_exp_row(float *x, int64_t n, gboolean simd)
{
#if HAVE_X86_SIMD
  if (simd)
    return exp_row_avx2(x, n);
#endif
  (void)simd;
  float m = -INFINITY, sum = 0.0f;
  for (int64_t i = 0; i < n; i++)
    m = fmaxf(m, x[i]);
  for (int64_t i = 0; i < n; i++) {
    x[i] = expf(x[i] - m);
    sum += x[i];
  }
  return sum;
}

void cpu_silu_mul(float *gate, const float *up, int64_t n, gboolean simd)
{
#if HAVE_X86_SIMD
  if (simd) {
    silu_mul_avx2(gate, up, n);
    return;
  }
#endif
  (void)simd;
  for (int64_t i = 0; i < n; i++)
    gate[i] = gate[i] / (1.0f + expf(-gate[i])) * up[i];
}

void cpu_add_scaled_row(float *y, const float *x, const float *scale, int64_t n)
{
  for (int64_t i = 0; i < n; i++)
    y[i] += x[i] * scale[i];
}

void cpu_gelu(float *x, int64_t n, gboolean simd)
{
#if HAVE_X86_SIMD
  if (simd) {
    gelu_avx2(x, n);
    return;
  }
#endif
  (void)simd;
  for (int64_t i = 0; i < n; i++)
    x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * (float)M_SQRT1_2));
}
