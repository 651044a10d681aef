/* The op cases of op-cases.h: a small harness (paired tensors with guard rows, comparison)
 * and one function per op listing its shapes. Shapes name the model they come from:
 * Qwen2.5-0.5B (hidden 896, 14 heads / 2 kv heads of 64, MLP 4864, vocab 151674), InternViT-300M
 * (1024, 16 heads of 64, MLP 4096, 1025 tokens) and InternViT-6B (3200, 25 heads of 128). Odd
 * sizes check the edges of vector widths, panels and thread splits. */
#include "op-cases.h"

#include "quantize.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define GUARD_ROWS 2
#define GUARD_VALUE 12345.0f

typedef struct {
  ivl_tensor *t[2];    /* what the op sees: `rows` rows */
  ivl_tensor *full[2]; /* the allocation: rows + GUARD_ROWS (NULL for weights) */
  float *guard[2];     /* the guard rows as they were before the op */
  int64_t rows, cols;
} pair;

typedef struct {
  ivl_backend *be[2];
  const ivl_op_cases_params *p;
  GRand *rng;
  char *name;
  int failures;
  gboolean failed;
  double nmse; /* of the last check, for the verbose line */
  GPtrArray *pairs;
  GPtrArray *buffers;
} harness;

static void fail(harness *h, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static void fail(harness *h, const char *fmt, ...)
{
  va_list args;
  va_start(args, fmt);
  g_autofree char *msg = g_strdup_vprintf(fmt, args);
  va_end(args);
  fprintf(stderr, "FAIL %s (seed %u, %s vs %s): %s\n", h->name, h->p->seed, h->be[0]->ops->name,
          h->be[1]->ops->name, msg);
  h->failed = TRUE;
}

static void pair_free(gpointer data)
{
  pair *pr = data;
  for (int b = 0; b < 2; b++) {
    ivl_backend *be = pr->t[b] ? pr->t[b]->backend : NULL;
    if (pr->full[b]) {
      be->ops->tensor_free(be, pr->full[b]);
      g_free(pr->t[b]);
    } else if (pr->t[b]) {
      be->ops->tensor_free(be, pr->t[b]);
    }
    g_free(pr->guard[b]);
  }
  g_free(pr);
}

static gboolean begin(harness *h, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static gboolean begin(harness *h, const char *fmt, ...)
{
  va_list args;
  va_start(args, fmt);
  g_autofree char *name = g_strdup_vprintf(fmt, args);
  va_end(args);
  if (h->p->filter && !strstr(name, h->p->filter))
    return FALSE;
  h->name = g_steal_pointer(&name);
  h->failed = FALSE;
  h->nmse = 0.0;
  h->pairs = g_ptr_array_new_with_free_func(pair_free);
  h->buffers = g_ptr_array_new_with_free_func(g_free);
  return TRUE;
}

static void end(harness *h)
{
  for (int b = 0; b < 2; b++) {
    g_autoptr(GError) error = NULL;
    if (!ivl_backend_take_error(h->be[b], &error))
      fail(h, "%s recorded an error: %s", h->be[b]->ops->name, error->message);
  }
  g_clear_pointer(&h->pairs, g_ptr_array_unref);
  g_clear_pointer(&h->buffers, g_ptr_array_unref);
  if (h->failed)
    h->failures++;
  else if (h->p->verbose)
    printf("ok   %s (NMSE %.2g)\n", h->name, h->nmse);
  g_clear_pointer(&h->name, g_free);
}

static float *rand_f32(harness *h, int64_t n, double lo, double hi)
{
  float *v = g_new(float, MAX(n, 1));
  for (int64_t i = 0; i < n; i++)
    v[i] = (float)g_rand_double_range(h->rng, lo, hi);
  g_ptr_array_add(h->buffers, v);
  return v;
}

static void abort_case(harness *h, GError *error)
{
  fail(h, "setup: %s", error->message);
  g_error_free(error);
}

/* An activation on both backends, rows x cols, from data (NULL: zeros), guard rows after. */
static pair *act(harness *h, int64_t rows, int64_t cols, const float *data)
{
  pair *pr = g_new0(pair, 1);
  pr->rows = rows;
  pr->cols = cols;
  g_ptr_array_add(h->pairs, pr);
  float *guard = g_new(float, GUARD_ROWS *MAX(cols, 1));
  for (int64_t i = 0; i < GUARD_ROWS * cols; i++)
    guard[i] = GUARD_VALUE;
  float *zeros = data ? NULL : g_new0(float, MAX(rows * cols, 1));
  for (int b = 0; b < 2; b++) {
    ivl_backend *be = h->be[b];
    GError *error = NULL;
    pr->full[b] = be->ops->tensor_new(be, be->act_dtype, rows + GUARD_ROWS, cols, &error);
    if (pr->full[b] == NULL) {
      abort_case(h, error);
      break;
    }
    pr->t[b] = g_memdup2(pr->full[b], sizeof(ivl_tensor));
    pr->t[b]->rows = rows;
    pr->guard[b] = g_new(float, GUARD_ROWS *MAX(cols, 1));
    if (!be->ops->upload_f32(be, pr->full[b], 0, rows, data ? data : zeros, &error) ||
        !be->ops->upload_f32(be, pr->full[b], rows, GUARD_ROWS, guard, &error) ||
        !be->ops->download_f32(be, pr->full[b], rows, GUARD_ROWS, pr->guard[b], &error)) {
      abort_case(h, error);
      break;
    }
  }
  g_free(guard);
  g_free(zeros);
  return pr;
}

/* Random weight bits in dtype, in place on both backends (lo..hi for f32 and bf16; f16 has
 * magnitudes in [2^-5, 2^2) so that it stays far from its overflow). */
static pair *weight(harness *h, ivl_dtype dtype, int64_t rows, int64_t cols, double lo, double hi)
{
  pair *pr = g_new0(pair, 1);
  pr->rows = rows;
  pr->cols = cols;
  g_ptr_array_add(h->pairs, pr);
  int64_t n = rows * cols;
  /* quantized weights: random bf16 through the engine's quantizer (the reference reads the
   * result by its own decoding of the layout) */
  const ivl_dtype quant = dtype;
  if (dtype == IVL_DTYPE_Q8 || dtype == IVL_DTYPE_Q4)
    dtype = IVL_DTYPE_BF16;
  void *host = g_malloc(MAX(n, 1) * ivl_dtype_size(dtype));
  g_ptr_array_add(h->buffers, host);
  for (int64_t i = 0; i < n; i++) {
    float f = (float)g_rand_double_range(h->rng, lo, hi);
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    if (dtype == IVL_DTYPE_F32)
      ((float *)host)[i] = f;
    else if (dtype == IVL_DTYPE_BF16)
      ((uint16_t *)host)[i] = (uint16_t)(bits >> 16);
    else
      ((uint16_t *)host)[i] =
          (uint16_t)((bits & 0x8000u) | (g_rand_int_range(h->rng, 10, 17) << 10) |
                     g_rand_int_range(h->rng, 0, 1024));
  }
  if (quant != dtype) {
    void *q = g_malloc(ivl_tensor_nbytes(quant, rows, cols));
    g_ptr_array_add(h->buffers, q);
    ivl_quantize(quant, q, host, dtype, rows, cols);
    host = q;
    dtype = quant;
  }
  for (int b = 0; b < 2; b++) {
    GError *error = NULL;
    pr->t[b] = h->be[b]->ops->weight_from_host(h->be[b], dtype, rows, cols, host, &error);
    if (pr->t[b] == NULL) {
      abort_case(h, error);
      break;
    }
  }
  return pr;
}

static float *download(harness *h, int b, ivl_tensor *t, int64_t row0, int64_t rows)
{
  float *v = g_new(float, MAX(rows * t->cols, 1));
  g_ptr_array_add(h->buffers, v);
  GError *error = NULL;
  if (!h->be[b]->ops->download_f32(h->be[b], t, row0, rows, v, &error))
    abort_case(h, error);
  return v;
}

/* Compares out on both backends: NMSE <= max_nmse (+ extra_nmse unless exact), no NaN, guard
 * rows untouched. max_nmse < 0: bitwise equal values. */
static void check(harness *h, pair *out, double max_nmse)
{
  if (h->failed)
    return;
  int64_t n = out->rows * out->cols;
  float *a = download(h, 0, out->t[0], 0, out->rows);
  float *b = download(h, 1, out->t[1], 0, out->rows);
  double err = 0.0, ref = 0.0;
  for (int64_t i = 0; i < n; i++) {
    if (isnan(a[i]) || isnan(b[i])) {
      fail(h, "NaN at element %" G_GINT64_FORMAT, i);
      return;
    }
    if (max_nmse < 0 && a[i] != b[i]) {
      fail(h, "element %" G_GINT64_FORMAT ": %.9g, expected %.9g", i, a[i], b[i]);
      return;
    }
    err += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    ref += (double)b[i] * b[i];
  }
  double nmse = ref > 0 ? err / ref : err;
  h->nmse = nmse;
  if (max_nmse >= 0 && !(nmse <= max_nmse + h->p->extra_nmse))
    fail(h, "NMSE %.3g > %.3g", nmse, max_nmse + h->p->extra_nmse);
  for (int be = 0; be < 2 && out->full[be]; be++) {
    float *g = download(h, be, out->full[be], out->rows, GUARD_ROWS);
    if (memcmp(g, out->guard[be], (size_t)(GUARD_ROWS * out->cols) * sizeof(float)) != 0)
      fail(h, "%s wrote past the end of its output", h->be[be]->ops->name);
  }
}

#define EACH(b) for (int b = 0; b < 2 && !h->failed; b++)
#define OPS(b) h->be[b]->ops

static const char *dtype_name(ivl_dtype t)
{
  return t == IVL_DTYPE_F32   ? "f32"
         : t == IVL_DTYPE_F16 ? "f16"
         : t == IVL_DTYPE_Q8  ? "q8"
         : t == IVL_DTYPE_Q4  ? "q4"
                              : "bf16";
}

/* A product's bound: 1e-11 (below), plus the error of activations quantized or rounded to bf16
 * where the backend does so for this weight dtype. */
static double product_nmse(const harness *h, ivl_dtype wt)
{
  if (wt == IVL_DTYPE_Q8 || wt == IVL_DTYPE_Q4)
    return 1e-11 + h->p->quant_act_nmse;
  return 1e-11 + (wt == IVL_DTYPE_BF16 ? h->p->bf16_act_nmse : 0.0);
}

/* Tolerance: f32 sums of k products in another order than the double reference; the error of
 * a dot product grows like 2^-24 · sqrt(k) relative, so NMSE ~ 4e-15 · k / 100: measured
 * <= 2e-13 up to k = 4864 on both CPU paths; the bound leaves 50x for other summation orders. */
static void case_matmul(harness *h, int64_t n, int64_t in, int64_t out, ivl_dtype wt, gboolean bias)
{
  if (!begin(h,
             "matmul [%" G_GINT64_FORMAT ",%" G_GINT64_FORMAT "]x[%" G_GINT64_FORMAT
             ",%" G_GINT64_FORMAT "]^T %s%s",
             n, in, out, in, dtype_name(wt), bias ? " +bias" : ""))
    return;
  pair *x = act(h, n, in, rand_f32(h, n * in, -1, 1));
  pair *w = weight(h, wt, out, in, -1, 1);
  pair *bb = bias ? weight(h, IVL_DTYPE_BF16, 1, out, -1, 1) : NULL;
  pair *y = act(h, n, out, NULL);
  EACH(b) OPS(b)->matmul(h->be[b], y->t[b], x->t[b], w->t[b], bb ? bb->t[b] : NULL);
  check(h, y, product_nmse(h, wt));
  end(h);
}

/* q, k, v = x wq^T + bq, ...: matmul_qkv where the backend has it (the CPU backend: one job
 * over the three products), three matmuls where it does not. Tolerance as for matmul. */
static void case_matmul_qkv(harness *h, int64_t n, int64_t in, int64_t out, int64_t out_kv,
                            ivl_dtype wt)
{
  if (!begin(h,
             "matmul_qkv [%" G_GINT64_FORMAT ",%" G_GINT64_FORMAT "]x[%" G_GINT64_FORMAT
             "|%" G_GINT64_FORMAT "|%" G_GINT64_FORMAT ",%" G_GINT64_FORMAT "]^T %s +bias",
             n, in, out, out_kv, out_kv, in, dtype_name(wt)))
    return;
  pair *x = act(h, n, in, rand_f32(h, n * in, -1, 1));
  const int64_t outs[3] = {out, out_kv, out_kv};
  pair *w[3], *bb[3], *y[3];
  for (int i = 0; i < 3; i++) {
    w[i] = weight(h, wt, outs[i], in, -1, 1);
    bb[i] = weight(h, IVL_DTYPE_BF16, 1, outs[i], -1, 1);
    y[i] = act(h, n, outs[i], NULL);
  }
  EACH(b)
  {
    if (OPS(b)->matmul_qkv)
      OPS(b)->matmul_qkv(h->be[b], y[0]->t[b], y[1]->t[b], y[2]->t[b], x->t[b], w[0]->t[b],
                         w[1]->t[b], w[2]->t[b], bb[0]->t[b], bb[1]->t[b], bb[2]->t[b]);
    else
      for (int i = 0; i < 3; i++)
        OPS(b)->matmul(h->be[b], y[i]->t[b], x->t[b], w[i]->t[b], bb[i]->t[b]);
  }
  for (int i = 0; i < 3; i++)
    check(h, y[i], product_nmse(h, wt));
  end(h);
}

/* Tolerance: f32 mean/variance over <= 4096 values against double: measured <= 6e-13. */
static void case_norm(harness *h, gboolean rms, int64_t rows, int64_t cols, ivl_dtype wt, float eps)
{
  if (!begin(h, "%s [%" G_GINT64_FORMAT ",%" G_GINT64_FORMAT "] %s eps %g",
             rms ? "rms_norm" : "layer_norm", rows, cols, dtype_name(wt), eps))
    return;
  pair *x = act(h, rows, cols, rand_f32(h, rows * cols, -2, 3));
  pair *w = weight(h, wt, 1, cols, 0.5, 1.5);
  pair *bb = rms ? NULL : weight(h, wt, 1, cols, -0.5, 0.5);
  pair *y = act(h, rows, cols, NULL);
  EACH(b)
  {
    if (rms)
      OPS(b)->rms_norm(h->be[b], y->t[b], x->t[b], w->t[b], eps);
    else
      OPS(b)->layer_norm(h->be[b], y->t[b], x->t[b], w->t[b], bb->t[b], eps);
  }
  check(h, y, 1e-11);
  end(h);
}

/* Tolerance: the angle is f32 in both; cosf/sinf against cos/sin of the same angle differ by
 * about an ulp, NMSE ~ 1e-15 (measured <= 4e-15). */
static void case_rope(harness *h, int64_t rows, int heads, int hd, int64_t pos0, double theta)
{
  if (!begin(h, "rope [%" G_GINT64_FORMAT ", %dx%d] pos0 %" G_GINT64_FORMAT " theta %g", rows,
             heads, hd, pos0, theta))
    return;
  int64_t cols = (int64_t)heads * hd;
  pair *x = act(h, rows, cols, rand_f32(h, rows * cols, -2, 2));
  EACH(b) OPS(b)->rope(h->be[b], x->t[b], heads, hd, pos0, theta);
  check(h, x, 1e-13);
  end(h);
}

/* Tolerance: two f32 products (head_dim and key-count terms) and a vector exp (~2 ulp);
 * measured <= 3e-13, bound 1e-11 as for matmul; plus the error of Q, K, exp(S - max) and V
 * rounded to bf16 where the backend does so. */
static void case_attention(harness *h, int n_seq, int64_t tq, int64_t tk, int heads, int kv, int hd,
                           gboolean causal, int64_t q_pos0)
{
  if (!begin(h,
             "attention %d seq, q %" G_GINT64_FORMAT " k %" G_GINT64_FORMAT
             " rows, %d/%d heads of %d, %s q_pos0 %" G_GINT64_FORMAT,
             n_seq, tq, tk, heads, kv, hd, causal ? "causal" : "full", q_pos0))
    return;
  int64_t qr = n_seq * tq, kr = n_seq * tk, qc = (int64_t)heads * hd, kc = (int64_t)kv * hd;
  pair *q = act(h, qr, qc, rand_f32(h, qr * qc, -2, 2));
  pair *k = act(h, kr, kc, rand_f32(h, kr * kc, -2, 2));
  pair *v = act(h, kr, kc, rand_f32(h, kr * kc, -1, 1));
  pair *o = act(h, qr, qc, NULL);
  EACH(b)
  OPS(b)->attention(h->be[b], o->t[b], q->t[b], k->t[b], v->t[b], n_seq, heads, kv, hd, causal,
                    q_pos0, 1.0f / sqrtf((float)hd));
  check(h, o, 1e-11 + h->p->bf16_attention_nmse);
  end(h);
}

/* Tolerance: erff/expf (~1 ulp; vector exp ~2 ulp, vector erf 1.5e-7 absolute) against double:
 * measured <= 4e-15. */
static void case_activation(harness *h, gboolean gelu, int64_t rows, int64_t cols)
{
  if (!begin(h, "%s [%" G_GINT64_FORMAT ",%" G_GINT64_FORMAT "]", gelu ? "gelu" : "silu_mul", rows,
             cols))
    return;
  pair *x = act(h, rows, cols, rand_f32(h, rows * cols, -10, 10));
  pair *up = gelu ? NULL : act(h, rows, cols, rand_f32(h, rows * cols, -2, 2));
  EACH(b)
  {
    if (gelu)
      OPS(b)->gelu(h->be[b], x->t[b]);
    else
      OPS(b)->silu_mul(h->be[b], x->t[b], up->t[b]);
  }
  check(h, x, 1e-13);
  end(h);
}

/* add is exact (one f32 rounding of an exact sum either way); add_scaled may fuse x * s + y
 * into one FMA, one rounding apart from the reference: NMSE ~ 1e-15. */
static void case_add(harness *h, int64_t rows, int64_t cols, ivl_dtype bt, gboolean in_place,
                     gboolean scaled)
{
  if (!begin(h, "%s [%" G_GINT64_FORMAT ",%" G_GINT64_FORMAT "] %s%s",
             scaled ? "add_scaled" : "add", rows, cols, dtype_name(bt),
             in_place ? " in place" : ""))
    return;
  pair *a = act(h, rows, cols, rand_f32(h, rows * cols, -3, 3));
  pair *y = in_place ? a : act(h, rows, cols, NULL);
  if (scaled) {
    pair *x = act(h, rows, cols, rand_f32(h, rows * cols, -3, 3));
    pair *s = weight(h, bt, 1, cols, -0.2, 0.2);
    EACH(b) OPS(b)->add_scaled(h->be[b], a->t[b], x->t[b], s->t[b]);
    check(h, a, 1e-12);
  } else {
    pair *bb = bt == IVL_DTYPE_F32 ? act(h, rows, cols, rand_f32(h, rows * cols, -3, 3))
                                   : weight(h, bt, rows, cols, -3, 3);
    EACH(b) OPS(b)->add(h->be[b], y->t[b], a->t[b], bb->t[b]);
    check(h, y, -1);
  }
  end(h);
}

static void case_get_rows(harness *h, int64_t vocab, int64_t cols, ivl_dtype tt)
{
  if (!begin(h, "get_rows [%" G_GINT64_FORMAT ",%" G_GINT64_FORMAT "] %s", vocab, cols,
             dtype_name(tt)))
    return;
  int32_t ids[] = {0, (int32_t)vocab - 1, 7, 7, (int32_t)(vocab / 2), 1};
  int64_t n = G_N_ELEMENTS(ids);
  pair *table = weight(h, tt, vocab, cols, -1, 1);
  pair *y = act(h, n, cols, NULL);
  EACH(b) OPS(b)->get_rows(h->be[b], y->t[b], table->t[b], ids, n);
  check(h, y, -1);
  end(h);
}

static void case_copy_rows(harness *h, int64_t cols)
{
  if (!begin(h, "copy_rows [10,%" G_GINT64_FORMAT "] rows 2..7 to [20,%" G_GINT64_FORMAT "] at 13",
             cols, cols))
    return;
  pair *src = act(h, 10, cols, rand_f32(h, 10 * cols, -1, 1));
  pair *dst = act(h, 20, cols, rand_f32(h, 20 * cols, -1, 1));
  EACH(b) OPS(b)->copy_rows(h->be[b], dst->t[b], 13, src->t[b], 2, 6);
  check(h, dst, -1);
  end(h);
}

static void case_patchify(harness *h, int n_tiles, int size, int patch)
{
  if (!begin(h, "patchify %d tiles %dx%d patch %d", n_tiles, size, size, patch))
    return;
  int64_t g = size / patch, pix = 3 * (int64_t)n_tiles * size * size;
  pair *x = act(h, 3 * (int64_t)n_tiles, (int64_t)size * size, rand_f32(h, pix, -2, 2));
  pair *y = act(h, n_tiles * g * g, 3 * (int64_t)patch * patch, NULL);
  EACH(b) OPS(b)->patchify(h->be[b], y->t[b], x->t[b], n_tiles, size, patch);
  check(h, y, -1);
  end(h);
}

static void case_pixel_shuffle(harness *h, int n_tiles, int grid, int64_t d)
{
  if (!begin(h, "pixel_shuffle %d tiles grid %d, %" G_GINT64_FORMAT " channels", n_tiles, grid, d))
    return;
  int64_t rows = (int64_t)n_tiles * grid * grid;
  pair *x = act(h, rows, d, rand_f32(h, rows * d, -2, 2));
  pair *y = act(h, rows / 4, 4 * d, NULL);
  EACH(b) OPS(b)->pixel_shuffle(h->be[b], y->t[b], x->t[b], n_tiles, grid);
  check(h, y, -1);
  end(h);
}

/* Row 1 holds its maximum twice: the lower index must win, as torch.argmax picks it. */
static void case_argmax(harness *h, int64_t vocab)
{
  if (!begin(h, "argmax [2,%" G_GINT64_FORMAT "] with a tie", vocab))
    return;
  float *logits = rand_f32(h, 2 * vocab, -20, 20);
  logits[vocab + vocab / 3] = logits[vocab + vocab - 2] = 30.0f;
  pair *x = act(h, 2, vocab, logits);
  int32_t got[2][2] = {{-1, -1}, {-1, -1}};
  EACH(b)
  for (int r = 0; r < 2; r++)
    got[b][r] = OPS(b)->argmax(h->be[b], x->t[b], r);
  if (!h->failed && (got[0][0] != got[1][0] || got[0][1] != got[1][1] || got[1][1] != vocab / 3))
    fail(h, "argmax %d %d, expected %d %d (tie at %" G_GINT64_FORMAT ")", got[0][0], got[0][1],
         got[1][0], got[1][1], vocab / 3);
  end(h);
}

static void matmul_cases(harness *h)
{
  case_matmul(h, 1, 896, 896, IVL_DTYPE_BF16, TRUE);     /* decode q_proj */
  case_matmul(h, 1, 896, 128, IVL_DTYPE_BF16, TRUE);     /* decode k_proj, 2 kv heads */
  case_matmul(h, 1, 4864, 896, IVL_DTYPE_BF16, FALSE);   /* decode down_proj */
  case_matmul(h, 1, 896, 151674, IVL_DTYPE_BF16, FALSE); /* lm_head */
  case_matmul(h, 3, 100, 37, IVL_DTYPE_F16, TRUE);       /* few rows, odd everything */
  case_matmul(h, 2, 17, 5, IVL_DTYPE_F32, TRUE);         /* k below one vector */
  case_matmul(h, 10, 1000, 61, IVL_DTYPE_F16, FALSE);    /* most rows still streamed */
  case_matmul(h, 11, 33, 19, IVL_DTYPE_F32, FALSE);      /* fewest rows packed */
  case_matmul(h, 7, 1024, 100, IVL_DTYPE_BF16, TRUE);    /* a short prompt chunk */
  case_matmul(h, 19, 1024, 100, IVL_DTYPE_BF16, TRUE);   /* packed, 4 k blocks */
  case_matmul(h, 37, 300, 70, IVL_DTYPE_F16, TRUE);      /* partial tiles and panels */
  case_matmul(h, 13, 4864, 40, IVL_DTYPE_BF16, FALSE);   /* 19 k blocks, odd last */
  case_matmul(h, 61, 588, 64, IVL_DTYPE_BF16, TRUE);     /* patch embedding, k = 3*14*14 */
  case_matmul(h, 600, 64, 20, IVL_DTYPE_F32, TRUE);      /* two row blocks */
  case_matmul(h, 600, 1024, 200, IVL_DTYPE_BF16, TRUE);  /* A copied out, rows split in blocks */
  case_matmul(h, 13, 40, 8000, IVL_DTYPE_F16, TRUE);     /* tiles wider than a column block */
  /* batched decode: 2..16 rows (few-row bf16 kernel up to the packed threshold), odd k, n */
  for (int64_t m = 2; m <= 16; m++)
    case_matmul(h, m, 1031, 23, IVL_DTYPE_BF16, m % 2 == 0);
  /* quantized weights: the same products, the reference dequantizing in double */
  case_matmul(h, 1, 896, 896, IVL_DTYPE_Q8, TRUE);       /* decode q_proj */
  case_matmul(h, 1, 4864, 896, IVL_DTYPE_Q8, FALSE);     /* decode down_proj */
  case_matmul(h, 3, 100, 37, IVL_DTYPE_Q8, TRUE);        /* odd k: the scalar tail */
  case_matmul(h, 37, 300, 70, IVL_DTYPE_Q8, TRUE);       /* packed, partial tiles */
  case_matmul(h, 1, 896, 896, IVL_DTYPE_Q4, TRUE);       /* decode q_proj */
  case_matmul(h, 2, 4864, 896, IVL_DTYPE_Q4, FALSE);     /* decode down_proj, 2 rows */
  case_matmul(h, 3, 64, 37, IVL_DTYPE_Q4, TRUE);         /* two groups */
  case_matmul(h, 37, 288, 70, IVL_DTYPE_Q4, TRUE);       /* packed, k block of 9 groups */
  case_matmul(h, 19, 1024, 100, IVL_DTYPE_Q4, FALSE);    /* packed, 4 k blocks */
  case_matmul_qkv(h, 600, 1024, 96, 96, IVL_DTYPE_BF16); /* vision: A copied out once for all */
  case_matmul_qkv(h, 19, 256, 64, 32, IVL_DTYPE_BF16);   /* prefill chunk, GQA */
  case_matmul_qkv(h, 1, 256, 64, 32, IVL_DTYPE_BF16);    /* decode */
  case_matmul_qkv(h, 19, 256, 64, 32, IVL_DTYPE_Q8);     /* A quantized once for all */
  case_matmul_qkv(h, 2, 288, 64, 32, IVL_DTYPE_Q4);
}

static void attention_cases(harness *h)
{
  case_attention(h, 2, 37, 37, 16, 16, 64, FALSE, 0);  /* vision tiles (300M heads) */
  case_attention(h, 1, 70, 70, 25, 25, 128, FALSE, 0); /* 6B heads, two query blocks */
  case_attention(h, 3, 5, 5, 4, 2, 64, FALSE, 0);      /* GQA over several sequences */
  case_attention(h, 1, 70, 70, 14, 2, 64, TRUE, 0);    /* prefill, Qwen2.5-0.5B heads */
  case_attention(h, 1, 5, 20, 14, 2, 64, TRUE, 11);    /* chunk after 11 cached, cache 20 */
  case_attention(h, 1, 1, 64, 12, 2, 128, TRUE, 40);   /* decode, 1.5B heads */
  case_attention(h, 1, 1, 1, 14, 2, 64, TRUE, 0);      /* first token */
  /* the decode path (few query rows): a group of heads per kv head, 128-key chunks merged */
  case_attention(h, 1, 1, 517, 14, 2, 64, TRUE, 516);  /* decode after 516, 5 chunks */
  case_attention(h, 2, 1, 40, 14, 2, 64, TRUE, 20);    /* a cache longer than the position */
  case_attention(h, 1, 1, 300, 32, 8, 128, TRUE, 299); /* 4 heads per kv head, 8B heads */
  case_attention(h, 1, 1, 129, 16, 2, 128, TRUE, 128); /* 8 heads per kv head */
  case_attention(h, 1, 1, 200, 4, 4, 128, TRUE, 150);  /* MHA */
  case_attention(h, 3, 1, 150, 3, 3, 64, FALSE, 0);    /* MHA, several sequences, full */
  case_attention(h, 3, 2, 131, 14, 2, 64, FALSE, 0);   /* several sequences, two rows */
  case_attention(h, 1, 4, 140, 8, 2, 64, TRUE, 126);   /* rows on both sides of a chunk */
  case_attention(h, 1, 3, 70, 6, 2, 24, TRUE, 60);     /* head_dim not a multiple of 16 */
}

static void other_cases(harness *h)
{
  case_norm(h, FALSE, 5, 1024, IVL_DTYPE_BF16, 1e-6f); /* ViT norm1/norm2 */
  case_norm(h, FALSE, 3, 4096, IVL_DTYPE_F32, 1e-5f);  /* mlp1 LayerNorm */
  case_norm(h, FALSE, 7, 33, IVL_DTYPE_F16, 1e-6f);
  case_norm(h, TRUE, 1, 896, IVL_DTYPE_BF16, 1e-6f);  /* Qwen2 RMSNorm */
  case_norm(h, TRUE, 4, 3200, IVL_DTYPE_BF16, 1e-6f); /* 6B qk norm */
  case_norm(h, TRUE, 3, 13, IVL_DTYPE_F32, 1e-5f);
  case_rope(h, 5, 14, 64, 0, 1e6);
  case_rope(h, 3, 2, 128, 1000, 1e6);
  case_rope(h, 4, 3, 6, 30000, 5e7);
  case_activation(h, TRUE, 7, 1000);
  case_activation(h, FALSE, 3, 4864);
  case_activation(h, FALSE, 2, 13);
  case_add(h, 5, 896, IVL_DTYPE_F32, FALSE, FALSE);
  case_add(h, 5, 896, IVL_DTYPE_F32, TRUE, FALSE);
  case_add(h, 3, 100, IVL_DTYPE_BF16, FALSE, FALSE); /* + position embedding */
  case_add(h, 9, 1024, IVL_DTYPE_BF16, TRUE, TRUE);  /* layer scale */
  case_add(h, 2, 21, IVL_DTYPE_F32, TRUE, TRUE);
  case_get_rows(h, 1000, 896, IVL_DTYPE_BF16);
  case_get_rows(h, 50, 64, IVL_DTYPE_F16);
  case_get_rows(h, 9, 7, IVL_DTYPE_F32);
  case_copy_rows(h, 64);
  case_copy_rows(h, 3);
  case_patchify(h, 2, 28, 14);
  case_patchify(h, 1, 448, 14);
  case_pixel_shuffle(h, 2, 4, 5);
  case_pixel_shuffle(h, 1, 32, 8);
  case_argmax(h, 151674);
  case_argmax(h, 7);
}

int ivl_op_cases_run(ivl_backend *tested, ivl_backend *oracle, const ivl_op_cases_params *params)
{
  harness h = {.be = {tested, oracle}, .p = params, .rng = g_rand_new_with_seed(params->seed)};
  matmul_cases(&h);
  attention_cases(&h);
  other_cases(&h);
  g_rand_free(h.rng);
  return h.failures;
}
