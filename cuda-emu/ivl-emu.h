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

/* The roofline a profile prices each launch with (emu-profile.cc): a launch costs launch_s
 * plus the larger of its global bytes over bytes_per_s and its FLOPs over the rate of the
 * units doing them (cuBLAS with 16-bit operands and a kernel's mma: tensor cores; the rest of
 * a kernel's: CUDA cores; a kernel doing both pays the sum of the two times). Copies
 * between host and device move at host_bytes_per_s. */
typedef struct {
  double bytes_per_s, tensor_flops_per_s, cuda_core_flops_per_s, host_bytes_per_s, launch_s;
} ivl_emu_roofline;
typedef struct {
  char name[96]; /* kernel (file:line of its launch), cuBLAS call and shape, or runtime copy */
  uint64_t launches;
  double bytes, flops, seconds; /* summed over its launches; seconds as priced */
} ivl_emu_profile_entry;
/* Starts (again, from nothing) counting every launch. */
void ivl_emu_profile_start(const ivl_emu_roofline *roofline);
void ivl_emu_profile_stop(void);
/* The entries counted since the start, most seconds first: fills up to max, returns all. */
size_t ivl_emu_profile_read(ivl_emu_profile_entry *out, size_t max);
/* What a kernel says it computes (IVL_FLOPS in kernels/common.cuh), added to its launch. */
void ivl_emu_count_flops(double flops);
/* The same for a kernel's tensor-core instructions (IVL_TENSOR_FLOPS, kernels/mma.cuh). */
void ivl_emu_count_tensor_flops(double flops);

#ifdef __cplusplus
}
#endif

#endif /* IVL_EMU_H */
