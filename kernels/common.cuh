/* common.cuh — helpers shared by the kernels: typed loads/stores, warp and block reductions,
 * and the dispatch from a run-time dtype to a template instantiation. */
#pragma once

#ifdef IVL_CUDA_EMULATION
#include "ivl-cuda-emu.h" /* the device model on the CPU (cuda-emu/) */
#endif
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>

#include "ivl-cuda.h"

typedef __nv_bfloat16 bf16;

__device__ __forceinline__ float ivl_load(const float *p, int64_t i)
{
  return p[i];
}
__device__ __forceinline__ float ivl_load(const bf16 *p, int64_t i)
{
  return __bfloat162float(p[i]);
}
__device__ __forceinline__ float ivl_load(const __half *p, int64_t i)
{
  return __half2float(p[i]);
}
__device__ __forceinline__ void ivl_store(float *p, int64_t i, float v)
{
  p[i] = v;
}
__device__ __forceinline__ void ivl_store(bf16 *p, int64_t i, float v)
{
  p[i] = __float2bfloat16(v);
}
__device__ __forceinline__ void ivl_store(__half *p, int64_t i, float v)
{
  p[i] = __float2half(v);
}

/* Weights are stored as raw bf16 bits. */
__device__ __forceinline__ float ivl_wload(const uint16_t *w, int64_t i)
{
  return __uint_as_float((uint32_t)w[i] << 16);
}

/* v as an activation of type T holds it (bf16: rounded; f32: unchanged): the fused kernels
 * round what the separate ones store between steps, so that they give the same bits. */
template <typename T> __device__ __forceinline__ float ivl_round(float v)
{
  T t;
  ivl_store(&t, 0, v);
  return ivl_load(&t, 0);
}

/* The element-wise steps that separate kernels and fused ones share, so that both compile
 * to the same arithmetic (a contraction into an FMA included). */
__device__ __forceinline__ float ivl_gelu(float v) /* exact: 0.5 v (1 + erf(v / sqrt 2)) */
{
  return 0.5f * v * (1.0f + erff(v * 0.70710678118654752f));
}
__device__ __forceinline__ float ivl_scaled_add(float y, float x, float scale)
{
  return y + x * scale;
}

__device__ __forceinline__ float ivl_warp_sum(float v)
{
#pragma unroll
  for (int o = 16; o > 0; o >>= 1)
    v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__device__ __forceinline__ float ivl_warp_max(float v)
{
#pragma unroll
  for (int o = 16; o > 0; o >>= 1)
    v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

/* Sum over a block of up to 1024 threads; every thread gets the result. `scratch` holds 32
 * floats in shared memory and may be reused after the call returns. */
__device__ __forceinline__ float ivl_block_sum(float v, float *scratch)
{
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int n_warps = (blockDim.x + 31) >> 5;
  v = ivl_warp_sum(v);
  __syncthreads(); /* scratch may still be read by a previous call */
  if (lane == 0)
    scratch[warp] = v;
  __syncthreads();
  v = lane < n_warps ? scratch[lane] : 0.0f;
  return ivl_warp_sum(v);
}

/* Every launch goes through IVL_LAUNCH(kernel, grid, block, shared_bytes, stream, args...):
 * on a GPU it is kernel<<<grid, block, shared_bytes, stream>>>(args...); in the emulation a
 * call that runs the grid's threads on the CPU. */
#ifdef IVL_CUDA_EMULATION
#define IVL_LAUNCH(kernel, ...)                                                                    \
  ivl_launch_at(ivl_emu_launch_site{__FILE__, __LINE__, #kernel}, kernel, __VA_ARGS__)
#else
template <typename... P, typename... A>
static inline void ivl_launch(void (*kernel)(P...), dim3 grid, dim3 block, size_t shared,
                              cudaStream_t stream, A... args)
{
  kernel<<<grid, block, shared, stream>>>(args...);
}
#define IVL_LAUNCH(...) ivl_launch(__VA_ARGS__)
#endif

/* Dynamic shared memory (the launch's shared bytes) as a `type *`; one byte array for every
 * kernel, since nvcc refuses extern __shared__ arrays of different types under one name.
 * 16-byte aligned (cp.async, uint4). The emulation defines its own (ivl-cuda-emu.h). */
#ifndef IVL_CUDA_EMULATION
#define IVL_EXTERN_SHARED(type, name)                                                              \
  extern __shared__ __align__(16) unsigned char ivl_dynamic_shared[];                              \
  type *name = (type *)ivl_dynamic_shared
#endif

/* The FLOPs a thread does, for the emulation's roofline projection (cuda-emu/emu-profile.cc):
 * only kernels that may be compute-bound say theirs; nothing on a GPU. */
#ifdef IVL_CUDA_EMULATION
#define IVL_FLOPS(n) ivl_emu_count_flops((double)(n))
#else
#define IVL_FLOPS(n) ((void)0)
#endif
/* The same for tensor-core FLOPs (mma.cuh counts its own), priced at the tensor-core rate. */
#ifdef IVL_CUDA_EMULATION
#define IVL_TENSOR_FLOPS(n) ivl_emu_count_tensor_flops((double)(n))
#else
#define IVL_TENSOR_FLOPS(n) ((void)0)
#endif

static inline unsigned ivl_blocks(int64_t n, int threads)
{
  return (unsigned)((n + threads - 1) / threads);
}

/* Calls body.template operator()<T>() with T the C++ type of an activation dtype; f32 and
 * bf16 only (the backend rejects others before they get here). */
#define IVL_DISPATCH_ACT(t, T, ...)                                                                \
  do {                                                                                             \
    if ((t) == IVL_CUDA_F32) {                                                                     \
      typedef float T;                                                                             \
      __VA_ARGS__;                                                                                 \
    } else if ((t) == IVL_CUDA_BF16) {                                                             \
      typedef bf16 T;                                                                              \
      __VA_ARGS__;                                                                                 \
    } else {                                                                                       \
      return cudaErrorInvalidValue;                                                                \
    }                                                                                              \
  } while (0)
