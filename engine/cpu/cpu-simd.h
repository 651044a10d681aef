/* cpu-simd.h — what the CPU kernels share for their AVX2 paths: whether x86 intrinsics exist
 * here (the portable paths run elsewhere) and the horizontal sum they all end with. */
#ifndef IVL_CPU_SIMD_H
#define IVL_CPU_SIMD_H

#if defined(__x86_64__)
#include <immintrin.h>
#define HAVE_X86_SIMD 1
#else
#define HAVE_X86_SIMD 0
#endif

#if HAVE_X86_SIMD
/* The sum of v's eight lanes, in a fixed order (the row-alone bit identity relies on it). */
__attribute__((target("avx2,fma"), always_inline)) static inline float hsum(__m256 v)
{
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
#endif

#endif /* IVL_CPU_SIMD_H */
