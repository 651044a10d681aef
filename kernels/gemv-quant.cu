/* gemv-quant.cu — y[n, out] = x[n, in] · dequant(w)ᵀ (+ bias) for a few rows of x (decode,
 * 1 <= n <= IVL_CUDA_QGEMV_MAX_ROWS) straight from the int8 or 4-bit layout: the point of
 * quantizing is to read fewer weight bytes per token. As in gemv.cu, one warp per output row
 * streams the row with 16-byte loads (16 int8 or 32 nibbles, two in flight per lane) and
 * accumulates in f32; each weight, decoded once, serves every row of x, which stays in
 * L1/L2. Rows whose length or alignment rules out 16-byte loads (int8 rows of a length not a
 * multiple of 16) take the scalar kernel. */
#include "quant.cuh"

#define ROWS_PER_BLOCK 8 /* one warp per output row */

/* Σ v[j]·x[j] over the N bf16 values of x at xc (16-byte aligned), even and odd columns in
 * two sums for two FMA chains. */
template <int N> __device__ __forceinline__ float dot_x(const float *v, const uint4 *xc)
{
  float s0 = 0.0f, s1 = 0.0f;
#pragma unroll
  for (int j = 0; j < N / 8; j++) {
    const uint4 xv = __ldg(xc + j);
    const uint32_t xw[4] = {xv.x, xv.y, xv.z, xv.w};
#pragma unroll
    for (int k = 0; k < 4; k++) {
      s0 = fmaf(v[8 * j + 2 * k], __uint_as_float(xw[k] << 16), s0);
      s1 = fmaf(v[8 * j + 2 * k + 1], __uint_as_float(xw[k] & 0xFFFF0000u), s1);
    }
  }
  return s0 + s1;
}

/* Chunk i of weight row `row` (its 16 bytes in b) against chunk i of the first n rows of x
 * (rows of x8 16-byte units). */
template <typename W, int NR>
__device__ __forceinline__ void chunk_fma(float *acc, const W &w, uint4 b, int64_t row, int64_t i,
                                          const uint4 *x, int64_t x8, int n)
{
  float v[W::CHUNK];
  w.chunk(b, v);
  const float s = w.chunk_scale(row, i);
#pragma unroll
  for (int r = 0; r < NR; r++)
    if (r < n)
      acc[r] = fmaf(s, dot_x<W::CHUNK>(v, x + r * x8 + i * (W::CHUNK / 8)), acc[r]);
}

/* Lane 0 writes y[r, row] = Σ_lanes acc[r] · scale + bias[row] for r < n (n is the same in
 * the whole warp, so every lane takes part in each shuffle). */
template <int NR, typename Y>
__device__ __forceinline__ void store_rows(Y *y, const float *acc, int n, int64_t row, int64_t out,
                                           float scale, const uint16_t *bias)
{
  const float b = bias ? ivl_wload(bias, row) : 0.0f;
#pragma unroll
  for (int r = 0; r < NR; r++)
    if (r < n) {
      const float s = ivl_warp_sum(acc[r]);
      if ((threadIdx.x & 31) == 0)
        ivl_store(y, r * out + row, s * scale + b);
    }
}

/* NR: the most rows of x this instantiation serves (n <= NR). */
template <typename W, int NR, typename Y>
static __global__ void qgemv_vec_kernel(Y *y, const uint4 *x, W w, const uint16_t *bias, int n,
                                        int64_t out, int64_t in)
{
  const int64_t row = (int64_t)blockIdx.x * ROWS_PER_BLOCK + (threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  if (row >= out)
    return;
  const uint4 *wr = w.row(row);
  const int64_t n_chunks = in / W::CHUNK, x8 = in / 8;
  float acc[NR];
#pragma unroll
  for (int r = 0; r < NR; r++)
    acc[r] = 0.0f;
  int64_t i = lane;
  for (; i + 32 < n_chunks; i += 64) {
    const uint4 w0 = __ldg(wr + i), w1 = __ldg(wr + i + 32);
    chunk_fma<W, NR>(acc, w, w0, row, i, x, x8, n);
    chunk_fma<W, NR>(acc, w, w1, row, i + 32, x, x8, n);
  }
  if (i < n_chunks)
    chunk_fma<W, NR>(acc, w, __ldg(wr + i), row, i, x, x8, n);
  store_rows<NR>(y, acc, n, row, out, w.row_scale(row), bias);
}

template <typename W, typename Y>
static __global__ void qgemv_scalar_kernel(Y *y, const bf16 *x, W w, const uint16_t *bias, int n,
                                           int64_t out, int64_t in)
{
  const int64_t row = (int64_t)blockIdx.x * ROWS_PER_BLOCK + (threadIdx.x >> 5);
  if (row >= out)
    return;
  float acc[IVL_CUDA_QGEMV_MAX_ROWS];
#pragma unroll
  for (int r = 0; r < IVL_CUDA_QGEMV_MAX_ROWS; r++)
    acc[r] = 0.0f;
  for (int64_t c = threadIdx.x & 31; c < in; c += 32) {
    const float wv = w.at(row, c);
#pragma unroll
    for (int r = 0; r < IVL_CUDA_QGEMV_MAX_ROWS; r++)
      if (r < n)
        acc[r] = fmaf(wv, ivl_load(x, r * in + c), acc[r]);
  }
  store_rows<IVL_CUDA_QGEMV_MAX_ROWS>(y, acc, n, row, out, 1.0f, bias);
}

template <typename W>
static cudaError_t launch(void *y, ivl_cuda_dtype y_t, const void *x, const W &w, bool vec,
                          const uint16_t *bias, int n, int64_t out, int64_t in, cudaStream_t stream)
{
  const unsigned blocks = ivl_blocks(out, ROWS_PER_BLOCK), threads = 32 * ROWS_PER_BLOCK;
  const uint4 *x4 = (const uint4 *)x;
  IVL_DISPATCH_ACT(y_t, Y, {
    if (!vec)
      IVL_LAUNCH(qgemv_scalar_kernel<W, Y>, blocks, threads, 0, stream, (Y *)y, (const bf16 *)x, w,
                 bias, n, out, in);
    else if (n == 1)
      IVL_LAUNCH(qgemv_vec_kernel<W, 1, Y>, blocks, threads, 0, stream, (Y *)y, x4, w, bias, n, out,
                 in);
    else if (n <= 4)
      IVL_LAUNCH(qgemv_vec_kernel<W, 4, Y>, blocks, threads, 0, stream, (Y *)y, x4, w, bias, n, out,
                 in);
    else
      IVL_LAUNCH(qgemv_vec_kernel<W, 8, Y>, blocks, threads, 0, stream, (Y *)y, x4, w, bias, n, out,
                 in);
  });
  return cudaGetLastError();
}

extern "C" cudaError_t ivl_cuda_gemv_quant(void *y, ivl_cuda_dtype y_t, const void *x,
                                           ivl_cuda_dtype w_t, const void *w, size_t scales_offset,
                                           const uint16_t *bias, int64_t n, int64_t out, int64_t in,
                                           cudaStream_t stream)
{
  if (n <= 0 || out <= 0)
    return cudaSuccess;
  if (n > IVL_CUDA_QGEMV_MAX_ROWS || in <= 0)
    return cudaErrorInvalidValue;
  /* 16-byte loads need 16-byte aligned rows: x's rows are, with in a multiple of 8 (bf16);
   * an int8 row with in a multiple of 16; a 4-bit row always (in is a multiple of 32). */
  const bool aligned = (uintptr_t)x % 16 == 0 && (uintptr_t)w % 16 == 0;
  if (w_t == IVL_CUDA_Q8)
    return launch(y, y_t, x, ivl_q8_weights(w, scales_offset, in), aligned && in % 16 == 0, bias,
                  (int)n, out, in, stream);
  if (w_t == IVL_CUDA_Q4 && in % 32 == 0)
    return launch(y, y_t, x, ivl_q4_weights(w, scales_offset, in), aligned, bias, (int)n, out, in,
                  stream);
  return cudaErrorInvalidValue;
}
