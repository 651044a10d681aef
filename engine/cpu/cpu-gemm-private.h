/* cpu-gemm-private.h — what the packed GEMM's paths (cpu-gemm.c, cpu-gemm-avx512.c,
 * cpu-gemm-bf16dot.c) and the streaming GEMV (cpu-gemv.c) share: reading B's elements where
 * they are stored, transposing them into panels, asking for them ahead. */
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

#define AVX512_TARGET "avx512f,avx512bw,avx512vl,avx2,fma,f16c"

/* r[i] = row i of a 16 x 16 block becomes r[i] = column i. */
__attribute__((target(AVX512_TARGET), always_inline)) static inline void transpose16(__m512 r[16])
{
  __m512 t[16], u[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
  /* u[4q + j], lane L: rows 4q..4q+3 of column 4L + j */
  for (int q = 0; q < 4; q++) {
    __m512 *tq = t + 4 * q, *uq = u + 4 * q;
    uq[0] = _mm512_shuffle_ps(tq[0], tq[2], _MM_SHUFFLE(1, 0, 1, 0));
    uq[1] = _mm512_shuffle_ps(tq[0], tq[2], _MM_SHUFFLE(3, 2, 3, 2));
    uq[2] = _mm512_shuffle_ps(tq[1], tq[3], _MM_SHUFFLE(1, 0, 1, 0));
    uq[3] = _mm512_shuffle_ps(tq[1], tq[3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int j = 0; j < 4; j++) {
    __m512 v0 = _mm512_shuffle_f32x4(u[j], u[4 + j], 0x88); /* lanes 0, 2 of rows 0-7 */
    __m512 v1 = _mm512_shuffle_f32x4(u[j], u[4 + j], 0xdd); /* lanes 1, 3 */
    __m512 v2 = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0x88);
    __m512 v3 = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0xdd);
    r[j] = _mm512_shuffle_f32x4(v0, v2, 0x88);
    r[8 + j] = _mm512_shuffle_f32x4(v0, v2, 0xdd);
    r[4 + j] = _mm512_shuffle_f32x4(v1, v3, 0x88);
    r[12 + j] = _mm512_shuffle_f32x4(v1, v3, 0xdd);
  }
}

/* CASE(n) for the register tile's row counts 12 down to 2 (the AVX-512 kernels' switch on mr;
 * 1 is their default). */
#define CPU_GEMM_ROWS_2_TO_12(CASE)                                                                \
  CASE(12) CASE(11) CASE(10) CASE(9) CASE(8) CASE(7) CASE(6) CASE(5) CASE(4) CASE(3) CASE(2)

/* The lanes below n (0 <= n, all 16 from 16 up). */
__attribute__((target(AVX512_TARGET), always_inline)) static inline __mmask16 mask16(int n)
{
  return n >= 16 ? (__mmask16)0xffff : n <= 0 ? 0 : (__mmask16)((1u << n) - 1);
}

/* The end of a register tile of mr rows x 32 columns (c0: columns 0-15, c1: 16-31), nb of
 * them kept: C = alpha * acc + bias on the first k block (first), C += alpha * acc after. */
__attribute__((target(AVX512_TARGET), always_inline)) static inline void
store_tile_avx512(const int mr, const __m512 *c0, const __m512 *c1, float *c, int64_t ldc, int nb,
                  float alpha, const float *bias, gboolean first)
{
  __mmask16 m0 = mask16(nb), m1 = mask16(nb - 16);
  __m512 va = _mm512_set1_ps(alpha);
  __m512 bias0 = bias ? _mm512_maskz_loadu_ps(m0, bias) : _mm512_setzero_ps();
  __m512 bias1 = bias ? _mm512_maskz_loadu_ps(m1, bias + 16) : _mm512_setzero_ps();
#pragma GCC unroll 12
  for (int r = 0; r < mr; r++) {
    float *cr = c + r * ldc;
    __m512 base0 = first ? bias0 : _mm512_maskz_loadu_ps(m0, cr);
    __m512 base1 = first ? bias1 : _mm512_maskz_loadu_ps(m1, cr + 16);
    _mm512_mask_storeu_ps(cr, m0, _mm512_fmadd_ps(va, c0[r], base0));
    _mm512_mask_storeu_ps(cr + 16, m1, _mm512_fmadd_ps(va, c1[r], base1));
  }
}
#endif

static inline const char *b_at(const cpu_gemm_args *g, int64_t index)
{
  return (const char *)g->b + index * (int64_t)ivl_dtype_size(g->b_dtype);
}

/* Where the packers read row j of B from value k0, kc values: in B, or for the compact layout
 * decoded into scratch (kc bf16). */
static inline const char *b_row(const cpu_gemm_args *g, int64_t j, int64_t k0, int kc,
                                uint16_t *scratch)
{
  if (!g->bc)
    return b_at(g, j * g->ldb + k0);
  cpu_compact_bf16_values(g->bc, j, k0, kc, scratch);
  return (const char *)scratch;
}

/* The cache lines prefetch_b counts for one row of B, kc values deep (one more for a start
 * inside a line, or for the compact layout inside a block). */
static inline int64_t b_lines(const cpu_gemm_args *g, int kc)
{
  if (g->bc)
    return ((kc + CPU_COMPACT_BF16_BLOCK - 1) / CPU_COMPACT_BF16_BLOCK + 1) *
               CPU_COMPACT_BF16_BLOCK_BYTES / 64 +
           1;
  return (kc * (int64_t)ivl_dtype_size(g->b_dtype) + 63) / 64 + 1;
}

#if HAVE_X86_SIMD
/* The B rows a pack_rows of columns [j, j + nb), values [k0, k0 + kc) will read, as lines
 * [line0, line1) of them (row-major over the columns), asked for into L2. */
static inline void prefetch_b(const cpu_gemm_args *g, int64_t j, int nb, int64_t k0, int kc,
                              int64_t line0, int64_t line1)
{
  int64_t per_row = b_lines(g, kc);
  for (int64_t l = line0; l < line1 && l / per_row < nb; l++) {
    int64_t row = j + l / per_row;
    const char *start =
        g->bc ? (const char *)g->bc->blocks +
                    (row * g->bc->n_blocks + k0 / CPU_COMPACT_BF16_BLOCK) *
                        CPU_COMPACT_BF16_BLOCK_BYTES
              : b_at(g, row * g->ldb + k0);
    _mm_prefetch(start + l % per_row * 64, _MM_HINT_T1);
  }
}

#endif

/* cpu_gemm_tile for few rows (g->m small, A not quantized): each row of B is read once and
 * converted in registers. */
void cpu_gemv_tile(const cpu_gemm_args *g, int64_t i0, int64_t i1, int64_t j0, int64_t j1,
                   gboolean simd);

/* The packed GEMM's AVX-512 path (cpu-gemm-avx512.c), for g->m above the GEMV's rows. */
void cpu_gemm_packed_avx512(const cpu_gemm_args *g, int64_t i0, int64_t i1, int64_t j0, int64_t j1);
/* cpu_gemm_a_blocks_size and cpu_gemm_pack_a for that kernel. */
size_t cpu_gemm_avx512_a_blocks_size(const cpu_gemm_args *g);
void cpu_gemm_avx512_pack_a(const cpu_gemm_args *g, float *dst, int64_t r0, int64_t r1);

/* The bf16 dot-product path (cpu-gemm-bf16dot.c): bf16 B stored [n, k], g->bf16_dot. */
void cpu_gemm_packed_bf16dot(const cpu_gemm_args *g, int64_t i0, int64_t i1, int64_t j0,
                             int64_t j1);
/* cpu_gemm_a_blocks_size and cpu_gemm_pack_a for it: A rounded to bf16 pairs. */
size_t cpu_gemm_bf16dot_a_blocks_size(const cpu_gemm_args *g);
void cpu_gemm_bf16dot_pack_a(const cpu_gemm_args *g, float *dst, int64_t r0, int64_t r1);

#endif /* IVL_CPU_GEMM_PRIVATE_H */
