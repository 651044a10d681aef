/* top-k.cu — sampling's candidate selection on the device: the logits with the repetition
 * penalty and the temperature applied, and of them every value >= the k-th largest (ties
 * kept), in index order, so that only those candidates cross to the host, where top-p and
 * the draw run over exactly the values the host would have computed itself (engine/sampling.c
 * does the same arithmetic: v < 0 ? v * p : v / p for a seen token, then v / t).
 *
 * One block of 1024 threads over a vocabulary row (~150k values, L2-resident): the k-th
 * largest is found bit by bit on an order-preserving integer key (32 counting passes), then
 * the survivors are written in index order through a block-wide prefix sum. */
#include "common.cuh"

#define TOPK_THREADS 1024

__device__ __forceinline__ float topk_value(const float *x, const uint8_t *seen, int64_t i,
                                            float penalty, float temperature)
{
  float v = x[i];
  if (seen != nullptr && seen[i])
    v = v < 0 ? v * penalty : v / penalty;
  if (temperature > 0 && temperature != 1.0f)
    v = v / temperature;
  return v;
}

/* Larger values get larger keys, equal values equal keys (-0 is 0, as the host compares);
 * -inf and NaN get 0, which no candidate has. */
__device__ __forceinline__ uint32_t topk_key(float v)
{
  if (isnan(v) || v == -INFINITY)
    return 0;
  const uint32_t u = v == 0.0f ? 0u : __float_as_uint(v);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

/* The block's total of each thread's c (all threads get it). */
__device__ __forceinline__ int block_sum(int c, int *shared32)
{
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  for (int o = 16; o > 0; o >>= 1)
    c += __shfl_xor_sync(0xffffffffu, c, o);
  __syncthreads(); /* shared32 may still be read from the previous call */
  if (lane == 0)
    shared32[warp] = c;
  __syncthreads();
  int total = 0;
  for (int w = 0; w < TOPK_THREADS / 32; w++)
    total += shared32[w];
  return total;
}

/* Exclusive prefix sum of c over the threads, in thread order. */
__device__ __forceinline__ int block_exclusive_scan(int c, int *shared32)
{
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  int inclusive = c;
  for (int o = 1; o < 32; o <<= 1) {
    const int up = __shfl_up_sync(0xffffffffu, inclusive, o);
    if (lane >= o)
      inclusive += up;
  }
  __syncthreads();
  if (lane == 31)
    shared32[warp] = inclusive;
  __syncthreads();
  int before = 0;
  for (int w = 0; w < warp; w++)
    before += shared32[w];
  return before + inclusive - c;
}

static __global__ void __launch_bounds__(TOPK_THREADS)
    top_k_kernel(const float *x, int64_t n, const uint8_t *seen, float penalty, float temperature,
                 int k, float *values, int32_t *ids, int cap, int32_t *count)
{
  __shared__ int shared32[32];
  /* the k-th largest key: the largest t with at least k keys >= t */
  uint32_t t = 0;
  for (int bit = 31; bit >= 0; bit--) {
    const uint32_t candidate = t | (1u << bit);
    int c = 0;
    for (int64_t i = threadIdx.x; i < n; i += TOPK_THREADS)
      c += topk_key(topk_value(x, seen, i, penalty, temperature)) >= candidate;
    if (block_sum(c, shared32) >= k)
      t = candidate;
  }
  t = max(t, 1u); /* fewer than k finite values: all of those */
  /* survivors in index order: each thread a contiguous run of the row */
  const int64_t run = (n + TOPK_THREADS - 1) / TOPK_THREADS;
  const int64_t begin = min(n, (int64_t)threadIdx.x * run), end = min(n, begin + run);
  int c = 0;
  for (int64_t i = begin; i < end; i++)
    c += topk_key(topk_value(x, seen, i, penalty, temperature)) >= t;
  int at = block_exclusive_scan(c, shared32);
  for (int64_t i = begin; i < end; i++) {
    const float v = topk_value(x, seen, i, penalty, temperature);
    if (topk_key(v) >= t) {
      if (at < cap) {
        values[at] = v;
        ids[at] = (int32_t)i;
      }
      at++;
    }
  }
  const int total = block_sum(c, shared32);
  if (threadIdx.x == 0)
    *count = total;
}

static __global__ void mark_seen_kernel(uint8_t *seen, const int32_t *ids, int n_ids, int64_t n)
{
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n_ids && ids[i] >= 0 && ids[i] < n)
    seen[ids[i]] = 1;
}

extern "C" cudaError_t ivl_cuda_top_k(const float *logits, int64_t n, uint8_t *seen,
                                      const int32_t *seen_ids, int n_seen, float penalty,
                                      float temperature, int k, float *values, int32_t *ids,
                                      int cap, int32_t *count, cudaStream_t stream)
{
  if (n <= 0 || n > INT32_MAX || k <= 0 || cap < 0 || (n_seen > 0 && seen == nullptr))
    return cudaErrorInvalidValue;
  if (n_seen > 0) {
    cudaError_t err = cudaMemsetAsync(seen, 0, (size_t)n, stream);
    if (err != cudaSuccess)
      return err;
    IVL_LAUNCH(mark_seen_kernel, (n_seen + 255) / 256, 256, 0, stream, seen, seen_ids, n_seen, n);
  }
  IVL_LAUNCH(top_k_kernel, 1, TOPK_THREADS, 0, stream, logits, n, n_seen > 0 ? seen : nullptr,
             penalty, temperature, k, values, ids, cap, count);
  return cudaGetLastError();
}
