/* The CPU backend's products: matmul split into (row block, column chunk) tiles and attention
 * split into (sequence, head, query block) tasks over the thread pool. */
#include "backend-cpu-private.h"

#include "ivl.h"

#include <stdatomic.h>

/* What runs on a tile of the product while it is in cache (matmul_gelu, matmul_add_scaled):
 * the element-wise ops the fusions stand for, on the same values in the same order. */
typedef enum { EPILOGUE_NONE, EPILOGUE_GELU, EPILOGUE_ADD_SCALED } matmul_epilogue;

/* One product of a matmul_run: its tiles are tasks [task0, task0 + n_tasks) of the job. */
typedef struct {
  cpu_gemm_args g;
  int64_t row_block, col_chunk, n_col_chunks, n_tasks;
} matmul_part;

typedef struct {
  matmul_part part[3]; /* matmul_qkv: three products of one A */
  int n_parts;
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

typedef struct {
  const cpu_gemm_args *g;
  float *dst;
} pack_a_job;

static void pack_a_rows(void *ctx, int64_t r0, int64_t r1)
{
  pack_a_job *job = ctx;
  cpu_gemm_pack_a(job->g, job->dst, r0, r1);
}

static void matmul_task(void *ctx, int64_t task, int thread)
{
  matmul_job *job = ctx;
  const matmul_part *p = job->part;
  for (; task >= p->n_tasks; p++)
    task -= p->n_tasks;
  int64_t i0 = task / p->n_col_chunks * p->row_block;
  int64_t j0 = task % p->n_col_chunks * p->col_chunk;
  int64_t i1 = MIN(p->g.m, i0 + p->row_block), j1 = MIN(p->g.n, j0 + p->col_chunk);
  (void)thread;
  cpu_gemm_tile(&p->g, i0, i1, j0, j1, job->simd);
  for (int64_t i = i0; i < i1 && job->epilogue != EPILOGUE_NONE; i++) {
    float *c = p->g.c + i * p->g.ldc + j0;
    if (job->epilogue == EPILOGUE_GELU)
      cpu_gelu(c, j1 - j0, job->simd);
    else
      cpu_add_scaled_row(job->residual + i * p->g.ldc + j0, c, job->scale + j0, j1 - j0);
  }
}

static gboolean matmul_check(ivl_backend *be, const char *op, const ivl_tensor *y,
                             const ivl_tensor *x, const ivl_tensor *w, const ivl_tensor *bias)
{
  return cpu_check_act(be, op, "x", x, -1, -1) &&
         cpu_check(be, w != NULL && w->dtype != IVL_DTYPE_I32, op,
                   "w must be f32, f16, bf16 or quantized") &&
         cpu_check(be, w->cols == x->cols, op,
                   "x has %" G_GINT64_FORMAT " columns, w %" G_GINT64_FORMAT, x->cols, w->cols) &&
         cpu_check_act(be, op, "y", y, x->rows, w->rows) &&
         cpu_check(be, y->data != x->data, op, "y must not alias x") &&
         (bias == NULL || cpu_check_vector(be, op, "bias", bias, w->rows));
}

/* The tiles of one product: about 8 tasks per thread over the columns of each row block, so
 * threads that start late (the machine may be shared) still find work; at least one 16-wide
 * panel each. Each column chunk reads all of its row block of A, and each row block packs all
 * of B: where A is copied out (a_copied), it is split into row blocks until the chunks are
 * MIN_CHUNK wide (vision's proj and fc2 with 2 threads: 2 blocks of 516 rows x 8 chunks of 128
 * columns rather than 16 chunks of 64: fc2 ~0.75 -> ~0.82 of the peak; 16 tasks of one size,
 * which 2 threads end together). */
static void matmul_tiling(matmul_part *p, int64_t n_threads, gboolean a_copied)
{
  enum { MIN_CHUNK = 128, TILE_ROWS = 12 /* the AVX-512 kernel's */ };
  const cpu_gemm_args *g = &p->g;
  if (g->m == 0 || g->n == 0)
    return; /* no tasks */
  int64_t n_row_blocks = (g->m + CPU_GEMM_ROW_BLOCK - 1) / CPU_GEMM_ROW_BLOCK;
  if (a_copied)
    n_row_blocks =
        MAX(n_row_blocks, MIN(g->m / 256, (8 * n_threads * MIN_CHUNK + g->n - 1) / g->n));
  p->row_block = (g->m + n_row_blocks - 1) / n_row_blocks;
  if (n_row_blocks > 1)
    p->row_block = (p->row_block + TILE_ROWS - 1) / TILE_ROWS * TILE_ROWS;
  n_row_blocks = (g->m + p->row_block - 1) / p->row_block;
  int64_t want = MAX(1, 8 * n_threads / n_row_blocks);
  p->col_chunk = (g->n + want - 1) / want;
  p->col_chunk =
      MAX(CPU_GEMM_PANEL, (p->col_chunk + CPU_GEMM_PANEL - 1) / CPU_GEMM_PANEL * CPU_GEMM_PANEL);
  p->n_col_chunks = MAX(1, (g->n + p->col_chunk - 1) / p->col_chunk);
  p->n_tasks = n_row_blocks * p->n_col_chunks;
}

/* y[i] = x w[i]^T + bias[i] for i < n_parts, one job over the thread pool (A quantized or
 * copied out once for all), then the epilogue on each tile; op names the op in errors. */
static void matmul_run(ivl_backend *be, const char *op, int n_parts, ivl_tensor *const y[],
                       const ivl_tensor *x, const ivl_tensor *const w[],
                       const ivl_tensor *const bias[], matmul_epilogue epilogue, float *residual,
                       const float *scale)
{
  cpu_backend *cb = cpu_of(be);
  matmul_job job = {
      .n_parts = n_parts,
      .simd = cb->simd,
      .epilogue = epilogue,
      .residual = residual,
      .scale = scale,
  };
  for (int i = 0; i < n_parts; i++) {
    if (!matmul_check(be, op, y[i], x, w[i], bias[i]))
      return;
    if (cb->int_dot && w[i]->dtype != w[0]->dtype &&
        (cpu_dtype_is_quant(w[i]->dtype) || cpu_dtype_is_quant(w[0]->dtype))) {
      /* A is quantized for one weight type: one job per product */
      for (int j = 0; j < n_parts; j++)
        matmul_run(be, op, 1, y + j, x, w + j, bias + j, epilogue, residual, scale);
      return;
    }
    job.part[i].g = (cpu_gemm_args){
        .m = x->rows,
        .n = w[i]->rows,
        .k = x->cols,
        .a = x->data,
        .lda = x->cols,
        .b = w[i]->data,
        .b_dtype = w[i]->dtype,
        .b_rows = w[i]->rows,
        .ldb = w[i]->cols,
        .b_rows_are_n = TRUE,
        .bias = bias[i] ? bias[i]->data : NULL,
        .bias_dtype = bias[i] ? bias[i]->dtype : IVL_DTYPE_F32,
        .alpha = 1.0f,
        .c = y[i]->data,
        .ldc = y[i]->cols,
        .avx512 = cb->avx512,
    };
  }
  if (x->rows == 0)
    return;
  cpu_qact *qa = NULL;
  if (cb->int_dot && cpu_dtype_is_quant(w[0]->dtype)) {
    qa = cpu_qact_new(x->rows, x->cols, w[0]->dtype);
    qact_job qj = {qa, x->data, x->cols, cb->simd};
    cpu_parallel_rows(cb, x->rows, x->cols, qact_rows, &qj);
    for (int i = 0; i < n_parts; i++)
      job.part[i].g.aq = qa;
  }
  size_t a_size = cpu_gemm_a_blocks_size(&job.part[0].g, cb->simd);
  int64_t n_threads = ivl_threadpool_n_threads(cb->pool), n_tasks = 0, n_chunks = 0;
  for (int i = 0; i < n_parts; i++) {
    matmul_tiling(&job.part[i], n_threads, a_size > 0);
    n_tasks += job.part[i].n_tasks;
    n_chunks += job.part[i].n_col_chunks;
  }
  /* every column chunk reads all of its rows of A: copied once here rather than tile by tile
   * in each chunk */
  g_autofree float *a_blocks = NULL;
  if (a_size > 0 && n_chunks > 1 && (a_blocks = g_try_new(float, a_size)) != NULL) {
    pack_a_job pj = {&job.part[0].g, a_blocks};
    cpu_parallel_rows(cb, x->rows, x->cols, pack_a_rows, &pj);
    for (int i = 0; i < n_parts; i++)
      job.part[i].g.a_blocks = a_blocks;
  }
  if (n_tasks > 0)
    ivl_threadpool_run(cb->pool, n_tasks, matmul_task, &job);
  cpu_qact_free(qa);
}

void cpu_op_matmul(ivl_backend *be, ivl_tensor *y, const ivl_tensor *x, const ivl_tensor *w,
                   const ivl_tensor *bias)
{
  matmul_run(be, "matmul", 1, &y, x, &w, &bias, EPILOGUE_NONE, NULL, NULL);
}

void cpu_op_matmul_qkv(ivl_backend *be, ivl_tensor *q, ivl_tensor *k, ivl_tensor *v,
                       const ivl_tensor *x, const ivl_tensor *wq, const ivl_tensor *wk,
                       const ivl_tensor *wv, const ivl_tensor *bq, const ivl_tensor *bk,
                       const ivl_tensor *bv)
{
  ivl_tensor *y[3] = {q, k, v};
  const ivl_tensor *w[3] = {wq, wk, wv}, *b[3] = {bq, bk, bv};
  matmul_run(be, "matmul_qkv", 3, y, x, w, b, EPILOGUE_NONE, NULL, NULL);
}

void cpu_op_matmul_gelu(ivl_backend *be, ivl_tensor *y, const ivl_tensor *x, const ivl_tensor *w,
                        const ivl_tensor *bias)
{
  matmul_run(be, "matmul_gelu", 1, &y, x, &w, &bias, EPILOGUE_GELU, NULL, NULL);
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
  matmul_run(be, op, 1, &out, x, &w, &bias, EPILOGUE_ADD_SCALED, y->data, sf);
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
