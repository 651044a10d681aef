/* matmul.cu — y[n, out] = x[n, in] · w[out, in]ᵀ (+ bias). One token: the GEMV kernel, which
 * reads the weights once at full bandwidth. More: cuBLAS with bf16 operands and f32
 * accumulation. cuBLAS is column-major, so it computes yᵀ = w · xᵀ: w (row-major [out, in])
 * is a column-major [in, out] matrix used transposed, x one [in, n] used as is. */
#include "common.cuh"

extern "C" cudaError_t ivl_cuda_matmul(cublasHandle_t cublas, void *y, ivl_cuda_dtype y_t,
                                       const void *x, const uint16_t *w, const uint16_t *bias,
                                       int64_t n, int64_t out, int64_t in, cudaStream_t stream,
                                       cublasStatus_t *blas_status)
{
  *blas_status = CUBLAS_STATUS_SUCCESS;
  if (n <= 0 || out <= 0)
    return cudaSuccess;
  if (n == 1)
    return ivl_cuda_gemv(y, y_t, x, w, bias, out, in, stream);
  if (y_t != IVL_CUDA_BF16 && y_t != IVL_CUDA_F32)
    return cudaErrorInvalidValue;
  if (n > INT32_MAX || out > INT32_MAX || in > INT32_MAX)
    return cudaErrorInvalidValue;
  const float alpha = 1.0f, beta = 0.0f;
  /* Not cublasSetStream here: it would put cuBLAS back on its own workspace pool. */
  cudaStream_t bound = NULL;
  if (cublasGetStream(cublas, &bound) != CUBLAS_STATUS_SUCCESS || bound != stream)
    return cudaErrorInvalidValue;
  const cublasStatus_t st = cublasGemmEx(
      cublas, CUBLAS_OP_T, CUBLAS_OP_N, (int)out, (int)n, (int)in, &alpha, w, CUDA_R_16BF, (int)in,
      x, CUDA_R_16BF, (int)in, &beta, y, y_t == IVL_CUDA_BF16 ? CUDA_R_16BF : CUDA_R_32F, (int)out,
      CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
  if (st != CUBLAS_STATUS_SUCCESS) {
    *blas_status = st;
    return cudaErrorUnknown;
  }
  return bias ? ivl_cuda_add_bias(y, y_t, bias, n, out, stream) : cudaSuccess;
}

extern "C" cudaError_t ivl_cuda_matmul_batched(cublasHandle_t cublas, void *y, ivl_cuda_dtype y_t,
                                               int64_t y_stride, const void *x, const uint16_t *w,
                                               int64_t w_stride, int batch, int64_t n, int64_t out,
                                               int64_t in, cudaStream_t stream,
                                               cublasStatus_t *blas_status)
{
  *blas_status = CUBLAS_STATUS_SUCCESS;
  if (n <= 0 || out <= 0 || batch <= 0)
    return cudaSuccess;
  if ((y_t != IVL_CUDA_BF16 && y_t != IVL_CUDA_F32) || n > INT32_MAX || out > INT32_MAX ||
      in > INT32_MAX || y_stride < n * out || w_stride < out * in)
    return cudaErrorInvalidValue;
  const float alpha = 1.0f, beta = 0.0f;
  cudaStream_t bound = NULL;
  if (cublasGetStream(cublas, &bound) != CUBLAS_STATUS_SUCCESS || bound != stream)
    return cudaErrorInvalidValue;
  /* x is every product's B: batch stride 0 */
  const cublasStatus_t st = cublasGemmStridedBatchedEx(
      cublas, CUBLAS_OP_T, CUBLAS_OP_N, (int)out, (int)n, (int)in, &alpha, w, CUDA_R_16BF, (int)in,
      w_stride, x, CUDA_R_16BF, (int)in, 0, &beta, y,
      y_t == IVL_CUDA_BF16 ? CUDA_R_16BF : CUDA_R_32F, (int)out, y_stride, batch,
      CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
  if (st != CUBLAS_STATUS_SUCCESS) {
    *blas_status = st;
    return cudaErrorUnknown;
  }
  return cudaSuccess;
}
