/* argmax.cu — index of the largest logit, lowest index on ties (as torch.argmax and the CPU
 * backend pick), NaN never wins. One block: a vocabulary row is ~150k values. */
#include "common.cuh"

__device__ __forceinline__ bool better(float v, int i, float bv, int bi)
{
  return v > bv || (v == bv && i < bi);
}

template <typename T> static __global__ void argmax_kernel(int32_t *out, const T *x, int64_t n)
{
  __shared__ float sv[32];
  __shared__ int si[32];
  float bv = -INFINITY;
  int bi = INT32_MAX;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    const float v = ivl_load(x, i);
    if (better(v, (int)i, bv, bi) || (bi == INT32_MAX && !isnan(v)))
      bv = v, bi = (int)i;
  }
  for (int o = 16; o > 0; o >>= 1) {
    const float ov = __shfl_xor_sync(0xffffffffu, bv, o);
    const int oi = __shfl_xor_sync(0xffffffffu, bi, o);
    if (better(ov, oi, bv, bi) || (bi == INT32_MAX && oi != INT32_MAX))
      bv = ov, bi = oi;
  }
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0)
    sv[warp] = bv, si[warp] = bi;
  __syncthreads();
  if (warp == 0) {
    const int n_warps = blockDim.x >> 5;
    bv = lane < n_warps ? sv[lane] : -INFINITY;
    bi = lane < n_warps ? si[lane] : INT32_MAX;
    for (int o = 16; o > 0; o >>= 1) {
      const float ov = __shfl_xor_sync(0xffffffffu, bv, o);
      const int oi = __shfl_xor_sync(0xffffffffu, bi, o);
      if (better(ov, oi, bv, bi) || (bi == INT32_MAX && oi != INT32_MAX))
        bv = ov, bi = oi;
    }
    if (lane == 0)
      *out = bi == INT32_MAX ? 0 : bi;
  }
}

extern "C" cudaError_t ivl_cuda_argmax(int32_t *out, const void *x, ivl_cuda_dtype t, int64_t n,
                                       cudaStream_t stream)
{
  if (n <= 0)
    return cudaErrorInvalidValue;
  IVL_DISPATCH_ACT(t, T, IVL_LAUNCH(argmax_kernel<T>, 1, 1024, 0, stream, out, (const T *)x, n));
  return cudaGetLastError();
}
