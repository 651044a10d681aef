/* probe.cu — the kernel the backend launches when it opens a device (ivl-cuda.h). */
#include "common.cuh"

static __global__ void probe_kernel(int32_t *flag)
{
  *flag = 1;
}

extern "C" cudaError_t ivl_cuda_probe(int32_t *flag, cudaStream_t stream)
{
  IVL_LAUNCH(probe_kernel, 1, 1, 0, stream, flag);
  return cudaGetLastError();
}
