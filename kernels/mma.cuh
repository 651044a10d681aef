/* mma.cuh — the tensor-core instruction the attention kernels use: mma.sync m16n8k16 with
 * bf16 operands and f32 accumulators (sm_80 and later). On a GPU it is the PTX instruction;
 * under the CPU emulation (cuda-emu/) a warp-collective that gathers every lane's fragment
 * registers and computes each lane's part of the product from the fragment layouts as the PTX
 * ISA documents them ("Matrix Fragments for mma.m16n8k16 with floating point type", section
 * 9.7.14.5.8, figures 79-81), with g = lane / 4 and t = lane % 4:
 *   A (16 x 16, row-major), four .b32 registers of two bf16 (low half first):
 *     a[0] = A[g][2t, 2t+1]      a[1] = A[g+8][2t, 2t+1]
 *     a[2] = A[g][2t+8, 2t+9]    a[3] = A[g+8][2t+8, 2t+9]
 *   B (16 x 8, "col": each register holds two consecutive k of one column n = g):
 *     b[0] = B[2t, 2t+1][g]      b[1] = B[2t+8, 2t+9][g]
 *   C and D (16 x 8, f32):
 *     d[0], d[1] = D[g][2t, 2t+1]    d[2], d[3] = D[g+8][2t, 2t+1]
 * The emulation sums the 16 products (exact in f32: 8-bit significands) in k order and adds
 * them to C; a tensor core's internal order and rounding may differ in the last bits. */
#pragma once

#include "common.cuh"

#ifdef IVL_CUDA_EMULATION
struct ivl_mma_fragments {
  uint32_t a[4], b[2];
};

/* One lane's four elements of D from the warp's gathered fragments. Registers only, so not
 * instrumented: the emulator's access checks have nothing to see here, and would cost ten
 * times the arithmetic. */
__attribute__((no_sanitize_thread)) static inline void
ivl_mma_lane(float d[4], const ivl_mma_fragments *all, int lane)
{
  const int g = lane >> 2, t = lane & 3;
  for (int i = 0; i < 4; i++) {
    const int r = g + 8 * (i >> 1), n = 2 * t + (i & 1);
    float s = 0.0f;
    for (int k = 0; k < 16; k++) {
      /* A[r][k] and B[k][n], from the lanes and registers holding them (low half: even k) */
      const uint32_t ar = all[(r & 7) * 4 + ((k & 7) >> 1)].a[(r >> 3) + 2 * (k >> 3)];
      const uint32_t br = all[n * 4 + ((k & 7) >> 1)].b[k >> 3];
      const int sh = 16 * (k & 1);
      s += __uint_as_float(((ar >> sh) & 0xFFFFu) << 16) *
           __uint_as_float(((br >> sh) & 0xFFFFu) << 16);
    }
    d[i] += s;
  }
}
#endif

/* d += A B for one warp (all 32 lanes must call it together). */
static __device__ inline void ivl_mma_bf16_16816(float d[4], const uint32_t a[4],
                                                 const uint32_t b[2])
{
#ifdef IVL_CUDA_EMULATION
  const ivl_mma_fragments mine = {{a[0], a[1], a[2], a[3]}, {b[0], b[1]}};
  const int lane = (int)(threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z)) & 31;
  ivl_mma_lane(d, (const ivl_mma_fragments *)ivl_emu_warp_gather(&mine, sizeof mine), lane);
  /* The warp's 16 x 8 x 16 multiply-adds, a 32nd per lane, at the tensor-core rate. */
  IVL_TENSOR_FLOPS(2 * 16 * 8 * 16 / 32);
#else
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
#error "mma.sync with bf16 operands needs sm_80 or later"
#endif
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, "
               "{%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
               : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#endif
}

/* Two floats as a register of two bf16, `lo` in the low half (the lower column or k). */
static __device__ inline uint32_t ivl_pack_bf16x2(float lo, float hi)
{
  const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  uint32_t r;
  memcpy(&r, &v, sizeof r);
  return r;
}

/* cp.async (sm_80): 16 bytes from global to shared memory without passing through registers,
 * so the loads of the next tile fly while the warps compute on this one. The emulation copies
 * at once (through the checked accesses: the race check sees the shared write at the issue,
 * so a read of the destination before the wait and barrier is reported as on any write);
 * commit and wait are then nothing to do. Both addresses 16-byte aligned. */
static __device__ inline void ivl_cp_async16(void *shared, const void *global)
{
#ifdef IVL_CUDA_EMULATION
  *(uint4 *)shared = *(const uint4 *)global;
#else
  const unsigned s = (unsigned)__cvta_generic_to_shared(shared);
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(s), "l"(global));
#endif
}

/* Closes the group of the cp.async issued since the last commit. */
static __device__ inline void ivl_cp_async_commit(void)
{
#ifndef IVL_CUDA_EMULATION
  asm volatile("cp.async.commit_group;\n" ::);
#endif
}

/* Waits until at most `N` committed groups are still in flight (then a barrier shares them). */
template <int N> static __device__ inline void ivl_cp_async_wait(void)
{
#ifndef IVL_CUDA_EMULATION
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
#endif
}
