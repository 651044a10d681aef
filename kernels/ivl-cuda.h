/* ivl-cuda.h — the C face of the CUDA device code (the .cu files beside it).
 *
 * Each launcher enqueues its kernel(s) on `stream` and returns the launch status; none waits,
 * none aborts. Matrices are row-major and contiguous. Activations (x, y, q, k, v, ...) are
 * bf16 or f32 as `t` says, and every reduction accumulates in f32; weights (w, b, bias,
 * scale) are bf16 (uint16_t bit patterns), as the CUDA backend stores every weight.
 *
 * Position-like arguments (rope's pos0, attention's q_pos0, copy_rows' dst_row0) may be
 * shifted by a device scalar *pos_base (NULL: no shift) so that a captured CUDA graph can be
 * replayed at another position by rewriting that scalar.
 */
#ifndef IVL_CUDA_H
#define IVL_CUDA_H

#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Same order as ivl_dtype (engine/backend.h); the backend checks this at compile time. */
typedef enum {
  IVL_CUDA_F32 = 0,
  IVL_CUDA_F16 = 1,
  IVL_CUDA_BF16 = 2,
  IVL_CUDA_I32 = 3,
  IVL_CUDA_Q8 = 4, /* quantized weights only (engine/quantize.h) */
  IVL_CUDA_Q4 = 5,
} ivl_cuda_dtype;

/* dst[i] = (dst_t) src[i] for i < n; f32, f16 and bf16 in any pair (same type: a copy). */
cudaError_t ivl_cuda_convert(void *dst, ivl_cuda_dtype dst_t, const void *src, ivl_cuda_dtype src_t,
                             int64_t n, cudaStream_t stream);

/* y = x · wᵀ (+ bias): x [n, in] bf16, w [out, in], y [n, out] bf16 or f32. n == 1 runs the
 * bandwidth-bound GEMV kernel, larger n cuBLAS (bf16 in, f32 accumulate). `cublas` must be
 * bound to `stream` already, its workspace set after that (cublasSetStream drops the
 * workspace, and cuBLAS would then allocate inside a graph capture). A cuBLAS failure comes
 * back in *blas_status (cudaErrorUnknown is returned then). */
cudaError_t ivl_cuda_matmul(cublasHandle_t cublas, void *y, ivl_cuda_dtype y_t, const void *x,
                            const uint16_t *w, const uint16_t *bias, int64_t n, int64_t out,
                            int64_t in, cudaStream_t stream, cublasStatus_t *blas_status);
/* y_b = x · w_bᵀ for b < batch in one cuBLAS call (strided batched, x shared): w_b [out, in]
 * lies w_stride elements after w_(b-1), y_b [n, out] y_stride after y_(b-1); no bias, n any. */
cudaError_t ivl_cuda_matmul_batched(cublasHandle_t cublas, void *y, ivl_cuda_dtype y_t,
                                    int64_t y_stride, const void *x, const uint16_t *w,
                                    int64_t w_stride, int batch, int64_t n, int64_t out, int64_t in,
                                    cudaStream_t stream, cublasStatus_t *blas_status);
/* The GEMV alone (n == 1), exposed for the bandwidth benchmark. */
cudaError_t ivl_cuda_gemv(void *y, ivl_cuda_dtype y_t, const void *x, const uint16_t *w,
                          const uint16_t *bias, int64_t out, int64_t in, cudaStream_t stream);
/* Quantized weights w [out, in] (w_t IVL_CUDA_Q8 or IVL_CUDA_Q4) in the layouts of
 * engine/quantize.h, their scales `scales_offset` bytes after w (ivl_quant_scales_offset).
 * y [n, out] = x [n, in] · dequant(w)ᵀ (+ bias) for 1 <= n <= IVL_CUDA_QGEMV_MAX_ROWS, read
 * straight from the layout (decode); x bf16, y bf16 or f32. */
#define IVL_CUDA_QGEMV_MAX_ROWS 8
cudaError_t ivl_cuda_gemv_quant(void *y, ivl_cuda_dtype y_t, const void *x, ivl_cuda_dtype w_t,
                                const void *w, size_t scales_offset, const uint16_t *bias,
                                int64_t n, int64_t out, int64_t in, cudaStream_t stream);
/* dst [rows, cols] (bf16, 16-byte aligned) = dequant(w), for ivl_cuda_matmul with many rows. */
cudaError_t ivl_cuda_dequantize(uint16_t *dst, ivl_cuda_dtype w_t, const void *w,
                                size_t scales_offset, int64_t rows, int64_t cols,
                                cudaStream_t stream);
/* y[r, c] += bias[c] */
cudaError_t ivl_cuda_add_bias(void *y, ivl_cuda_dtype t, const uint16_t *bias, int64_t rows,
                              int64_t cols, cudaStream_t stream);
/* After a cuBLAS product into y (epilogue.cu), bitwise the separate kernels they replace:
 * y = gelu(y + bias) (ivl_cuda_add_bias, ivl_cuda_gelu); x += (y + bias) * scale with y left
 * as it is (ivl_cuda_add_bias on y, ivl_cuda_add_scaled), then, when xn is not NULL, xn = the
 * norm of x (ivl_cuda_layer_norm with norm_b, ivl_cuda_rms_norm when norm_b is NULL); and
 * y[m] += bias[m] for the three outputs [rows, cols[m]] of q, k and v in one launch. A NULL
 * bias is skipped. */
cudaError_t ivl_cuda_bias_gelu(void *y, ivl_cuda_dtype t, const uint16_t *bias, int64_t rows,
                               int64_t cols, cudaStream_t stream);
cudaError_t ivl_cuda_bias_scaled_add(void *x, const void *y, ivl_cuda_dtype t, const uint16_t *bias,
                                     const uint16_t *scale, int64_t rows, int64_t cols, void *xn,
                                     const uint16_t *norm_w, const uint16_t *norm_b, float eps,
                                     cudaStream_t stream);
cudaError_t ivl_cuda_add_bias3(void *const y[3], ivl_cuda_dtype t, const uint16_t *const bias[3],
                               const int64_t cols[3], int64_t rows, cudaStream_t stream);

cudaError_t ivl_cuda_rms_norm(void *y, const void *x, ivl_cuda_dtype t, const uint16_t *w,
                              int64_t rows, int64_t cols, float eps, cudaStream_t stream);
/* x += r, then y = rms_norm(x) * w: bitwise ivl_cuda_add then ivl_cuda_rms_norm. */
cudaError_t ivl_cuda_add_rms_norm(void *y, void *x, const void *r, ivl_cuda_dtype t,
                                  const uint16_t *w, int64_t rows, int64_t cols, float eps,
                                  cudaStream_t stream);
/* h [out] = silu(w_gate x) * (w_up x) for one row x [in] (bf16, in % 8 == 0, 16-byte
 * aligned; else cudaErrorInvalidValue): bitwise two ivl_cuda_gemv and ivl_cuda_silu_mul. */
/* y[m] [rows[m]] = w[m] x + bias[m] (bias may be NULL) for m = q, k, v and one row x [in]
 * (bf16, in % 8 == 0, 16-byte aligned; else cudaErrorInvalidValue), in one launch: bitwise
 * three ivl_cuda_gemv. */
cudaError_t ivl_cuda_gemv_qkv(void *const y[3], ivl_cuda_dtype y_t, const void *x,
                              const uint16_t *const w[3], const uint16_t *const bias[3],
                              const int64_t rows[3], int64_t in, cudaStream_t stream);
/* ivl_cuda_rope on q and k, then the rows of k and v copied to the caches [cache_rows,
 * n_kv_heads * head_dim] at pos0 (+ *pos_base), as ivl_cuda_copy_rows: one launch. */
cudaError_t ivl_cuda_rope_store_kv(void *q, void *k, const void *v, void *k_cache, void *v_cache,
                                   int64_t cache_rows, ivl_cuda_dtype t, int64_t rows, int n_heads,
                                   int n_kv_heads, int head_dim, int64_t pos0,
                                   const int32_t *pos_base, float theta, const float *theta_dev,
                                   cudaStream_t stream);
cudaError_t ivl_cuda_gate_up_silu(void *h, ivl_cuda_dtype t, const void *x, const uint16_t *w_gate,
                                  const uint16_t *w_up, int64_t out, int64_t in,
                                  cudaStream_t stream);
cudaError_t ivl_cuda_layer_norm(void *y, const void *x, ivl_cuda_dtype t, const uint16_t *w,
                                const uint16_t *b, int64_t rows, int64_t cols, float eps,
                                cudaStream_t stream);
/* In place, rotate-half RoPE on x [rows, n_heads*head_dim]; row r at pos0 + r (+ *pos_base).
 * The base is theta, or *theta_dev when that is not NULL (a graph replayed after dynamic NTK
 * changed it). */
cudaError_t ivl_cuda_rope(void *x, ivl_cuda_dtype t, int64_t rows, int n_heads, int head_dim,
                          int64_t pos0, const int32_t *pos_base, float theta,
                          const float *theta_dev, cudaStream_t stream);

cudaError_t ivl_cuda_gelu(void *x, ivl_cuda_dtype t, int64_t n, cudaStream_t stream);
cudaError_t ivl_cuda_silu_mul(void *gate, const void *up, ivl_cuda_dtype t, int64_t n,
                              cudaStream_t stream);
cudaError_t ivl_cuda_add(void *y, const void *a, const void *b, ivl_cuda_dtype t, int64_t n,
                         cudaStream_t stream);
/* y[r, c] += x[r, c] * scale[c] */
cudaError_t ivl_cuda_add_scaled(void *y, const void *x, ivl_cuda_dtype t, const uint16_t *scale,
                                int64_t rows, int64_t cols, cudaStream_t stream);

/* y[i] = table[ids[i]] (ids on the device; an id outside [0, table_rows) gives a zero row). */
cudaError_t ivl_cuda_get_rows(void *y, ivl_cuda_dtype y_t, const void *table,
                              ivl_cuda_dtype table_t, int64_t table_rows, int64_t cols,
                              const int32_t *ids, int64_t n, cudaStream_t stream);
/* dst[dst_row0 (+ *pos_base) + i] = src[src_row0 + i], rows of row_bytes bytes; rows that
 * would land at or past dst_rows are skipped. */
cudaError_t ivl_cuda_copy_rows(void *dst, int64_t dst_rows, int64_t dst_row0,
                               const int32_t *pos_base, const void *src, int64_t src_row0,
                               int64_t n_rows, int64_t row_bytes, cudaStream_t stream);

/* pixels [n_tiles*3, S*S] f32 -> y [n_tiles*(S/p)², 3*p*p], patch flattened (c, ky, kx). */
cudaError_t ivl_cuda_patchify(void *y, ivl_cuda_dtype y_t, const float *pixels, int n_tiles,
                              int image_size, int patch, cudaStream_t stream);
/* x [n*g*g, d] -> y [n*(g/2)², 4d], y[i][j][q*d + c] = x[2i + q/2][2j + q%2][c]. */
cudaError_t ivl_cuda_pixel_shuffle(void *y, const void *x, ivl_cuda_dtype t, int n_tiles, int grid,
                                   int64_t d, cudaStream_t stream);

/* A trivial kernel, launched when the device opens: it fails (cudaErrorNoKernelImageForDevice)
 * on a GPU this build has neither machine code nor PTX for, before any model is loaded.
 * *flag (a device int) becomes 1. */
cudaError_t ivl_cuda_probe(int32_t *flag, cudaStream_t stream);

/* *out = index of the largest of x[0..n) (ties: lowest index; NaN never wins). */
cudaError_t ivl_cuda_argmax(int32_t *out, const void *x, ivl_cuda_dtype t, int64_t n,
                            cudaStream_t stream);

/* Attention, bf16 q/k/v/out (see backend.h for the layout). tq and tk count rows per
 * sequence. Query row i of a sequence sits at q_pos0 (+ *pos_base) + i; when causal it sees
 * keys 0 ..= that position (capped at tk). head_dim 64 or 128. The decode path (tq == 1,
 * n_seq == 1) splits the keys over blocks and needs `workspace` of
 * ivl_cuda_attention_workspace_size(...) bytes; the other path needs none. */
size_t ivl_cuda_attention_workspace_size(int n_seq, int64_t tq, int64_t tk, int n_heads,
                                         int n_kv_heads, int head_dim);
cudaError_t ivl_cuda_attention(void *out, const void *q, const void *k, const void *v, int n_seq,
                               int64_t tq, int64_t tk, int n_heads, int n_kv_heads, int head_dim,
                               int causal, int64_t q_pos0, const int32_t *pos_base, float scale,
                               void *workspace, cudaStream_t stream);

/* Sampling's candidates (top-k.cu): v = logits[i] (f32, n of them) with the repetition
 * penalty for the n_seen ids (v < 0 ? v * penalty : v / penalty; seen is an n-byte device
 * scratch, untouched when n_seen is 0) and divided by temperature unless it is 0 or 1; every
 * v >= the k-th largest (ties included; all finite ones when fewer than k), in index order,
 * into values/ids (at most cap of them), their number into *count (may exceed cap). */
cudaError_t ivl_cuda_top_k(const float *logits, int64_t n, uint8_t *seen, const int32_t *seen_ids,
                           int n_seen, float penalty, float temperature, int k, float *values,
                           int32_t *ids, int cap, int32_t *count, cudaStream_t stream);

#ifdef __cplusplus
}
#endif

#endif /* IVL_CUDA_H */
