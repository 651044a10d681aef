/* backend-cuda-private.h — the CUDA backend's state, shared by backend-cuda.c (device,
 * memory, graphs) and backend-cuda-ops.c (the ops). */
#ifndef IVL_BACKEND_CUDA_PRIVATE_H
#define IVL_BACKEND_CUDA_PRIVATE_H

#include "ivl-config.h"

#include "backend.h"
#include "ivl-cuda.h"

/* get_rows ids a recorded graph can take per replay, and where they start in `step`. */
#define IVL_CUDA_MAX_GRAPH_IDS 256
#define IVL_CUDA_STEP_IDS 2

/* A language layer's Linear matrices: q, k, v, o, gate, up, down. */
#define IVL_CUDA_DEQUANT_SLOTS 7

typedef struct {
  ivl_backend base;
  int device;
  char name[256];
  cudaStream_t stream;
  cublasHandle_t cublas;
  void *cublas_workspace;

  /* Scratch that grows on demand: f32 staging for conversions, get_rows ids, attention
   * partials, quantized weights expanded to bf16 for cuBLAS. Buffers a recording may still
   * use are retired, not freed, while it lasts. */
  void *staging;
  size_t staging_size;
  int32_t *ids;
  size_t ids_size;
  void *attn_workspace;
  size_t attn_workspace_size;
  /* The last IVL_CUDA_DEQUANT_SLOTS expansions, each kept with the weight it expands: a
   * prompt runs each layer over all its chunks before the next (language.c), so one layer's
   * seven matrices are expanded once per prompt rather than once per chunk. */
  struct {
    void *buf;
    size_t size;
    const void *weight; /* NULL: holds nothing reusable */
    guint64 used;
  } dequant[IVL_CUDA_DEQUANT_SLOTS];
  guint64 dequant_clock;
  int32_t *argmax_out;
  void *topk_seen; /* seen flags (vocabulary bytes), then the seen ids */
  size_t topk_seen_size;
  void *topk_out; /* count, then values, then ids */
  size_t topk_out_size;
  GPtrArray *retired; /* device pointers freed with the graph or the backend */
  /* Freed tensors' memory by size (bytes -> GPtrArray of pointers), reused by the next tensor
   * of that size: the vision batches and the projector free and allocate the same sizes
   * every batch, and cudaFree waits for the whole device. */
  GHashTable *pool;

  /* Graph recording and replay: step[0] is the position, step[1] the RoPE theta (f32 bits),
   * step[IVL_CUDA_STEP_IDS..] the ids. */
  int32_t *step;
  gboolean recording;
  int64_t rec_pos;
  int64_t rec_n_ids;      /* -1: no get_rows recorded */
  int64_t rec_table_rows; /* smallest table a recorded get_rows reads */
  int rec_graph;          /* the number being recorded */
  cudaGraphExec_t graph[IVL_BACKEND_MAX_GRAPHS];
  int64_t graph_n_ids[IVL_BACKEND_MAX_GRAPHS];
  int64_t graph_table_rows[IVL_BACKEND_MAX_GRAPHS];

  /* copy_rows_from: `done` marks this stream's work for another device's stream to wait on;
   * host_stage is pinned memory for devices without peer access. */
  cudaEvent_t done;
  void *host_stage;
  size_t host_stage_size;
} CudaBackend;

static inline CudaBackend *cuda_backend(ivl_backend *be)
{
  return (CudaBackend *)be;
}

/* The backend, its device made current first: a model split over devices runs several
 * backends from one thread, and a launch or cuBLAS call goes to the current device. */
static inline CudaBackend *cuda_enter(ivl_backend *be)
{
  CudaBackend *self = (CudaBackend *)be;
  cudaSetDevice(self->device);
  return self;
}

/* Records a failure on the backend (first one wins). */
void ivl_cuda_fail(CudaBackend *self, int code, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
/* FALSE (and a recorded failure naming `what`) when err is not cudaSuccess. */
gboolean ivl_cuda_check(CudaBackend *self, cudaError_t err, const char *what);
/* The same for a launcher that calls cuBLAS: its status, when not success, says why. */
gboolean ivl_cuda_check_blas(CudaBackend *self, cudaError_t err, cublasStatus_t status,
                             const char *what);
/* Makes *buf hold at least `need` bytes, growing it on the device to twice its size at least, so
 * that a buffer growing with the context (the attention workspace) is reallocated a few
 * times, not every 256 tokens. */
gboolean ivl_cuda_reserve(CudaBackend *self, void **buf, size_t *size, size_t need);

void ivl_cuda_backend_set_ops(ivl_backend_ops *ops);

#endif /* IVL_BACKEND_CUDA_PRIVATE_H */
