/* patchify.cu — tiles of f32 pixels (CHW) to rows of 14x14x3 patches flattened (c, ky, kx),
 * the layout of the patch-embedding Conv2d weight, so the conv becomes one matmul. */
#include "common.cuh"

template <typename T>
static __global__ void patchify_kernel(T *y, const float *pixels, int64_t n, int image_size,
                                       int patch)
{
  const int g = image_size / patch, pp = patch * patch, k = 3 * pp;
  for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < n;
       e += (int64_t)gridDim.x * blockDim.x) {
    const int col = (int)(e % k);
    const int64_t row = e / k; /* tile * g*g + py * g + px */
    const int c = col / pp, ky = (col % pp) / patch, kx = col % patch;
    const int64_t tile = row / ((int64_t)g * g);
    const int py = (int)(row % ((int64_t)g * g)) / g, px = (int)(row % g);
    const int64_t src = ((tile * 3 + c) * image_size + (int64_t)py * patch + ky) * image_size +
                        (int64_t)px * patch + kx;
    ivl_store(y, e, pixels[src]);
  }
}

extern "C" cudaError_t ivl_cuda_patchify(void *y, ivl_cuda_dtype y_t, const float *pixels,
                                         int n_tiles, int image_size, int patch,
                                         cudaStream_t stream)
{
  const int64_t g = image_size / patch;
  const int64_t n = (int64_t)n_tiles * g * g * 3 * patch * patch;
  if (n <= 0)
    return cudaSuccess;
  const unsigned blocks = ivl_blocks(n, 256) < 65535u ? ivl_blocks(n, 256) : 65535u;
  IVL_DISPATCH_ACT(
      y_t, T,
      IVL_LAUNCH(patchify_kernel<T>, blocks, 256, 0, stream, (T *)y, pixels, n, image_size, patch));
  return cudaGetLastError();
}
