/* rms-norm.cu — y = x * rsqrt(mean(x²) + eps) * w, one block per row, f32 statistics.
 * Upstream Qwen2RMSNorm casts the normalised value to the input dtype before the weight
 * multiply; we keep it in f32 until the single final rounding, which is at least as close. */
#include "common.cuh"

template <typename T>
static __global__ void rms_norm_kernel(T *y, const T *x, const uint16_t *w, int64_t cols, float eps)
{
  __shared__ float scratch[32];
  const T *xr = x + blockIdx.x * cols;
  T *yr = y + blockIdx.x * cols;
  float ss = 0.0f;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
    const float v = ivl_load(xr, c);
    ss += v * v;
  }
  const float inv = rsqrtf(ivl_block_sum(ss, scratch) / (float)cols + eps);
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x)
    ivl_store(yr, c, ivl_load(xr, c) * inv * ivl_wload(w, c));
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
