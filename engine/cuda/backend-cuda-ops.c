/* backend-cuda-ops.c — the CUDA backend's ops: shape and dtype checks on the host, then one
 * launcher from kernels/ivl-cuda.h. Activations may be bf16 (the backend's act_dtype) or f32;
 * weights are bf16 on the device (weight_from_host converts), and matmul's may also be int8
 * or 4-bit (quantize.h). Inside a graph recording, position arguments become offsets from the
 * recorded position and the kernels add the replayed one from device memory (self->step[0]). */
#include "backend-cuda-private.h"

#include <string.h>

#include "ivl.h"
#include "quantize.h"

#define CHECK(cond, ...)                                                                           \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      ivl_cuda_fail(self, IVL_ERROR_INVALID_ARGUMENT, __VA_ARGS__);                                \
      return;                                                                                      \
    }                                                                                              \
  } while (0)

static gboolean is_act(const ivl_tensor *t)
{
  return t->dtype == IVL_DTYPE_BF16 || t->dtype == IVL_DTYPE_F32;
}

static gboolean same_shape(const ivl_tensor *a, const ivl_tensor *b)
{
  return a->rows == b->rows && a->cols == b->cols && a->dtype == b->dtype;
}

/* A per-column weight vector [1, cols] (bf16 on the device). */
static gboolean is_vec(const ivl_tensor *w, int64_t cols)
{
  return w != NULL && w->dtype == IVL_DTYPE_BF16 && w->rows * w->cols == cols;
}

/* The replayed RoPE theta when recording (graph_replay writes it beside the position). */
static const float *theta_base(CudaBackend *self)
{
  return self->recording ? (const float *)(self->step + 1) : NULL;
}

/* Position shift for the kernels: none when running, the replayed position when recording. */
static const int32_t *pos_base(CudaBackend *self, int64_t *pos)
{
  if (!self->recording)
    return NULL;
  *pos -= self->rec_pos;
  return self->step;
}

static const char *weight_kind(ivl_dtype dtype)
{
  return dtype == IVL_DTYPE_Q8 ? "int8" : dtype == IVL_DTYPE_Q4 ? "4-bit" : "bf16";
}

/* The bf16 expansion of w for cuBLAS: a slot that holds it already, else the least recently
 * used one, expanded into. A recording expands again (its replays must not depend on what a
 * slot holds later) and leaves the slot holding nothing reusable. NULL after an error. */
static const void *dequantized(CudaBackend *self, const ivl_tensor *w, size_t scales,
                               const char *what)
{
  int slot = 0;
  for (int i = 0; i < IVL_CUDA_DEQUANT_SLOTS; i++) {
    if (!self->recording && self->dequant[i].weight == w->data) {
      self->dequant[i].used = ++self->dequant_clock;
      return self->dequant[i].buf;
    }
    if (self->dequant[i].used < self->dequant[slot].used)
      slot = i;
  }
  self->dequant[slot].weight = NULL;
  if (!ivl_cuda_reserve(self, &self->dequant[slot].buf, &self->dequant[slot].size,
                        ivl_tensor_nbytes(IVL_DTYPE_BF16, w->rows, w->cols)) ||
      !ivl_cuda_check(self,
                      ivl_cuda_dequantize(self->dequant[slot].buf, (ivl_cuda_dtype)w->dtype,
                                          w->data, scales, w->rows, w->cols, self->stream),
                      what))
    return NULL;
  if (!self->recording)
    self->dequant[slot].weight = w->data;
  self->dequant[slot].used = ++self->dequant_clock;
  return self->dequant[slot].buf;
}

/* A few rows read the quantized layout directly; more expand the weight to bf16 in scratch
 * for cuBLAS (dequantized). That scratch grows like the attention workspace, in a recording
 * too (buffers a graph holds are retired, not freed); a decode step records a few rows and
 * needs none. */
static void matmul_quant(CudaBackend *self, ivl_tensor *y, const ivl_tensor *x, const ivl_tensor *w,
                         const ivl_tensor *bias)
{
  const size_t scales = ivl_quant_scales_offset(w->dtype, w->rows, w->cols);
  const char *what = w->dtype == IVL_DTYPE_Q8 ? "int8 matmul" : "4-bit matmul";
  const uint16_t *b = bias ? bias->data : NULL;
  if (x->rows <= IVL_CUDA_QGEMV_MAX_ROWS) {
    ivl_cuda_check(self,
                   ivl_cuda_gemv_quant(y->data, (ivl_cuda_dtype)y->dtype, x->data,
                                       (ivl_cuda_dtype)w->dtype, w->data, scales, b, x->rows,
                                       w->rows, w->cols, self->stream),
                   what);
    return;
  }
  const void *wb = dequantized(self, w, scales, what);
  if (wb == NULL)
    return;
  cublasStatus_t st = CUBLAS_STATUS_SUCCESS;
  const cudaError_t err =
      ivl_cuda_matmul(self->cublas, y->data, (ivl_cuda_dtype)y->dtype, x->data,
                      (const uint16_t *)wb, b, x->rows, w->rows, w->cols, self->stream, &st);
  ivl_cuda_check_blas(self, err, st, what);
}

static void cuda_matmul(ivl_backend *be, ivl_tensor *y, const ivl_tensor *x, const ivl_tensor *w,
                        const ivl_tensor *bias)
{
  CudaBackend *self = cuda_enter(be);
  CHECK(x->dtype == IVL_DTYPE_BF16 && is_act(y), "matmul: x must be bf16 and y bf16 or f32");
  CHECK(w->dtype == IVL_DTYPE_BF16 || w->dtype == IVL_DTYPE_Q8 || w->dtype == IVL_DTYPE_Q4,
        "matmul: w must be bf16, int8 or 4-bit on the device (dtype %d)", (int)w->dtype);
  CHECK(x->cols == w->cols && y->rows == x->rows && y->cols == w->rows,
        "matmul: [%" G_GINT64_FORMAT ",%" G_GINT64_FORMAT "] x %s [%" G_GINT64_FORMAT
        ",%" G_GINT64_FORMAT "]T into [%" G_GINT64_FORMAT ",%" G_GINT64_FORMAT "]",
        x->rows, x->cols, weight_kind(w->dtype), w->rows, w->cols, y->rows, y->cols);
  CHECK(bias == NULL || is_vec(bias, w->rows), "matmul: bias must be bf16 [%" G_GINT64_FORMAT "]",
        w->rows);
  if (w->dtype != IVL_DTYPE_BF16) {
    matmul_quant(self, y, x, w, bias);
    return;
  }
  cublasStatus_t st = CUBLAS_STATUS_SUCCESS;
  const cudaError_t err =
      ivl_cuda_matmul(self->cublas, y->data, (ivl_cuda_dtype)y->dtype, x->data, w->data,
                      bias ? bias->data : NULL, x->rows, w->rows, x->cols, self->stream, &st);
  ivl_cuda_check_blas(self, err, st, "matmul");
}

/* The decode step's fusions (kernels/fused-decode.cu), bitwise the ops they replace. */
static void cuda_add_rms_norm(ivl_backend *be, ivl_tensor *y, ivl_tensor *x, const ivl_tensor *r,
                              const ivl_tensor *w, float eps)
{
  CudaBackend *self = cuda_backend(be);
  CHECK(is_act(x) && same_shape(x, y) && same_shape(x, r) && is_vec(w, x->cols),
        "add_rms_norm: shapes or dtypes differ");
  ivl_cuda_check(self,
                 ivl_cuda_add_rms_norm(y->data, x->data, r->data, (ivl_cuda_dtype)x->dtype, w->data,
                                       x->rows, x->cols, eps, self->stream),
                 "add_rms_norm");
}

static void cuda_silu_mul(ivl_backend *be, ivl_tensor *gate, const ivl_tensor *up);
static void cuda_rope(ivl_backend *be, ivl_tensor *x, int n_heads, int head_dim, int64_t pos0,
                      double theta);
static void cuda_copy_rows(ivl_backend *be, ivl_tensor *dst, int64_t dst_row0,
                           const ivl_tensor *src, int64_t src_row0, int64_t n_rows);

/* One row through bf16 weights of its width takes the 16-byte GEMV (ivl_cuda_gemv's vector
 * path), which the fused kernels repeat. */
static gboolean gemv_vec_fits(const ivl_tensor *y, const ivl_tensor *x, const ivl_tensor *w)
{
  return x->rows == 1 && x->dtype == IVL_DTYPE_BF16 && w->dtype == IVL_DTYPE_BF16 && is_act(y) &&
         y->rows == 1 && y->cols == w->rows && w->cols == x->cols && x->cols % 8 == 0 &&
         (((uintptr_t)x->data | (uintptr_t)w->data) % 16) == 0;
}

/* Whether matmul over x's rows runs cuBLAS, whose bias is a launch of its own (ivl_cuda_matmul),
 * rather than a GEMV kernel that adds it as it stores. */
static gboolean runs_gemm(const ivl_tensor *x, const ivl_tensor *w)
{
  return w->dtype == IVL_DTYPE_BF16 ? x->rows > 1 : x->rows > IVL_CUDA_QGEMV_MAX_ROWS;
}

/* How many elements apart three evenly spaced tensors of one dtype lie, or 0. */
static int64_t even_stride(const ivl_tensor *const t[3])
{
  const size_t size = ivl_dtype_size(t[0]->dtype);
  const ptrdiff_t d1 = (const char *)t[1]->data - (const char *)t[0]->data;
  const ptrdiff_t d2 = (const char *)t[2]->data - (const char *)t[1]->data;
  return d1 > 0 && d1 == d2 && size > 0 && d1 % (ptrdiff_t)size == 0 ? d1 / (ptrdiff_t)size : 0;
}

/* One cuBLAS call for q, k and v when they have one shape and lie evenly spaced, as do their
 * weights (the vision tower's, row blocks of attn.qkv.weight); FALSE when they do not. */
static gboolean qkv_batched(CudaBackend *self, ivl_tensor *const y[3], const ivl_tensor *x,
                            const ivl_tensor *const w[3])
{
  for (int m = 0; m < 3; m++)
    if (w[m]->dtype != IVL_DTYPE_BF16 || !same_shape(w[m], w[0]) || !same_shape(y[m], y[0]) ||
        !is_act(y[m]) || x->dtype != IVL_DTYPE_BF16 || w[m]->cols != x->cols ||
        y[m]->rows != x->rows || y[m]->cols != w[m]->rows)
      return FALSE;
  const int64_t w_stride = even_stride((const ivl_tensor *const *)w);
  const int64_t y_stride = even_stride((const ivl_tensor *const *)y);
  if (w_stride < w[0]->rows * w[0]->cols || y_stride < y[0]->rows * y[0]->cols)
    return FALSE;
  cublasStatus_t st = CUBLAS_STATUS_SUCCESS;
  const cudaError_t err = ivl_cuda_matmul_batched(
      self->cublas, y[0]->data, (ivl_cuda_dtype)y[0]->dtype, y_stride, x->data, w[0]->data,
      w_stride, 3, x->rows, w[0]->rows, x->cols, self->stream, &st);
  ivl_cuda_check_blas(self, err, st, "matmul_qkv");
  return TRUE;
}

/* matmul_qkv over more rows than the fused GEMV takes: the three products (one cuBLAS call
 * where qkv_batched can), then the three biases in one launch. */
static void matmul_qkv_rows(CudaBackend *self, ivl_tensor *const y[3], const ivl_tensor *x,
                            const ivl_tensor *const w[3], const ivl_tensor *const b[3])
{
  ivl_backend *be = &self->base;
  cuda_enter(be);
  gboolean one_launch = TRUE;
  for (int m = 0; m < 3; m++)
    one_launch = one_launch && runs_gemm(x, w[m]) && y[m]->dtype == y[0]->dtype &&
                 (b[m] == NULL || is_vec(b[m], w[m]->rows));
  if (!one_launch) {
    for (int m = 0; m < 3; m++)
      cuda_matmul(be, y[m], x, w[m], b[m]);
    return;
  }
  void *yd[3];
  const uint16_t *bd[3];
  int64_t cols[3];
  const gboolean batched = qkv_batched(self, y, x, w);
  for (int m = 0; m < 3; m++) {
    if (!batched)
      cuda_matmul(be, y[m], x, w[m], NULL);
    yd[m] = y[m]->data, bd[m] = b[m] ? b[m]->data : NULL, cols[m] = w[m]->rows;
  }
  if (b[0] == NULL && b[1] == NULL && b[2] == NULL)
    return;
  if (be->error == NULL) /* the products' shapes were right */
    ivl_cuda_check(
        self, ivl_cuda_add_bias3(yd, (ivl_cuda_dtype)y[0]->dtype, bd, cols, x->rows, self->stream),
        "matmul_qkv biases");
}

static void cuda_matmul_qkv(ivl_backend *be, ivl_tensor *q, ivl_tensor *k, ivl_tensor *v,
                            const ivl_tensor *x, const ivl_tensor *wq, const ivl_tensor *wk,
                            const ivl_tensor *wv, const ivl_tensor *bq, const ivl_tensor *bk,
                            const ivl_tensor *bv)
{
  CudaBackend *self = cuda_backend(be);
  ivl_tensor *y[3] = {q, k, v};
  const ivl_tensor *w[3] = {wq, wk, wv}, *b[3] = {bq, bk, bv};
  gboolean fused = q->dtype == k->dtype && q->dtype == v->dtype;
  for (int m = 0; m < 3; m++)
    fused = fused && gemv_vec_fits(y[m], x, w[m]) && (b[m] == NULL || is_vec(b[m], w[m]->rows));
  if (!fused) {
    matmul_qkv_rows(self, y, x, w, b);
    return;
  }
  void *yd[3];
  const uint16_t *wd[3], *bd[3];
  int64_t rows[3];
  for (int m = 0; m < 3; m++)
    yd[m] = y[m]->data, wd[m] = w[m]->data, bd[m] = b[m] ? b[m]->data : NULL, rows[m] = w[m]->rows;
  ivl_cuda_check(
      self,
      ivl_cuda_gemv_qkv(yd, (ivl_cuda_dtype)q->dtype, x->data, wd, bd, rows, x->cols, self->stream),
      "matmul_qkv");
}

static void cuda_rope_store_kv(ivl_backend *be, ivl_tensor *q, ivl_tensor *k, const ivl_tensor *v,
                               ivl_tensor *k_cache, ivl_tensor *v_cache, int n_heads,
                               int n_kv_heads, int head_dim, int64_t pos0, double theta)
{
  CudaBackend *self = cuda_backend(be);
  const gboolean fused =
      is_act(q) && q->dtype == k->dtype && same_shape(k, v) && k_cache->dtype == k->dtype &&
      v_cache->dtype == k->dtype && k_cache->cols == k->cols && v_cache->cols == k->cols &&
      k_cache->rows == v_cache->rows && q->rows == k->rows && head_dim > 0 && head_dim % 2 == 0 &&
      q->cols == (int64_t)n_heads * head_dim && k->cols == (int64_t)n_kv_heads * head_dim &&
      pos0 >= 0 && pos0 + k->rows <= k_cache->rows;
  if (!fused) {
    cuda_rope(be, q, n_heads, head_dim, pos0, theta);
    cuda_rope(be, k, n_kv_heads, head_dim, pos0, theta);
    cuda_copy_rows(be, k_cache, pos0, k, 0, k->rows);
    cuda_copy_rows(be, v_cache, pos0, v, 0, v->rows);
    return;
  }
  const int32_t *base = pos_base(self, &pos0);
  ivl_cuda_check(self,
                 ivl_cuda_rope_store_kv(q->data, k->data, v->data, k_cache->data, v_cache->data,
                                        k_cache->rows, (ivl_cuda_dtype)q->dtype, q->rows, n_heads,
                                        n_kv_heads, head_dim, pos0, base, (float)theta,
                                        theta_base(self), self->stream),
                 "rope_store_kv");
}

static void cuda_matmul_silu_mul(ivl_backend *be, ivl_tensor *gate, ivl_tensor *up,
                                 const ivl_tensor *x, const ivl_tensor *w_gate,
                                 const ivl_tensor *w_up)
{
  CudaBackend *self = cuda_backend(be);
  const gboolean fused = gemv_vec_fits(gate, x, w_gate) && gemv_vec_fits(gate, x, w_up);
  if (!fused) {
    cuda_matmul(be, gate, x, w_gate, NULL);
    cuda_matmul(be, up, x, w_up, NULL);
    cuda_silu_mul(be, gate, up);
    return;
  }
  ivl_cuda_check(self,
                 ivl_cuda_gate_up_silu(gate->data, (ivl_cuda_dtype)gate->dtype, x->data,
                                       w_gate->data, w_up->data, w_gate->rows, x->cols,
                                       self->stream),
                 "matmul_silu_mul");
}

/* The vision tower's epilogues (kernels/epilogue.cu) after a cuBLAS product, bitwise the ops
 * they stand for; fewer rows (a GEMV adds the bias itself) take those ops. */
static void cuda_gelu(ivl_backend *be, ivl_tensor *x);

static void cuda_matmul_gelu(ivl_backend *be, ivl_tensor *y, const ivl_tensor *x,
                             const ivl_tensor *w, const ivl_tensor *bias)
{
  CudaBackend *self = cuda_backend(be);
  if (!runs_gemm(x, w)) {
    cuda_matmul(be, y, x, w, bias);
    cuda_gelu(be, y);
    return;
  }
  CHECK(bias == NULL || is_vec(bias, w->rows),
        "matmul_gelu: bias must be bf16 [%" G_GINT64_FORMAT "]", w->rows);
  cuda_matmul(be, y, x, w, NULL);
  if (be->error == NULL)
    ivl_cuda_check(self,
                   ivl_cuda_bias_gelu(y->data, (ivl_cuda_dtype)y->dtype, bias ? bias->data : NULL,
                                      y->rows, y->cols, self->stream),
                   "matmul_gelu");
}

static void cuda_add_scaled(ivl_backend *be, ivl_tensor *y, const ivl_tensor *x,
                            const ivl_tensor *scale);
static void cuda_layer_norm(ivl_backend *be, ivl_tensor *y, const ivl_tensor *x,
                            const ivl_tensor *w, const ivl_tensor *b, float eps);
static void cuda_rms_norm(ivl_backend *be, ivl_tensor *y, const ivl_tensor *x, const ivl_tensor *w,
                          float eps);

static void cuda_matmul_add_scaled(ivl_backend *be, ivl_tensor *y, ivl_tensor *out,
                                   const ivl_tensor *x, const ivl_tensor *w, const ivl_tensor *bias,
                                   const ivl_tensor *scale, ivl_tensor *yn,
                                   const ivl_tensor *norm_w, const ivl_tensor *norm_b, float eps)
{
  CudaBackend *self = cuda_backend(be);
  if (!runs_gemm(x, w)) {
    cuda_matmul(be, out, x, w, bias);
    cuda_add_scaled(be, y, out, scale);
    if (yn != NULL && norm_b != NULL)
      cuda_layer_norm(be, yn, y, norm_w, norm_b, eps);
    else if (yn != NULL)
      cuda_rms_norm(be, yn, y, norm_w, eps);
    return;
  }
  CHECK(is_act(y) && same_shape(y, out) && is_vec(scale, y->cols) &&
            (bias == NULL || is_vec(bias, w->rows)) &&
            (yn == NULL || (same_shape(y, yn) && is_vec(norm_w, y->cols) &&
                            (norm_b == NULL || is_vec(norm_b, y->cols)))),
        "matmul_add_scaled: shapes or dtypes differ");
  cuda_matmul(be, out, x, w, NULL);
  if (be->error == NULL)
    ivl_cuda_check(self,
                   ivl_cuda_bias_scaled_add(y->data, out->data, (ivl_cuda_dtype)y->dtype,
                                            bias ? bias->data : NULL, scale->data, y->rows, y->cols,
                                            yn ? yn->data : NULL, yn ? norm_w->data : NULL,
                                            norm_b ? norm_b->data : NULL, eps, self->stream),
                   "matmul_add_scaled");
}

static void cuda_layer_norm(ivl_backend *be, ivl_tensor *y, const ivl_tensor *x,
                            const ivl_tensor *w, const ivl_tensor *b, float eps)
{
  CudaBackend *self = cuda_enter(be);
  CHECK(is_act(x) && same_shape(x, y) && is_vec(w, x->cols) && is_vec(b, x->cols),
        "layer_norm: shapes or dtypes differ");
  ivl_cuda_check(self,
                 ivl_cuda_layer_norm(y->data, x->data, (ivl_cuda_dtype)x->dtype, w->data, b->data,
                                     x->rows, x->cols, eps, self->stream),
                 "layer_norm");
}

static void cuda_rms_norm(ivl_backend *be, ivl_tensor *y, const ivl_tensor *x, const ivl_tensor *w,
                          float eps)
{
  CudaBackend *self = cuda_enter(be);
  CHECK(is_act(x) && same_shape(x, y) && is_vec(w, x->cols), "rms_norm: shapes or dtypes differ");
  ivl_cuda_check(self,
                 ivl_cuda_rms_norm(y->data, x->data, (ivl_cuda_dtype)x->dtype, w->data, x->rows,
                                   x->cols, eps, self->stream),
                 "rms_norm");
}

static void cuda_rope(ivl_backend *be, ivl_tensor *x, int n_heads, int head_dim, int64_t pos0,
                      double theta)
{
  CudaBackend *self = cuda_enter(be);
  CHECK(is_act(x) && head_dim > 0 && head_dim % 2 == 0 && x->cols == (int64_t)n_heads * head_dim,
        "rope: %d heads of %d on %" G_GINT64_FORMAT " columns", n_heads, head_dim, x->cols);
  const int32_t *base = pos_base(self, &pos0);
  ivl_cuda_check(self,
                 ivl_cuda_rope(x->data, (ivl_cuda_dtype)x->dtype, x->rows, n_heads, head_dim, pos0,
                               base, (float)theta, theta_base(self), self->stream),
                 "rope");
}

static void cuda_attention(ivl_backend *be, ivl_tensor *out, const ivl_tensor *q,
                           const ivl_tensor *k, const ivl_tensor *v, int n_seq, int n_heads,
                           int n_kv_heads, int head_dim, gboolean causal, int64_t q_pos0,
                           float scale)
{
  CudaBackend *self = cuda_enter(be);
  CHECK(q->dtype == IVL_DTYPE_BF16 && k->dtype == IVL_DTYPE_BF16 && v->dtype == IVL_DTYPE_BF16 &&
            same_shape(q, out) && same_shape(k, v),
        "attention: bf16 q, k, v, out of matching shapes needed");
  CHECK(n_seq > 0 && n_kv_heads > 0 && n_heads % n_kv_heads == 0 && q->rows % n_seq == 0 &&
            k->rows % n_seq == 0 && q->cols == (int64_t)n_heads * head_dim &&
            k->cols == (int64_t)n_kv_heads * head_dim,
        "attention: %d sequences, %d/%d heads of %d do not fit q [%" G_GINT64_FORMAT
        ",%" G_GINT64_FORMAT "], k [%" G_GINT64_FORMAT ",%" G_GINT64_FORMAT "]",
        n_seq, n_heads, n_kv_heads, head_dim, q->rows, q->cols, k->rows, k->cols);
  if (head_dim != 64 && head_dim != 128) {
    ivl_cuda_fail(self, IVL_ERROR_UNSUPPORTED, "attention: head dim %d (CUDA has 64 and 128)",
                  head_dim);
    return;
  }
  const int64_t tq = q->rows / n_seq, tk = k->rows / n_seq;
  const size_t ws = ivl_cuda_attention_workspace_size(n_seq, tq, tk, n_heads, n_kv_heads, head_dim);
  if (!ivl_cuda_reserve(self, &self->attn_workspace, &self->attn_workspace_size, ws))
    return;
  const int32_t *base = pos_base(self, &q_pos0);
  ivl_cuda_check(self,
                 ivl_cuda_attention(out->data, q->data, k->data, v->data, n_seq, tq, tk, n_heads,
                                    n_kv_heads, head_dim, causal, q_pos0, base, scale,
                                    self->attn_workspace, self->stream),
                 "attention");
}

static void cuda_gelu(ivl_backend *be, ivl_tensor *x)
{
  CudaBackend *self = cuda_enter(be);
  CHECK(is_act(x), "gelu: activation dtype needed");
  ivl_cuda_check(self,
                 ivl_cuda_gelu(x->data, (ivl_cuda_dtype)x->dtype, x->rows * x->cols, self->stream),
                 "gelu");
}

static void cuda_silu_mul(ivl_backend *be, ivl_tensor *gate, const ivl_tensor *up)
{
  CudaBackend *self = cuda_enter(be);
  CHECK(is_act(gate) && same_shape(gate, up), "silu_mul: shapes or dtypes differ");
  ivl_cuda_check(self,
                 ivl_cuda_silu_mul(gate->data, up->data, (ivl_cuda_dtype)gate->dtype,
                                   gate->rows * gate->cols, self->stream),
                 "silu_mul");
}

static void cuda_add(ivl_backend *be, ivl_tensor *y, const ivl_tensor *a, const ivl_tensor *b)
{
  CudaBackend *self = cuda_enter(be);
  CHECK(is_act(y) && same_shape(y, a) && same_shape(y, b), "add: shapes or dtypes differ");
  ivl_cuda_check(self,
                 ivl_cuda_add(y->data, a->data, b->data, (ivl_cuda_dtype)y->dtype,
                              y->rows * y->cols, self->stream),
                 "add");
}

static void cuda_add_scaled(ivl_backend *be, ivl_tensor *y, const ivl_tensor *x,
                            const ivl_tensor *scale)
{
  CudaBackend *self = cuda_enter(be);
  CHECK(is_act(y) && same_shape(y, x) && is_vec(scale, y->cols),
        "add_scaled: shapes or dtypes differ");
  ivl_cuda_check(self,
                 ivl_cuda_add_scaled(y->data, x->data, (ivl_cuda_dtype)y->dtype, scale->data,
                                     y->rows, y->cols, self->stream),
                 "add_scaled");
}

/* Eagerly the host ids are checked and copied to the device; in a recording the kernel reads
 * the ids that graph_replay writes after the position. */
static void cuda_get_rows(ivl_backend *be, ivl_tensor *y, const ivl_tensor *table,
                          const int32_t *ids, int64_t n)
{
  CudaBackend *self = cuda_enter(be);
  CHECK(is_act(y) && is_act(table) && y->cols == table->cols && n >= 0 && n <= y->rows,
        "get_rows: %" G_GINT64_FORMAT " rows of %" G_GINT64_FORMAT " into [%" G_GINT64_FORMAT
        ",%" G_GINT64_FORMAT "]",
        n, table->cols, y->rows, y->cols);
  const int32_t *dev_ids;
  if (self->recording) {
    CHECK(n <= IVL_CUDA_MAX_GRAPH_IDS && (self->rec_n_ids < 0 || self->rec_n_ids == n),
          "get_rows: a recording takes one count of at most %d ids", IVL_CUDA_MAX_GRAPH_IDS);
    self->rec_n_ids = n;
    self->rec_table_rows = MIN(self->rec_table_rows, table->rows);
    dev_ids = self->step + IVL_CUDA_STEP_IDS;
  } else {
    for (int64_t i = 0; i < n; i++)
      CHECK(ids[i] >= 0 && ids[i] < table->rows,
            "get_rows: id %d outside [0, %" G_GINT64_FORMAT ")", ids[i], table->rows);
    if (!ivl_cuda_reserve(self, (void **)&self->ids, &self->ids_size, (size_t)n * 4) ||
        !ivl_cuda_check(
            self,
            cudaMemcpyAsync(self->ids, ids, (size_t)n * 4, cudaMemcpyHostToDevice, self->stream),
            "get_rows ids upload"))
      return;
    dev_ids = self->ids;
  }
  ivl_cuda_check(self,
                 ivl_cuda_get_rows(y->data, (ivl_cuda_dtype)y->dtype, table->data,
                                   (ivl_cuda_dtype)table->dtype, table->rows, table->cols, dev_ids,
                                   n, self->stream),
                 "get_rows");
}

static void cuda_copy_rows(ivl_backend *be, ivl_tensor *dst, int64_t dst_row0,
                           const ivl_tensor *src, int64_t src_row0, int64_t n_rows)
{
  CudaBackend *self = cuda_enter(be);
  CHECK(dst->dtype == src->dtype && ivl_dtype_size(dst->dtype) > 0 && dst->cols == src->cols &&
            n_rows >= 0 && src_row0 >= 0 && src_row0 + n_rows <= src->rows && dst_row0 >= 0 &&
            dst_row0 + n_rows <= dst->rows,
        "copy_rows: %" G_GINT64_FORMAT " rows from %" G_GINT64_FORMAT " of %" G_GINT64_FORMAT
        " to %" G_GINT64_FORMAT " of %" G_GINT64_FORMAT,
        n_rows, src_row0, src->rows, dst_row0, dst->rows);
  const int32_t *base = pos_base(self, &dst_row0);
  ivl_cuda_check(self,
                 ivl_cuda_copy_rows(dst->data, dst->rows, dst_row0, base, src->data, src_row0,
                                    n_rows, dst->cols * (int64_t)ivl_dtype_size(dst->dtype),
                                    self->stream),
                 "copy_rows");
}

static void cuda_patchify(ivl_backend *be, ivl_tensor *y, const ivl_tensor *pixels, int n_tiles,
                          int image_size, int patch)
{
  CudaBackend *self = cuda_enter(be);
  CHECK(patch > 0 && image_size % patch == 0, "patchify: %d is not a multiple of %d", image_size,
        patch);
  const int64_t g = image_size / patch;
  CHECK(pixels->dtype == IVL_DTYPE_F32 && is_act(y) && pixels->rows == (int64_t)n_tiles * 3 &&
            pixels->cols == (int64_t)image_size * image_size && y->rows == n_tiles * g * g &&
            y->cols == 3LL * patch * patch,
        "patchify: shapes do not match %d tiles of %d px", n_tiles, image_size);
  ivl_cuda_check(self,
                 ivl_cuda_patchify(y->data, (ivl_cuda_dtype)y->dtype, pixels->data, n_tiles,
                                   image_size, patch, self->stream),
                 "patchify");
}

static void cuda_pixel_shuffle(ivl_backend *be, ivl_tensor *y, const ivl_tensor *x, int n_tiles,
                               int grid)
{
  CudaBackend *self = cuda_enter(be);
  CHECK(is_act(x) && x->dtype == y->dtype && grid % 2 == 0 &&
            x->rows == (int64_t)n_tiles * grid * grid &&
            y->rows == (int64_t)n_tiles * (grid / 2) * (grid / 2) && y->cols == 4 * x->cols,
        "pixel_shuffle: shapes do not match %d tiles of %d x %d", n_tiles, grid, grid);
  ivl_cuda_check(self,
                 ivl_cuda_pixel_shuffle(y->data, x->data, (ivl_cuda_dtype)x->dtype, n_tiles, grid,
                                        x->cols, self->stream),
                 "pixel_shuffle");
}

static int32_t cuda_argmax(ivl_backend *be, const ivl_tensor *logits, int64_t row)
{
  CudaBackend *self = cuda_enter(be);
  if (self->recording || !is_act(logits) || row < 0 || row >= logits->rows || logits->cols <= 0) {
    ivl_cuda_fail(self, IVL_ERROR_INVALID_ARGUMENT,
                  self->recording ? "argmax waits and cannot be recorded"
                                  : "argmax: row %" G_GINT64_FORMAT " of %" G_GINT64_FORMAT,
                  row, logits->rows);
    return 0;
  }
  const char *x =
      (const char *)logits->data + row * logits->cols * (int64_t)ivl_dtype_size(logits->dtype);
  int32_t index = 0;
  if (ivl_cuda_check(self,
                     ivl_cuda_argmax(self->argmax_out, x, (ivl_cuda_dtype)logits->dtype,
                                     logits->cols, self->stream),
                     "argmax") &&
      ivl_cuda_check(self,
                     cudaMemcpyAsync(&index, self->argmax_out, sizeof index, cudaMemcpyDeviceToHost,
                                     self->stream),
                     "argmax download"))
    ivl_cuda_check(self, cudaStreamSynchronize(self->stream), "synchronize");
  return index;
}

static gboolean cuda_top_k(ivl_backend *be, const ivl_tensor *logits, int64_t row,
                           const int32_t *seen, int n_seen, float penalty, float temperature, int k,
                           float *values, int32_t *ids, int cap, int *n, GError **error)
{
  CudaBackend *self = cuda_enter(be);
  if (self->recording || logits->dtype != IVL_DTYPE_F32 || row < 0 || row >= logits->rows ||
      k <= 0 || cap < 0 || n_seen < 0) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_INVALID_ARGUMENT,
                self->recording ? "top_k waits and cannot be recorded"
                                : "top_k: f32 logits, a row of them, k > 0 needed");
    return FALSE;
  }
  const int64_t vocab = logits->cols;
  const size_t flags = ((size_t)vocab + 15) / 16 * 16, out_bytes = 16 + (size_t)cap * 8;
  if (!ivl_cuda_reserve(self, &self->topk_seen, &self->topk_seen_size,
                        flags + (size_t)n_seen * sizeof(int32_t) + 4) ||
      !ivl_cuda_reserve(self, &self->topk_out, &self->topk_out_size, out_bytes))
    return ivl_backend_take_error(be, error);
  uint8_t *seen_flags = self->topk_seen;
  int32_t *seen_ids = (int32_t *)(seen_flags + flags);
  char *out = self->topk_out;
  g_autofree char *host = g_malloc(out_bytes);
  int32_t count = 0;
  if ((n_seen == 0 ||
       ivl_cuda_check(self,
                      cudaMemcpyAsync(seen_ids, seen, (size_t)n_seen * sizeof(int32_t),
                                      cudaMemcpyHostToDevice, self->stream),
                      "top_k upload")) &&
      ivl_cuda_check(self,
                     ivl_cuda_top_k((const float *)logits->data + row * vocab, vocab, seen_flags,
                                    seen_ids, n_seen, penalty, temperature, k, (float *)(out + 16),
                                    (int32_t *)(out + 16 + (size_t)cap * 4), cap, (int32_t *)out,
                                    self->stream),
                     "top_k") &&
      ivl_cuda_check(self,
                     cudaMemcpyAsync(host, out, out_bytes, cudaMemcpyDeviceToHost, self->stream),
                     "top_k download") &&
      ivl_cuda_check(self, cudaStreamSynchronize(self->stream), "synchronize")) {
    memcpy(&count, host, sizeof count);
    int kept = MIN(count, cap);
    memcpy(values, host + 16, (size_t)kept * sizeof(float));
    memcpy(ids, host + 16 + (size_t)cap * 4, (size_t)kept * sizeof(int32_t));
  }
  *n = count;
  return ivl_backend_take_error(be, error);
}

void ivl_cuda_backend_set_ops(ivl_backend_ops *ops)
{
  ops->matmul = cuda_matmul;
  ops->layer_norm = cuda_layer_norm;
  ops->rms_norm = cuda_rms_norm;
  ops->add_rms_norm = cuda_add_rms_norm;
  ops->matmul_silu_mul = cuda_matmul_silu_mul;
  ops->matmul_qkv = cuda_matmul_qkv;
  ops->matmul_gelu = cuda_matmul_gelu;
  ops->matmul_add_scaled = cuda_matmul_add_scaled;
  ops->rope_store_kv = cuda_rope_store_kv;
  ops->rope = cuda_rope;
  ops->attention = cuda_attention;
  ops->gelu = cuda_gelu;
  ops->silu_mul = cuda_silu_mul;
  ops->add = cuda_add;
  ops->add_scaled = cuda_add_scaled;
  ops->get_rows = cuda_get_rows;
  ops->copy_rows = cuda_copy_rows;
  ops->patchify = cuda_patchify;
  ops->pixel_shuffle = cuda_pixel_shuffle;
  ops->argmax = cuda_argmax;
  ops->top_k = cuda_top_k;
}
