/* ivl-cuda-emu.h — the CUDA device model for kernels compiled by the host C++ compiler
 * (-Demulate_cuda=true; see cuda-emu/README.md). kernels/common.cuh includes it instead of
 * nothing when IVL_CUDA_EMULATION is defined, before the toolkit's headers, which then declare
 * the runtime (implemented in emu-runtime.cc) and the bf16/half types (host code as is).
 *
 * Each thread of a block is a fiber (emu-device.cc); __syncthreads, __syncwarp, shuffles and
 * votes are rendezvous that switch fibers. The index variables are fields of the running
 * fiber. The kernels are compiled with -fsanitize=thread only to get a call before each
 * memory access: emu-device.cc defines those calls itself (no TSan runtime is linked) and
 * checks global accesses against the allocations and their written bytes, and shared
 * accesses for races between barriers. */
#pragma once

#ifndef IVL_CUDA_EMULATION
#error "ivl-cuda-emu.h is for the emulated build only"
#endif

/* __shared__ variables are static locals: one copy for the block that runs (blocks run one
 * after another), zero-initialised, so in .bss, where the race check looks for them. */
#define __shared__ static
#define __launch_bounds__(...)

#include <cuda_runtime_api.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <tuple>
#include <type_traits>
#include <utility>

/* -- the running fiber's indices -- */
struct ivl_emu_thread_ids {
  uint3 thread_idx;
  uint3 block_idx;
  dim3 block_dim;
  dim3 grid_dim;
};
extern "C" const struct ivl_emu_thread_ids *ivl_emu_ids;
#define threadIdx (ivl_emu_ids->thread_idx)
#define blockIdx (ivl_emu_ids->block_idx)
#define blockDim (ivl_emu_ids->block_dim)
#define gridDim (ivl_emu_ids->grid_dim)
static constexpr int warpSize = 32;

/* -- synchronisation (emu-device.cc) -- */
enum ivl_emu_warp_op {
  IVL_EMU_SHFL_IDX,
  IVL_EMU_SHFL_UP,
  IVL_EMU_SHFL_DOWN,
  IVL_EMU_SHFL_XOR,
  IVL_EMU_BALLOT,
  IVL_EMU_SYNCWARP,
  IVL_EMU_GATHER,
};
extern "C" void ivl_emu_syncthreads(const char *file, int line);
/* The lanes of `mask` exchange 8-byte values: returns the value of the lane this op selects
 * (for a ballot: the mask of lanes whose value is non-zero). */
extern "C" uint64_t ivl_emu_warp(unsigned mask, enum ivl_emu_warp_op op, uint64_t value, int arg,
                                 int width, const char *file, int line);
/* Atomics: the fibers of a launch run one at a time, so a plain read-modify-write is atomic.
 * Its bytes move through ivl_emu_copy, outside the instrumented code (atomics are no race),
 * after the access check. */
extern "C" void ivl_emu_check_access(const void *p, size_t n, int write);
extern "C" void ivl_emu_copy(void *dst, const void *src, size_t n);
/* A thread's FLOPs, for the profile (IVL_FLOPS in kernels/common.cuh). */
extern "C" void ivl_emu_count_flops(double flops);
/* ... and those it does on tensor cores (IVL_TENSOR_FLOPS, kernels/mma.cuh). */
extern "C" void ivl_emu_count_tensor_flops(double flops);

/* Every lane of the full warp gives `n` bytes at `mine` (n <= IVL_EMU_GATHER_MAX); once all
 * have, each gets the 32 contributions, lane after lane, valid until its next warp operation:
 * the register exchange of a warp-wide instruction such as mma.sync (kernels/mma.cuh). */
#define IVL_EMU_GATHER_MAX 64
static inline const void *ivl_emu_warp_gather(const void *mine, size_t n,
                                              const char *file = __builtin_FILE(),
                                              int line = __builtin_LINE())
{
  return (const void *)(uintptr_t)ivl_emu_warp(0xffffffffu, IVL_EMU_GATHER, (uintptr_t)mine, (int)n,
                                               32, file, line);
}

#define __syncthreads() ivl_emu_syncthreads(__FILE__, __LINE__)
static inline void __syncwarp(unsigned mask = 0xffffffffu, const char *file = __builtin_FILE(),
                              int line = __builtin_LINE())
{
  ivl_emu_warp(mask, IVL_EMU_SYNCWARP, 0, 0, 32, file, line);
}

template <typename T> static inline uint64_t ivl_emu_bits(T v)
{
  static_assert(sizeof(T) <= 8, "shuffles move at most 8 bytes");
  uint64_t b = 0;
  memcpy(&b, &v, sizeof v);
  return b;
}
template <typename T> static inline T ivl_emu_from_bits(uint64_t b)
{
  T v;
  memcpy(&v, &b, sizeof v);
  return v;
}
#define IVL_EMU_SHFL(name, op)                                                                     \
  template <typename T>                                                                            \
  static inline T name(unsigned mask, T v, int arg, int width = 32,                                \
                       const char *file = __builtin_FILE(), int line = __builtin_LINE())           \
  {                                                                                                \
    return ivl_emu_from_bits<T>(ivl_emu_warp(mask, op, ivl_emu_bits(v), arg, width, file, line));  \
  }
IVL_EMU_SHFL(__shfl_sync, IVL_EMU_SHFL_IDX)
IVL_EMU_SHFL(__shfl_up_sync, IVL_EMU_SHFL_UP)
IVL_EMU_SHFL(__shfl_down_sync, IVL_EMU_SHFL_DOWN)
IVL_EMU_SHFL(__shfl_xor_sync, IVL_EMU_SHFL_XOR)
#undef IVL_EMU_SHFL
static inline unsigned __ballot_sync(unsigned mask, int pred, const char *file = __builtin_FILE(),
                                     int line = __builtin_LINE())
{
  return (unsigned)ivl_emu_warp(mask, IVL_EMU_BALLOT, pred != 0, 0, 32, file, line);
}
static inline int __any_sync(unsigned mask, int pred)
{
  return __ballot_sync(mask, pred) != 0;
}
static inline int __all_sync(unsigned mask, int pred)
{
  return (__ballot_sync(mask, pred) & mask) == mask;
}

/* -- memory -- */
template <typename T> static inline T __ldg(const T *p)
{
  return *p;
}
#define IVL_EMU_ATOMIC(name, expr)                                                                 \
  template <typename T, typename U> static inline T name(T *p, U v)                                \
  {                                                                                                \
    ivl_emu_check_access(p, sizeof(T), 1);                                                         \
    const T old = ivl_emu_atomic_load(p);                                                          \
    ivl_emu_atomic_store(p, (T)(expr));                                                            \
    return old;                                                                                    \
  }
template <typename T> static inline T ivl_emu_atomic_load(T *p)
{
  T v;
  ivl_emu_copy(&v, (const void *)p, sizeof v);
  return v;
}
template <typename T> static inline void ivl_emu_atomic_store(T *p, T v)
{
  ivl_emu_copy((void *)p, &v, sizeof v);
}
IVL_EMU_ATOMIC(atomicAdd, old + v)
IVL_EMU_ATOMIC(atomicSub, old - v)
IVL_EMU_ATOMIC(atomicExch, v)
IVL_EMU_ATOMIC(atomicMax, old > (T)v ? old : (T)v)
IVL_EMU_ATOMIC(atomicMin, old < (T)v ? old : (T)v)
IVL_EMU_ATOMIC(atomicOr, old | v)
IVL_EMU_ATOMIC(atomicAnd, old &v)
#undef IVL_EMU_ATOMIC
template <typename T> static inline T atomicCAS(T *p, T compare, T v)
{
  ivl_emu_check_access(p, sizeof(T), 1);
  const T old = ivl_emu_atomic_load(p);
  if (old == compare)
    ivl_emu_atomic_store(p, v);
  return old;
}
static inline void __threadfence(void)
{
}
static inline void __threadfence_block(void)
{
}

/* -- arithmetic intrinsics -- */
static inline float __uint_as_float(uint32_t u)
{
  float f;
  memcpy(&f, &u, 4);
  return f;
}
static inline uint32_t __float_as_uint(float f)
{
  uint32_t u;
  memcpy(&u, &f, 4);
  return u;
}
static inline float __int_as_float(int32_t i)
{
  return __uint_as_float((uint32_t)i);
}
static inline int32_t __float_as_int(float f)
{
  return (int32_t)__float_as_uint(f);
}
/* PRMT: byte i of the result is byte (s >> 4i) & 7 of the 8-byte value y:x. */
static inline uint32_t __byte_perm(uint32_t x, uint32_t y, uint32_t s)
{
  const uint64_t v = ((uint64_t)y << 32) | x;
  uint32_t r = 0;
  for (int i = 0; i < 4; i++)
    r |= (uint32_t)((v >> (8 * ((s >> (4 * i)) & 7))) & 0xFF) << (8 * i);
  return r;
}
static inline int __popc(unsigned v)
{
  return __builtin_popcount(v);
}
static inline int __clz(int v)
{
  return v == 0 ? 32 : __builtin_clz((unsigned)v);
}
static inline int __ffs(int v)
{
  return __builtin_ffs(v);
}
static inline float rsqrtf(float x)
{
  return 1.0f / sqrtf(x);
}
#define __expf(x) expf(x)
#define __logf(x) logf(x)
static inline float __fdividef(float a, float b)
{
  return a / b;
}
static inline float __saturatef(float x)
{
  return x < 0.0f ? 0.0f : x > 1.0f ? 1.0f : x;
}
/* CUDA's min and max take any mix of integer widths. */
template <typename A, typename B> static inline typename std::common_type<A, B>::type min(A a, B b)
{
  typedef typename std::common_type<A, B>::type C;
  return (C)a < (C)b ? (C)a : (C)b;
}
template <typename A, typename B> static inline typename std::common_type<A, B>::type max(A a, B b)
{
  typedef typename std::common_type<A, B>::type C;
  return (C)a > (C)b ? (C)a : (C)b;
}

/* -- launches -- */
struct ivl_emu_launch_site {
  const char *file;
  int line;
  const char *kernel; /* as the launch names it, for the profile */
};
/* Runs (or records, when `stream` is capturing) grid x block threads of `body`, which calls
 * the kernel with its arguments; launch limits are checked first and a violation becomes
 * the error cudaGetLastError returns. */
typedef void (*ivl_emu_body_fn)(void *args);
extern "C" void ivl_emu_launch(const void *kernel, dim3 grid, dim3 block, size_t shared,
                               cudaStream_t stream, ivl_emu_body_fn body, void *args,
                               void (*free_args)(void *), struct ivl_emu_launch_site site);

template <typename... P> struct ivl_emu_call {
  void (*kernel)(P...);
  std::tuple<typename std::decay<P>::type...> args;
  static void run(void *p)
  {
    ivl_emu_call *c = (ivl_emu_call *)p;
    std::apply(c->kernel, c->args);
  }
  static void release(void *p)
  {
    delete (ivl_emu_call *)p;
  }
};

template <typename... P, typename... A>
static inline void ivl_launch_at(ivl_emu_launch_site site, void (*kernel)(P...), dim3 grid,
                                 dim3 block, size_t shared, cudaStream_t stream, A &&...args)
{
  static_assert(sizeof...(P) == sizeof...(A), "kernel argument count");
  auto *c = new ivl_emu_call<P...>{kernel, {std::forward<A>(args)...}};
  ivl_emu_launch((const void *)kernel, grid, block, shared, stream, ivl_emu_call<P...>::run, c,
                 ivl_emu_call<P...>::release, site);
}

/* Dynamic shared memory (the launch's `shared` bytes). */
extern "C" void *ivl_emu_dynamic_shared(void);
#define IVL_EXTERN_SHARED(type, name) type *name = (type *)ivl_emu_dynamic_shared()
