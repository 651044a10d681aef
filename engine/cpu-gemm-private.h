/* cpu-gemm-private.h — what the packed GEMM (cpu-gemm.c) and the streaming GEMV (cpu-gemv.c)
 * share: reading B's elements where they are stored. */
#ifndef IVL_CPU_GEMM_PRIVATE_H
#define IVL_CPU_GEMM_PRIVATE_H

#include "cpu-kernels.h"
#include "cpu-simd.h"

#if HAVE_X86_SIMD
__attribute__((target("avx2,fma,f16c"), always_inline)) static inline __m256
load8(const void *b, int64_t kk, ivl_dtype dtype)
{
  if (dtype == IVL_DTYPE_F32)
    return _mm256_loadu_ps((const float *)b + kk);
  __m128i h = _mm_loadu_si128((const __m128i *)((const uint16_t *)b + kk));
  if (dtype == IVL_DTYPE_F16)
    return _mm256_cvtph_ps(h);
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

#endif

static inline const char *b_at(const cpu_gemm_args *g, int64_t index)
{
  return (const char *)g->b + index * (int64_t)ivl_dtype_size(g->b_dtype);
}

/* cpu_gemm_tile for few rows (g->m small, A not quantized): each row of B is read once and
 * converted in registers. */
void cpu_gemv_tile(const cpu_gemm_args *g, int64_t i0, int64_t i1, int64_t j0, int64_t j1,
                   gboolean simd);

/* The packed GEMM's AVX-512 path (cpu-gemm-avx512.c), for g->m above the GEMV's rows. */
void cpu_gemm_packed_avx512(const cpu_gemm_args *g, int64_t i0, int64_t i1, int64_t j0, int64_t j1);
/* cpu_gemm_a_blocks_size and cpu_gemm_pack_a for that kernel. */
size_t cpu_gemm_avx512_a_blocks_size(const cpu_gemm_args *g);
void cpu_gemm_avx512_pack_a(const cpu_gemm_args *g, float *dst, int64_t r0, int64_t r1);

#endif /* IVL_CPU_GEMM_PRIVATE_H */
