/* The reference ops: each is its formula from backend.h / INTERNVL3.md §7, in double. Shapes
 * are trusted (the op tests build them); conversions are written independently of the
 * engine's bit tricks so that a bug there shows up as a mismatch. */
#include "reference-ops.h"

#include "quantize.h"

#include <math.h>
#include <string.h>

static double f16_value(uint16_t h)
{
  int sign = h >> 15, exp = (h >> 10) & 31, mant = h & 1023;
  double v = exp == 0    ? ldexp(mant, -24)
             : exp == 31 ? (mant ? NAN : INFINITY)
                         : ldexp(1.0 + mant / 1024.0, exp - 15);
  return sign ? -v : v;
}

/* The layouts as quantize.h describes them: values, then scales from the next multiple of 64
 * bytes (Q8: int8 and one f32 per row; Q4: nibbles, low one first, + 8, one f16 per 32). */
static double quant_value(const ivl_tensor *t, int64_t i)
{
  const unsigned char *bytes = t->data;
  int64_t n = t->rows * t->cols, r = i / t->cols, c = i % t->cols;
  if (t->dtype == IVL_DTYPE_Q8) {
    float scale;
    memcpy(&scale, bytes + (n + 63) / 64 * 64 + 4 * r, sizeof scale);
    return (double)(signed char)bytes[i] * scale;
  }
  int nibble = i % 2 == 0 ? bytes[i / 2] & 15 : bytes[i / 2] >> 4;
  uint16_t scale;
  memcpy(&scale, bytes + (n / 2 + 63) / 64 * 64 + 2 * (r * (t->cols / 32) + c / 32), sizeof scale);
  return (nibble - 8) * f16_value(scale);
}

static double ref_value(const ivl_tensor *t, int64_t i)
{
  const uint16_t *h = t->data;
  switch (t->dtype) {
  case IVL_DTYPE_Q8:
  case IVL_DTYPE_Q4:
    return quant_value(t, i);
  case IVL_DTYPE_F32:
    return ((const float *)t->data)[i];
  case IVL_DTYPE_I32:
    return ((const int32_t *)t->data)[i];
  case IVL_DTYPE_BF16: {
    uint32_t bits = (uint32_t)h[i] << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
  }
  case IVL_DTYPE_F16:
    return f16_value(h[i]);
  }
  return NAN;
}

static double at(const ivl_tensor *t, int64_t r, int64_t c)
{
  return ref_value(t, r * t->cols + c);
}

static float *f32(ivl_tensor *t)
{
  return t->data;
}

static void ref_matmul(ivl_backend *be, ivl_tensor *y, const ivl_tensor *x, const ivl_tensor *w,
                       const ivl_tensor *bias)
{
  (void)be;
  for (int64_t n = 0; n < x->rows; n++)
    for (int64_t o = 0; o < w->rows; o++) {
      double sum = bias ? ref_value(bias, o) : 0.0;
      for (int64_t i = 0; i < x->cols; i++)
        sum += at(x, n, i) * at(w, o, i);
      f32(y)[n * y->cols + o] = (float)sum;
    }
}

static void ref_layer_norm(ivl_backend *be, ivl_tensor *y, const ivl_tensor *x, const ivl_tensor *w,
                           const ivl_tensor *b, float eps)
{
  (void)be;
  for (int64_t r = 0; r < x->rows; r++) {
    double mean = 0.0, var = 0.0;
    for (int64_t c = 0; c < x->cols; c++)
      mean += at(x, r, c) / (double)x->cols;
    for (int64_t c = 0; c < x->cols; c++)
      var += (at(x, r, c) - mean) * (at(x, r, c) - mean) / (double)x->cols;
    for (int64_t c = 0; c < x->cols; c++)
      f32(y)[r * y->cols + c] =
          (float)((at(x, r, c) - mean) / sqrt(var + eps) * ref_value(w, c) + ref_value(b, c));
  }
}

static void ref_rms_norm(ivl_backend *be, ivl_tensor *y, const ivl_tensor *x, const ivl_tensor *w,
                         float eps)
{
  (void)be;
  for (int64_t r = 0; r < x->rows; r++) {
    double ms = 0.0;
    for (int64_t c = 0; c < x->cols; c++)
      ms += at(x, r, c) * at(x, r, c) / (double)x->cols;
    for (int64_t c = 0; c < x->cols; c++)
      f32(y)[r * y->cols + c] = (float)(at(x, r, c) / sqrt(ms + eps) * ref_value(w, c));
  }
}

static void ref_rope(ivl_backend *be, ivl_tensor *x, int n_heads, int head_dim, int64_t pos0,
                     double theta)
{
  (void)be;
  int half = head_dim / 2;
  for (int64_t t = 0; t < x->rows; t++)
    for (int h = 0; h < n_heads; h++)
      for (int i = 0; i < half; i++) {
        /* the angle is defined in f32 (spec 7c: transformers computes inv_freq and pos *
         * inv_freq in f32); at position 30000 a double angle would differ by ~1e-3 rad */
        float inv_freq = 1.0f / powf((float)theta, (float)(2 * i) / (float)head_dim);
        double angle = (float)(pos0 + t) * inv_freq;
        float *v = f32(x) + t * x->cols + (int64_t)h * head_dim;
        double x1 = v[i], x2 = v[i + half];
        v[i] = (float)(x1 * cos(angle) - x2 * sin(angle));
        v[i + half] = (float)(x2 * cos(angle) + x1 * sin(angle));
      }
}

static void ref_attention(ivl_backend *be, ivl_tensor *out, const ivl_tensor *q,
                          const ivl_tensor *k, const ivl_tensor *v, int n_seq, int n_heads,
                          int n_kv_heads, int head_dim, gboolean causal, int64_t q_pos0,
                          float scale)
{
  (void)be;
  int64_t tq = q->rows / n_seq, tk = k->rows / n_seq;
  double *p = g_new(double, tk);
  for (int64_t s = 0; s < n_seq; s++)
    for (int h = 0; h < n_heads; h++)
      for (int64_t i = 0; i < tq; i++) {
        int64_t qr = s * tq + i, keys = causal ? q_pos0 + i + 1 : tk;
        int kvh = h / (n_heads / n_kv_heads);
        double max = -INFINITY, sum = 0.0;
        for (int64_t j = 0; j < keys; j++) {
          p[j] = 0.0;
          for (int d = 0; d < head_dim; d++)
            p[j] += at(q, qr, (int64_t)h * head_dim + d) *
                    at(k, s * tk + j, (int64_t)kvh * head_dim + d);
          p[j] *= scale;
          max = fmax(max, p[j]);
        }
        for (int64_t j = 0; j < keys; j++)
          sum += p[j] = exp(p[j] - max);
        for (int d = 0; d < head_dim; d++) {
          double o = 0.0;
          for (int64_t j = 0; j < keys; j++)
            o += p[j] / sum * at(v, s * tk + j, (int64_t)kvh * head_dim + d);
          f32(out)[qr * out->cols + (int64_t)h * head_dim + d] = (float)o;
        }
      }
  g_free(p);
}

static void ref_gelu(ivl_backend *be, ivl_tensor *x)
{
  (void)be;
  for (int64_t i = 0; i < x->rows * x->cols; i++) {
    double v = f32(x)[i];
    f32(x)[i] = (float)(0.5 * v * (1.0 + erf(v / sqrt(2.0))));
  }
}

static void ref_silu_mul(ivl_backend *be, ivl_tensor *gate, const ivl_tensor *up)
{
  (void)be;
  for (int64_t i = 0; i < gate->rows * gate->cols; i++) {
    double g = f32(gate)[i];
    f32(gate)[i] = (float)(g / (1.0 + exp(-g)) * ref_value(up, i));
  }
}

static void ref_add(ivl_backend *be, ivl_tensor *y, const ivl_tensor *a, const ivl_tensor *b)
{
  (void)be;
  for (int64_t i = 0; i < a->rows * a->cols; i++)
    f32(y)[i] = (float)(ref_value(a, i) + ref_value(b, i));
}

static void ref_add_scaled(ivl_backend *be, ivl_tensor *y, const ivl_tensor *x,
                           const ivl_tensor *scale)
{
  (void)be;
  for (int64_t r = 0; r < y->rows; r++)
    for (int64_t c = 0; c < y->cols; c++)
      f32(y)[r * y->cols + c] = (float)(at(y, r, c) + at(x, r, c) * ref_value(scale, c));
}

static void ref_get_rows(ivl_backend *be, ivl_tensor *y, const ivl_tensor *table,
                         const int32_t *ids, int64_t n)
{
  (void)be;
  for (int64_t i = 0; i < n; i++)
    for (int64_t c = 0; c < table->cols; c++)
      f32(y)[i * y->cols + c] = (float)at(table, ids[i], c);
}

static void ref_copy_rows(ivl_backend *be, ivl_tensor *dst, int64_t dst_row0, const ivl_tensor *src,
                          int64_t src_row0, int64_t n_rows)
{
  (void)be;
  size_t row = (size_t)src->cols * ivl_dtype_size(src->dtype);
  for (int64_t i = 0; i < n_rows; i++)
    memcpy((char *)dst->data + (dst_row0 + i) * row, (const char *)src->data + (src_row0 + i) * row,
           row);
}

static void ref_patchify(ivl_backend *be, ivl_tensor *y, const ivl_tensor *pixels, int n_tiles,
                         int image_size, int patch)
{
  (void)be;
  int g = image_size / patch;
  for (int t = 0; t < n_tiles; t++)
    for (int py = 0; py < g; py++)
      for (int px = 0; px < g; px++)
        for (int c = 0; c < 3; c++)
          for (int ky = 0; ky < patch; ky++)
            for (int kx = 0; kx < patch; kx++)
              f32(y)[((int64_t)(t * g + py) * g + px) * y->cols + (c * patch + ky) * patch + kx] =
                  (float)at(pixels, t * 3 + c,
                            (int64_t)(py * patch + ky) * image_size + px * patch + kx);
}

static void ref_pixel_shuffle(ivl_backend *be, ivl_tensor *y, const ivl_tensor *x, int n_tiles,
                              int grid)
{
  (void)be;
  int h = grid / 2;
  int64_t d = x->cols;
  for (int t = 0; t < n_tiles; t++)
    for (int i = 0; i < h; i++)
      for (int j = 0; j < h; j++)
        for (int q = 0; q < 4; q++)
          for (int64_t c = 0; c < d; c++)
            f32(y)[((int64_t)(t * h + i) * h + j) * y->cols + q * d + c] =
                (float)at(x, ((int64_t)t * grid + 2 * i + q / 2) * grid + 2 * j + q % 2, c);
}

static int32_t ref_argmax(ivl_backend *be, const ivl_tensor *logits, int64_t row)
{
  (void)be;
  int64_t best = -1;
  for (int64_t c = 0; c < logits->cols; c++)
    if (!isnan(at(logits, row, c)) && (best < 0 || at(logits, row, c) > at(logits, row, best)))
      best = c;
  return (int32_t)MAX(best, 0);
}

static ivl_backend_ops reference_ops;
static const ivl_backend_ops *cpu_ops;

/* Weights as the file holds them, which the formulas read: quantized ones in quantize.h's
 * layout (the CPU backend's own weight_from_host repacks them for its integer products) and
 * bf16 ones in plain rows (it keeps matrices in its compact layout). */
static ivl_tensor *ref_weight_from_host(ivl_backend *be, ivl_dtype dtype, int64_t rows,
                                        int64_t cols, const void *host, GError **error)
{
  if (dtype != IVL_DTYPE_Q8 && dtype != IVL_DTYPE_Q4) {
    ivl_tensor *t = cpu_ops->tensor_new(be, dtype, rows, cols, error);
    if (t)
      memcpy(t->data, host, ivl_tensor_nbytes(dtype, rows, cols));
    return t;
  }
  ivl_tensor *t = g_new(ivl_tensor, 1);
  *t = (ivl_tensor){be,   dtype, rows, cols, g_memdup2(host, ivl_tensor_nbytes(dtype, rows, cols)),
                    TRUE, NULL, 0};
  return t;
}

static void ref_tensor_free(ivl_backend *be, ivl_tensor *t)
{
  if (t == NULL || (t->dtype != IVL_DTYPE_Q8 && t->dtype != IVL_DTYPE_Q4)) {
    cpu_ops->tensor_free(be, t);
    return;
  }
  g_free(t->data);
  g_free(t);
}

ivl_backend *ivl_reference_backend_new(GError **error)
{
  static gsize ops_ready = 0;
  ivl_backend *be = ivl_backend_cpu_new(1, error);
  if (be == NULL)
    return NULL;
  if (g_once_init_enter(&ops_ready)) {
    cpu_ops = be->ops;
    reference_ops = *be->ops; /* memory functions: host memory, as on the CPU */
    reference_ops.name = "reference";
    reference_ops.weight_from_host = ref_weight_from_host;
    reference_ops.tensor_free = ref_tensor_free;
    reference_ops.matmul = ref_matmul;
    reference_ops.layer_norm = ref_layer_norm;
    reference_ops.rms_norm = ref_rms_norm;
    reference_ops.rope = ref_rope;
    reference_ops.attention = ref_attention;
    reference_ops.gelu = ref_gelu;
    reference_ops.silu_mul = ref_silu_mul;
    reference_ops.add = ref_add;
    reference_ops.add_scaled = ref_add_scaled;
    reference_ops.get_rows = ref_get_rows;
    reference_ops.copy_rows = ref_copy_rows;
    reference_ops.patchify = ref_patchify;
    reference_ops.pixel_shuffle = ref_pixel_shuffle;
    reference_ops.argmax = ref_argmax;
    /* the optional fusions fall back to the reference ops above */
    reference_ops.matmul_gelu = NULL;
    reference_ops.matmul_add_scaled = NULL;
    reference_ops.matmul_qkv = NULL;
    reference_ops.matmul_silu_mul = NULL;
    reference_ops.add_rms_norm = NULL;
    g_once_init_leave(&ops_ready, 1);
  }
  be->ops = &reference_ops;
  return be;
}
