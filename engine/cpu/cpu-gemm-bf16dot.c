/* The packed GEMM's bf16 dot-product path (cpu-gemm.c chooses it for bf16 weights where
 * g->bf16_dot: the CPU has AVX512_BF16 and IVL_CPU_BF16_DOT is not "0"; and for attention's
 * f32 keys and values where g->bf16_dot_f32, rounded to bf16 as they are packed).
 *
 * vdpbf16ps multiplies pairs of bf16 and adds both products to an f32 lane; Zen 4 runs it at
 * twice the f32 FMA rate (one core: 232 against 113 GFLOP/s). A is rounded to bf16 (nearest
 * even) where it is copied, as llama.cpp's bf16 products and transformers' bf16 Linear layers
 * do; B stays bf16, packed in panels of NR = 32 columns with k interleaved in pairs (half the
 * bytes of the f32 panels, and no conversion). The blocking is the f32 AVX-512 path's: a
 * block of NC columns KC deep, a register tile of MR x 32 that broadcasts one pair of A against
 * two 16-wide rows of pairs. Per f32 lane, one instruction computes
 *     acc = (acc + a[2p+1] * b[2p+1]) + a[2p] * b[2p]
 * each add rounded to nearest even, the products exact; bf16 denormal inputs read as zero and
 * denormal sums are flushed to zero (tests/compute/test-bf16-dot.c checks the kernel against
 * exactly that, bit for bit). Each k block's sum starts from zero and is added to C times alpha
 * as in the f32 path, and the block depth is a function of k alone: tiles do not change a bit.
 */
#include "cpu-gemm-private.h"

#if HAVE_X86_SIMD
#include <cpuid.h>
#endif
#include <string.h>

gboolean cpu_bf16_dot_available(void)
{
  if (!cpu_avx512_available() || g_strcmp0(g_getenv("IVL_CPU_BF16_DOT"), "0") == 0)
    return FALSE;
#if HAVE_X86_SIMD
  unsigned eax, ebx, ecx, edx;
  /* CPUID.(EAX=7, ECX=1):EAX bit 5 (clang's __builtin_cpu_supports lacks "avx512bf16") */
  return __get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx) && (eax & (1u << 5)) != 0;
#else
  return FALSE;
#endif
}

#define KC_MAX CPU_GEMM_KC_MAX

#if HAVE_X86_SIMD

#define MR 12
#define NR 32
#define NC 256
/* A's rows in the copy, in pairs: 17 cache lines apart, so a tile's twelve rows fall in twelve
 * sets of the L1 cache whatever A's own stride */
#define A_LD (KC_MAX / 2 + 16)

#define BF16_TARGET AVX512_TARGET ",avx512bf16"

/* rows of A (stride lda), values [0, kc), rounded to bf16 into dst (rows A_LD pairs apart),
 * pair p = value 2p in the low half, 2p + 1 in the high one; an odd kc's last pair ends in 0. */
__attribute__((target(BF16_TARGET))) static void a_to_pairs(uint32_t *dst, const float *a,
                                                            int64_t lda, int64_t rows, int kc)
{
  for (int64_t r = 0; r < rows; r++) {
    const float *src = a + r * lda;
    uint32_t *d = dst + r * A_LD;
    for (int kk = 0; kk < kc; kk += 32) {
      int n = MIN(32, kc - kk);
      __m512 lo = _mm512_maskz_loadu_ps(mask16(n), src + kk);
      __m512 hi = _mm512_maskz_loadu_ps(mask16(n - 16), src + kk + 16);
      __m512i v = (__m512i)_mm512_cvtne2ps_pbh(hi, lo);
      _mm512_mask_storeu_epi32(d + kk / 2, mask16((n + 1) / 2), v);
    }
  }
}

/* 16 pairs of a row of B from value 2 * pp, ne values of it (the others 0), as bits of a zmm:
 * bf16 as stored, f32 rounded to bf16 (attention's keys). */
__attribute__((target(BF16_TARGET), always_inline)) static inline __m512
load_pairs(const char *row, int pp, int ne, ivl_dtype dtype)
{
  if (dtype == IVL_DTYPE_BF16) {
    __mmask32 m = ne >= 32 ? (__mmask32)0xffffffffu : (__mmask32)((1u << ne) - 1);
    return _mm512_castsi512_ps(_mm512_maskz_loadu_epi16(m, (const uint16_t *)row + 2 * pp));
  }
  const float *f = (const float *)row + 2 * pp;
  __m512 lo = _mm512_maskz_loadu_ps(mask16(ne), f),
         hi = _mm512_maskz_loadu_ps(mask16(ne - 16), f + 16);
  return (__m512)_mm512_cvtne2ps_pbh(hi, lo);
}

__attribute__((target(BF16_TARGET), always_inline)) static inline void
pack_pairs_t(uint32_t *panel, const char *const rows[16], int n, int kc, ivl_dtype dtype)
{
  int kp = (kc + 1) / 2;
  for (int pp = 0; pp < kp; pp += 16) {
    int ne = MIN(32, kc - 2 * pp);
    __m512 r[16];
    for (int c = 0; c < 16; c++)
      r[c] = c < n ? load_pairs(rows[c], pp, ne, dtype) : _mm512_setzero_ps();
    transpose16(r);
    for (int i = 0; i < MIN(16, kp - pp); i++)
      _mm512_store_ps((float *)panel + (pp + i) * NR, r[i]);
  }
}

/* One panel of nb <= NR columns of B stored [n, k] (weights in bf16, keys in f32), values
 * [k0, k0 + kc), in pairs: panel[p * NR + c] = pair p of column c; columns past nb and the
 * value past an odd kc are 0. */
__attribute__((target(BF16_TARGET))) static void pack_pairs(uint32_t *panel, const cpu_gemm_args *g,
                                                            int64_t j0, int nb, int64_t k0, int kc)
{
  _Alignas(64) uint16_t scratch[g->bc ? 16 : 1][KC_MAX]; /* the compact layout decoded */
  for (int half = 0; half < 2; half++) {
    const char *rows[16];
    int n = MAX(0, MIN(16, nb - 16 * half));
    for (int c = 0; c < 16; c++)
      rows[c] = c < n ? b_row(g, j0 + 16 * half + c, k0, kc, scratch[g->bc ? c : 0]) : NULL;
    if (g->b_dtype == IVL_DTYPE_BF16) /* a constant dtype per instance: no branch per load */
      pack_pairs_t(panel + 16 * half, rows, n, kc, IVL_DTYPE_BF16);
    else
      pack_pairs_t(panel + 16 * half, rows, n, kc, IVL_DTYPE_F32);
  }
}

/* The same from an f32 B stored [k, n] (attention's values): values 2p and 2p + 1 of a column
 * are in two rows of B, rounded to bf16 and interleaved. */
__attribute__((target(BF16_TARGET))) static void
pack_pairs_cols(uint32_t *panel, const cpu_gemm_args *g, int64_t j0, int nb, int64_t k0, int kc)
{
  for (int p = 0; p < (kc + 1) / 2; p++) {
    const float *even = (const float *)g->b + (k0 + 2 * p) * g->ldb + j0;
    const float *odd = even + g->ldb;
    gboolean has_odd = 2 * p + 1 < kc;
    for (int half = 0; half < 2; half++) {
      __mmask16 m = mask16(nb - 16 * half);
      __m512i e = _mm512_cvtepu16_epi32(
          (__m256i)_mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, even + 16 * half)));
      __m512i o = has_odd ? _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(
                                _mm512_maskz_loadu_ps(m, odd + 16 * half)))
                          : _mm512_setzero_si512();
      _mm512_store_si512(panel + p * NR + 16 * half, _mm512_or_si512(e, _mm512_slli_epi32(o, 16)));
    }
  }
}

/* C[0:mr, 0:nb] = alpha * A[0:mr] · panel (kp pairs) + bias (first k block), or C += alpha * (...).
 */
__attribute__((target(BF16_TARGET), always_inline)) static inline void
kernel_rows(const int mr, int kp, const uint32_t *a, const uint32_t *panel, float *c, int64_t ldc,
            int nb, float alpha, const float *bias, gboolean first)
{
  __m512 c0[MR], c1[MR];
#pragma GCC unroll 12
  for (int r = 0; r < mr; r++) {
    c0[r] = c1[r] = _mm512_setzero_ps();
    _mm_prefetch((const char *)(c + r * ldc), _MM_HINT_T0);
    _mm_prefetch((const char *)(c + r * ldc + 16), _MM_HINT_T0);
  }
  for (int p = 0; p < kp; p++) {
    __m512bh b0 = (__m512bh)_mm512_load_si512(panel + p * NR);
    __m512bh b1 = (__m512bh)_mm512_load_si512(panel + p * NR + 16);
#pragma GCC unroll 12
    for (int r = 0; r < mr; r++) {
      __m512bh av = (__m512bh)_mm512_set1_epi32((int)a[r * A_LD + p]);
      c0[r] = _mm512_dpbf16_ps(c0[r], av, b0);
      c1[r] = _mm512_dpbf16_ps(c1[r], av, b1);
    }
  }
  store_tile_avx512(mr, c0, c1, c, ldc, nb, alpha, bias, first);
}

__attribute__((target(BF16_TARGET))) static void kernel(int mr, int kp, const uint32_t *a,
                                                        const uint32_t *panel, float *c,
                                                        int64_t ldc, int nb, float alpha,
                                                        const float *bias, gboolean first)
{
  switch (mr) {
#define CASE(n)                                                                                    \
  case n:                                                                                          \
    kernel_rows(n, kp, a, panel, c, ldc, nb, alpha, bias, first);                                  \
    break;
    CPU_GEMM_ROWS_2_TO_12(CASE)
#undef CASE
  default:
    kernel_rows(1, kp, a, panel, c, ldc, nb, alpha, bias, first);
    break;
  }
}

/* g->a_blocks here: block b of KC values of A holds row i's pairs at (b * m + i) * A_LD (one
 * float's room per pair), so A is rounded once for all of a product's column chunks. */
size_t cpu_gemm_bf16dot_a_blocks_size(const cpu_gemm_args *g)
{
  int kc_step = cpu_gemm_block_depth(g->k);
  int64_t n_blocks = MAX(1, (g->k + kc_step - 1) / kc_step);
  return (size_t)(n_blocks * g->m * A_LD);
}

void cpu_gemm_bf16dot_pack_a(const cpu_gemm_args *g, float *dst, int64_t r0, int64_t r1)
{
  int kc_step = cpu_gemm_block_depth(g->k);
  for (int64_t kb = 0, b = 0; kb < g->k; kb += kc_step, b++)
    a_to_pairs((uint32_t *)dst + (b * g->m + r0) * A_LD, g->a + r0 * g->lda + kb, g->lda, r1 - r0,
               (int)MIN(kc_step, g->k - kb));
}

void cpu_gemm_packed_bf16dot(const cpu_gemm_args *g, int64_t i0, int64_t i1, int64_t j0, int64_t j1)
{
  _Alignas(64) uint32_t block[KC_MAX / 2 * NC];
  _Alignas(64) uint32_t a_copy[MR * A_LD];
  float bias[NC * (KC_MAX / 16)];
  int kc_step = cpu_gemm_block_depth(g->k);
  /* a shallow product (attention's scores, k = 64) takes as many more columns per block as the
   * block has room for, as in cpu-gemm-avx512.c */
  int nc = NC * MAX(1, KC_MAX / kc_step);
  size_t panel_size = (size_t)(kc_step / 2) * NR;
  for (int64_t jc = j0; jc < j1; jc += nc) {
    int ncols = (int)MIN(nc, j1 - jc);
    int n_panels = (ncols + NR - 1) / NR;
    if (g->bias)
      cpu_row_to_f32(bias, (const char *)g->bias + jc * (int64_t)ivl_dtype_size(g->bias_dtype),
                     g->bias_dtype, ncols);
    for (int64_t kb = 0; kb < g->k || kb == 0; kb += kc_step) {
      int kc = (int)MIN(kc_step, g->k - kb), kp = (kc + 1) / 2;
      for (int p = 0; p < n_panels; p++) {
        int nb = MIN(NR, ncols - p * NR);
        if (jc == j0 && kb == 0 && p + 1 < n_panels && g->b_rows_are_n) { /* as in the f32 path */
          int nb_next = MIN(NR, ncols - (p + 1) * NR);
          prefetch_b(g, jc + (p + 1) * NR, nb_next, kb, kc, 0, nb_next * b_lines(g, kc));
        }
        if (g->b_rows_are_n)
          pack_pairs(block + p * panel_size, g, jc + p * NR, nb, kb, kc);
        else
          pack_pairs_cols(block + p * panel_size, g, jc + p * NR, nb, kb, kc);
      }
      /* the next block of B, a share before each tile of rows */
      int64_t next_j = jc, next_k = kb + kc_step;
      if (next_k >= g->k) {
        next_j = jc + nc;
        next_k = 0;
      }
      int next_nb = g->b_rows_are_n ? (int)MAX(0, MIN(nc, j1 - next_j)) : 0,
          next_kc = (int)MIN(kc_step, g->k - next_k);
      int64_t n_tiles = (i1 - i0 + MR - 1) / MR, next_lines = next_nb * b_lines(g, next_kc);
      for (int64_t ib = i0; ib < i1; ib += MR) {
        int mr = (int)MIN(MR, i1 - ib);
        if (next_nb > 0) {
          int64_t t = (ib - i0) / MR;
          prefetch_b(g, next_j, next_nb, next_k, next_kc, next_lines * t / n_tiles,
                     next_lines * (t + 1) / n_tiles);
        }
        const uint32_t *a = a_copy;
        int next_rows = (int)MAX(0, MIN(MR, i1 - ib - MR));
        if (g->a_blocks != NULL) {
          a = (const uint32_t *)g->a_blocks + (kb / kc_step * g->m + ib) * A_LD;
          for (int r = 0; r < next_rows; r++)
            for (int pp = 0; pp < kp; pp += 16)
              _mm_prefetch((const char *)(a + (MR + r) * A_LD + pp), _MM_HINT_T1);
        } else {
          a_to_pairs(a_copy, g->a + ib * g->lda + kb, g->lda, mr, kc);
          for (int r = 0; r < next_rows; r++)
            for (int kk = 0; kk < kc; kk += 16)
              _mm_prefetch((const char *)(g->a + (ib + MR + r) * g->lda + kb + kk), _MM_HINT_T1);
        }
        for (int p = 0; p < n_panels; p++)
          kernel(mr, kp, a, block + p * panel_size, g->c + ib * g->ldc + jc + p * NR, g->ldc,
                 MIN(NR, ncols - p * NR), g->alpha, g->bias ? bias + p * NR : NULL, kb == 0);
      }
    }
  }
}

#endif
