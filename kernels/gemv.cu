/* gemv.cu — y = W x (+ bias) for one token (decode). The weights dominate the traffic, so
 * each warp streams whole rows with 16-byte loads (8 bf16), two in flight per lane, and
 * accumulates in f32; x is small and stays in L1/L2. Rows whose length or alignment rules
 * out 16-byte loads take the scalar kernel. */
#include "gemv.cuh"

template <typename Y>
static __global__ void gemv_vec_kernel(Y *y, const uint4 *x, const uint4 *w, const uint16_t *bias,
                                       int64_t out, int64_t in8)
{
  const int64_t row = (int64_t)blockIdx.x * ROWS_PER_BLOCK + (threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  if (row >= out)
    return;
  const float s = row_dot(w + row * in8, x, in8, lane);
  if (lane == 0)
    ivl_store(y, row, s + (bias ? ivl_wload(bias, row) : 0.0f));
}

template <typename Y>
static __global__ void gemv_scalar_kernel(Y *y, const bf16 *x, const uint16_t *w,
                                          const uint16_t *bias, int64_t out, int64_t in)
{
  const int64_t row = (int64_t)blockIdx.x * ROWS_PER_BLOCK + (threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  if (row >= out)
    return;
  float s = 0.0f;
  for (int64_t i = lane; i < in; i += 32)
    s = fmaf(ivl_wload(w, row * in + i), ivl_load(x, i), s);
  s = ivl_warp_sum(s);
  if (lane == 0)
    ivl_store(y, row, s + (bias ? ivl_wload(bias, row) : 0.0f));
}

extern "C" cudaError_t ivl_cuda_gemv(void *y, ivl_cuda_dtype y_t, const void *x, const uint16_t *w,
                                     const uint16_t *bias, int64_t out, int64_t in,
                                     cudaStream_t stream)
{
  if (out <= 0)
    return cudaSuccess;
  const unsigned blocks = ivl_blocks(out, ROWS_PER_BLOCK);
  const bool vec = in % 8 == 0 && (uintptr_t)x % 16 == 0 && (uintptr_t)w % 16 == 0;
  IVL_DISPATCH_ACT(y_t, Y, {
    if (vec)
      IVL_LAUNCH(gemv_vec_kernel<Y>, blocks, 32 * ROWS_PER_BLOCK, 0, stream, (Y *)y,
                 (const uint4 *)x, (const uint4 *)w, bias, out, in / 8);
    else
      IVL_LAUNCH(gemv_scalar_kernel<Y>, blocks, 32 * ROWS_PER_BLOCK, 0, stream, (Y *)y,
                 (const bf16 *)x, w, bias, out, in);
  });
  return cudaGetLastError();
}
