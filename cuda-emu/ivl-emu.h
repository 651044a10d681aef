/* ivl-emu.h — what tests may ask the CUDA emulation (C and C++): counts of the runtime calls
 * whose number a fix is about, and cuBLAS's workspace. Only in -Demulate_cuda builds.
 *
 * The emulated device is set up by environment variables, read at the first call:
 *   IVL_EMU_DEVICES       number of devices (default 1; 0: cudaGetDeviceCount fails)
 *   IVL_EMU_MEMORY_MIB    total memory of each device (default 81559, an H100 80GB)
 *   IVL_EMU_FREE_MIB      memory free at start (default: total - 512)
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
} ivl_emu_stats;

void ivl_emu_get_stats(ivl_emu_stats *stats);
/* The workspace cuBLAS uses on `handle` (NULL: its own default pool). */
void *ivl_emu_cublas_workspace(void *handle);

#ifdef __cplusplus
}
#endif

#endif /* IVL_EMU_H */
