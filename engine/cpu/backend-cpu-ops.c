/* The CPU backend's row-wise, element-wise and data-movement ops: shape checks, then kernels
 * from cpu-rowops.c over row ranges on the thread pool. */
#include "backend-cpu-private.h"

#include "cpu-simd.h"
#include "ivl.h"

#include <math.h>
#include <string.h>

/* A norm weight, bias or scale vector as f32 (weights arrive in their file dtype). */
static float *vector_f32(const ivl_tensor *t)
{
  float *v = g_new(float, MAX(1, t->rows * t->cols));
  cpu_tensor_rows_to_f32(t, 0, t->rows, v);
  return v;
}

typedef struct {
  float *y;
  const float *x, *w, *b;
  int64_t cols;
  float eps;
} norm_job;

static void layer_norm_rows(void *ctx, int64_t r0, int64_t r1)
{
  norm_job *j = ctx;
  for (int64_t r = r0; r < r1; r++)
    cpu_layer_norm_row(j->y + r * j->cols, j->x + r * j->cols, j->w, j->b, j->cols, j->eps);
}

static void rms_norm_rows(void *ctx, int64_t r0, int64_t r1)
{
  norm_job *j = ctx;
  for (int64_t r = r0; r < r1; r++)
    cpu_rms_norm_row(j->y + r * j->cols, j->x + r * j->cols, j->w, j->cols, j->eps);
}

typedef struct {
  norm_job norm;
  float *x;
  const float *r;
} add_norm_job;

static void add_rms_norm_rows(void *ctx, int64_t r0, int64_t r1)
{
  add_norm_job *j = ctx;
  const int64_t cols = j->norm.cols;
  for (int64_t r = r0; r < r1; r++) {
    float *x = j->x + r * cols;
    const float *add = j->r + r * cols;
    for (int64_t i = 0; i < cols; i++)
      x[i] += add[i];
    cpu_rms_norm_row(j->norm.y + r * cols, x, j->norm.w, cols, j->norm.eps);
  }
}

/* add then rms_norm in one pass over the rows: a decode step runs two per layer. */
void cpu_op_add_rms_norm(ivl_backend *be, ivl_tensor *y, ivl_tensor *x, const ivl_tensor *r,
                         const ivl_tensor *w, float eps)
{
  const char *op = "add_rms_norm";
  if (!cpu_check_act(be, op, "x", x, -1, -1) || !cpu_check_act(be, op, "y", y, x->rows, x->cols) ||
      !cpu_check_act(be, op, "r", r, x->rows, x->cols) ||
      !cpu_check_vector(be, op, "w", w, x->cols) ||
      !cpu_check(be, x->cols > 0, op, "rows are empty") ||
      !cpu_check(be, y->data != x->data && y->data != r->data, op, "y must not alias x or r"))
    return;
  g_autofree float *wf = vector_f32(w);
  add_norm_job job = {{y->data, NULL, wf, NULL, x->cols, eps}, x->data, r->data};
  cpu_parallel_rows(cpu_of(be), x->rows, 3 * x->cols, add_rms_norm_rows, &job);
}

void cpu_op_layer_norm(ivl_backend *be, ivl_tensor *y, const ivl_tensor *x, const ivl_tensor *w,
                       const ivl_tensor *b, float eps)
{
  const char *op = "layer_norm";
  if (!cpu_check_act(be, op, "x", x, -1, -1) || !cpu_check_act(be, op, "y", y, x->rows, x->cols) ||
      !cpu_check_vector(be, op, "w", w, x->cols) || !cpu_check_vector(be, op, "b", b, x->cols) ||
      !cpu_check(be, x->cols > 0, op, "rows are empty"))
    return;
  g_autofree float *wf = vector_f32(w);
  g_autofree float *bf = vector_f32(b);
  norm_job job = {y->data, x->data, wf, bf, x->cols, eps};
  cpu_parallel_rows(cpu_of(be), x->rows, 3 * x->cols, layer_norm_rows, &job);
}

void cpu_op_rms_norm(ivl_backend *be, ivl_tensor *y, const ivl_tensor *x, const ivl_tensor *w,
                     float eps)
{
  const char *op = "rms_norm";
  if (!cpu_check_act(be, op, "x", x, -1, -1) || !cpu_check_act(be, op, "y", y, x->rows, x->cols) ||
      !cpu_check_vector(be, op, "w", w, x->cols) ||
      !cpu_check(be, x->cols > 0, op, "rows are empty"))
    return;
  g_autofree float *wf = vector_f32(w);
  norm_job job = {y->data, x->data, wf, NULL, x->cols, eps};
  cpu_parallel_rows(cpu_of(be), x->rows, 2 * x->cols, rms_norm_rows, &job);
}

typedef struct {
  float *x;
  int64_t cols, pos0;
  int n_heads, head_dim;
  const float *inv_freq;
} rope_job;

static void rope_rows(void *ctx, int64_t r0, int64_t r1)
{
  rope_job *j = ctx;
  for (int64_t r = r0; r < r1; r++)
    cpu_rope_row(j->x + r * j->cols, j->n_heads, j->head_dim, j->pos0 + r, j->inv_freq);
}

void cpu_op_rope(ivl_backend *be, ivl_tensor *x, int n_heads, int head_dim, int64_t pos0,
                 double theta)
{
  const char *op = "rope";
  if (!cpu_check(be,
                 n_heads > 0 && head_dim > 0 && head_dim % 2 == 0 && head_dim <= 512 &&
                     theta > 0.0 && pos0 >= 0,
                 op, "%d heads of dim %d, theta %g, pos0 %" G_GINT64_FORMAT " are invalid", n_heads,
                 head_dim, theta, pos0) ||
      !cpu_check_act(be, op, "x", x, -1, (int64_t)n_heads * head_dim))
    return;
  float inv_freq[256];
  /* transformers: 1 / base ** (arange(0, dim, 2).float() / dim), all in f32 */
  for (int i = 0; i < head_dim / 2; i++)
    inv_freq[i] = 1.0f / powf((float)theta, (float)(2 * i) / (float)head_dim);
  rope_job job = {x->data, x->cols, pos0, n_heads, head_dim, inv_freq};
  cpu_parallel_rows(cpu_of(be), x->rows, 4 * x->cols, rope_rows, &job);
}

typedef struct {
  float *y;
  const float *x;
  const void *b;
  const ivl_tensor *bt; /* add: b as a tensor (a weight, in any layout) */
  int64_t cols;
  gboolean simd;
} ew_job;

static void gelu_rows(void *ctx, int64_t r0, int64_t r1)
{
  ew_job *j = ctx;
  cpu_gelu(j->y + r0 * j->cols, (r1 - r0) * j->cols, j->simd);
}

static void silu_mul_rows(void *ctx, int64_t r0, int64_t r1)
{
  ew_job *j = ctx;
  cpu_silu_mul(j->y + r0 * j->cols, j->x + r0 * j->cols, (r1 - r0) * j->cols, j->simd);
}

void cpu_op_gelu(ivl_backend *be, ivl_tensor *x)
{
  if (!cpu_check_act(be, "gelu", "x", x, -1, -1))
    return;
  ew_job job = {.y = x->data, .cols = x->cols, .simd = cpu_of(be)->simd};
  cpu_parallel_rows(cpu_of(be), x->rows, 16 * x->cols, gelu_rows, &job);
}

void cpu_op_silu_mul(ivl_backend *be, ivl_tensor *gate, const ivl_tensor *up)
{
  if (!cpu_check_act(be, "silu_mul", "gate", gate, -1, -1) ||
      !cpu_check_act(be, "silu_mul", "up", up, gate->rows, gate->cols))
    return;
  ew_job job = {.y = gate->data, .x = up->data, .cols = gate->cols, .simd = cpu_of(be)->simd};
  cpu_parallel_rows(cpu_of(be), gate->rows, 8 * gate->cols, silu_mul_rows, &job);
}

static void add_rows(void *ctx, int64_t r0, int64_t r1)
{
  ew_job *j = ctx;
  g_autofree float *tmp = g_new(float, MAX(1, j->cols));
  for (int64_t r = r0; r < r1; r++) {
    cpu_tensor_rows_to_f32(j->bt, r, 1, tmp);
    float *y = j->y + r * j->cols;
    const float *a = j->x + r * j->cols;
    for (int64_t i = 0; i < j->cols; i++)
      y[i] = a[i] + tmp[i];
  }
}

void cpu_op_add(ivl_backend *be, ivl_tensor *y, const ivl_tensor *a, const ivl_tensor *b)
{
  const char *op = "add";
  if (!cpu_check_act(be, op, "a", a, -1, -1) || !cpu_check_act(be, op, "y", y, a->rows, a->cols) ||
      !cpu_check(be, b != NULL && cpu_dtype_is_float(b->dtype), op, "b must be f32, f16 or bf16") ||
      !cpu_check(be, b->rows == a->rows && b->cols == a->cols, op, "b's shape differs from a's"))
    return;
  ew_job job = {.y = y->data, .x = a->data, .bt = b, .cols = a->cols};
  cpu_parallel_rows(cpu_of(be), a->rows, 2 * a->cols, add_rows, &job);
}

static void add_scaled_rows(void *ctx, int64_t r0, int64_t r1)
{
  ew_job *j = ctx;
  const float *scale = j->b;
  for (int64_t r = r0; r < r1; r++)
    cpu_add_scaled_row(j->y + r * j->cols, j->x + r * j->cols, scale, j->cols);
}

void cpu_op_add_scaled(ivl_backend *be, ivl_tensor *y, const ivl_tensor *x, const ivl_tensor *scale)
{
  const char *op = "add_scaled";
  if (!cpu_check_act(be, op, "y", y, -1, -1) || !cpu_check_act(be, op, "x", x, y->rows, y->cols) ||
      !cpu_check_vector(be, op, "scale", scale, y->cols))
    return;
  g_autofree float *sf = vector_f32(scale);
  ew_job job = {.y = y->data, .x = x->data, .b = sf, .cols = y->cols};
  cpu_parallel_rows(cpu_of(be), y->rows, 2 * y->cols, add_scaled_rows, &job);
}

void cpu_op_get_rows(ivl_backend *be, ivl_tensor *y, const ivl_tensor *table, const int32_t *ids,
                     int64_t n)
{
  const char *op = "get_rows";
  if (!cpu_check(be, table != NULL && cpu_dtype_is_float(table->dtype), op,
                 "table must be f32, f16 or bf16") ||
      !cpu_check(be, n >= 0 && (ids != NULL || n == 0), op, "no ids") ||
      !cpu_check_act(be, op, "y", y, n, table->cols))
    return;
  for (int64_t i = 0; i < n; i++)
    if (!cpu_check(be, ids[i] >= 0 && ids[i] < table->rows, op,
                   "id %d at %" G_GINT64_FORMAT " is outside the table's %" G_GINT64_FORMAT " rows",
                   ids[i], i, table->rows))
      return;
  for (int64_t i = 0; i < n; i++)
    cpu_tensor_rows_to_f32(table, ids[i], 1, (float *)y->data + i * y->cols);
}

void cpu_op_copy_rows(ivl_backend *be, ivl_tensor *dst, int64_t dst_row0, const ivl_tensor *src,
                      int64_t src_row0, int64_t n_rows)
{
  const char *op = "copy_rows";
  if (!cpu_check(be, dst != NULL && src != NULL, op, "a tensor is missing") ||
      !cpu_check(be, dst->dtype == src->dtype && dst->cols == src->cols, op,
                 "src and dst differ in dtype or columns") ||
      !cpu_check(be,
                 n_rows >= 0 && dst_row0 >= 0 && src_row0 >= 0 && dst_row0 <= dst->rows - n_rows &&
                     src_row0 <= src->rows - n_rows,
                 op, "rows out of range") ||
      !cpu_check(be, !dst->layout && !src->layout, op, "weights are not copied"))
    return;
  int64_t row_bytes = dst->cols * (int64_t)ivl_dtype_size(dst->dtype);
  memmove((char *)dst->data + dst_row0 * row_bytes, (const char *)src->data + src_row0 * row_bytes,
          (size_t)(n_rows * row_bytes));
}

void cpu_op_patchify(ivl_backend *be, ivl_tensor *y, const ivl_tensor *pixels, int n_tiles,
                     int image_size, int patch)
{
  const char *op = "patchify";
  if (!cpu_check(be, n_tiles >= 0 && patch > 0 && image_size > 0 && image_size % patch == 0, op,
                 "%d tiles of %d pixels in patches of %d are invalid", n_tiles, image_size, patch))
    return;
  int64_t s = image_size, p = patch, g = s / p;
  if (!cpu_check_act(be, op, "pixels", pixels, 3 * (int64_t)n_tiles, s * s) ||
      !cpu_check_act(be, op, "y", y, n_tiles * g * g, 3 * p * p))
    return;
  const float *src = pixels->data;
  float *dst = y->data;
  for (int64_t t = 0; t < n_tiles; t++)
    for (int64_t py = 0; py < g; py++)
      for (int64_t px = 0; px < g; px++) {
        float *out = dst + ((t * g + py) * g + px) * 3 * p * p;
        for (int64_t c = 0; c < 3; c++)
          for (int64_t ky = 0; ky < p; ky++)
            memcpy(out + (c * p + ky) * p, src + (t * 3 + c) * s * s + (py * p + ky) * s + px * p,
                   (size_t)p * sizeof(float));
      }
}

void cpu_op_pixel_shuffle(ivl_backend *be, ivl_tensor *y, const ivl_tensor *x, int n_tiles,
                          int grid)
{
  const char *op = "pixel_shuffle";
  if (!cpu_check(be, n_tiles >= 0 && grid > 0 && grid % 2 == 0, op,
                 "%d tiles of grid %d are invalid", n_tiles, grid) ||
      !cpu_check_act(be, op, "x", x, (int64_t)n_tiles * grid * grid, -1) ||
      !cpu_check_act(be, op, "y", y, (int64_t)n_tiles * (grid / 2) * (grid / 2), 4 * x->cols))
    return;
  int64_t d = x->cols, g = grid, h = grid / 2;
  const float *src = x->data;
  float *dst = y->data;
  for (int64_t t = 0; t < n_tiles; t++)
    for (int64_t i = 0; i < h; i++)
      for (int64_t j = 0; j < h; j++)
        for (int64_t q = 0; q < 4; q++) /* y[i][j][q*D + c] = x[2i + q/2][2j + q%2][c] */
          memcpy(dst + ((t * h + i) * h + j) * 4 * d + q * d,
                 src + ((t * g + 2 * i + q / 2) * g + 2 * j + q % 2) * d,
                 (size_t)d * sizeof(float));
}

#if HAVE_X86_SIMD
/* The scalar loop of cpu_op_argmax, by the largest value then its first index (every decoded
 * token of every sequence reads the ~150k logits of its row; the loop took ~0.1 ms a row, with
 * the other threads idle). -1 where the largest non-NaN value is -inf, or there is none: the
 * scalar loop answers those. */
__attribute__((target("avx2,fma"))) static int64_t argmax_avx2(const float *x, int64_t n)
{
  __m256 m[4];
  for (int u = 0; u < 4; u++)
    m[u] = _mm256_set1_ps(-INFINITY);
  int64_t i = 0;
  /* max_ps(v, m) is m where v is NaN: NaNs never win */
  for (; i + 32 <= n; i += 32)
    for (int u = 0; u < 4; u++)
      m[u] = _mm256_max_ps(_mm256_loadu_ps(x + i + 8 * u), m[u]);
  m[0] = _mm256_max_ps(_mm256_max_ps(m[0], m[1]), _mm256_max_ps(m[2], m[3]));
  float lanes[8], best = -INFINITY;
  _mm256_storeu_ps(lanes, m[0]);
  for (int l = 0; l < 8; l++)
    best = MAX(best, lanes[l]);
  for (; i < n; i++)
    if (x[i] > best)
      best = x[i];
  if (best == -INFINITY)
    return -1;
  const __m256 bv = _mm256_set1_ps(best);
  for (i = 0; i + 8 <= n; i += 8) {
    int mask = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(x + i), bv, _CMP_EQ_OQ));
    if (mask != 0)
      return i + __builtin_ctz((unsigned)mask);
  }
  for (; i < n; i++)
    if (x[i] == best)
      return i;
  return -1;
}
#endif

int32_t cpu_op_argmax(ivl_backend *be, const ivl_tensor *logits, int64_t row)
{
  const char *op = "argmax";
  if (!cpu_check_act(be, op, "logits", logits, -1, -1) ||
      !cpu_check(be,
                 row >= 0 && row < logits->rows && logits->cols > 0 && logits->cols <= G_MAXINT32,
                 op, "row %" G_GINT64_FORMAT " is not in the logits", row))
    return -1;
  const float *x = (const float *)logits->data + row * logits->cols;
#if HAVE_X86_SIMD
  if (cpu_of(be)->simd) {
    int64_t best = argmax_avx2(x, logits->cols);
    if (best >= 0)
      return (int32_t)best;
  }
#endif
  int64_t best = 0;
  /* strict > keeps the lowest index among ties (torch.argmax and numpy agree); NaNs never win */
  for (int64_t i = 1; i < logits->cols; i++)
    if (x[i] > x[best] || isnan(x[best]))
      best = i;
  return (int32_t)best;
}
