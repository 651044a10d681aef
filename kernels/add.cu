/* add.cu — the residual adds: y = a + b, y += x * scale[col] (layer scale) and
 * y += bias[col] (the matmul bias when cuBLAS ran the product). */
#include "common.cuh"

template <typename T> static __global__ void add_kernel(T *y, const T *a, const T *b, int64_t n)
{
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
       i += (int64_t)gridDim.x * blockDim.x)
    ivl_store(y, i, ivl_load(a, i) + ivl_load(b, i));
}

template <typename T>
static __global__ void add_scaled_kernel(T *y, const T *x, const uint16_t *scale, int64_t n,
                                         int64_t cols)
{
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
       i += (int64_t)gridDim.x * blockDim.x)
    ivl_store(y, i, ivl_scaled_add(ivl_load(y, i), ivl_load(x, i), ivl_wload(scale, i % cols)));
}

template <typename T>
static __global__ void add_bias_kernel(T *y, const uint16_t *bias, int64_t n, int64_t cols)
{
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
       i += (int64_t)gridDim.x * blockDim.x)
    ivl_store(y, i, ivl_load(y, i) + ivl_wload(bias, i % cols));
}

static unsigned grid_for(int64_t n)
{
  return ivl_blocks(n, 256) < 65535u ? ivl_blocks(n, 256) : 65535u;
}

extern "C" cudaError_t ivl_cuda_add(void *y, const void *a, const void *b, ivl_cuda_dtype t,
                                    int64_t n, cudaStream_t stream)
{
  if (n <= 0)
    return cudaSuccess;
  IVL_DISPATCH_ACT(t, T,
                   IVL_LAUNCH(add_kernel<T>, grid_for(n), 256, 0, stream, (T *)y, (const T *)a,
                              (const T *)b, n));
  return cudaGetLastError();
}

extern "C" cudaError_t ivl_cuda_add_scaled(void *y, const void *x, ivl_cuda_dtype t,
                                           const uint16_t *scale, int64_t rows, int64_t cols,
                                           cudaStream_t stream)
{
  const int64_t n = rows * cols;
  if (n <= 0)
    return cudaSuccess;
  IVL_DISPATCH_ACT(t, T,
                   IVL_LAUNCH(add_scaled_kernel<T>, grid_for(n), 256, 0, stream, (T *)y,
                              (const T *)x, scale, n, cols));
  return cudaGetLastError();
}

extern "C" cudaError_t ivl_cuda_add_bias(void *y, ivl_cuda_dtype t, const uint16_t *bias,
                                         int64_t rows, int64_t cols, cudaStream_t stream)
{
  const int64_t n = rows * cols;
  if (n <= 0)
    return cudaSuccess;
  IVL_DISPATCH_ACT(
      t, T, IVL_LAUNCH(add_bias_kernel<T>, grid_for(n), 256, 0, stream, (T *)y, bias, n, cols));
  return cudaGetLastError();
}
