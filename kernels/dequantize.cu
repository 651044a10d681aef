/* dequantize.cu — an int8 or 4-bit weight expanded to bf16, for the products with many rows
 * (prefill, vision tiles): cuBLAS's tensor-core GEMM takes bf16 operands, and at hundreds of
 * rows the GEMM's arithmetic, not this pass over the weight, sets the time. Each thread
 * writes 8 values of a row with one 16-byte store where the row length allows. */
#include "quant.cuh"

#define THREADS 256
#define PER_THREAD 8

template <typename W> static __global__ void dequantize_kernel(uint4 *dst, W w, int64_t cols)
{
  const int64_t r = blockIdx.x;
  const int64_t c0 = ((int64_t)blockIdx.y * THREADS + threadIdx.x) * PER_THREAD;
  if (c0 >= cols)
    return;
  if (cols % PER_THREAD == 0) {
    float v[PER_THREAD];
    w.at8(r, c0, v);
    uint4 o;
    __nv_bfloat162 *op = (__nv_bfloat162 *)&o;
#pragma unroll
    for (int k = 0; k < PER_THREAD / 2; k++)
      op[k] = __floats2bfloat162_rn(v[2 * k], v[2 * k + 1]);
    dst[(r * cols + c0) / PER_THREAD] = o;
    return;
  }
  bf16 *d = (bf16 *)dst + r * cols;
  for (int64_t c = c0; c < cols && c < c0 + PER_THREAD; c++)
    d[c] = __float2bfloat16(w.at(r, c));
}

extern "C" cudaError_t ivl_cuda_dequantize(uint16_t *dst, ivl_cuda_dtype w_t, const void *w,
                                           size_t scales_offset, int64_t rows, int64_t cols,
                                           cudaStream_t stream)
{
  if (rows <= 0 || cols <= 0)
    return cudaSuccess;
  const int64_t col_blocks = (cols + THREADS * PER_THREAD - 1) / (THREADS * PER_THREAD);
  if (rows > INT32_MAX || col_blocks > 65535 || (uintptr_t)dst % 16 != 0)
    return cudaErrorInvalidValue;
  const dim3 grid((unsigned)rows, (unsigned)col_blocks);
  if (w_t == IVL_CUDA_Q8)
    IVL_LAUNCH(dequantize_kernel<ivl_q8_weights>, grid, THREADS, 0, stream, (uint4 *)dst,
               ivl_q8_weights(w, scales_offset, cols), cols);
  else if (w_t == IVL_CUDA_Q4 && cols % 32 == 0)
    IVL_LAUNCH(dequantize_kernel<ivl_q4_weights>, grid, THREADS, 0, stream, (uint4 *)dst,
               ivl_q4_weights(w, scales_offset, cols), cols);
  else
    return cudaErrorInvalidValue;
  return cudaGetLastError();
}
