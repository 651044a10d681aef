/* silu-mul.cu — gate = silu(gate) * up in place (the Qwen2 MLP's act_fn(gate) * up). */
#include "common.cuh"

template <typename T> static __global__ void silu_mul_kernel(T *gate, const T *up, int64_t n)
{
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
       i += (int64_t)gridDim.x * blockDim.x) {
    const float g = ivl_load(gate, i);
    ivl_store(gate, i, g / (1.0f + expf(-g)) * ivl_load(up, i));
  }
}

extern "C" cudaError_t ivl_cuda_silu_mul(void *gate, const void *up, ivl_cuda_dtype t, int64_t n,
                                         cudaStream_t stream)
{
  if (n <= 0)
    return cudaSuccess;
  const unsigned blocks = ivl_blocks(n, 256) < 65535u ? ivl_blocks(n, 256) : 65535u;
  IVL_DISPATCH_ACT(
      t, T, IVL_LAUNCH(silu_mul_kernel<T>, blocks, 256, 0, stream, (T *)gate, (const T *)up, n));
  return cudaGetLastError();
}
