/* get-rows.cu — embedding gather y[i] = table[ids[i]], converting table dtype to y's. */
#include "common.cuh"

template <typename D, typename S>
static __global__ void get_rows_kernel(D *y, const S *table, int64_t table_rows, int64_t cols,
                                       const int32_t *ids)
{
  const int32_t id = ids[blockIdx.x];
  D *yr = y + blockIdx.x * cols;
  const bool valid = id >= 0 && id < table_rows;
  const S *tr = table + (valid ? (int64_t)id : 0) * cols;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x)
    ivl_store(yr, c, valid ? ivl_load(tr, c) : 0.0f);
}

template <typename D>
static cudaError_t get_rows_to(D *y, const void *table, ivl_cuda_dtype table_t, int64_t table_rows,
                               int64_t cols, const int32_t *ids, int64_t n, cudaStream_t stream)
{
  switch (table_t) {
  case IVL_CUDA_F32:
    IVL_LAUNCH(get_rows_kernel<D, float>, (unsigned)n, 256, 0, stream, y, (const float *)table,
               table_rows, cols, ids);
    break;
  case IVL_CUDA_BF16:
    IVL_LAUNCH(get_rows_kernel<D, bf16>, (unsigned)n, 256, 0, stream, y, (const bf16 *)table,
               table_rows, cols, ids);
    break;
  default:
    return cudaErrorInvalidValue;
  }
  return cudaGetLastError();
}

extern "C" cudaError_t ivl_cuda_get_rows(void *y, ivl_cuda_dtype y_t, const void *table,
                                         ivl_cuda_dtype table_t, int64_t table_rows, int64_t cols,
                                         const int32_t *ids, int64_t n, cudaStream_t stream)
{
  if (n <= 0)
    return cudaSuccess;
  IVL_DISPATCH_ACT(y_t, T,
                   return get_rows_to((T *)y, table, table_t, table_rows, cols, ids, n, stream));
}
