/* rope.cu — rotate-half (NeoX) rotary embedding in place. inv_freq and the angle are f32 as
 * in the upstream Qwen2RotaryEmbedding (1 / theta^(2i/hd), then pos * inv_freq), so large
 * positions round the way the reference does. */
#include "rope.cuh"

template <typename T>
static __global__ void rope_kernel(T *x, int64_t rows, int n_heads, int head_dim, int64_t pos0,
                                   const int32_t *pos_base, float theta, const float *theta_dev)
{
  if (theta_dev)
    theta = *theta_dev;
  const int half = head_dim / 2;
  const int64_t n = rows * n_heads * half;
  const int64_t base = pos0 + (pos_base ? *pos_base : 0);
  for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < n;
       e += (int64_t)gridDim.x * blockDim.x) {
    const int i = (int)(e % half);
    const int64_t rh = e / half; /* row * n_heads + head */
    rope_pair(x + rh * head_dim, i, head_dim, base + rh / n_heads, theta);
  }
}

extern "C" cudaError_t ivl_cuda_rope(void *x, ivl_cuda_dtype t, int64_t rows, int n_heads,
                                     int head_dim, int64_t pos0, const int32_t *pos_base,
                                     float theta, const float *theta_dev, cudaStream_t stream)
{
  const int64_t n = rows * n_heads * (head_dim / 2);
  if (n <= 0)
    return cudaSuccess;
  const unsigned blocks = ivl_blocks(n, 256) < 65535u ? ivl_blocks(n, 256) : 65535u;
  IVL_DISPATCH_ACT(t, T,
                   IVL_LAUNCH(rope_kernel<T>, blocks, 256, 0, stream, (T *)x, rows, n_heads,
                              head_dim, pos0, pos_base, theta, theta_dev));
  return cudaGetLastError();
}
