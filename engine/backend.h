/* backend.h — the small interface the model code runs on (internal to libivl).
 *
 * The model (vision, projector, language) is written once against these ops; backend-cpu.c
 * and backend-cuda.c implement them. Nothing outside a backend knows where memory lives.
 *
 * Tensors are 2-D, row-major and contiguous: [rows, cols]. Higher-rank PyTorch tensors are
 * viewed as matrices (a conv weight [Dv,3,14,14] is [Dv, 588]; a batch of N sequences of T
 * tokens is [N*T, D]). Weights keep their file dtype (bf16/f16/f32); activations use the
 * backend's act_dtype (f32 on the CPU, bf16 on CUDA) and every reduction accumulates in f32.
 *
 * Ops are enqueued in order and may run asynchronously; download() and synchronize() wait.
 * A failing op records the first error on the backend; ivl_backend_take_error() returns it,
 * so model code checks once per layer rather than after every call.
 */
#ifndef IVL_BACKEND_H
#define IVL_BACKEND_H

#include <glib.h>
#include <stdint.h>

#include "gpu-memory-plan.h"

typedef enum {
  IVL_DTYPE_F32,
  IVL_DTYPE_F16,
  IVL_DTYPE_BF16,
  IVL_DTYPE_I32,
  /* Quantized Linear weights (only matmul's w takes them); layouts in quantize.h. */
  IVL_DTYPE_Q8, /* int8, one f32 scale per row */
  IVL_DTYPE_Q4, /* 4-bit, one f16 scale per 32 values of a row */
} ivl_dtype;

/* Bytes per element of the plain dtypes; 0 for the quantized ones (quantize.h). */
size_t ivl_dtype_size(ivl_dtype dtype);

typedef struct ivl_backend ivl_backend;

typedef struct {
  ivl_backend *backend;
  ivl_dtype dtype;
  int64_t rows, cols;
  void *data;         /* host pointer (CPU) or device pointer (CUDA) */
  gboolean owns_data; /* FALSE for weights used in place from a mapped file */
  /* NULL, or the backend's own layout of a weight, which data does not hold then (the CPU's
   * compact bf16, cpu-compact-bf16.h): only that backend's ops read it, from row layout_row0
   * of it on (a view of rows, tensor-view.h) */
  void *layout;
  int64_t layout_row0;
} ivl_tensor;

typedef struct {
  float temperature; /* <= 0: greedy */
  int top_k;         /* 0: off */
  float top_p;       /* >= 1: off */
} ivl_sample_params;

/* Recorded graphs one backend keeps at once. */
#define IVL_BACKEND_MAX_GRAPHS 2

typedef struct ivl_backend_ops {
  const char *name; /* "cpu", "cuda" */

  void (*free)(ivl_backend *be);

  /* -- memory -- */
  ivl_tensor *(*tensor_new)(ivl_backend *be, ivl_dtype dtype, int64_t rows, int64_t cols,
                            GError **error);
  /* A weight from host memory (e.g. the mmapped file): the CPU uses it in place, CUDA copies
   * it to the device (converting to bf16 where asked by the backend). Quantized weights
   * (Q8, Q4) are copied on every backend: the loader quantizes into a temporary buffer (the
   * CPU copies them into its own panel layout when its integer products are on). */
  ivl_tensor *(*weight_from_host)(ivl_backend *be, ivl_dtype dtype, int64_t rows, int64_t cols,
                                  const void *host, GError **error);
  void (*tensor_free)(ivl_backend *be, ivl_tensor *t);
  /* Bytes of a weight from weight_from_host as the backend's products read them (NULL:
   * ivl_tensor_nbytes of its dtype and shape). */
  size_t (*weight_nbytes)(ivl_backend *be, const ivl_tensor *t);
  /* Host f32 <-> tensor rows [row0, row0+n_rows), converting to/from the tensor's dtype. */
  gboolean (*upload_f32)(ivl_backend *be, ivl_tensor *t, int64_t row0, int64_t n_rows,
                         const float *host, GError **error);
  gboolean (*download_f32)(ivl_backend *be, const ivl_tensor *t, int64_t row0, int64_t n_rows,
                           float *host, GError **error);
  gboolean (*synchronize)(ivl_backend *be, GError **error);

  /* -- ops; rows of x and y match unless said otherwise -- */

  /* y[n, out] = x[n, in] · w[out, in]ᵀ (+ bias[out]); bias may be NULL. */
  void (*matmul)(ivl_backend *be, ivl_tensor *y, const ivl_tensor *x, const ivl_tensor *w,
                 const ivl_tensor *bias);
  /* Per row: (x - mean) / sqrt(var + eps) * w + b, biased variance. */
  void (*layer_norm)(ivl_backend *be, ivl_tensor *y, const ivl_tensor *x, const ivl_tensor *w,
                     const ivl_tensor *b, float eps);
  /* Per row: x * rsqrt(mean(x²) + eps) * w. */
  void (*rms_norm)(ivl_backend *be, ivl_tensor *y, const ivl_tensor *x, const ivl_tensor *w,
                   float eps);
  /* In place, rotate-half (NeoX) RoPE on x[T, n_heads*head_dim]; row t has position
   * pos0 + t; inv_freq[i] = theta^(-2i/head_dim). */
  void (*rope)(ivl_backend *be, ivl_tensor *x, int n_heads, int head_dim, int64_t pos0,
               double theta);
  /* out[Tq, H*hd] = softmax(q kᵀ · scale) v per head, GQA: head h reads kv head
   * h / (H/KV). q holds n_seq sequences of Tq/n_seq rows each and k, v the same number of
   * sequences of Tk/n_seq rows (vision tiles); n_seq = 1 for the language model.
   * Causal: query row i sits at position q_pos0 + i and sees keys 0 .. q_pos0 + i. */
  void (*attention)(ivl_backend *be, ivl_tensor *out, const ivl_tensor *q, const ivl_tensor *k,
                    const ivl_tensor *v, int n_seq, int n_heads, int n_kv_heads, int head_dim,
                    gboolean causal, int64_t q_pos0, float scale);
  /* In place, exact (erf) GELU. */
  void (*gelu)(ivl_backend *be, ivl_tensor *x);
  /* gate = silu(gate) * up, in place. */
  void (*silu_mul)(ivl_backend *be, ivl_tensor *gate, const ivl_tensor *up);
  /* Optional fusions (NULL: the caller runs the ops they stand for), same results:
   * x += r, then y = rms_norm(x) * w (add, then rms_norm); */
  void (*add_rms_norm)(ivl_backend *be, ivl_tensor *y, ivl_tensor *x, const ivl_tensor *r,
                       const ivl_tensor *w, float eps);
  /* q, k, v = x wq^T + bq, x wk^T + bk, x wv^T + bv (three matmuls; biases may be NULL); */
  void (*matmul_qkv)(ivl_backend *be, ivl_tensor *q, ivl_tensor *k, ivl_tensor *v,
                     const ivl_tensor *x, const ivl_tensor *wq, const ivl_tensor *wk,
                     const ivl_tensor *wv, const ivl_tensor *bq, const ivl_tensor *bk,
                     const ivl_tensor *bv);
  /* rope on q and k, then k and v into the caches' rows from pos0 (rope, rope, copy_rows,
   * copy_rows); */
  void (*rope_store_kv)(ivl_backend *be, ivl_tensor *q, ivl_tensor *k, const ivl_tensor *v,
                        ivl_tensor *k_cache, ivl_tensor *v_cache, int n_heads, int n_kv_heads,
                        int head_dim, int64_t pos0, double theta);
  /* gate = silu(x w_gate^T) * (x w_up^T), up scratch of gate's shape (matmul, matmul,
   * silu_mul). */
  void (*matmul_silu_mul)(ivl_backend *be, ivl_tensor *gate, ivl_tensor *up, const ivl_tensor *x,
                          const ivl_tensor *w_gate, const ivl_tensor *w_up);
  /* y = gelu(x w^T + bias), bias may be NULL (matmul, gelu); */
  void (*matmul_gelu)(ivl_backend *be, ivl_tensor *y, const ivl_tensor *x, const ivl_tensor *w,
                      const ivl_tensor *bias);
  /* y += (x w^T + bias) * scale[col], out a scratch of y's shape left holding anything
   * (matmul into out, add_scaled); then, when yn is not NULL, yn = the norm of y: layer_norm
   * with norm_w and norm_b, or rms_norm with norm_w when norm_b is NULL. */
  void (*matmul_add_scaled)(ivl_backend *be, ivl_tensor *y, ivl_tensor *out, const ivl_tensor *x,
                            const ivl_tensor *w, const ivl_tensor *bias, const ivl_tensor *scale,
                            ivl_tensor *yn, const ivl_tensor *norm_w, const ivl_tensor *norm_b,
                            float eps);
  /* y = a + b (same shapes; y may alias a). */
  void (*add)(ivl_backend *be, ivl_tensor *y, const ivl_tensor *a, const ivl_tensor *b);
  /* y += x * scale[col] (layer scale ls1/ls2 over rows); scale is [1, cols]. */
  void (*add_scaled)(ivl_backend *be, ivl_tensor *y, const ivl_tensor *x, const ivl_tensor *scale);
  /* y[i] = table[ids[i]] for i < n; ids are host ints; y rows = n. */
  void (*get_rows)(ivl_backend *be, ivl_tensor *y, const ivl_tensor *table, const int32_t *ids,
                   int64_t n);
  /* dst[dst_row0 + i] = src[src_row0 + i] for i < n_rows (KV cache writes, cls prepend,
   * image embeddings into <IMG_CONTEXT> positions when rows are contiguous). */
  void (*copy_rows)(ivl_backend *be, ivl_tensor *dst, int64_t dst_row0, const ivl_tensor *src,
                    int64_t src_row0, int64_t n_rows);
  /* Pixels [n_tiles*3, S*S] (f32, CHW per tile) -> patches [n_tiles*(S/p)², 3*p*p], each
   * patch flattened channel-major (c, ky, kx) like a Conv2d weight [D, 3, p, p]. */
  void (*patchify)(ivl_backend *be, ivl_tensor *y, const ivl_tensor *pixels, int n_tiles,
                   int image_size, int patch);
  /* Pixel shuffle v2 (s = 0.5) of n_tiles grids g x g of D channels, cls already dropped:
   * x[n*g*g, D] -> y[n*(g/2)², 4D], y[i][j][q*D + c] = x[2i + q/2][2j + q%2][c]. */
  void (*pixel_shuffle)(ivl_backend *be, ivl_tensor *y, const ivl_tensor *x, int n_tiles, int grid);
  /* Index of the largest value of row `row` (ties: the lowest index). Waits. */
  int32_t (*argmax)(ivl_backend *be, const ivl_tensor *logits, int64_t row);

  /* -- optional: sampling's candidates chosen on the device (NULL where a backend has none:
   * the host then samples from the whole row) -- in row `row` of f32 logits: v = the logit
   * with the repetition penalty for the n_seen seen ids (v < 0 ? v * penalty : v / penalty),
   * divided by temperature unless it is 0 or 1; every v >= the k-th largest v (ties kept;
   * every finite one when fewer than k), in index order, into values/ids (at most cap), and
   * their number into *n (more than cap: not all written). Waits. */
  gboolean (*top_k)(ivl_backend *be, const ivl_tensor *logits, int64_t row, const int32_t *seen,
                    int n_seen, float penalty, float temperature, int k, float *values,
                    int32_t *ids, int cap, int *n, GError **error);

  /* -- optional: a recorded decode step (CUDA graph); NULL where a backend has none (the CPU
   * backend), and the caller then runs the ops directly --
   * graph_begin(graph, pos) starts recording graph number `graph` (0 ..
   * IVL_BACKEND_MAX_GRAPHS - 1): the ops after it are recorded, not run. In a
   * recording, rope's pos0, attention's q_pos0 and copy_rows' dst_row0 are kept as offsets
   * from `pos`; get_rows keeps its count n but reads its ids from those given at replay (the
   * host ids are not read); attention over k/v of Tk rows is recorded for up to Tk keys. Ops
   * that wait (argmax, download_f32, synchronize) and copy_rows_from fail inside a recording.
   * Every tensor a recording uses must live until the graph is replaced or the backend freed.
   * graph_end() stops the recording and readies the graph; nothing has run yet.
   * graph_replay(graph, pos, ids, n_ids, rope_theta) runs that graph as if recorded at `pos`
   * with get_rows ids ids[0 .. n_ids), n_ids equal to the recorded count, and every recorded
   * rope at base rope_theta (dynamic NTK changes it with the length: no new recording for
   * that). A new recording of a graph number replaces that graph (a model split over devices
   * visits its first device twice per token: two graphs there). Errors come back directly and
   * also end a recording. */
  gboolean (*graph_begin)(ivl_backend *be, int graph, int64_t pos, GError **error);
  gboolean (*graph_end)(ivl_backend *be, GError **error);
  gboolean (*graph_replay)(ivl_backend *be, int graph, int64_t pos, const int32_t *ids,
                           int64_t n_ids, double rope_theta, GError **error);

  /* -- optional: a model split over devices (NULL where a backend has none) --
   * dst[dst_row0 + i] = src[src_row0 + i] for i < n_rows, where src belongs to another
   * backend of the same kind (another device, or the same one): ordered after the ops
   * enqueued on src's backend so far, and before those enqueued on either afterwards. Same
   * dtype and columns. */
  void (*copy_rows_from)(ivl_backend *be, ivl_tensor *dst, int64_t dst_row0, const ivl_tensor *src,
                         int64_t src_row0, int64_t n_rows);
} ivl_backend_ops;

struct ivl_backend {
  const ivl_backend_ops *ops;
  ivl_dtype act_dtype;
  GError *error; /* first failure of an asynchronous op */
};

/* Records err as the backend's failure unless one is already recorded (takes ownership). */
void ivl_backend_set_error(ivl_backend *be, GError *err);
/* Moves the recorded failure to *error; FALSE when there was one. */
gboolean ivl_backend_take_error(ivl_backend *be, GError **error);

/* n_threads <= 0: one per online CPU. AVX2/FMA/F16C kernels where the CPU has them, portable C
 * otherwise or when the environment sets IVL_CPU_NO_SIMD=1. Tensors from tensor_new are zeroed.
 * Ops run synchronously on the calling thread and the backend's own workers; one thread at a
 * time may use a backend. */
ivl_backend *ivl_backend_cpu_new(int n_threads, GError **error);
#if IVL_HAVE_CUDA
/* NULL with an error when no usable device is present (IVL_ERROR_UNSUPPORTED: no driver, no
 * device, or one older than compute capability 8.0). The CUDA runtime is touched only here,
 * so a build with CUDA runs on machines without a GPU. */
ivl_backend *ivl_backend_cuda_new(int device, GError **error);
/* Before loading: does the plan (weights, KV cache, workspace) fit in what `device` has
 * free? FALSE with IVL_ERROR_OUT_OF_MEMORY naming the shortfall and what to try, or
 * IVL_ERROR_UNSUPPORTED when there is no such device. */
gboolean ivl_backend_cuda_check_memory(int device, const ivl_gpu_memory_plan *plan, GError **error);
/* Devices present; 0 with IVL_ERROR_UNSUPPORTED when there are none. */
int ivl_backend_cuda_device_count(GError **error);
/* The device's name ("GPU 0 (NVIDIA H100 80GB HBM3)", caller frees; name may be NULL) and
 * its free and total memory. */
gboolean ivl_backend_cuda_device_memory(int device, char **name, guint64 *free_bytes,
                                        guint64 *total_bytes, GError **error);
#endif

#endif /* IVL_BACKEND_H */
