#include "ops-harness.h"

#include "cpu-kernels.h"
#include "quantize.h"

#include <math.h>
#include <string.h>

void ops_rng_seed(ops_rng *r, guint64 seed)
{
  r->state = seed;
}

static guint64 next(ops_rng *r)
{
  guint64 z = (r->state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

float ops_rng_uniform(ops_rng *r)
{
  return (float)((double)(next(r) >> 40) / (double)(1ull << 24) * 2.0 - 1.0);
}

guint32 ops_rng_below(ops_rng *r, guint32 n)
{
  return (guint32)(next(r) % n);
}

void ops_ctx_init(ops_ctx *c, ivl_backend *reference, ivl_backend *tested, guint64 seed)
{
  memset(c, 0, sizeof *c);
  c->be[0] = reference;
  c->be[1] = tested;
  ops_rng_seed(&c->rng, seed);
  for (int i = 0; i < 2; i++)
    c->owned[i] = g_ptr_array_new();
  c->host = g_ptr_array_new_with_free_func(g_free);
}

void ops_ctx_reset(ops_ctx *c)
{
  for (int i = 0; i < 2; i++) {
    for (guint j = 0; j < c->owned[i]->len; j++)
      c->be[i]->ops->tensor_free(c->be[i], c->owned[i]->pdata[j]);
    g_ptr_array_set_size(c->owned[i], 0);
    g_clear_error(&c->be[i]->error);
  }
  g_ptr_array_set_size(c->host, 0);
  g_clear_error(&c->error);
}

void ops_ctx_clear(ops_ctx *c)
{
  ops_ctx_reset(c);
  for (int i = 0; i < 2; i++)
    g_ptr_array_unref(c->owned[i]);
  g_ptr_array_unref(c->host);
}

static void keep(ops_ctx *c, int side, ivl_tensor *t, GError *error, ops_pair *p)
{
  if (t == NULL) {
    if (c->error == NULL)
      c->error = error;
    else
      g_error_free(error);
    /* A view over nothing: ops on it fail their shape checks instead of crashing. */
    p->view[side] = (ivl_tensor){c->be[side], IVL_DTYPE_F32, 0, 0, NULL, FALSE, NULL, 0};
    return;
  }
  g_ptr_array_add(c->owned[side], t);
  p->view[side] = *t;
  p->view[side].rows = p->rows;
  p->view[side].owns_data = FALSE;
}

static float *random_rows(ops_ctx *c, int64_t n, float scale, float offset)
{
  float *v = g_new(float, n);
  for (int64_t i = 0; i < n; i++)
    v[i] = offset + scale * ops_rng_uniform(&c->rng);
  return v;
}

static void upload(ops_ctx *c, int side, ivl_tensor *t, int64_t row0, int64_t rows, const float *v)
{
  GError *error = NULL;
  if (t->data != NULL && !c->be[side]->ops->upload_f32(c->be[side], t, row0, rows, v, &error)) {
    if (c->error == NULL)
      c->error = error;
    else
      g_error_free(error);
  }
}

static ops_pair make(ops_ctx *c, ivl_dtype dtype, gboolean act, int64_t rows, int64_t guard,
                     int64_t cols)
{
  ops_pair p = {.rows = rows, .cols = cols, .guard = guard};
  for (int side = 0; side < 2; side++) {
    GError *error = NULL;
    const ivl_dtype d = act ? c->be[side]->act_dtype : dtype;
    keep(c, side, c->be[side]->ops->tensor_new(c->be[side], d, rows + guard, cols, &error), error,
         &p);
  }
  return p;
}

ops_pair ops_input_values(ops_ctx *c, gboolean act, ivl_dtype dtype, int64_t rows, int64_t cols,
                          const float *values)
{
  ops_pair p = make(c, dtype, act, rows, 0, cols);
  for (int side = 0; side < 2; side++)
    upload(c, side, &p.view[side], 0, rows, values);
  return p;
}

ops_pair ops_input_typed(ops_ctx *c, ivl_dtype dtype, int64_t rows, int64_t cols, float scale,
                         float offset)
{
  g_autofree float *v = random_rows(c, rows * cols, scale, offset);
  return ops_input_values(c, FALSE, dtype, rows, cols, v);
}

ops_pair ops_input(ops_ctx *c, int64_t rows, int64_t cols, float scale, float offset)
{
  g_autofree float *v = random_rows(c, rows * cols, scale, offset);
  return ops_input_values(c, TRUE, IVL_DTYPE_F32, rows, cols, v);
}

/* Random values rounded to bf16 (or f16) as a checkpoint stores them. */
static guint16 *random_half(ops_ctx *c, ivl_dtype dtype, int64_t n, float scale, float offset)
{
  guint16 *h = g_new(guint16, n);
  for (int64_t i = 0; i < n; i++) {
    const float v = offset + scale * ops_rng_uniform(&c->rng);
    h[i] = dtype == IVL_DTYPE_F16 ? cpu_f32_to_f16(v) : cpu_f32_to_bf16(v);
  }
  return h;
}

ops_pair ops_weight(ops_ctx *c, ivl_dtype dtype, int64_t rows, int64_t cols, float scale,
                    float offset)
{
  ops_pair p = {.rows = rows, .cols = cols};
  const int64_t n = rows * cols;
  void *host;
  if (dtype == IVL_DTYPE_Q8 || dtype == IVL_DTYPE_Q4) {
    /* as the loader makes them: bf16 checkpoint values quantized into a host buffer */
    g_autofree guint16 *h = random_half(c, IVL_DTYPE_BF16, n, scale, offset);
    host = g_malloc(ivl_quant_nbytes(dtype, rows, cols));
    ivl_quantize(dtype, host, h, IVL_DTYPE_BF16, rows, cols);
  } else if (dtype == IVL_DTYPE_BF16 || dtype == IVL_DTYPE_F16) {
    host = random_half(c, dtype, n, scale, offset);
  } else {
    host = random_rows(c, n, scale, offset);
  }
  g_ptr_array_add(c->host, host);
  for (int side = 0; side < 2; side++) {
    GError *error = NULL;
    keep(c, side, c->be[side]->ops->weight_from_host(c->be[side], dtype, rows, cols, host, &error),
         error, &p);
  }
  return p;
}

static void fill_guard(ops_ctx *c, ops_pair *p, int64_t row0, int64_t rows)
{
  g_autofree float *s = g_new(float, rows * p->cols);
  for (int64_t i = 0; i < rows * p->cols; i++)
    s[i] = OPS_SENTINEL;
  for (int side = 0; side < 2; side++) {
    ivl_tensor full = p->view[side];
    full.rows = p->rows + p->guard;
    upload(c, side, &full, row0, rows, s);
  }
}

ops_pair ops_output(ops_ctx *c, int64_t rows, int64_t cols)
{
  ops_pair p = make(c, IVL_DTYPE_F32, TRUE, rows, OPS_GUARD_ROWS, cols);
  fill_guard(c, &p, 0, rows + OPS_GUARD_ROWS);
  return p;
}

ops_pair ops_output_typed(ops_ctx *c, ivl_dtype dtype, int64_t rows, int64_t cols)
{
  ops_pair p = make(c, dtype, FALSE, rows, OPS_GUARD_ROWS, cols);
  fill_guard(c, &p, 0, rows + OPS_GUARD_ROWS);
  return p;
}

ops_pair ops_inout(ops_ctx *c, int64_t rows, int64_t cols, float scale)
{
  ops_pair p = make(c, IVL_DTYPE_F32, TRUE, rows, OPS_GUARD_ROWS, cols);
  g_autofree float *v = random_rows(c, rows * cols, scale, 0.0f);
  for (int side = 0; side < 2; side++)
    upload(c, side, &p.view[side], 0, rows, v);
  fill_guard(c, &p, rows, OPS_GUARD_ROWS);
  return p;
}

gboolean ops_ctx_ok(ops_ctx *c, char **why)
{
  if (c->error != NULL) {
    *why = g_strdup_printf("setup: %s", c->error->message);
    return FALSE;
  }
  for (int side = 0; side < 2; side++) {
    g_autoptr(GError) error = NULL;
    if (c->be[side]->ops->synchronize(c->be[side], &error) &&
        ivl_backend_take_error(c->be[side], &error))
      continue;
    *why = g_strdup_printf("%s: %s", c->be[side]->ops->name, error->message);
    return FALSE;
  }
  return TRUE;
}

static gboolean download(ops_ctx *c, const ops_pair *p, float *out[2], char **why)
{
  for (int side = 0; side < 2; side++) {
    g_autoptr(GError) error = NULL;
    ivl_tensor full = p->view[side];
    full.rows = p->rows + p->guard;
    out[side] = g_new(float, full.rows * p->cols);
    if (!c->be[side]->ops->download_f32(c->be[side], &full, 0, full.rows, out[side], &error)) {
      *why = g_strdup_printf("download (%s): %s", c->be[side]->ops->name, error->message);
      return FALSE;
    }
  }
  return TRUE;
}

static gboolean check_values(const ops_pair *p, float *v[2], char **why)
{
  const int64_t n = p->rows * p->cols, total = (p->rows + p->guard) * p->cols;
  for (int side = 0; side < 2; side++)
    for (int64_t i = 0; i < total; i++) {
      if (isnan(v[side][i])) {
        *why = g_strdup_printf("NaN on side %d at %" G_GINT64_FORMAT, side, i);
        return FALSE;
      }
      if (i >= n && v[side][i] != OPS_SENTINEL) {
        *why = g_strdup_printf("guard overwritten on side %d at row %" G_GINT64_FORMAT, side,
                               i / p->cols);
        return FALSE;
      }
      if (i < n && side == 1 && v[side][i] == OPS_SENTINEL) {
        *why = g_strdup_printf("element %" G_GINT64_FORMAT " never written", i);
        return FALSE;
      }
    }
  return TRUE;
}

gboolean ops_compare(ops_ctx *c, const ops_pair *p, double tol, double *nmse, char **why)
{
  float *v[2] = {NULL, NULL};
  *nmse = INFINITY;
  gboolean ok = ops_ctx_ok(c, why) && download(c, p, v, why) && check_values(p, v, why);
  if (ok) {
    double err = 0.0, ref = 0.0;
    for (int64_t i = 0; i < p->rows * p->cols; i++) {
      const double d = (double)v[1][i] - (double)v[0][i];
      err += d * d;
      ref += (double)v[0][i] * (double)v[0][i];
    }
    *nmse = ref > 0.0 ? err / ref : err;
    if (!(*nmse <= tol)) {
      *why = g_strdup_printf("nmse %.3g over %.3g", *nmse, tol);
      ok = FALSE;
    }
  }
  g_free(v[0]);
  g_free(v[1]);
  return ok;
}
