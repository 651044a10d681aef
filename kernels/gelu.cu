/* gelu.cu — exact GELU, 0.5 x (1 + erf(x / sqrt 2)), in place (InternViT and mlp1 use the
 * erf form, not the tanh approximation). */
#include "common.cuh"

template <typename T> static __global__ void gelu_kernel(T *x, int64_t n)
{
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
       i += (int64_t)gridDim.x * blockDim.x) {
    ivl_store(x, i, ivl_gelu(ivl_load(x, i)));
  }
}

extern "C" cudaError_t ivl_cuda_gelu(void *x, ivl_cuda_dtype t, int64_t n, cudaStream_t stream)
{
  if (n <= 0)
    return cudaSuccess;
  const unsigned blocks = ivl_blocks(n, 256) < 65535u ? ivl_blocks(n, 256) : 65535u;
  IVL_DISPATCH_ACT(t, T, IVL_LAUNCH(gelu_kernel<T>, blocks, 256, 0, stream, (T *)x, n));
  return cudaGetLastError();
}
