/* convert.cu — dtype conversion for uploads (f32/f16 weights to bf16) and downloads. */
#include "common.cuh"

template <typename D, typename S>
static __global__ void convert_kernel(D *dst, const S *src, int64_t n)
{
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
       i += (int64_t)gridDim.x * blockDim.x)
    ivl_store(dst, i, ivl_load(src, i));
}

template <typename D>
static cudaError_t convert_from(D *dst, const void *src, ivl_cuda_dtype src_t, int64_t n,
                                cudaStream_t stream)
{
  const unsigned blocks = ivl_blocks(n, 256) < 65535u ? ivl_blocks(n, 256) : 65535u;
  switch (src_t) {
  case IVL_CUDA_F32:
    IVL_LAUNCH(convert_kernel<D, float>, blocks, 256, 0, stream, dst, (const float *)src, n);
    break;
  case IVL_CUDA_F16:
    IVL_LAUNCH(convert_kernel<D, __half>, blocks, 256, 0, stream, dst, (const __half *)src, n);
    break;
  case IVL_CUDA_BF16:
    IVL_LAUNCH(convert_kernel<D, bf16>, blocks, 256, 0, stream, dst, (const bf16 *)src, n);
    break;
  default:
    return cudaErrorInvalidValue;
  }
  return cudaGetLastError();
}

extern "C" cudaError_t ivl_cuda_convert(void *dst, ivl_cuda_dtype dst_t, const void *src,
                                        ivl_cuda_dtype src_t, int64_t n, cudaStream_t stream)
{
  if (n <= 0)
    return cudaSuccess;
  switch (dst_t) {
  case IVL_CUDA_F32:
    return convert_from((float *)dst, src, src_t, n, stream);
  case IVL_CUDA_F16:
    return convert_from((__half *)dst, src, src_t, n, stream);
  case IVL_CUDA_BF16:
    return convert_from((bf16 *)dst, src, src_t, n, stream);
  default:
    return cudaErrorInvalidValue;
  }
}
