/* ivl-emu.h — what tests may ask the CUDA emulation (C and C++): counts of the runtime calls
 * whose number a fix is about, and cuBLAS's workspace. Only in -Demulate_cuda builds.
 *
 * The emulated device is set up by environment variables, read at the first call:
 *   IVL_EMU_DEVICES       number of devices (default 1; 0: cudaGetDeviceCount fails)
 *   IVL_EMU_MEMORY_MIB    total memory of each device (default 81559, an H100 80GB); a
 *                         comma-separated list gives each device its own (the last repeats)
 *   IVL_EMU_FREE_MIB      memory free at start (default: total - 512), a list likewise
 *   IVL_EMU_NO_PEER=1     no device can access another's memory (copies go through the host)
 *   IVL_EMU_FAIL_MALLOC=D:N  the N-th cudaMalloc on device D fails (out of memory)
 *   IVL_EMU_SM            compute capability reported, e.g. 100 (default 90)
 *   IVL_EMU_NO_KERNEL_IMAGE=1  every launch fails with cudaErrorNoKernelImageForDevice, as on a
 *                         GPU newer than the code the binary embeds
 *   IVL_EMU_CUBLAS_STATUS=N    every cuBLAS GEMM returns status N */
#ifndef IVL_EMU_H
#define IVL_EMU_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  uint64_t mallocs, frees, launches, graph_instantiations, graph_launches, gemms;
  uint64_t peer_copies; /* cudaMemcpyPeer(Async) calls */
} ivl_emu_stats;

void ivl_emu_get_stats(ivl_emu_stats *stats);
/* Bytes allocated on a device now. */
size_t ivl_emu_device_used(int device);
/* The workspace cuBLAS uses on `handle` (NULL: its own default pool). */
void *ivl_emu_cublas_workspace(void *handle);

#ifdef __cplusplus
}
#endif

#endif /* IVL_EMU_H */
