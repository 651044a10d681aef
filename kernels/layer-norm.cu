/* layer-norm.cu — y = (x - mean) / sqrt(var + eps) * w + b, biased variance, one block per
 * row (norm.cuh). */
#include "norm.cuh"

template <typename T>
static __global__ void layer_norm_kernel(T *y, const T *x, const uint16_t *w, const uint16_t *b,
                                         int64_t cols, float eps)
{
  __shared__ float scratch[32];
  ivl_layer_norm_row(y + blockIdx.x * cols, x + blockIdx.x * cols, w, b, cols, eps, scratch);
}

extern "C" cudaError_t ivl_cuda_layer_norm(void *y, const void *x, ivl_cuda_dtype t,
                                           const uint16_t *w, const uint16_t *b, int64_t rows,
                                           int64_t cols, float eps, cudaStream_t stream)
{
  if (rows <= 0)
    return cudaSuccess;
  IVL_DISPATCH_ACT(t, T,
                   IVL_LAUNCH(layer_norm_kernel<T>, (unsigned)rows, 256, 0, stream, (T *)y,
                              (const T *)x, w, b, cols, eps));
  return cudaGetLastError();
}
