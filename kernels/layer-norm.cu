/* layer-norm.cu — y = (x - mean) / sqrt(var + eps) * w + b, biased variance, one block per
 * row. Two passes over the row (mean, then centred squares) rather than E[x²] - E[x]²,
 * which cancels badly when |mean| >> std. */
#include "common.cuh"

template <typename T>
static __global__ void layer_norm_kernel(T *y, const T *x, const uint16_t *w, const uint16_t *b,
                                         int64_t cols, float eps)
{
  __shared__ float scratch[32];
  const T *xr = x + blockIdx.x * cols;
  T *yr = y + blockIdx.x * cols;
  float s = 0.0f;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x)
    s += ivl_load(xr, c);
  const float mean = ivl_block_sum(s, scratch) / (float)cols;
  float ss = 0.0f;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
    const float d = ivl_load(xr, c) - mean;
    ss += d * d;
  }
  const float inv = rsqrtf(ivl_block_sum(ss, scratch) / (float)cols + eps);
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x)
    ivl_store(yr, c, (ivl_load(xr, c) - mean) * inv * ivl_wload(w, c) + ivl_wload(b, c));
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
