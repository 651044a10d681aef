/* The CPU backend's products: matmul split into (row block, column chunk) tiles and attention
 * split into (sequence, head, query block) tasks over the thread pool. */
#include "backend-cpu-private.h"

#include "ivl.h"

#include <stdatomic.h>

/* What runs on a tile of the product while it is in cache (matmul_gelu, matmul_add_scaled):
 * the element-wise ops the fusions stand for, on the same values in the same order. */
typedef enum { EPILOGUE_NONE, EPILOGUE_GELU, EPILOGUE_ADD_SCALED } matmul_epilogue;

typedef struct {
  cpu_gemm_args g;
  int64_t row_block, col_chunk, n_col_chunks;
  gboolean simd;
  matmul_epilogue epilogue;
  float *residual;    /* EPILOGUE_ADD_SCALED: += c * scale, row stride ldc */
  const float *scale; /* [n] */
} matmul_job;

typedef struct {
  cpu_qact *qa;
  const float *a;
  int64_t lda;
  gboolean simd;
} qact_job;

static void qact_rows(void *ctx, int64_t r0, int64_t r1)
{
  qact_job *job = ctx;
  cpu_qact_rows(job->qa, job->a, job->lda, r0, r1, job->simd);
}

static void matmul_task(void *ctx, int64_t task, int thread)
{
  matmul_job *job = ctx;
  int64_t i0 = task / job->n_col_chunks * job->row_block;
  int64_t j0 = task % job->n_col_chunks * job->col_chunk;
  int64_t i1 = MIN(job->g.m, i0 + job->row_block), j1 = MIN(job->g.n, j0 + job->col_chunk);
  (void)thread;
  cpu_gemm_tile(&job->g, i0, i1, j0, j1, job->simd);
  for (int64_t i = i0; i < i1 && job->epilogue != EPILOGUE_NONE; i++) {
    float *c = job->g.c + i * job->g.ldc + j0;
    if (job->epilogue == EPILOGUE_GELU)
      cpu_gelu(c, j1 - j0, job->simd);
    else
      cpu_add_scaled_row(job->residual + i * job->g.ldc + j0, c, job->scale + j0, j1 - j0);
  }
}

/* y = x w^T + bias, then the epilogue on each tile; op names the op in errors. */
static void matmul_run(ivl_backend *be, const char *op, ivl_tensor *y, const ivl_tensor *x,
                       const ivl_tensor *w, const ivl_tensor *bias, matmul_epilogue epilogue,
                       float *residual, const float *scale)
{
  if (!cpu_check_act(be, op, "x", x, -1, -1) ||
      !cpu_check(be, w != NULL && w->dtype != IVL_DTYPE_I32, op,
                 "w must be f32, f16, bf16 or quantized") ||
      !cpu_check(be, w->cols == x->cols, op,
                 "x has %" G_GINT64_FORMAT " columns, w %" G_GINT64_FORMAT, x->cols, w->cols) ||
      !cpu_check_act(be, op, "y", y, x->rows, w->rows) ||
      !cpu_check(be, y->data != x->data, op, "y must not alias x") ||
      (bias != NULL && !cpu_check_vector(be, op, "bias", bias, w->rows)))
    return;
  cpu_backend *cb = cpu_of(be);
  matmul_job job = {
      .g =
          {
              .m = x->rows,
              .n = w->rows,
              .k = x->cols,
              .a = x->data,
              .lda = x->cols,
              .b = w->data,
              .b_dtype = w->dtype,
              .b_rows = w->rows,
              .ldb = w->cols,
              .b_rows_are_n = TRUE,
              .bias = bias ? bias->data : NULL,
              .bias_dtype = bias ? bias->dtype : IVL_DTYPE_F32,
              .alpha = 1.0f,
              .c = y->data,
              .ldc = y->cols,
              .avx512 = cb->avx512,
          },
      .simd = cb->simd,
      .epilogue = epilogue,
      .residual = residual,
      .scale = scale,
  };
  /* about 8 tasks per thread over the columns of each row block, so threads that start late
   * (the machine may be shared) still find work; at least one 16-wide panel each */
  int64_t n_threads = ivl_threadpool_n_threads(cb->pool);
  job.row_block = MAX(1, MIN(job.g.m, CPU_GEMM_ROW_BLOCK));
  int64_t n_row_blocks = (job.g.m + job.row_block - 1) / job.row_block;
  int64_t want = MAX(1, 8 * n_threads / n_row_blocks);
  job.col_chunk = (job.g.n + want - 1) / want;
  job.col_chunk =
      MAX(CPU_GEMM_PANEL, (job.col_chunk + CPU_GEMM_PANEL - 1) / CPU_GEMM_PANEL * CPU_GEMM_PANEL);
  job.n_col_chunks = MAX(1, (job.g.n + job.col_chunk - 1) / job.col_chunk);
  if (job.g.m == 0 || job.g.n == 0)
    return;
  cpu_qact *qa = NULL;
  if (cb->int_dot && cpu_dtype_is_quant(w->dtype)) {
    qa = cpu_qact_new(job.g.m, job.g.k);
    qact_job qj = {qa, job.g.a, job.g.lda, cb->simd};
    cpu_parallel_rows(cb, job.g.m, job.g.k, qact_rows, &qj);
    job.g.aq = qa;
  }
  ivl_threadpool_run(cb->pool, n_row_blocks * job.n_col_chunks, matmul_task, &job);
  cpu_qact_free(qa);
}

void cpu_op_matmul(ivl_backend *be, ivl_tensor *y, const ivl_tensor *x, const ivl_tensor *w,
                   const ivl_tensor *bias)
{
  matmul_run(be, "matmul", y, x, w, bias, EPILOGUE_NONE, NULL, NULL);
}

void cpu_op_matmul_gelu(ivl_backend *be, ivl_tensor *y, const ivl_tensor *x, const ivl_tensor *w,
                        const ivl_tensor *bias)
{
  matmul_run(be, "matmul_gelu", y, x, w, bias, EPILOGUE_GELU, NULL, NULL);
}

void cpu_op_matmul_add_scaled(ivl_backend *be, ivl_tensor *y, ivl_tensor *out, const ivl_tensor *x,
                              const ivl_tensor *w, const ivl_tensor *bias, const ivl_tensor *scale,
                              ivl_tensor *yn, const ivl_tensor *norm_w, const ivl_tensor *norm_b,
                              float eps)
{
  const char *op = "matmul_add_scaled";
  if (!cpu_check_act(be, op, "out", out, -1, -1) ||
      !cpu_check_act(be, op, "y", y, out->rows, out->cols) ||
      !cpu_check(be, y->data != out->data && y->data != x->data, op, "y must not alias out or x") ||
      !cpu_check_vector(be, op, "scale", scale, y->cols))
    return;
  g_autofree float *sf = g_new(float, MAX(1, y->cols));
  cpu_row_to_f32(sf, scale->data, scale->dtype, y->cols);
  matmul_run(be, op, out, x, w, bias, EPILOGUE_ADD_SCALED, y->data, sf);
  /* the norm needs whole rows: after every tile */
  if (yn != NULL && norm_b != NULL)
    cpu_op_layer_norm(be, yn, y, norm_w, norm_b, eps);
  else if (yn != NULL)
    cpu_op_rms_norm(be, yn, y, norm_w, eps);
}

typedef struct {
  cpu_attention_args a;
  int64_t n_qblocks;
  gboolean simd;
  atomic_bool out_of_memory;
} attention_job;

static void attention_task(void *ctx, int64_t task, int thread)
{
  attention_job *job = ctx;
  int64_t qb = task % job->n_qblocks;
  int64_t head = task / job->n_qblocks % job->a.n_heads;
  int64_t seq = task / job->n_qblocks / job->a.n_heads;
  int64_t i0 = qb * CPU_ATTENTION_QBLOCK;
  (void)thread;
  if (!cpu_attention_block(&job->a, seq, (int)head, i0, MIN(job->a.tq, i0 + CPU_ATTENTION_QBLOCK),
                           job->simd))
    atomic_store(&job->out_of_memory, TRUE);
}

static gboolean check_attention_shapes(ivl_backend *be, const ivl_tensor *out, const ivl_tensor *q,
                                       const ivl_tensor *k, const ivl_tensor *v, int n_seq,
                                       int n_heads, int n_kv_heads, int head_dim)
{
  const char *op = "attention";
  if (!cpu_check(be,
                 n_seq > 0 && n_heads > 0 && n_kv_heads > 0 && head_dim > 0 &&
                     n_heads % n_kv_heads == 0,
                 op, "n_seq %d, %d heads, %d kv heads, head_dim %d are inconsistent", n_seq,
                 n_heads, n_kv_heads, head_dim))
    return FALSE;
  int64_t qcols = (int64_t)n_heads * head_dim, kvcols = (int64_t)n_kv_heads * head_dim;
  return cpu_check_act(be, op, "q", q, -1, qcols) && cpu_check_act(be, op, "k", k, -1, kvcols) &&
         cpu_check_act(be, op, "v", v, k->rows, kvcols) &&
         cpu_check_act(be, op, "out", out, q->rows, qcols) &&
         cpu_check(be, out->data != q->data && out->data != k->data && out->data != v->data, op,
                   "out must not alias q, k or v") &&
         cpu_check(be, q->rows % n_seq == 0 && k->rows % n_seq == 0 && k->rows > 0, op,
                   "%" G_GINT64_FORMAT " query and %" G_GINT64_FORMAT
                   " key rows do not split into %d sequences",
                   q->rows, k->rows, n_seq);
}

void cpu_op_attention(ivl_backend *be, ivl_tensor *out, const ivl_tensor *q, const ivl_tensor *k,
                      const ivl_tensor *v, int n_seq, int n_heads, int n_kv_heads, int head_dim,
                      gboolean causal, int64_t q_pos0, float scale)
{
  if (!check_attention_shapes(be, out, q, k, v, n_seq, n_heads, n_kv_heads, head_dim))
    return;
  int64_t tq = q->rows / n_seq, tk = k->rows / n_seq;
  if (causal && !cpu_check(be, q_pos0 >= 0 && q_pos0 + tq <= tk, "attention",
                           "causal queries at positions %" G_GINT64_FORMAT "..%" G_GINT64_FORMAT
                           " need that many keys, have %" G_GINT64_FORMAT,
                           q_pos0, q_pos0 + tq, tk))
    return;
  cpu_backend *cb = cpu_of(be);
  attention_job job = {
      .a =
          {
              .out = out->data,
              .q = q->data,
              .k = k->data,
              .v = v->data,
              .tq = tq,
              .tk = tk,
              .n_heads = n_heads,
              .n_kv_heads = n_kv_heads,
              .head_dim = head_dim,
              .causal = causal,
              .q_pos0 = q_pos0,
              .scale = scale,
              .avx512 = cb->avx512,
          },
      .n_qblocks = (tq + CPU_ATTENTION_QBLOCK - 1) / CPU_ATTENTION_QBLOCK,
      .simd = cb->simd,
  };
  atomic_init(&job.out_of_memory, FALSE);
  if (tq == 0)
    return;
  ivl_threadpool_run(cb->pool, (int64_t)n_seq * n_heads * job.n_qblocks, attention_task, &job);
  if (atomic_load(&job.out_of_memory))
    ivl_backend_set_error(be, g_error_new(IVL_ERROR, IVL_ERROR_OUT_OF_MEMORY,
                                          "attention: cannot allocate the score buffer"));
}
