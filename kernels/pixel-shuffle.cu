/* pixel-shuffle.cu — InternVL's pixel shuffle v2 (scale 0.5), closed form from the fact
 * sheet (7b): y[i][j][q*d + c] = x[2i + q/2][2j + q%2][c]. One block per output token. */
#include "common.cuh"

template <typename T>
static __global__ void pixel_shuffle_kernel(T *y, const T *x, int grid, int64_t d)
{
  const int h = grid / 2;
  const int64_t tile = blockIdx.x / (h * h);
  const int i = (int)(blockIdx.x % (h * h)) / h, j = (int)(blockIdx.x % h);
  T *yr = y + (int64_t)blockIdx.x * 4 * d;
  for (int64_t e = threadIdx.x; e < 4 * d; e += blockDim.x) {
    const int q = (int)(e / d);
    const int64_t c = e % d;
    const int64_t src = (tile * grid + 2 * i + q / 2) * grid + 2 * j + q % 2;
    yr[e] = x[src * d + c];
  }
}

extern "C" cudaError_t ivl_cuda_pixel_shuffle(void *y, const void *x, ivl_cuda_dtype t, int n_tiles,
                                              int grid, int64_t d, cudaStream_t stream)
{
  const int64_t blocks = (int64_t)n_tiles * (grid / 2) * (grid / 2);
  if (blocks <= 0)
    return cudaSuccess;
  IVL_DISPATCH_ACT(t, T,
                   IVL_LAUNCH(pixel_shuffle_kernel<T>, (unsigned)blocks, 256, 0, stream, (T *)y,
                              (const T *)x, grid, d));
  return cudaGetLastError();
}
