/* test-backend-ops — every backend op on the shapes of every InternVL3 size, CUDA against the
 * CPU backend (the reference) on the same random inputs, in the manner of llama.cpp's
 * test-backend-ops. Error is normalised MSE, sum((cuda - cpu)²) / sum(cpu²), with a
 * tolerance per op (reasons below); any NaN, a touched guard row or an unwritten output
 * element fails. The seed is printed; IVL_OPS_SEED replays another. An argument runs only
 * the cases whose name contains one of its comma-separated parts. Exit 77 (skipped) without a CUDA
 * device.
 *
 * Why the tolerances: CUDA keeps activations in bf16, whose rounding leaves a relative error
 * of at most 2^-9 and an rms of about 2^-9/sqrt(3); its square, ~2.5e-6, is the nmse one
 * rounding adds. Weights are the same bf16 bits on both sides. */
#include "ops-harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct ops_case ops_case;
typedef gboolean (*run_fn)(ops_ctx *c, const ops_case *k, double *nmse, char **why);

typedef struct {
  const char *name;
  run_fn run;
  double tol;
  const char *why;
} ops_op;

struct ops_case {
  const ops_op *op;
  const char *what;
  int64_t n, out, in; /* rows and widths; meaning per op */
  int heads, kv_heads, head_dim, n_seq;
  int64_t tk, pos0;
  gboolean causal, bias, f32, f16; /* f32, f16: of the weights (norms, matmul), f32 also of y */
  gboolean q8, q4;                 /* matmul weights quantized (quantize.h) */
  double theta;
  float eps;
};

static gboolean run_matmul(ops_ctx *c, const ops_case *k, double *nmse, char **why)
{
  ops_pair x = ops_input(c, k->n, k->in, 1.0f, 0.0f);
  const ivl_dtype wt = k->q8    ? IVL_DTYPE_Q8
                       : k->q4  ? IVL_DTYPE_Q4
                       : k->f16 ? IVL_DTYPE_F16
                                : IVL_DTYPE_BF16;
  ops_pair w = ops_weight(c, wt, k->out, k->in, 1.0f / sqrtf((float)k->in), 0.0f);
  ops_pair b = ops_weight(c, IVL_DTYPE_BF16, 1, k->out, 0.5f, 0.0f);
  ops_pair y =
      k->f32 ? ops_output_typed(c, IVL_DTYPE_F32, k->n, k->out) : ops_output(c, k->n, k->out);
  for (int s = 0; s < 2; s++)
    c->be[s]->ops->matmul(c->be[s], &y.view[s], &x.view[s], &w.view[s],
                          k->bias ? &b.view[s] : NULL);
  return ops_compare(c, &y, k->op->tol, nmse, why);
}

/* fc1's product, bias and GELU: y = gelu(x w^T + b). */
static gboolean run_matmul_gelu(ops_ctx *c, const ops_case *k, double *nmse, char **why)
{
  ops_pair x = ops_input(c, k->n, k->in, 1.0f, 0.0f);
  ops_pair w = ops_weight(c, IVL_DTYPE_BF16, k->out, k->in, 2.0f / sqrtf((float)k->in), 0.0f);
  ops_pair b = ops_weight(c, IVL_DTYPE_BF16, 1, k->out, 0.5f, 0.0f);
  ops_pair y = ops_output(c, k->n, k->out);
  for (int s = 0; s < 2; s++)
    c->be[s]->ops->matmul_gelu(c->be[s], &y.view[s], &x.view[s], &w.view[s],
                               k->bias ? &b.view[s] : NULL);
  return ops_compare(c, &y, k->op->tol, nmse, why);
}

/* proj's or fc2's product, bias, layer scale and residual add, y += (x w^T + b) * scale,
 * then the next norm of y into yn (causal: a layer norm; f32: an RMS norm; else none). */
static gboolean run_matmul_add_scaled(ops_ctx *c, const ops_case *k, double *nmse, char **why)
{
  ops_pair x = ops_input(c, k->n, k->in, 1.0f, 0.0f);
  ops_pair w = ops_weight(c, IVL_DTYPE_BF16, k->out, k->in, 1.0f / sqrtf((float)k->in), 0.0f);
  ops_pair b = ops_weight(c, IVL_DTYPE_BF16, 1, k->out, 0.5f, 0.0f);
  ops_pair scale = ops_weight(c, IVL_DTYPE_BF16, 1, k->out, 0.5f, 0.5f);
  ops_pair nw = ops_weight(c, IVL_DTYPE_BF16, 1, k->out, 0.5f, 1.0f);
  ops_pair nb = ops_weight(c, IVL_DTYPE_BF16, 1, k->out, 0.5f, 0.0f);
  ops_pair y = ops_inout(c, k->n, k->out, 1.0f);
  ops_pair out = ops_output(c, k->n, k->out);
  const gboolean norm = k->causal || k->f32;
  ops_pair yn = ops_output(c, k->n, norm ? k->out : 1);
  for (int s = 0; s < 2; s++)
    c->be[s]->ops->matmul_add_scaled(c->be[s], &y.view[s], &out.view[s], &x.view[s], &w.view[s],
                                     k->bias ? &b.view[s] : NULL, &scale.view[s],
                                     norm ? &yn.view[s] : NULL, &nw.view[s],
                                     k->causal ? &nb.view[s] : NULL, 1e-6f);
  if (!ops_compare(c, &y, k->op->tol, nmse, why))
    return FALSE;
  return !norm || ops_compare(c, &yn, k->op->tol, nmse, why);
}

static gboolean run_rms_norm(ops_ctx *c, const ops_case *k, double *nmse, char **why)
{
  ops_pair x = ops_input(c, k->n, k->in, 2.0f, 0.0f);
  const ivl_dtype wt = k->f32 ? IVL_DTYPE_F32 : k->f16 ? IVL_DTYPE_F16 : IVL_DTYPE_BF16;
  ops_pair w = ops_weight(c, wt, 1, k->in, 0.5f, 1.0f);
  ops_pair y = ops_output(c, k->n, k->in);
  for (int s = 0; s < 2; s++)
    c->be[s]->ops->rms_norm(c->be[s], &y.view[s], &x.view[s], &w.view[s], k->eps);
  return ops_compare(c, &y, k->op->tol, nmse, why);
}

static gboolean run_layer_norm(ops_ctx *c, const ops_case *k, double *nmse, char **why)
{
  /* A mean of 1 beside a std of 0.58 checks that the variance is not computed as
   * E[x²] - E[x]²; a larger mean would mostly measure bf16's rounding of x. */
  ops_pair x = ops_input(c, k->n, k->in, 1.0f, 1.0f);
  ops_pair w = ops_weight(c, IVL_DTYPE_BF16, 1, k->in, 0.5f, 1.0f);
  ops_pair b = ops_weight(c, IVL_DTYPE_BF16, 1, k->in, 0.5f, 0.0f);
  ops_pair y = ops_output(c, k->n, k->in);
  for (int s = 0; s < 2; s++)
    c->be[s]->ops->layer_norm(c->be[s], &y.view[s], &x.view[s], &w.view[s], &b.view[s], k->eps);
  return ops_compare(c, &y, k->op->tol, nmse, why);
}

static gboolean run_rope(ops_ctx *c, const ops_case *k, double *nmse, char **why)
{
  ops_pair x = ops_inout(c, k->n, (int64_t)k->heads * k->head_dim, 1.0f);
  for (int s = 0; s < 2; s++)
    c->be[s]->ops->rope(c->be[s], &x.view[s], k->heads, k->head_dim, k->pos0, k->theta);
  return ops_compare(c, &x, k->op->tol, nmse, why);
}

/* n = query rows per sequence, tk = key rows per sequence. */
static gboolean run_attention(ops_ctx *c, const ops_case *k, double *nmse, char **why)
{
  const int64_t qc = (int64_t)k->heads * k->head_dim, kc = (int64_t)k->kv_heads * k->head_dim;
  ops_pair q = ops_input(c, k->n_seq * k->n, qc, 2.0f, 0.0f);
  ops_pair kk = ops_input(c, k->n_seq * k->tk, kc, 1.0f, 0.0f);
  ops_pair v = ops_input(c, k->n_seq * k->tk, kc, 1.0f, 0.0f);
  ops_pair out = ops_output(c, k->n_seq * k->n, qc);
  for (int s = 0; s < 2; s++)
    c->be[s]->ops->attention(c->be[s], &out.view[s], &q.view[s], &kk.view[s], &v.view[s], k->n_seq,
                             k->heads, k->kv_heads, k->head_dim, k->causal, k->pos0,
                             1.0f / sqrtf((float)k->head_dim));
  return ops_compare(c, &out, k->op->tol, nmse, why);
}

static gboolean run_gelu(ops_ctx *c, const ops_case *k, double *nmse, char **why)
{
  ops_pair x = ops_inout(c, k->n, k->in, 4.0f);
  for (int s = 0; s < 2; s++)
    c->be[s]->ops->gelu(c->be[s], &x.view[s]);
  return ops_compare(c, &x, k->op->tol, nmse, why);
}

static gboolean run_silu_mul(ops_ctx *c, const ops_case *k, double *nmse, char **why)
{
  ops_pair g = ops_inout(c, k->n, k->in, 4.0f);
  ops_pair u = ops_input(c, k->n, k->in, 2.0f, 0.0f);
  for (int s = 0; s < 2; s++)
    c->be[s]->ops->silu_mul(c->be[s], &g.view[s], &u.view[s]);
  return ops_compare(c, &g, k->op->tol, nmse, why);
}

static gboolean run_add(ops_ctx *c, const ops_case *k, double *nmse, char **why)
{
  ops_pair a = ops_input(c, k->n, k->in, 1.0f, 0.0f);
  ops_pair b = ops_input(c, k->n, k->in, 1.0f, 0.0f);
  ops_pair y = ops_output(c, k->n, k->in);
  for (int s = 0; s < 2; s++)
    c->be[s]->ops->add(c->be[s], &y.view[s], &a.view[s], &b.view[s]);
  return ops_compare(c, &y, k->op->tol, nmse, why);
}

static gboolean run_add_scaled(ops_ctx *c, const ops_case *k, double *nmse, char **why)
{
  ops_pair y = ops_inout(c, k->n, k->in, 1.0f);
  ops_pair x = ops_input(c, k->n, k->in, 1.0f, 0.0f);
  ops_pair scale = ops_weight(c, IVL_DTYPE_BF16, 1, k->in, 0.1f, 0.1f);
  for (int s = 0; s < 2; s++)
    c->be[s]->ops->add_scaled(c->be[s], &y.view[s], &x.view[s], &scale.view[s]);
  return ops_compare(c, &y, k->op->tol, nmse, why);
}

/* out = table rows, n ids; the first and last table rows are always among them. */
static gboolean run_get_rows(ops_ctx *c, const ops_case *k, double *nmse, char **why)
{
  ops_pair table = ops_weight(c, IVL_DTYPE_BF16, k->out, k->in, 1.0f, 0.0f);
  g_autofree int32_t *ids = g_new(int32_t, k->n);
  for (int64_t i = 0; i < k->n; i++)
    ids[i] = i == 0 ? 0 : i == 1 ? (int32_t)(k->out - 1) : (int32_t)ops_rng_below(&c->rng, k->out);
  ops_pair y = ops_output(c, k->n, k->in);
  for (int s = 0; s < 2; s++)
    c->be[s]->ops->get_rows(c->be[s], &y.view[s], &table.view[s], ids, k->n);
  return ops_compare(c, &y, k->op->tol, nmse, why);
}

/* n rows from row 2 of a source of n + 4 rows into a destination of `out` rows at pos0. */
static gboolean run_copy_rows(ops_ctx *c, const ops_case *k, double *nmse, char **why)
{
  ops_pair dst = ops_inout(c, k->out, k->in, 1.0f);
  ops_pair src = ops_input(c, k->n + 4, k->in, 1.0f, 0.0f);
  for (int s = 0; s < 2; s++)
    c->be[s]->ops->copy_rows(c->be[s], &dst.view[s], k->pos0, &src.view[s], 2, k->n);
  return ops_compare(c, &dst, k->op->tol, nmse, why);
}

/* n tiles of `in` pixels square, patches of head_dim. */
static gboolean run_patchify(ops_ctx *c, const ops_case *k, double *nmse, char **why)
{
  const int64_t g = k->in / k->head_dim;
  ops_pair px = ops_input_typed(c, IVL_DTYPE_F32, k->n * 3, k->in * k->in, 2.0f, 0.0f);
  ops_pair y = ops_output(c, k->n * g * g, 3LL * k->head_dim * k->head_dim);
  for (int s = 0; s < 2; s++)
    c->be[s]->ops->patchify(c->be[s], &y.view[s], &px.view[s], (int)k->n, (int)k->in, k->head_dim);
  return ops_compare(c, &y, k->op->tol, nmse, why);
}

/* n tiles of an `out` x `out` grid of `in` channels. */
static gboolean run_pixel_shuffle(ops_ctx *c, const ops_case *k, double *nmse, char **why)
{
  ops_pair x = ops_input(c, k->n * k->out * k->out, k->in, 1.0f, 0.0f);
  ops_pair y = ops_output(c, k->n * (k->out / 2) * (k->out / 2), 4 * k->in);
  for (int s = 0; s < 2; s++)
    c->be[s]->ops->pixel_shuffle(c->be[s], &y.view[s], &x.view[s], (int)k->n, (int)k->out);
  return ops_compare(c, &y, k->op->tol, nmse, why);
}

/* n rows of `in` logits; the row asked for (the last) gets its maximum at two places when
 * `bias` (a tie: the lower index must win), else at one. */
static gboolean run_argmax(ops_ctx *c, const ops_case *k, double *nmse, char **why)
{
  const int64_t cols = k->in, row = k->n - 1;
  g_autofree float *v = g_new(float, k->n *cols);
  for (int64_t i = 0; i < k->n * cols; i++)
    v[i] = ops_rng_uniform(&c->rng);
  const int64_t first = 1 + ops_rng_below(&c->rng, (guint32)(cols / 2));
  const int64_t second = first + 1 + ops_rng_below(&c->rng, (guint32)(cols / 2 - 1));
  v[row * cols + first] = 4.0f;
  if (k->bias)
    v[row * cols + second] = 4.0f;
  ops_pair x = ops_input_values(c, !k->f32, IVL_DTYPE_F32, k->n, cols, v);
  int32_t got[2];
  for (int s = 0; s < 2; s++)
    got[s] = c->be[s]->ops->argmax(c->be[s], &x.view[s], row);
  *nmse = 0.0;
  if (!ops_ctx_ok(c, why))
    return FALSE;
  if (got[0] != first || got[1] != first) {
    *why =
        g_strdup_printf("argmax cpu %d cuda %d, expected %" G_GINT64_FORMAT, got[0], got[1], first);
    return FALSE;
  }
  return TRUE;
}

static const ops_op MATMUL = {"matmul", run_matmul, 1e-4,
                              "x and y rounded to bf16 (~5e-6); f32 sums in another order"};
/* Both sides read the same quantized bytes, so quantization itself adds no error here. Up to
 * IVL_CUDA_QGEMV_MAX_ROWS (8) rows CUDA reads the layout directly: the error is that of the
 * bf16 matmul. More rows expand the weight to bf16 for cuBLAS, one more rounding (~2.5e-6). */
static const ops_op MATMUL_Q8 = {"matmul q8", run_matmul, 1e-4,
                                 "x, y and (over 8 rows) w rounded to bf16 (~7.5e-6)"};
static const ops_op MATMUL_Q4 = {"matmul q4", run_matmul, 1e-4,
                                 "x, y and (over 8 rows) w rounded to bf16 (~7.5e-6)"};
static const ops_op MATMUL_GELU = {"matmul_gelu", run_matmul_gelu, 1e-4,
                                   "x, the product and y rounded to bf16 (~7.5e-6)"};
static const ops_op MATMUL_ADD_SCALED = {"matmul_add_scaled", run_matmul_add_scaled, 1e-4,
                                         "y, x, the product, the norm rounded to bf16 (~1e-5)"};
static const ops_op RMS_NORM = {"rms_norm", run_rms_norm, 1e-4,
                                "x and y rounded to bf16 (~5e-6); f32 statistics"};
static const ops_op LAYER_NORM = {"layer_norm", run_layer_norm, 1e-4,
                                  "x (mean 1, std 0.58) and y rounded to bf16 (~2e-5)"};
static const ops_op ROPE = {"rope", run_rope, 5e-5,
                            "x rounded to bf16 before and after (~5e-6); f32 angles"};
/* CUDA's prefill and vision attention multiply P by V on tensor cores, so P is rounded to bf16
 * (relative error up to 2^-9 per weight, of random sign: it averages out over the keys), as
 * are q, k, v and out; measured nmse 7e-6 to 1e-5 on every case, the limit leaves 20x. */
static const ops_op ATTENTION = {"attention", run_attention, 2e-4,
                                 "q, k, v, out and (CUDA prefill) P in bf16 (~1e-5); f32 softmax"};
static const ops_op GELU = {"gelu", run_gelu, 5e-5, "x rounded to bf16 before and after"};
static const ops_op SILU_MUL = {"silu_mul", run_silu_mul, 5e-5,
                                "gate, up, out each rounded to bf16 (~7.5e-6)"};
static const ops_op ADD = {"add", run_add, 5e-5, "a, b, y each rounded to bf16"};
static const ops_op ADD_SCALED = {"add_scaled", run_add_scaled, 5e-5,
                                  "y, x rounded to bf16 before, y after"};
static const ops_op GET_ROWS = {"get_rows", run_get_rows, 1e-12,
                                "bf16 table rows copied: exact on both"};
static const ops_op COPY_ROWS = {"copy_rows", run_copy_rows, 2e-5,
                                 "one bf16 rounding of each value (~2.5e-6)"};
static const ops_op PATCHIFY = {"patchify", run_patchify, 2e-5,
                                "f32 pixels rounded once to bf16 (~2.5e-6)"};
static const ops_op PIXEL_SHUFFLE = {"pixel_shuffle", run_pixel_shuffle, 2e-5,
                                     "one bf16 rounding of each value (~2.5e-6)"};
static const ops_op ARGMAX = {"argmax", run_argmax, 0.0, "an index: exact"};

#define MM(what_, n_, out_, in_, bias_, f32_)                                                      \
  {                                                                                                \
    .op = &MATMUL, .what = what_, .n = n_, .out = out_, .in = in_, .bias = bias_, .f32 = f32_      \
  }
#define QMM(op_, flag_, what_, n_, out_, in_, bias_, f32_)                                         \
  {                                                                                                \
    .op = &op_, .what = what_, .n = n_, .out = out_, .in = in_, .bias = bias_, .f32 = f32_,        \
    flag_ = TRUE                                                                                   \
  }
#define Q8MM(...) QMM(MATMUL_Q8, .q8, __VA_ARGS__)
#define Q4MM(...) QMM(MATMUL_Q4, .q4, __VA_ARGS__)
#define ATT(what_, seq_, tq_, tk_, h_, kv_, hd_, causal_, pos_)                                    \
  {                                                                                                \
    .op = &ATTENTION, .what = what_, .n_seq = seq_, .n = tq_, .tk = tk_, .heads = h_,              \
    .kv_heads = kv_, .head_dim = hd_, .causal = causal_, .pos0 = pos_                              \
  }
#define ROWS(op_, what_, n_, in_)                                                                  \
  {                                                                                                \
    .op = &op_, .what = what_, .n = n_, .in = in_                                                  \
  }
#define VOCAB 151674

static const ops_case cases[] = {
    /* matmul: prefill and vision batches run cuBLAS, one token the GEMV kernel */
    MM("1B q/k/v, 77 tokens, bias", 77, 1152, 896, TRUE, FALSE),
    MM("1B gate, decode", 1, 4864, 896, FALSE, FALSE),
    MM("1B down, decode", 1, 896, 4864, FALSE, FALSE),
    MM("1B lm_head, decode, f32 logits", 1, VOCAB, 896, FALSE, TRUE),
    MM("1B lm_head, decode, act-dtype logits", 1, VOCAB, 896, FALSE, FALSE),
    MM("1B lm_head, 3 rows, f32 logits", 3, VOCAB, 896, FALSE, TRUE),
    MM("2B q/k/v, decode, bias", 1, 2048, 1536, TRUE, FALSE),
    MM("8B gate, 64 tokens", 64, 18944, 3584, FALSE, FALSE),
    MM("8B down, decode", 1, 3584, 18944, FALSE, FALSE),
    MM("9B wqkv, decode", 1, 4608, 4096, FALSE, FALSE),
    MM("14B o_proj, decode", 1, 5120, 5120, FALSE, FALSE),
    MM("78B down, decode", 1, 8192, 29568, FALSE, FALSE),
    MM("300M qkv, one tile of 1025, bias", 1025, 3072, 1024, TRUE, FALSE),
    MM("300M patch embed, 2 tiles (in 588)", 2048, 1024, 588, TRUE, FALSE),
    MM("mlp1 1B, 256 tokens", 256, 896, 4096, TRUE, FALSE),
    MM("6B fc1, one row, bias", 1, 12800, 3200, TRUE, FALSE),
    MM("in 588, one row: scalar GEMV", 1, 1000, 588, TRUE, FALSE),
    {.op = &MATMUL,
     .what = "f16 weights converted, 5 rows",
     .n = 5,
     .out = 256,
     .in = 512,
     .f16 = TRUE},
    /* int8 and 4-bit weights: decode (1 row) and a few rows read the layout in the GEMV
     * kernels, many rows (vision tiles, prefill) go through bf16 and cuBLAS */
    Q8MM("1B o_proj, decode", 1, 896, 896, FALSE, FALSE),
    Q8MM("1B gate, decode", 1, 4864, 896, FALSE, FALSE),
    Q8MM("1B down, decode", 1, 896, 4864, FALSE, FALSE),
    Q8MM("1B lm_head, decode, f32 logits", 1, VOCAB, 896, FALSE, TRUE),
    Q8MM("1B q/k/v, decode, bias", 1, 1152, 896, TRUE, FALSE),
    Q8MM("8B o_proj, decode", 1, 3584, 3584, FALSE, FALSE),
    Q8MM("8B gate, decode", 1, 18944, 3584, FALSE, FALSE),
    Q8MM("8B down, decode", 1, 3584, 18944, FALSE, FALSE),
    Q8MM("1B o_proj, 2 rows", 2, 896, 896, FALSE, FALSE),
    Q8MM("8B gate, 5 rows", 5, 18944, 3584, FALSE, FALSE),
    Q8MM("8B o_proj, 8 rows, f32 y", 8, 3584, 3584, FALSE, TRUE),
    Q8MM("in 588, one row: scalar GEMV", 1, 1001, 588, TRUE, FALSE),
    Q8MM("in 588, 3 rows: scalar GEMV", 3, 1001, 588, FALSE, FALSE),
    Q8MM("in 588, 20 rows: unaligned rows to bf16", 20, 1001, 588, TRUE, FALSE),
    Q8MM("300M fc1, one tile of 1025, bias", 1025, 4096, 1024, TRUE, FALSE),
    Q8MM("8B o_proj, prefill 300", 300, 3584, 3584, FALSE, FALSE),
    Q4MM("1B o_proj, decode", 1, 896, 896, FALSE, FALSE),
    Q4MM("1B gate, decode", 1, 4864, 896, FALSE, FALSE),
    Q4MM("1B down, decode", 1, 896, 4864, FALSE, FALSE),
    Q4MM("1B q/k/v, decode, bias", 1, 1152, 896, TRUE, FALSE),
    Q4MM("8B o_proj, decode", 1, 3584, 3584, FALSE, FALSE),
    Q4MM("8B gate, decode", 1, 18944, 3584, FALSE, FALSE),
    Q4MM("8B down, decode, f32 y", 1, 3584, 18944, FALSE, TRUE),
    Q4MM("out 1001, 3 rows, bias", 3, 1001, 896, TRUE, FALSE),
    Q4MM("8B gate, 4 rows", 4, 18944, 3584, FALSE, FALSE),
    Q4MM("8B o_proj, 7 rows", 7, 3584, 3584, FALSE, FALSE),
    Q4MM("300M fc1, one tile of 1025, bias", 1025, 4096, 1024, TRUE, FALSE),
    Q4MM("8B o_proj, prefill 300", 300, 3584, 3584, FALSE, FALSE),
    /* the vision MLP's and proj's epilogues */
    {.op = &MATMUL_GELU,
     .what = "300M fc1, one tile",
     .n = 1025,
     .out = 4096,
     .in = 1024,
     .bias = TRUE},
    {.op = &MATMUL_ADD_SCALED,
     .what = "300M fc2, one tile",
     .n = 1025,
     .out = 1024,
     .in = 4096,
     .bias = TRUE},
    {.op = &MATMUL_ADD_SCALED,
     .what = "300M proj + norm2, 2 tiles",
     .n = 2050,
     .out = 1024,
     .in = 1024,
     .bias = TRUE,
     .causal = TRUE},
    {.op = &MATMUL_ADD_SCALED,
     .what = "6B fc2 + RMS norm1, one tile",
     .n = 1025,
     .out = 3200,
     .in = 12800,
     .bias = TRUE,
     .f32 = TRUE},
    /* norms */
    {.op = &RMS_NORM, .what = "1B hidden, 7 rows", .n = 7, .in = 896, .eps = 1e-6f},
    {.op = &RMS_NORM, .what = "78B hidden, 3 rows", .n = 3, .in = 8192, .eps = 1e-6f},
    {.op = &RMS_NORM, .what = "6B qk-norm, 1025 rows", .n = 1025, .in = 3200, .eps = 1e-6f},
    {.op = &RMS_NORM,
     .what = "8B, f32 weight converted",
     .n = 5,
     .in = 3584,
     .eps = 1e-6f,
     .f32 = TRUE},
    {.op = &RMS_NORM,
     .what = "8B, f16 weight converted",
     .n = 5,
     .in = 3584,
     .eps = 1e-6f,
     .f16 = TRUE},
    {.op = &LAYER_NORM, .what = "300M, 1025 rows", .n = 1025, .in = 1024, .eps = 1e-6f},
    {.op = &LAYER_NORM, .what = "mlp1 1B, eps 1e-5", .n = 256, .in = 4096, .eps = 1e-5f},
    {.op = &LAYER_NORM, .what = "mlp1 6B, eps 1e-5", .n = 64, .in = 12800, .eps = 1e-5f},
    /* rope */
    {.op = &ROPE, .what = "1B q, 33 rows at 0", .n = 33, .heads = 14, .head_dim = 64, .theta = 1e6},
    {.op = &ROPE,
     .what = "1B k, 5 rows at 30000",
     .n = 5,
     .heads = 2,
     .head_dim = 64,
     .pos0 = 30000,
     .theta = 1e6},
    {.op = &ROPE,
     .what = "8B q, decode at 4095",
     .n = 1,
     .heads = 28,
     .head_dim = 128,
     .pos0 = 4095,
     .theta = 1e6},
    {.op = &ROPE,
     .what = "9B, theta 5e7",
     .n = 9,
     .heads = 32,
     .head_dim = 128,
     .pos0 = 100,
     .theta = 5e7},
    /* attention: vision tiles (non-causal), prefill, decode over a part-filled cache */
    ATT("300M, 13 tiles x 1025, 16 x 64", 13, 1025, 1025, 16, 16, 64, FALSE, 0),
    ATT("6B, 2 tiles x 1025, 25 x 128", 2, 1025, 1025, 25, 25, 128, FALSE, 0),
    ATT("1B prefill 100, 14/2 x 64", 1, 100, 100, 14, 2, 64, TRUE, 0),
    ATT("8B prefill 70 after 37, 28/4 x 128", 1, 70, 107, 28, 4, 128, TRUE, 37),
    ATT("1B decode at 299 of 512", 1, 1, 512, 14, 2, 64, TRUE, 299),
    ATT("2B decode at 1000 of 1024, 12/2 x 128", 1, 1, 1024, 12, 2, 128, TRUE, 1000),
    ATT("8B decode at 4000 of 4096", 1, 1, 4096, 28, 4, 128, TRUE, 4000),
    ATT("9B decode, group 16, at 700 of 768", 1, 1, 768, 32, 2, 128, TRUE, 700),
    ATT("14B decode, 40/8, at 333 of 2048", 1, 1, 2048, 40, 8, 128, TRUE, 333),
    ATT("78B decode, 64/8, at 5 of 256", 1, 1, 256, 64, 8, 128, TRUE, 5),
    /* elementwise */
    ROWS(GELU, "300M fc1 out, 1025 x 4096", 1025, 4096),
    ROWS(GELU, "mlp1 1B, 256 x 896", 256, 896),
    ROWS(SILU_MUL, "1B, 7 x 4864", 7, 4864),
    ROWS(SILU_MUL, "8B decode, 18944", 1, 18944),
    ROWS(ADD, "1B residual, 77 x 896", 77, 896),
    ROWS(ADD, "300M residual, 1025 x 1024", 1025, 1024),
    ROWS(ADD_SCALED, "300M layer scale, 1025 x 1024", 1025, 1024),
    ROWS(ADD_SCALED, "6B layer scale, 3 x 3200", 3, 3200),
    /* rows */
    {.op = &GET_ROWS, .what = "1B embeddings, 9 ids", .n = 9, .out = VOCAB, .in = 896},
    {.op = &GET_ROWS, .what = "2B embeddings, 4 ids", .n = 4, .out = VOCAB, .in = 1536},
    {.op = &COPY_ROWS,
     .what = "1B KV write, 7 rows at 300 of 512",
     .n = 7,
     .out = 512,
     .in = 128,
     .pos0 = 300},
    {.op = &COPY_ROWS,
     .what = "1B image embeddings, 256 at 14",
     .n = 256,
     .out = 300,
     .in = 896,
     .pos0 = 14},
    {.op = &PATCHIFY, .what = "2 tiles of 448, patch 14", .n = 2, .in = 448, .head_dim = 14},
    {.op = &PATCHIFY, .what = "1 tile of 28, patch 14", .n = 1, .in = 28, .head_dim = 14},
    {.op = &PIXEL_SHUFFLE, .what = "300M, 2 tiles 32 x 32 x 1024", .n = 2, .out = 32, .in = 1024},
    {.op = &PIXEL_SHUFFLE, .what = "6B, 1 tile 32 x 32 x 3200", .n = 1, .out = 32, .in = 3200},
    {.op = &ARGMAX, .what = "vocab, one max", .n = 1, .in = VOCAB},
    {.op = &ARGMAX, .what = "vocab, tie: lower index", .n = 1, .in = VOCAB, .bias = TRUE},
    {.op = &ARGMAX, .what = "row 2 of f32 [3, vocab]", .n = 3, .in = VOCAB, .f32 = TRUE},
};

/* Under the CPU emulation (-Demulate_cuda=true, in CI) the same code paths on shapes a CPU
 * runs in seconds: the GEMV's double-chunk loop and tail, rows past the last full block of 8,
 * the scalar GEMV (rows not a multiple of 8), vocabulary-sized rows, int8 and 4-bit with 1, 3,
 * 5, 8 and 40 rows (vector, scalar and dequantize paths), several query and key tiles with a
 * partial last one, odd head counts, head dims 64 and 128, GQA, decode with splits past the
 * current length, and every elementwise op. IVL_OPS_FULL=1 runs the table above instead. */
#if IVL_CUDA_EMULATION
static const ops_case emu_cases[] = {
    MM("cuBLAS, 13 rows, bias", 13, 96, 64, TRUE, FALSE),
    MM("cuBLAS, 9 rows, f32 y", 9, 130, 72, FALSE, TRUE),
    MM("decode, 100 chunks of 8, 37 rows", 1, 37, 800, FALSE, FALSE),
    MM("decode, bias, f32 y", 1, 70, 512, TRUE, TRUE),
    MM("lm_head, decode, f32 logits", 1, VOCAB, 64, FALSE, TRUE),
    MM("in 60, one row: scalar GEMV", 1, 33, 60, TRUE, FALSE),
    {.op = &MATMUL,
     .what = "f16 weights converted, 5 rows",
     .n = 5,
     .out = 48,
     .in = 64,
     .f16 = TRUE},
    Q8MM("decode, 70 chunks, bias", 1, 37, 1120, TRUE, FALSE),
    Q8MM("lm_head, decode, f32 logits", 1, VOCAB, 32, FALSE, TRUE),
    Q8MM("3 rows", 3, 40, 256, FALSE, FALSE),
    Q8MM("5 rows, f32 y", 5, 40, 256, FALSE, TRUE),
    Q8MM("8 rows", 8, 17, 512, FALSE, FALSE),
    Q8MM("in 72, one row: scalar GEMV", 1, 33, 72, TRUE, FALSE),
    Q8MM("in 72, 3 rows: scalar GEMV", 3, 33, 72, FALSE, FALSE),
    Q8MM("in 60, 20 rows: unaligned rows to bf16", 20, 33, 60, TRUE, FALSE),
    Q8MM("40 rows to bf16", 40, 48, 128, TRUE, FALSE),
    Q4MM("decode, 70 chunks, bias", 1, 37, 2240, TRUE, FALSE),
    Q4MM("3 rows, bias", 3, 41, 256, TRUE, FALSE),
    Q4MM("7 rows, f32 y", 7, 40, 512, FALSE, TRUE),
    Q4MM("40 rows to bf16", 40, 48, 128, TRUE, FALSE),
    {.op = &MATMUL_GELU, .what = "21 rows, bias", .n = 21, .out = 136, .in = 64, .bias = TRUE},
    {.op = &MATMUL_GELU, .what = "one row (GEMV), no bias", .n = 1, .out = 72, .in = 64},
    {.op = &MATMUL_ADD_SCALED,
     .what = "21 rows, bias",
     .n = 21,
     .out = 72,
     .in = 136,
     .bias = TRUE},
    {.op = &MATMUL_ADD_SCALED, .what = "3 rows, no bias", .n = 3, .out = 64, .in = 40},
    {.op = &MATMUL_ADD_SCALED,
     .what = "21 rows + layer norm",
     .n = 21,
     .out = 320,
     .in = 64,
     .bias = TRUE,
     .causal = TRUE},
    {.op = &MATMUL_ADD_SCALED,
     .what = "9 rows + RMS norm",
     .n = 9,
     .out = 96,
     .in = 64,
     .bias = TRUE,
     .f32 = TRUE},
    {.op = &MATMUL_ADD_SCALED,
     .what = "one row (GEMV) + layer norm",
     .n = 1,
     .out = 64,
     .in = 96,
     .bias = TRUE,
     .causal = TRUE},
    {.op = &RMS_NORM, .what = "7 rows of 896", .n = 7, .in = 896, .eps = 1e-6f},
    {.op = &RMS_NORM, .what = "3 rows of 8192", .n = 3, .in = 8192, .eps = 1e-6f},
    {.op = &RMS_NORM, .what = "f32 weight converted", .n = 5, .in = 200, .eps = 1e-6f, .f32 = TRUE},
    {.op = &RMS_NORM, .what = "f16 weight converted", .n = 5, .in = 200, .eps = 1e-6f, .f16 = TRUE},
    {.op = &LAYER_NORM, .what = "37 rows of 1024", .n = 37, .in = 1024, .eps = 1e-6f},
    {.op = &LAYER_NORM, .what = "3 rows of 12800, eps 1e-5", .n = 3, .in = 12800, .eps = 1e-5f},
    {.op = &ROPE, .what = "33 rows at 0", .n = 33, .heads = 14, .head_dim = 64, .theta = 1e6},
    {.op = &ROPE,
     .what = "5 rows at 30000",
     .n = 5,
     .heads = 3,
     .head_dim = 128,
     .pos0 = 30000,
     .theta = 1e6},
    /* the tensor-core flash kernel: 64 query rows and 64 keys a block, so the last row block and
     * key tile partial; the vision tower's own tiles (17 key tiles, double-buffered), 4 of its
     * 16 heads (a head is a column of blocks like another; 16 take 30 s here) */
    ATT("vision 300M, 2 tiles x 1025, 4 x 64", 2, 1025, 1025, 4, 4, 64, FALSE, 0),
    ATT("vision, 3 tiles x 70, 5 x 64", 3, 70, 70, 5, 5, 64, FALSE, 0),
    ATT("vision, 2 tiles x 40, 3 x 128", 2, 40, 40, 3, 3, 128, FALSE, 0),
    ATT("prefill 100, 14/2 x 64", 1, 100, 100, 14, 2, 64, TRUE, 0),
    ATT("prefill 70 after 37, 28/4 x 128", 1, 70, 107, 28, 4, 128, TRUE, 37),
    ATT("prefill 150 after 200, 14/2 x 64", 1, 150, 350, 14, 2, 64, TRUE, 200),
    ATT("prefill 200, 28/4 x 128", 1, 200, 200, 28, 4, 128, TRUE, 0),
    ATT("decode at 299 of 512", 1, 1, 512, 14, 2, 64, TRUE, 299),
    ATT("decode at 1000 of 1024, 12/2 x 128", 1, 1, 1024, 12, 2, 128, TRUE, 1000),
    ATT("decode, group 16, at 700 of 768", 1, 1, 768, 32, 2, 128, TRUE, 700),
    ATT("decode, 40/8, at 333 of 2048", 1, 1, 2048, 40, 8, 128, TRUE, 333),
    ATT("decode, group 18 (flash), at 5 of 40", 1, 1, 40, 18, 1, 64, TRUE, 5),
    /* 64 splits of the 4096 keys' capacity (2 x 132 SMs over 4 KV heads, at least 64 keys
     * each), the first 47 of them holding the 3000 keys of the current length */
    ATT("decode, 28/4 x 128, at 2999 of 4096", 1, 1, 4096, 28, 4, 128, TRUE, 2999),
    ROWS(GELU, "65 x 4096", 65, 4096),
    ROWS(SILU_MUL, "7 x 4864", 7, 4864),
    ROWS(ADD, "77 x 896", 77, 896),
    ROWS(ADD_SCALED, "37 x 1024", 37, 1024),
    {.op = &GET_ROWS, .what = "vocabulary table, 9 ids", .n = 9, .out = VOCAB, .in = 64},
    {.op = &COPY_ROWS,
     .what = "KV write, 7 rows at 300 of 512",
     .n = 7,
     .out = 512,
     .in = 128,
     .pos0 = 300},
    {.op = &COPY_ROWS,
     .what = "odd rows (2-byte units), 5 at 3",
     .n = 5,
     .out = 20,
     .in = 13,
     .pos0 = 3},
    {.op = &PATCHIFY, .what = "2 tiles of 56, patch 14", .n = 2, .in = 56, .head_dim = 14},
    {.op = &PIXEL_SHUFFLE, .what = "2 tiles 8 x 8 x 96", .n = 2, .out = 8, .in = 96},
    {.op = &ARGMAX, .what = "vocab, one max", .n = 1, .in = VOCAB},
    {.op = &ARGMAX, .what = "vocab, tie: lower index", .n = 1, .in = VOCAB, .bias = TRUE},
    {.op = &ARGMAX, .what = "row 2 of f32 [3, vocab]", .n = 3, .in = VOCAB, .f32 = TRUE},
};
#endif

static guint64 seed_from_env(void)
{
  const char *s = g_getenv("IVL_OPS_SEED");
  return s != NULL ? g_ascii_strtoull(s, NULL, 10) : 20261127;
}

/* filter: comma-separated substrings of case names; NULL selects all. */
static gboolean selected(const char *name, const char *filter)
{
  if (filter == NULL)
    return TRUE;
  g_auto(GStrv) parts = g_strsplit(filter, ",", -1);
  for (char **p = parts; *p != NULL; p++)
    if (**p != '\0' && strstr(name, *p) != NULL)
      return TRUE;
  return FALSE;
}

static int run_cases(ivl_backend *cpu, ivl_backend *cuda, const ops_case *cases, gsize n_cases,
                     guint64 seed, const char *filter)
{
  ops_ctx c;
  ops_ctx_init(&c, cpu, cuda, seed);
  int failed = 0, run = 0;
  for (gsize i = 0; i < n_cases; i++) {
    const ops_case *k = &cases[i];
    g_autofree char *name = g_strdup_printf("%s: %s", k->op->name, k->what);
    if (!selected(name, filter))
      continue;
    ops_rng_seed(&c.rng, seed + i);
    double nmse = 0.0;
    g_autofree char *why = NULL;
    const gint64 t0 = g_get_monotonic_time();
    const gboolean ok = k->op->run(&c, k, &nmse, &why);
    printf("%-4s %-55s nmse %.2e  tol %.0e (%s)  %.2f s%s%s\n", ok ? "ok" : "FAIL", name, nmse,
           k->op->tol, k->op->why, (double)(g_get_monotonic_time() - t0) / 1e6, ok ? "" : "\n     ",
           ok ? "" : why);
    fflush(stdout);
    failed += !ok;
    run++;
    ops_ctx_reset(&c);
  }
  ops_ctx_clear(&c);
  printf("%d of %d op cases passed (seed %" G_GUINT64_FORMAT ")\n", run - failed, run, seed);
  return failed == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
  /* the CPU reference in f32 activations, as the CUDA kernels: its integer dot products
   * (cpu-int-dot.c) quantize the activations of quantized products, its bf16 dot products
   * (cpu-gemm-bf16dot.c) round those of bf16 products */
  g_setenv("IVL_CPU_INT_DOT", "0", FALSE);
  g_setenv("IVL_CPU_BF16_DOT", "0", FALSE);
  const guint64 seed = seed_from_env();
  printf("seed %" G_GUINT64_FORMAT " (set IVL_OPS_SEED to change)\n", seed);
  g_autoptr(GError) error = NULL;
  ivl_backend *cuda = ivl_backend_cuda_new(0, &error);
  if (cuda == NULL) {
    printf("no CUDA device: skipping %zu op cases (%s)\n", G_N_ELEMENTS(cases), error->message);
    return 77;
  }
  ivl_backend *cpu = ivl_backend_cpu_new(0, &error);
  if (cpu == NULL) {
    printf("cannot start the CPU backend: %s\n", error->message);
    cuda->ops->free(cuda);
    return 1;
  }
  printf("reference: %s backend; tested: %s backend\n", cpu->ops->name, cuda->ops->name);
  const ops_case *table = cases;
  gsize n_cases = G_N_ELEMENTS(cases);
#if IVL_CUDA_EMULATION
  if (g_strcmp0(g_getenv("IVL_OPS_FULL"), "1") != 0) {
    printf("CUDA emulated on the CPU: the emulation's shapes (IVL_OPS_FULL=1: all)\n");
    table = emu_cases;
    n_cases = G_N_ELEMENTS(emu_cases);
  }
#endif
  const int rc = run_cases(cpu, cuda, table, n_cases, seed, argc > 1 ? argv[1] : NULL);
  cpu->ops->free(cpu);
  cuda->ops->free(cuda);
  return rc;
}
