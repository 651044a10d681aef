/* rms-norm.cu — y = x * rsqrt(mean(x²) + eps) * w, one block per row, f32 statistics.
 * Upstream Qwen2RMSNorm casts the normalised value to the input dtype before the weight
 * multiply; we keep it in f32 until the single final rounding, which is at least as close. */
#include "norm.cuh"

template <typename T>
static __global__ void rms_norm_kernel(T *y, const T *x, const uint16_t *w, int64_t cols, float eps)
{
  __shared__ float scratch[32];
  ivl_rms_norm_row(y + blockIdx.x * cols, x + blockIdx.x * cols, w, cols, eps, scratch);
}

extern "C" cudaError_t ivl_cuda_rms_norm(void *y, const void *x, ivl_cuda_dtype t,
                                         const uint16_t *w, int64_t rows, int64_t cols, float eps,
                                         cudaStream_t stream)
{
  if (rows <= 0)
    return cudaSuccess;
  IVL_DISPATCH_ACT(t, T,
                   IVL_LAUNCH(rms_norm_kernel<T>, (unsigned)rows, 256, 0, stream, (T *)y,
                              (const T *)x, w, cols, eps));
  return cudaGetLastError();
}
