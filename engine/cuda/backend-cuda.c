/* backend-cuda.c — the CUDA backend: device setup, memory, transfers and decode graphs. The
 * ops themselves are in backend-cuda-ops.c, the device code in kernels/. Nothing here aborts:
 * every CUDA or cuBLAS failure becomes a GError (out of memory as IVL_ERROR_OUT_OF_MEMORY
 * with the sizes). */
#include "backend-cuda-private.h"

#include "gpu-memory-plan.h"
#include "ivl.h"
#include "quantize.h"

#include <stdarg.h>
#include <string.h>

G_STATIC_ASSERT((int)IVL_DTYPE_F32 == (int)IVL_CUDA_F32);
G_STATIC_ASSERT((int)IVL_DTYPE_F16 == (int)IVL_CUDA_F16);
G_STATIC_ASSERT((int)IVL_DTYPE_BF16 == (int)IVL_CUDA_BF16);
G_STATIC_ASSERT((int)IVL_DTYPE_I32 == (int)IVL_CUDA_I32);
G_STATIC_ASSERT((int)IVL_DTYPE_Q8 == (int)IVL_CUDA_Q8);
G_STATIC_ASSERT((int)IVL_DTYPE_Q4 == (int)IVL_CUDA_Q4);

#define CUBLAS_WORKSPACE_BYTES ((size_t)32 << 20)
/* Weights converted on upload pass through staging in chunks of this many elements. */
#define UPLOAD_CHUNK ((int64_t)16 << 20)

static double mib(size_t bytes)
{
  return (double)bytes / (1024.0 * 1024.0);
}

void ivl_cuda_fail(CudaBackend *self, int code, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  ivl_backend_set_error(&self->base, g_error_new_valist(IVL_ERROR, code, fmt, ap));
  va_end(ap);
}

/* asked == 0: the size is not known here (cuBLAS or a launch ran out). */
static GError *oom_error(size_t asked, const char *what, const char *device_name)
{
  size_t free_b = 0, total_b = 0;
  cudaGetLastError(); /* an allocation failure is not sticky: clear it */
  cudaMemGetInfo(&free_b, &total_b);
  g_autofree char *ask = asked ? g_strdup_printf("asked for %.1f MiB, ", mib(asked)) : g_strdup("");
  return g_error_new(IVL_ERROR, IVL_ERROR_OUT_OF_MEMORY,
                     "GPU out of memory on %s (%s): %s%.1f MiB free of %.1f MiB", device_name, what,
                     ask, mib(free_b), mib(total_b));
}

gboolean ivl_cuda_check(CudaBackend *self, cudaError_t err, const char *what)
{
  if (err == cudaSuccess)
    return TRUE;
  if (err == cudaErrorMemoryAllocation)
    ivl_backend_set_error(&self->base, oom_error(0, what, self->name));
  else
    ivl_cuda_fail(self, IVL_ERROR_BACKEND, "CUDA %s failed on %s: %s", what, self->name,
                  cudaGetErrorString(err));
  return FALSE;
}

gboolean ivl_cuda_check_blas(CudaBackend *self, cudaError_t err, cublasStatus_t status,
                             const char *what)
{
  if (status == CUBLAS_STATUS_ALLOC_FAILED)
    return ivl_cuda_check(self, cudaErrorMemoryAllocation, what);
  if (status != CUBLAS_STATUS_SUCCESS) {
    ivl_cuda_fail(self, IVL_ERROR_BACKEND, "cuBLAS %s failed on %s: %s (%s)", what, self->name,
                  cublasGetStatusString(status), cublasGetStatusName(status));
    return FALSE;
  }
  return ivl_cuda_check(self, err, what);
}

static void pool_drain(CudaBackend *self);

static void *device_alloc(CudaBackend *self, size_t bytes, GError **error)
{
  void *p = NULL;
  cudaError_t err = cudaMalloc(&p, bytes ? bytes : 1);
  if (err == cudaErrorMemoryAllocation && self->pool != NULL && g_hash_table_size(self->pool) > 0) {
    /* The pooled buffers are the first memory to give back. */
    cudaGetLastError();
    pool_drain(self);
    err = cudaMalloc(&p, bytes ? bytes : 1);
  }
  if (err == cudaErrorMemoryAllocation) {
    g_propagate_error(error, oom_error(bytes, "allocation", self->name));
    return NULL;
  }
  if (err != cudaSuccess) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_BACKEND, "cudaMalloc of %.1f MiB failed on %s: %s",
                mib(bytes), self->name, cudaGetErrorString(err));
    return NULL;
  }
  return p;
}

static gboolean any_graph(const CudaBackend *self)
{
  for (int g = 0; g < IVL_BACKEND_MAX_GRAPHS; g++)
    if (self->graph[g] != NULL)
      return TRUE;
  return FALSE;
}

/* A buffer a recording or a recorded graph may reference stays allocated until the graph
 * goes. The caller's tensors are its business once the recording ends (backend.h); the
 * backend's own scratch buffers (`scratch`) a graph may hold on to at any time. */
static void device_release(CudaBackend *self, void *p, gboolean scratch)
{
  if (p == NULL)
    return;
  if (self->recording || (scratch && any_graph(self)))
    g_ptr_array_add(self->retired, p);
  else
    cudaFree(p);
}

gboolean ivl_cuda_reserve(CudaBackend *self, void **buf, size_t *size, size_t need)
{
  if (*size >= need)
    return TRUE;
  need = MAX(need, 2 * *size);
  GError *error = NULL;
  void *p = device_alloc(self, need, &error);
  if (p == NULL) {
    ivl_backend_set_error(&self->base, error);
    return FALSE;
  }
  device_release(self, *buf, TRUE);
  *buf = p;
  *size = need;
  return TRUE;
}

/* -- tensors -- */

static gboolean is_quant(ivl_dtype dtype)
{
  return dtype == IVL_DTYPE_Q8 || dtype == IVL_DTYPE_Q4;
}

/* -- the pool of freed tensors' memory -- */

static void pool_put(CudaBackend *self, void *p, size_t bytes)
{
  GPtrArray *list = g_hash_table_lookup(self->pool, GSIZE_TO_POINTER(bytes));
  if (list == NULL) {
    list = g_ptr_array_new();
    g_hash_table_insert(self->pool, GSIZE_TO_POINTER(bytes), list);
  }
  g_ptr_array_add(list, p);
}

static void *pool_take(CudaBackend *self, size_t bytes)
{
  GPtrArray *list = g_hash_table_lookup(self->pool, GSIZE_TO_POINTER(bytes));
  if (list == NULL || list->len == 0)
    return NULL;
  return g_ptr_array_steal_index_fast(list, list->len - 1);
}

static void pool_drain(CudaBackend *self)
{
  GHashTableIter it;
  gpointer key, value;
  g_hash_table_iter_init(&it, self->pool);
  while (g_hash_table_iter_next(&it, &key, &value)) {
    GPtrArray *list = value;
    for (guint i = 0; i < list->len; i++)
      cudaFree(list->pdata[i]);
    g_ptr_array_unref(list);
    g_hash_table_iter_remove(&it);
  }
}

/* A tensor of any dtype, quantized layouts included (ivl_tensor_nbytes bytes). */
static ivl_tensor *tensor_alloc(ivl_backend *be, ivl_dtype dtype, int64_t rows, int64_t cols,
                                GError **error)
{
  if (rows < 0 || cols < 0 || (is_quant(dtype) && !ivl_quant_fits(dtype, rows, cols))) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_INVALID_ARGUMENT,
                "tensor of %" G_GINT64_FORMAT " x %" G_GINT64_FORMAT "%s", rows, cols,
                is_quant(dtype) ? " cannot be quantized (4-bit needs columns in groups of 32)"
                                : "");
    return NULL;
  }
  CudaBackend *self = cuda_enter(be);
  const size_t bytes = ivl_tensor_nbytes(dtype, rows, cols);
  void *data = pool_take(self, bytes);
  if (data == NULL)
    data = device_alloc(self, bytes, error);
  if (data == NULL)
    return NULL;
  ivl_tensor *t = g_new0(ivl_tensor, 1);
  *t = (ivl_tensor){be, dtype, rows, cols, data, TRUE, NULL, 0};
  return t;
}

static ivl_tensor *cuda_tensor_new(ivl_backend *be, ivl_dtype dtype, int64_t rows, int64_t cols,
                                   GError **error)
{
  if (is_quant(dtype)) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_UNSUPPORTED,
                "quantized tensors are weights: only weight_from_host makes them");
    return NULL;
  }
  return tensor_alloc(be, dtype, rows, cols, error);
}

static void cuda_tensor_free(ivl_backend *be, ivl_tensor *t)
{
  if (t == NULL)
    return;
  CudaBackend *self = cuda_enter(be);
  /* Its memory may come back as another weight: its expansion is no longer its. */
  for (int i = 0; i < IVL_CUDA_DEQUANT_SLOTS; i++)
    if (self->dequant[i].weight == t->data)
      self->dequant[i].weight = NULL;
  if (t->owns_data && self->recording)
    device_release(self, t->data, FALSE);
  else if (t->owns_data)
    pool_put(self, t->data, ivl_tensor_nbytes(t->dtype, t->rows, t->cols));
  g_free(t);
}

static gboolean recording_refuses(CudaBackend *self, const char *what, GError **error)
{
  if (!self->recording)
    return FALSE;
  g_set_error(error, IVL_ERROR, IVL_ERROR_INVALID_ARGUMENT,
              "%s waits for the device and cannot be part of a recorded graph", what);
  return TRUE;
}

/* Takes the backend's recorded failure (if any) or this call's. */
static gboolean transfer_result(CudaBackend *self, GError **error)
{
  return ivl_backend_take_error(&self->base, error);
}

static ivl_tensor *cuda_weight_from_host(ivl_backend *be, ivl_dtype dtype, int64_t rows,
                                         int64_t cols, const void *host, GError **error)
{
  CudaBackend *self = cuda_enter(be);
  /* Quantized weights stay in their layout: the matmul reads it (kernels/gemv-quant.cu). */
  const ivl_dtype dev = dtype == IVL_DTYPE_I32 || is_quant(dtype) ? dtype : IVL_DTYPE_BF16;
  ivl_tensor *t = tensor_alloc(be, dev, rows, cols, error);
  if (t == NULL)
    return NULL;
  const int64_t n = rows * cols;
  if (dtype == dev) {
    ivl_cuda_check(self,
                   cudaMemcpyAsync(t->data, host, ivl_tensor_nbytes(dtype, rows, cols),
                                   cudaMemcpyHostToDevice, self->stream),
                   "weight upload");
  } else {
    const size_t esz = ivl_dtype_size(dtype);
    for (int64_t i = 0; i < n && self->base.error == NULL; i += UPLOAD_CHUNK) {
      const int64_t m = MIN(UPLOAD_CHUNK, n - i);
      if (!ivl_cuda_reserve(self, &self->staging, &self->staging_size, (size_t)m * esz))
        break;
      if (ivl_cuda_check(self,
                         cudaMemcpyAsync(self->staging, (const char *)host + i * esz,
                                         (size_t)m * esz, cudaMemcpyHostToDevice, self->stream),
                         "weight upload"))
        ivl_cuda_check(self,
                       ivl_cuda_convert((uint16_t *)t->data + i, IVL_CUDA_BF16, self->staging,
                                        (ivl_cuda_dtype)dtype, m, self->stream),
                       "weight conversion to bf16");
    }
  }
  if (!transfer_result(self, error)) {
    cuda_tensor_free(be, t);
    return NULL;
  }
  return t;
}

static gboolean rows_in_range(const ivl_tensor *t, int64_t row0, int64_t n_rows, GError **error)
{
  if (row0 >= 0 && n_rows >= 0 && row0 + n_rows <= t->rows)
    return TRUE;
  g_set_error(error, IVL_ERROR, IVL_ERROR_INVALID_ARGUMENT,
              "rows %" G_GINT64_FORMAT "+%" G_GINT64_FORMAT
              " outside a tensor of %" G_GINT64_FORMAT,
              row0, n_rows, t->rows);
  return FALSE;
}

static gboolean cuda_upload_f32(ivl_backend *be, ivl_tensor *t, int64_t row0, int64_t n_rows,
                                const float *host, GError **error)
{
  CudaBackend *self = cuda_enter(be);
  if (recording_refuses(self, "upload_f32", error) || !rows_in_range(t, row0, n_rows, error))
    return FALSE;
  if (t->dtype == IVL_DTYPE_I32 || is_quant(t->dtype)) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_UNSUPPORTED, "f32 upload into %s",
                t->dtype == IVL_DTYPE_I32
                    ? "an i32 tensor"
                    : "a quantized tensor (only weight_from_host makes them)");
    return FALSE;
  }
  const int64_t n = n_rows * t->cols;
  char *dst = (char *)t->data + row0 * t->cols * ivl_dtype_size(t->dtype);
  if (t->dtype == IVL_DTYPE_F32) {
    ivl_cuda_check(self,
                   cudaMemcpyAsync(dst, host, (size_t)n * 4, cudaMemcpyHostToDevice, self->stream),
                   "upload");
  } else if (ivl_cuda_reserve(self, &self->staging, &self->staging_size, (size_t)n * 4) &&
             ivl_cuda_check(self,
                            cudaMemcpyAsync(self->staging, host, (size_t)n * 4,
                                            cudaMemcpyHostToDevice, self->stream),
                            "upload")) {
    ivl_cuda_check(self,
                   ivl_cuda_convert(dst, (ivl_cuda_dtype)t->dtype, self->staging, IVL_CUDA_F32, n,
                                    self->stream),
                   "upload conversion");
  }
  return transfer_result(self, error);
}

static gboolean cuda_download_f32(ivl_backend *be, const ivl_tensor *t, int64_t row0,
                                  int64_t n_rows, float *host, GError **error)
{
  CudaBackend *self = cuda_enter(be);
  if (recording_refuses(self, "download_f32", error) || !rows_in_range(t, row0, n_rows, error))
    return FALSE;
  if (t->dtype == IVL_DTYPE_I32 || is_quant(t->dtype)) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_UNSUPPORTED, "f32 download of %s",
                t->dtype == IVL_DTYPE_I32 ? "an i32 tensor" : "a quantized tensor");
    return FALSE;
  }
  const int64_t n = n_rows * t->cols;
  const char *src = (const char *)t->data + row0 * t->cols * ivl_dtype_size(t->dtype);
  if (t->dtype != IVL_DTYPE_F32) {
    if (ivl_cuda_reserve(self, &self->staging, &self->staging_size, (size_t)n * 4) &&
        ivl_cuda_check(self,
                       ivl_cuda_convert(self->staging, IVL_CUDA_F32, src, (ivl_cuda_dtype)t->dtype,
                                        n, self->stream),
                       "download conversion"))
      src = self->staging;
  }
  if (self->base.error == NULL &&
      ivl_cuda_check(
          self, cudaMemcpyAsync(host, src, (size_t)n * 4, cudaMemcpyDeviceToHost, self->stream),
          "download"))
    ivl_cuda_check(self, cudaStreamSynchronize(self->stream), "synchronize");
  return transfer_result(self, error);
}

static gboolean cuda_synchronize(ivl_backend *be, GError **error)
{
  CudaBackend *self = cuda_enter(be);
  if (recording_refuses(self, "synchronize", error))
    return FALSE;
  ivl_cuda_check(self, cudaStreamSynchronize(self->stream), "synchronize");
  return transfer_result(self, error);
}

/* -- graphs -- */

/* Drops graph g (-1: all); the retired buffers go once no graph may use them. */
static void graph_drop(CudaBackend *self, int g)
{
  for (int i = 0; i < IVL_BACKEND_MAX_GRAPHS; i++) {
    if ((g < 0 || i == g) && self->graph[i] != NULL) {
      cudaGraphExecDestroy(self->graph[i]);
      self->graph[i] = NULL;
    }
  }
  if (!self->recording && !any_graph(self)) {
    for (guint i = 0; i < self->retired->len; i++)
      cudaFree(self->retired->pdata[i]);
    g_ptr_array_set_size(self->retired, 0);
  }
}

static gboolean cuda_graph_begin(ivl_backend *be, int graph, int64_t pos, GError **error)
{
  CudaBackend *self = cuda_enter(be);
  if (self->recording || pos < 0 || pos > G_MAXINT32 || graph < 0 ||
      graph >= IVL_BACKEND_MAX_GRAPHS) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_INVALID_ARGUMENT,
                self->recording ? "a graph is already being recorded"
                                : "graph %d at position %" G_GINT64_FORMAT " out of range",
                graph, pos);
    return FALSE;
  }
  if (!ivl_backend_take_error(be, error))
    return FALSE;
  ivl_cuda_check(self, cudaStreamSynchronize(self->stream), "synchronize");
  graph_drop(self, graph);
  /* Relaxed: an op may still grow a scratch buffer (cudaMalloc) while recording. */
  if (ivl_cuda_check(self, cudaStreamBeginCapture(self->stream, cudaStreamCaptureModeRelaxed),
                     "graph capture")) {
    self->recording = TRUE;
    self->rec_graph = graph;
    self->rec_pos = pos;
    self->rec_n_ids = -1;
    self->rec_table_rows = G_MAXINT64;
  }
  return ivl_backend_take_error(be, error);
}

static gboolean cuda_graph_end(ivl_backend *be, GError **error)
{
  CudaBackend *self = cuda_enter(be);
  if (!self->recording) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_INVALID_ARGUMENT, "no graph is being recorded");
    return FALSE;
  }
  const int g = self->rec_graph;
  cudaGraph_t graph = NULL;
  const cudaError_t err = cudaStreamEndCapture(self->stream, &graph);
  self->recording = FALSE;
  if (ivl_cuda_check(self, err, "graph capture") && self->base.error == NULL &&
      ivl_cuda_check(self, cudaGraphInstantiate(&self->graph[g], graph, 0),
                     "graph instantiation")) {
    self->graph_n_ids[g] = self->rec_n_ids < 0 ? 0 : self->rec_n_ids;
    self->graph_table_rows[g] = self->rec_table_rows;
  }
  if (graph != NULL)
    cudaGraphDestroy(graph);
  if (self->base.error != NULL)
    graph_drop(self, g);
  return ivl_backend_take_error(be, error);
}

static gboolean cuda_graph_replay(ivl_backend *be, int graph, int64_t pos, const int32_t *ids,
                                  int64_t n_ids, double rope_theta, GError **error)
{
  CudaBackend *self = cuda_enter(be);
  if (graph < 0 || graph >= IVL_BACKEND_MAX_GRAPHS || self->graph[graph] == NULL ||
      self->recording) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_INVALID_ARGUMENT, "no recorded graph to replay");
    return FALSE;
  }
  if (n_ids != self->graph_n_ids[graph] || pos < 0 || pos > G_MAXINT32) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_INVALID_ARGUMENT,
                "graph replay with %" G_GINT64_FORMAT " ids at %" G_GINT64_FORMAT
                " (recorded with %" G_GINT64_FORMAT " ids)",
                n_ids, pos, self->graph_n_ids[graph]);
    return FALSE;
  }
  int32_t step[IVL_CUDA_STEP_IDS + IVL_CUDA_MAX_GRAPH_IDS];
  const float theta = (float)rope_theta;
  step[0] = (int32_t)pos;
  memcpy(&step[1], &theta, sizeof theta);
  for (int64_t i = 0; i < n_ids; i++) {
    if (ids[i] < 0 || ids[i] >= self->graph_table_rows[graph]) {
      g_set_error(error, IVL_ERROR, IVL_ERROR_INVALID_ARGUMENT,
                  "token id %d outside the table of %" G_GINT64_FORMAT " rows", ids[i],
                  self->graph_table_rows[graph]);
      return FALSE;
    }
    step[IVL_CUDA_STEP_IDS + i] = ids[i];
  }
  if (ivl_cuda_check(self,
                     cudaMemcpyAsync(self->step, step, (size_t)(IVL_CUDA_STEP_IDS + n_ids) * 4,
                                     cudaMemcpyHostToDevice, self->stream),
                     "graph step upload"))
    ivl_cuda_check(self, cudaGraphLaunch(self->graph[graph], self->stream), "graph launch");
  return ivl_backend_take_error(be, error);
}

/* -- a model split over devices -- */

/* Makes `waiter`'s stream wait for the work enqueued on `self`'s so far: the event is
 * recorded on its own device, the wait enqueued on the waiter's (left current). */
static gboolean wait_for(CudaBackend *waiter, CudaBackend *self)
{
  cudaSetDevice(self->device);
  const cudaError_t err = cudaEventRecord(self->done, self->stream);
  cudaSetDevice(waiter->device);
  return ivl_cuda_check(waiter, err, "event record") &&
         ivl_cuda_check(waiter, cudaStreamWaitEvent(waiter->stream, self->done, 0), "stream wait");
}

/* Peer to peer where the devices allow it (enabled once, on first use), through pinned host
 * memory otherwise: src's stream copies down, this one waits and copies up. Each stream then
 * waits for the other, so that neither overwrites what the other still reads. */
static void cuda_copy_rows_from(ivl_backend *be, ivl_tensor *dst, int64_t dst_row0,
                                const ivl_tensor *src, int64_t src_row0, int64_t n_rows)
{
  CudaBackend *self = cuda_enter(be);
  CudaBackend *from = cuda_backend(src->backend);
  if (self->recording || from->recording) {
    ivl_cuda_fail(self, IVL_ERROR_INVALID_ARGUMENT,
                  "copy_rows_from cannot be part of a recorded graph");
    return;
  }
  if (src->dtype != dst->dtype || src->cols != dst->cols || src_row0 < 0 || dst_row0 < 0 ||
      n_rows < 0 || src_row0 + n_rows > src->rows || dst_row0 + n_rows > dst->rows) {
    ivl_cuda_fail(self, IVL_ERROR_INVALID_ARGUMENT, "copy_rows_from of mismatched tensors");
    return;
  }
  const size_t row = ivl_tensor_nbytes(dst->dtype, 1, dst->cols);
  const size_t bytes = row * (size_t)n_rows;
  char *d = (char *)dst->data + row * (size_t)dst_row0;
  const char *s = (const char *)src->data + row * (size_t)src_row0;
  int peer = self->device == from->device;
  if (!peer && cudaDeviceCanAccessPeer(&peer, self->device, from->device) != cudaSuccess)
    peer = 0;
  if (peer && self->device != from->device) {
    /* this device reads the other's memory: enabled here, once (the error says so after) */
    const cudaError_t err = cudaDeviceEnablePeerAccess(from->device, 0);
    if (err == cudaErrorPeerAccessAlreadyEnabled)
      cudaGetLastError();
    else if (err != cudaSuccess)
      cudaGetLastError(), peer = 0;
  }
  if (peer) {
    if (wait_for(self, from))
      ivl_cuda_check(self,
                     cudaMemcpyPeerAsync(d, self->device, s, from->device, bytes, self->stream),
                     "peer copy");
  } else if (self->host_stage_size < bytes) {
    /* nothing may still read the old stage: this is the only stream reading it */
    const size_t size = MAX(bytes, 2 * self->host_stage_size);
    ivl_cuda_check(self, cudaStreamSynchronize(self->stream), "synchronize");
    cudaFreeHost(self->host_stage);
    self->host_stage = NULL;
    self->host_stage_size = 0;
    if (ivl_cuda_check(self, cudaMallocHost(&self->host_stage, size), "pinned host buffer"))
      self->host_stage_size = size;
  }
  if (!peer && self->host_stage != NULL && self->base.error == NULL) {
    /* the stage is free once this stream has read the last rows staged in it */
    const gboolean down =
        wait_for(from, self) &&
        ivl_cuda_check(
            self, cudaMemcpyAsync(self->host_stage, s, bytes, cudaMemcpyDeviceToHost, from->stream),
            "copy to the host");
    if (down && wait_for(self, from))
      ivl_cuda_check(
          self, cudaMemcpyAsync(d, self->host_stage, bytes, cudaMemcpyHostToDevice, self->stream),
          "copy from the host");
  }
  /* the source side must not overwrite its rows (or the stage) before the copy is done */
  if (self->base.error == NULL)
    wait_for(from, self);
  cudaSetDevice(self->device);
}

/* -- setup -- */

static void cuda_free(ivl_backend *be)
{
  CudaBackend *self = cuda_backend(be);
  if (self == NULL)
    return;
  cudaSetDevice(self->device);
  if (self->recording) {
    cudaGraph_t graph = NULL;
    cudaStreamEndCapture(self->stream, &graph);
    if (graph != NULL)
      cudaGraphDestroy(graph);
    self->recording = FALSE;
  }
  if (self->stream != NULL)
    cudaStreamSynchronize(self->stream);
  graph_drop(self, -1);
  g_ptr_array_unref(self->retired);
  if (self->pool != NULL) {
    pool_drain(self);
    g_hash_table_unref(self->pool);
  }
  void *buffers[] = {self->staging,   self->ids,      self->attn_workspace, self->argmax_out,
                     self->topk_seen, self->topk_out, self->step,           self->cublas_workspace};
  for (gsize i = 0; i < G_N_ELEMENTS(buffers); i++)
    cudaFree(buffers[i]);
  for (int i = 0; i < IVL_CUDA_DEQUANT_SLOTS; i++)
    cudaFree(self->dequant[i].buf);
  cudaFreeHost(self->host_stage);
  if (self->done != NULL)
    cudaEventDestroy(self->done);
  if (self->cublas != NULL)
    cublasDestroy(self->cublas);
  if (self->stream != NULL)
    cudaStreamDestroy(self->stream);
  g_clear_error(&self->base.error);
  g_free(self);
}

static const ivl_backend_ops *cuda_ops(void)
{
  static ivl_backend_ops ops;
  static gsize ready = 0;
  if (g_once_init_enter(&ready)) {
    ops.name = "cuda";
    ops.free = cuda_free;
    ops.tensor_new = cuda_tensor_new;
    ops.weight_from_host = cuda_weight_from_host;
    ops.tensor_free = cuda_tensor_free;
    ops.upload_f32 = cuda_upload_f32;
    ops.download_f32 = cuda_download_f32;
    ops.synchronize = cuda_synchronize;
    ops.graph_begin = cuda_graph_begin;
    ops.graph_end = cuda_graph_end;
    ops.graph_replay = cuda_graph_replay;
    ops.copy_rows_from = cuda_copy_rows_from;
    ivl_cuda_backend_set_ops(&ops);
    g_once_init_leave(&ready, 1);
  }
  return &ops;
}

/* The device, checked usable: a driver, the device present, compute capability 8.0+ (bf16
 * and the architectures the kernels are built for). */
static gboolean open_device(int device, char *name, size_t name_size, GError **error)
{
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess || count == 0) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_UNSUPPORTED, "no CUDA device: %s",
                err == cudaErrorInsufficientDriver
                    ? "no NVIDIA driver new enough for this CUDA runtime"
                      " (libcuda.so.1 is missing or older)"
                : err != cudaSuccess ? cudaGetErrorString(err)
                                     : "the driver lists none");
    cudaGetLastError();
    return FALSE;
  }
  struct cudaDeviceProp prop;
  if (device < 0 || device >= count || cudaGetDeviceProperties(&prop, device) != cudaSuccess) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_UNSUPPORTED, "no CUDA device %d (%d present)", device,
                count);
    return FALSE;
  }
  g_snprintf(name, name_size, "GPU %d (%s)", device, prop.name);
  if (prop.major < 8) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_UNSUPPORTED,
                "%s has compute capability %d.%d; ivl needs 8.0 or newer", name, prop.major,
                prop.minor);
    return FALSE;
  }
  err = cudaSetDevice(device);
  if (err != cudaSuccess) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_UNSUPPORTED, "cannot use %s: %s", name,
                cudaGetErrorString(err));
    return FALSE;
  }
  return TRUE;
}

static gboolean setup_handles(CudaBackend *self, GError **error)
{
  cudaError_t err = cudaStreamCreateWithFlags(&self->stream, cudaStreamNonBlocking);
  if (err == cudaSuccess)
    err = cudaEventCreateWithFlags(&self->done, cudaEventDisableTiming);
  if (err == cudaSuccess)
    self->cublas_workspace = device_alloc(self, CUBLAS_WORKSPACE_BYTES, error);
  if (err == cudaSuccess && self->cublas_workspace != NULL)
    self->step =
        device_alloc(self, (IVL_CUDA_STEP_IDS + IVL_CUDA_MAX_GRAPH_IDS) * sizeof(int32_t), error);
  if (err == cudaSuccess && self->step != NULL)
    self->argmax_out = device_alloc(self, sizeof(int32_t), error);
  if (err != cudaSuccess) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_BACKEND, "cannot create a CUDA stream on %s: %s",
                self->name, cudaGetErrorString(err));
    return FALSE;
  }
  if (self->argmax_out == NULL)
    return FALSE;
  /* cuBLAS gets a fixed workspace so that it never allocates while a graph records. */
  /* The stream once, then the workspace: cublasSetStream resets the workspace to cuBLAS's own
   * pool, so nothing calls it again (ivl_cuda_matmul checks the stream instead). */
  if (cublasCreate(&self->cublas) != CUBLAS_STATUS_SUCCESS ||
      cublasSetStream(self->cublas, self->stream) != CUBLAS_STATUS_SUCCESS ||
      cublasSetWorkspace(self->cublas, self->cublas_workspace, CUBLAS_WORKSPACE_BYTES) !=
          CUBLAS_STATUS_SUCCESS) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_BACKEND, "cannot initialise cuBLAS on %s", self->name);
    return FALSE;
  }
  return TRUE;
}

/* One kernel launched and waited for: a GPU newer than every architecture this build has
 * code for (no PTX it can compile either) fails here, when "auto" can still pick the CPU,
 * instead of at its first op halfway through loading a model. */
static gboolean probe_kernels(CudaBackend *self, GError **error)
{
  cudaError_t err = ivl_cuda_probe(self->argmax_out, self->stream);
  if (err == cudaSuccess)
    err = cudaStreamSynchronize(self->stream);
  if (err == cudaSuccess)
    return TRUE;
  cudaGetLastError();
  g_set_error(error, IVL_ERROR, IVL_ERROR_UNSUPPORTED, "%s cannot run ivl's CUDA kernels: %s%s",
              self->name, cudaGetErrorString(err),
              err == cudaErrorNoKernelImageForDevice
                  ? " (this build has no code for its architecture: rebuild with it in gpu_archs)"
                  : "");
  return FALSE;
}

ivl_backend *ivl_backend_cuda_new(int device, GError **error)
{
  char name[256];
  if (!open_device(device, name, sizeof name, error))
    return NULL;
  CudaBackend *self = g_new0(CudaBackend, 1);
  self->base.ops = cuda_ops();
  self->base.act_dtype = IVL_DTYPE_BF16;
  self->device = device;
  g_strlcpy(self->name, name, sizeof self->name);
  self->retired = g_ptr_array_new();
  self->pool = g_hash_table_new(g_direct_hash, g_direct_equal);
  if (!setup_handles(self, error) || !probe_kernels(self, error)) {
    cuda_free(&self->base);
    return NULL;
  }
  return &self->base;
}

int ivl_backend_cuda_device_count(GError **error)
{
  char name[256];
  int count = 0;
  if (!open_device(0, name, sizeof name, error))
    return 0;
  cudaGetDeviceCount(&count);
  return count;
}

gboolean ivl_backend_cuda_device_memory(int device, char **name, guint64 *free_bytes,
                                        guint64 *total_bytes, GError **error)
{
  char label[256];
  if (!open_device(device, label, sizeof label, error))
    return FALSE;
  size_t free_b = 0, total_b = 0;
  const cudaError_t err = cudaMemGetInfo(&free_b, &total_b);
  if (err != cudaSuccess) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_BACKEND, "cannot read the free memory of %s: %s", label,
                cudaGetErrorString(err));
    return FALSE;
  }
  if (name)
    *name = g_strdup(label);
  *free_bytes = free_b;
  *total_bytes = total_b;
  return TRUE;
}

gboolean ivl_backend_cuda_check_memory(int device, const ivl_gpu_memory_plan *plan, GError **error)
{
  g_autofree char *name = NULL;
  guint64 free_b, total_b;
  return ivl_backend_cuda_device_memory(device, &name, &free_b, &total_b, error) &&
         ivl_gpu_memory_plan_check(plan, name, free_b, total_b, error);
}
