/* quantize.c — weights into the Q8 and Q4 layouts of quantize.h, and back. */
#include "quantize.h"

#include <math.h>
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "cpu-kernels.h" /* dtype conversions */

/* Above this many values a matrix is quantized by one thread per core: an 8B model's Linear
 * weights are 7 billion values, tens of seconds on one core. */
#define PARALLEL_MIN_VALUES (1 << 20)

static size_t align64(size_t n)
{
  return (n + 63) / 64 * 64;
}

gboolean ivl_quant_fits(ivl_dtype dtype, int64_t rows, int64_t cols)
{
  if (rows <= 0 || cols <= 0)
    return FALSE;
  return dtype == IVL_DTYPE_Q8 || (dtype == IVL_DTYPE_Q4 && cols % IVL_Q4_GROUP == 0);
}

size_t ivl_quant_scales_offset(ivl_dtype dtype, int64_t rows, int64_t cols)
{
  size_t values = (size_t)rows * (size_t)cols;
  return align64(dtype == IVL_DTYPE_Q4 ? values / 2 : values);
}

size_t ivl_quant_nbytes(ivl_dtype dtype, int64_t rows, int64_t cols)
{
  size_t scales =
      dtype == IVL_DTYPE_Q4 ? (size_t)rows * (size_t)(cols / IVL_Q4_GROUP) * 2 : (size_t)rows * 4;
  return ivl_quant_scales_offset(dtype, rows, cols) + scales;
}

size_t ivl_tensor_nbytes(ivl_dtype dtype, int64_t rows, int64_t cols)
{
  if (dtype == IVL_DTYPE_Q8 || dtype == IVL_DTYPE_Q4)
    return ivl_quant_nbytes(dtype, rows, cols);
  return (size_t)rows * (size_t)cols * ivl_dtype_size(dtype);
}

/* roundf(x / s) clamped to [lo, hi]; NaN and s == 0 give 0. */
static int quant_value(float x, float s, int lo, int hi)
{
  if (s == 0.0f)
    return 0;
  float q = roundf(x / s);
  if (!(q == q))
    return 0;
  return (int)fminf(fmaxf(q, (float)lo), (float)hi);
}

#if defined(__x86_64__)
/* quant_value on 8 lanes, bit for bit: the division is IEEE in both, and round half away from
 * zero is trunc(d) plus the sign where the dropped fraction is at least one half (exact:
 * d - trunc(d) has no rounding error). */
__attribute__((target("avx2"))) static void quant_values_avx2(int32_t *out, const float *x,
                                                              int64_t n, float s, int lo, int hi)
{
  const __m256 sv = _mm256_set1_ps(s), half = _mm256_set1_ps(0.5f);
  const __m256 sign = _mm256_set1_ps(-0.0f), one = _mm256_set1_ps(1.0f);
  const __m256 lov = _mm256_set1_ps((float)lo), hiv = _mm256_set1_ps((float)hi);
  int64_t i = 0;
  for (; i + 8 <= n && s != 0.0f; i += 8) {
    __m256 d = _mm256_div_ps(_mm256_loadu_ps(x + i), sv);
    __m256 t = _mm256_round_ps(d, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    __m256 up = _mm256_cmp_ps(_mm256_andnot_ps(sign, _mm256_sub_ps(d, t)), half, _CMP_GE_OQ);
    __m256 r = _mm256_add_ps(t, _mm256_and_ps(up, _mm256_or_ps(_mm256_and_ps(d, sign), one)));
    r = _mm256_andnot_ps(_mm256_cmp_ps(r, r, _CMP_UNORD_Q), r); /* NaN -> 0 */
    r = _mm256_min_ps(_mm256_max_ps(r, lov), hiv);
    _mm256_storeu_si256((__m256i *)(out + i), _mm256_cvttps_epi32(r));
  }
  for (; i < n; i++)
    out[i] = quant_value(x[i], s, lo, hi);
}
#endif

/* out[i] = quant_value(x[i], s, lo, hi) for i < n. */
static void quant_values(int32_t *out, const float *x, int64_t n, float s, int lo, int hi,
                         gboolean simd)
{
#if defined(__x86_64__)
  if (simd) {
    quant_values_avx2(out, x, n, s, lo, hi);
    return;
  }
#endif
  (void)simd;
  for (int64_t i = 0; i < n; i++)
    out[i] = quant_value(x[i], s, lo, hi);
}

static float absmax(const float *x, int64_t n)
{
  float m = 0.0f;
  for (int64_t i = 0; i < n; i++)
    m = fmaxf(m, fabsf(x[i]));
  return m;
}

/* tmp: n ints of scratch. */
static void quantize_row_q8(int8_t *q, float *scale, const float *x, int64_t n, int32_t *tmp,
                            gboolean simd)
{
  float s = absmax(x, n) / 127.0f;
  *scale = s;
  quant_values(tmp, x, n, s, -127, 127, simd);
  for (int64_t i = 0; i < n; i++)
    q[i] = (int8_t)tmp[i];
}

static void quantize_row_q4(uint8_t *q, uint16_t *scales, const float *x, int64_t n, int32_t *tmp,
                            gboolean simd)
{
  for (int64_t g = 0; g < n / IVL_Q4_GROUP; g++) {
    const float *xg = x + g * IVL_Q4_GROUP;
    scales[g] = cpu_f32_to_f16(absmax(xg, IVL_Q4_GROUP) / 7.0f);
    quant_values(tmp, xg, IVL_Q4_GROUP, cpu_f16_to_f32(scales[g]), -8, 7, simd);
    for (int i = 0; i < IVL_Q4_GROUP; i += 2)
      q[(g * IVL_Q4_GROUP + i) / 2] = (uint8_t)((tmp[i] + 8) | (tmp[i + 1] + 8) << 4);
  }
}

typedef struct {
  ivl_dtype dtype;
  void *dst;
  const void *src;
  ivl_dtype src_dtype;
  int64_t rows, cols, row0, row1;
  gboolean simd;
} quant_job;

static gpointer quantize_rows(gpointer data)
{
  const quant_job *j = data;
  size_t src_row = (size_t)j->cols * ivl_dtype_size(j->src_dtype);
  float *x = g_new(float, j->cols);
  int32_t *tmp = g_new(int32_t, j->cols);
  char *scales = (char *)j->dst + ivl_quant_scales_offset(j->dtype, j->rows, j->cols);
  for (int64_t r = j->row0; r < j->row1; r++) {
    cpu_row_to_f32(x, (const char *)j->src + (size_t)r * src_row, j->src_dtype, j->cols);
    if (j->dtype == IVL_DTYPE_Q8)
      quantize_row_q8((int8_t *)j->dst + r * j->cols, (float *)scales + r, x, j->cols, tmp,
                      j->simd);
    else
      quantize_row_q4((uint8_t *)j->dst + r * j->cols / 2,
                      (uint16_t *)scales + r * (j->cols / IVL_Q4_GROUP), x, j->cols, tmp, j->simd);
  }
  g_free(tmp);
  g_free(x);
  return NULL;
}

void ivl_quantize(ivl_dtype dtype, void *dst, const void *src, ivl_dtype src_dtype, int64_t rows,
                  int64_t cols)
{
  g_return_if_fail(ivl_quant_fits(dtype, rows, cols));
  /* the padding between values and scales is zeroed so equal weights give equal bytes */
  memset(dst, 0, ivl_quant_nbytes(dtype, rows, cols));
  const gboolean simd = cpu_simd_available();
  int n_threads = rows * cols >= PARALLEL_MIN_VALUES ? (int)MIN(g_get_num_processors(), rows) : 1;
  quant_job jobs[n_threads];
  GThread *threads[n_threads];
  for (int t = 0; t < n_threads; t++) {
    jobs[t] = (quant_job){
        dtype, dst, src, src_dtype, rows, cols, rows * t / n_threads, rows * (t + 1) / n_threads,
        simd};
    threads[t] = t == 0 ? NULL : g_thread_new("ivl-quantize", quantize_rows, &jobs[t]);
  }
  quantize_rows(&jobs[0]);
  for (int t = 1; t < n_threads; t++)
    g_thread_join(threads[t]);
}

void ivl_dequantize_row(ivl_dtype dtype, float *dst, const void *w, int64_t rows, int64_t cols,
                        int64_t row, int64_t col0, int64_t n)
{
  if (dtype == IVL_DTYPE_Q8) {
    const int8_t *q = (const int8_t *)w + row * cols + col0;
    float s = ivl_q8_scales(w, rows, cols)[row];
    for (int64_t i = 0; i < n; i++)
      dst[i] = (float)q[i] * s;
    return;
  }
  const uint8_t *q = (const uint8_t *)w + row * cols / 2;
  const uint16_t *scales = ivl_q4_scales(w, rows, cols) + row * (cols / IVL_Q4_GROUP);
  for (int64_t i = 0; i < n; i++) {
    int64_t c = col0 + i;
    int v = c % 2 == 0 ? q[c / 2] & 15 : q[c / 2] >> 4;
    dst[i] = (float)(v - 8) * cpu_f16_to_f32(scales[c / IVL_Q4_GROUP]);
  }
}
