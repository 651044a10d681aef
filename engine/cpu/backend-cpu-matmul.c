/* The CPU backend's products: matmul split into (row block, column chunk) tiles and attention
 * split into (sequence, head, query block) tasks over the thread pool. */
#include "backend-cpu-private.h"

#include "ivl.h"

#include <stdatomic.h>

/* What runs on a tile of the product while it is in cache (matmul_gelu, matmul_add_scaled,
 * matmul_silu_mul): the element-wise ops the fusions stand for, on the same values in the
 * same order. */
typedef enum {
  EPILOGUE_NONE,
  EPILOGUE_GELU,
  EPILOGUE_ADD_SCALED,
  EPILOGUE_SILU_MUL
} matmul_epilogue;

/* One product of the job, split into (row block, column chunk) tasks. */
typedef struct {
  cpu_gemm_args g;
  int64_t col_chunk, n_col_chunks, n_tasks;
  cpu_compact_bf16 bc; /* g.bc: w's rows of its compact layout */
} matmul_product;

/* Products of the same x run as one loop over the thread pool (matmul_qkv: three; decode
 * issues hundreds of small products per token, and each loop costs a hand-over between
 * threads). EPILOGUE_SILU_MUL: p[1] (up) is computed on each of p[0]'s (gate) tiles, then
 * gate = silu(gate) * up there, so it has no tasks of its own. */
typedef struct {
  matmul_product p[3];
  int n_products;
  int64_t row_block;
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
  gboolean simd;
} pack_a_job;

static void pack_a_rows(void *ctx, int64_t r0, int64_t r1)
{
  pack_a_job *job = ctx;
  cpu_gemm_pack_a(job->g, job->dst, r0, r1, job->simd);
}

static void matmul_task(void *ctx, int64_t task, int thread)
{
  matmul_job *job = ctx;
  int pi = 0;
  while (task >= job->p[pi].n_tasks)
    task -= job->p[pi++].n_tasks;
  const matmul_product *p = &job->p[pi];
  int64_t i0 = task / p->n_col_chunks * job->row_block;
  int64_t j0 = task % p->n_col_chunks * p->col_chunk;
  int64_t i1 = MIN(p->g.m, i0 + job->row_block), j1 = MIN(p->g.n, j0 + p->col_chunk);
  (void)thread;
  cpu_gemm_tile(&p->g, i0, i1, j0, j1, job->simd);
  if (job->epilogue == EPILOGUE_SILU_MUL)
    cpu_gemm_tile(&job->p[1].g, i0, i1, j0, j1, job->simd);
  for (int64_t i = i0; i < i1 && job->epilogue != EPILOGUE_NONE; i++) {
    float *c = p->g.c + i * p->g.ldc + j0;
    if (job->epilogue == EPILOGUE_GELU)
      cpu_gelu(c, j1 - j0, job->simd);
    else if (job->epilogue == EPILOGUE_SILU_MUL)
      cpu_silu_mul(c, job->p[1].g.c + i * p->g.ldc + j0, j1 - j0, job->simd);
    else
      cpu_add_scaled_row(job->residual + i * p->g.ldc + j0, c, job->scale + j0, j1 - j0);
  }
}

/* Checks y = x w^T + bias and sets up its product; op names the op in errors. */
static gboolean product_init(ivl_backend *be, const char *op, matmul_product *p, ivl_tensor *y,
                             const ivl_tensor *x, const ivl_tensor *w, const ivl_tensor *bias)
{
  if (!cpu_check_act(be, op, "x", x, -1, -1) ||
      !cpu_check(be, w != NULL && w->dtype != IVL_DTYPE_I32, op,
                 "w must be f32, f16, bf16 or quantized") ||
      !cpu_check(be, w->cols == x->cols, op,
                 "x has %" G_GINT64_FORMAT " columns, w %" G_GINT64_FORMAT, x->cols, w->cols) ||
      !cpu_check_act(be, op, "y", y, x->rows, w->rows) ||
      !cpu_check(be, y->data != x->data, op, "y must not alias x") ||
      (bias != NULL && !cpu_check_vector(be, op, "bias", bias, w->rows)))
    return FALSE;
  cpu_backend *cb = cpu_of(be);
  *p = (matmul_product){
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
              .bf16_dot = cb->bf16_dot,
          },
  };
  if (w->layout) {
    p->bc = cpu_compact_bf16_rows(w->layout, w->layout_row0, w->rows);
    p->g.bc = &p->bc;
  }
  return TRUE;
}

/* The job's tiles: about 8 tasks per thread over the columns of each row block, so threads
 * that start late (the machine may be shared) still find work; at least one 16-wide panel
 * each. Each column chunk reads all of its row block of A, and each row block packs all of
 * B: where A is copied out (a_copied), it is split into row blocks until the chunks are
 * MIN_CHUNK wide (vision's proj and fc2 with 2 threads: 2 blocks of 516 rows x 8 chunks of 128
 * columns rather than 16 chunks of 64: fc2 ~0.75 -> ~0.82 of the peak; 16 tasks of one size,
 * which 2 threads end together). */
static void products_tile(cpu_backend *cb, matmul_job *job, gboolean a_copied)
{
  enum { MIN_CHUNK = 128, TILE_ROWS = 12 /* the AVX-512 kernel's */ };
  const int64_t m = job->p[0].g.m, n = MAX(1, job->p[0].g.n);
  int64_t n_threads = ivl_threadpool_n_threads(cb->pool);
  int64_t n_row_blocks = MAX(1, (m + CPU_GEMM_ROW_BLOCK - 1) / CPU_GEMM_ROW_BLOCK);
  if (a_copied)
    n_row_blocks = MAX(n_row_blocks, MIN(m / 256, (8 * n_threads * MIN_CHUNK + n - 1) / n));
  job->row_block = MAX(1, (m + n_row_blocks - 1) / n_row_blocks);
  if (n_row_blocks > 1)
    job->row_block = (job->row_block + TILE_ROWS - 1) / TILE_ROWS * TILE_ROWS;
  n_row_blocks = MAX(1, (m + job->row_block - 1) / job->row_block);
  int64_t want = MAX(1, 8 * n_threads / n_row_blocks);
  for (int i = 0; i < job->n_products; i++) {
    matmul_product *p = &job->p[i];
    p->col_chunk = (p->g.n + want - 1) / want;
    p->col_chunk =
        MAX(CPU_GEMM_PANEL, (p->col_chunk + CPU_GEMM_PANEL - 1) / CPU_GEMM_PANEL * CPU_GEMM_PANEL);
    p->n_col_chunks = MAX(1, (p->g.n + p->col_chunk - 1) / p->col_chunk);
    p->n_tasks = p->g.m == 0 || p->g.n == 0 ? 0 : n_row_blocks * p->n_col_chunks;
  }
  if (job->epilogue == EPILOGUE_SILU_MUL) /* up runs on gate's tiles */
    job->p[1].n_tasks = 0;
}

/* Runs the job's products (set up by product_init, x the same for all), x quantized once for
 * all the integer dot products. */
static void products_run(cpu_backend *cb, matmul_job *job)
{
  int64_t n_tasks = 0, n_chunks = 0;
  cpu_qact *qa = NULL;
  job->simd = cb->simd;
  for (int i = 0; i < job->n_products; i++) {
    matmul_product *p = &job->p[i];
    if (!cb->int_dot || !cpu_dtype_is_quant(p->g.b_dtype) || p->g.m == 0)
      continue;
    if (!qa) {
      qa = cpu_qact_new(p->g.m, p->g.k);
      qact_job qj = {qa, p->g.a, p->g.lda, cb->simd};
      cpu_parallel_rows(cb, p->g.m, p->g.k, qact_rows, &qj);
    }
    p->g.aq = qa;
  }
  /* every column chunk reads all of its rows of A: copied once here for all products (the
   * float ones: x is the same) rather than tile by tile in each chunk */
  const cpu_gemm_args *g_float = NULL;
  for (int i = job->n_products - 1; i >= 0; i--)
    if (job->p[i].g.aq == NULL)
      g_float = &job->p[i].g;
  size_t a_size = g_float ? cpu_gemm_a_blocks_size(g_float, cb->simd) : 0;
  products_tile(cb, job, a_size > 0);
  for (int i = 0; i < job->n_products; i++) {
    n_tasks += job->p[i].n_tasks;
    n_chunks += job->p[i].n_col_chunks;
  }
  g_autofree float *a_blocks = NULL;
  if (a_size > 0 && n_chunks > 1 && (a_blocks = g_try_new(float, a_size)) != NULL) {
    pack_a_job pj = {g_float, a_blocks, cb->simd};
    cpu_parallel_rows(cb, g_float->m, g_float->k, pack_a_rows, &pj);
    /* the copy's layout depends on B's dtype (rounded to bf16 for the bf16 dot products) */
    for (int i = 0; i < job->n_products; i++)
      if (job->p[i].g.aq == NULL && job->p[i].g.b_dtype == g_float->b_dtype)
        job->p[i].g.a_blocks = a_blocks;
  }
  if (n_tasks > 0)
    ivl_threadpool_run(cb->pool, n_tasks, matmul_task, job);
  cpu_qact_free(qa);
}

/* y = x w^T + bias, then the epilogue on each tile; op names the op in errors. */
static void matmul_run(ivl_backend *be, const char *op, ivl_tensor *y, const ivl_tensor *x,
                       const ivl_tensor *w, const ivl_tensor *bias, matmul_epilogue epilogue,
                       float *residual, const float *scale)
{
  matmul_job job = {.n_products = 1, .epilogue = epilogue, .residual = residual, .scale = scale};
  if (product_init(be, op, &job.p[0], y, x, w, bias))
    products_run(cpu_of(be), &job);
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

void cpu_op_matmul_qkv(ivl_backend *be, ivl_tensor *q, ivl_tensor *k, ivl_tensor *v,
                       const ivl_tensor *x, const ivl_tensor *wq, const ivl_tensor *wk,
                       const ivl_tensor *wv, const ivl_tensor *bq, const ivl_tensor *bk,
                       const ivl_tensor *bv)
{
  matmul_job job = {.n_products = 3};
  if (product_init(be, "matmul_qkv", &job.p[0], q, x, wq, bq) &&
      product_init(be, "matmul_qkv", &job.p[1], k, x, wk, bk) &&
      product_init(be, "matmul_qkv", &job.p[2], v, x, wv, bv))
    products_run(cpu_of(be), &job);
}

void cpu_op_matmul_silu_mul(ivl_backend *be, ivl_tensor *gate, ivl_tensor *up, const ivl_tensor *x,
                            const ivl_tensor *w_gate, const ivl_tensor *w_up)
{
  const char *op = "matmul_silu_mul";
  matmul_job job = {.n_products = 2, .epilogue = EPILOGUE_SILU_MUL};
  if (!cpu_check(be, w_gate != NULL && w_up != NULL && w_up->rows == w_gate->rows, op,
                 "w_gate and w_up must have as many rows") ||
      !product_init(be, op, &job.p[0], gate, x, w_gate, NULL) ||
      !product_init(be, op, &job.p[1], up, x, w_up, NULL))
    return;
  /* silu_mul's vector loop runs over the whole rows as one array: with rows a multiple of its
   * 8 lanes a tile's columns meet the same lanes, and the same exp, as there */
  if (gate->cols % 8 != 0) {
    cpu_op_matmul(be, gate, x, w_gate, NULL);
    cpu_op_matmul(be, up, x, w_up, NULL);
    cpu_op_silu_mul(be, gate, up);
    return;
  }
  products_run(cpu_of(be), &job);
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

static void attention_decode_task(void *ctx, int64_t task, int thread)
{
  cpu_attention_decode_task(ctx, task, thread);
}

/* Few query rows: one task per (sequence, kv head, key chunk), then the chunks merged. Below
 * min_work the caller runs the tasks alone: waking a thread costs more than it saves. */
static void attention_decode(ivl_backend *be, const cpu_attention_args *a, int n_seq)
{
  const int64_t min_work = 32768;
  cpu_backend *cb = cpu_of(be);
  cpu_attention_decode d;
  if (!cpu_attention_decode_init(&d, a, n_seq, ivl_threadpool_n_threads(cb->pool), cb->simd)) {
    ivl_backend_set_error(be, g_error_new(IVL_ERROR, IVL_ERROR_OUT_OF_MEMORY,
                                          "attention: cannot allocate the score buffer"));
    return;
  }
  int64_t n_tasks = cpu_attention_decode_n_tasks(&d);
  if (n_seq * a->n_heads * a->tq * d.n_keys * a->head_dim < min_work)
    for (int64_t t = 0; t < n_tasks; t++)
      cpu_attention_decode_task(&d, t, 0);
  else
    ivl_threadpool_run(cb->pool, n_tasks, attention_decode_task, &d);
  cpu_attention_decode_merge(&d);
  cpu_attention_decode_clear(&d);
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
              .bf16_dot = cb->bf16_dot,
          },
      .n_qblocks = (tq + CPU_ATTENTION_QBLOCK - 1) / CPU_ATTENTION_QBLOCK,
      .simd = cb->simd,
  };
  atomic_init(&job.out_of_memory, FALSE);
  if (tq == 0)
    return;
  if (tq <= CPU_ATTENTION_DECODE_ROWS) {
    attention_decode(be, &job.a, n_seq);
    return;
  }
  ivl_threadpool_run(cb->pool, (int64_t)n_seq * n_heads * job.n_qblocks, attention_task, &job);
  if (atomic_load(&job.out_of_memory))
    ivl_backend_set_error(be, g_error_new(IVL_ERROR, IVL_ERROR_OUT_OF_MEMORY,
                                          "attention: cannot allocate the score buffer"));
}
