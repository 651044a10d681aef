/* norm.cuh — one row's layer norm and RMS norm by one block of threads, shared by the norm
 * kernels and the epilogue that ends in a norm (epilogue.cu), so that both give the same bits
 * for the same block size. Thread t reads columns t, t + blockDim.x, ...: a kernel that has
 * just written those columns of x in the same threads needs no barrier before. */
#pragma once

#include "common.cuh"

/* y = (x - mean) / sqrt(var + eps) * w + b, biased variance. Two passes over the row (mean,
 * then centred squares) rather than E[x²] - E[x]², which cancels badly when |mean| >> std. */
template <typename T>
__device__ __forceinline__ void ivl_layer_norm_row(T *yr, const T *xr, const uint16_t *w,
                                                   const uint16_t *b, int64_t cols, float eps,
                                                   float *scratch)
{
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

/* y = x * rsqrt(mean(x²) + eps) * w, f32 statistics. */
template <typename T>
__device__ __forceinline__ void ivl_rms_norm_row(T *yr, const T *xr, const uint16_t *w,
                                                 int64_t cols, float eps, float *scratch)
{
  float ss = 0.0f;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
    const float v = ivl_load(xr, c);
    ss += v * v;
  }
  const float inv = rsqrtf(ivl_block_sum(ss, scratch) / (float)cols + eps);
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x)
    ivl_store(yr, c, ivl_load(xr, c) * inv * ivl_wload(w, c));
}
