/* copy-rows.cu — row block copy (KV cache writes, image embeddings into the prompt). A kernel
 * rather than cudaMemcpyAsync so the destination row can come from device memory and a
 * captured decode graph writes the cache at the replayed position. */
#include "common.cuh"

template <typename U>
static __global__ void copy_rows_kernel(U *dst, int64_t dst_rows, int64_t dst_row0,
                                        const int32_t *pos_base, const U *src, int64_t src_row0,
                                        int64_t units_per_row)
{
  const int64_t row = dst_row0 + (pos_base ? *pos_base : 0) + blockIdx.x;
  if (row < 0 || row >= dst_rows)
    return;
  U *d = dst + row * units_per_row;
  const U *s = src + (src_row0 + blockIdx.x) * units_per_row;
  for (int64_t i = threadIdx.x; i < units_per_row; i += blockDim.x)
    d[i] = s[i];
}

extern "C" cudaError_t ivl_cuda_copy_rows(void *dst, int64_t dst_rows, int64_t dst_row0,
                                          const int32_t *pos_base, const void *src,
                                          int64_t src_row0, int64_t n_rows, int64_t row_bytes,
                                          cudaStream_t stream)
{
  if (n_rows <= 0)
    return cudaSuccess;
  /* 16-byte units when every row start is 16-byte aligned, else 2-byte (the smallest dtype). */
  const bool wide = row_bytes % 16 == 0 && (uintptr_t)dst % 16 == 0 && (uintptr_t)src % 16 == 0;
  if (wide)
    IVL_LAUNCH(copy_rows_kernel<uint4>, (unsigned)n_rows, 128, 0, stream, (uint4 *)dst, dst_rows,
               dst_row0, pos_base, (const uint4 *)src, src_row0, row_bytes / 16);
  else
    IVL_LAUNCH(copy_rows_kernel<uint16_t>, (unsigned)n_rows, 256, 0, stream, (uint16_t *)dst,
               dst_rows, dst_row0, pos_base, (const uint16_t *)src, src_row0, row_bytes / 2);
  return cudaGetLastError();
}
