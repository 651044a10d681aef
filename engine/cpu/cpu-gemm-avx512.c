/* The packed GEMM's AVX-512 path (cpu-gemm.c chooses it when cpu_avx512_available()).
 *
 * Same scheme as the AVX2 path, wider: B is converted to f32 and packed k-major in panels of
 * NR = 32 columns, a block of NC columns KC deep at a time (up to 512 KiB, in L2), and a
 * register tile of MR x 32 (24 zmm accumulators) broadcasts one value of A against two 16-wide
 * rows of a panel. Zen 4 runs a zmm FMA as two halves, so the FLOP peak is the AVX2 one; what
 * the wider tile saves is instructions per FMA, the C tile's loads and stores (once per KC of
 * up to 512 instead of 256), and A's traffic (each row block of A is reused by NC columns;
 * NC 256 rather than 128: fc1 85% -> 88% of the peak).
 * The tile is written by the kernel itself, masked at the right edge.
 */
#include "cpu-gemm-private.h"
#include "quantize.h"

#include <string.h>

#if HAVE_X86_SIMD

#define MR 12
#define NR 32
#define KC_MAX CPU_GEMM_KC_MAX
#define NC 256
/* Where A's MR rows would crowd one set of the L1 cache (rows a multiple of 1024 floats apart,
 * as vision's k = 1024 and 4096 and the queries' 16 heads of 64, or just past it, as the
 * scores' 1025 keys: all twelve in one set of 8 ways), the kernel reads them from a copy
 * A_COPY_LD floats apart (33 cache lines: 12 sets). Elsewhere (prefill's k = 896 and 4864) the
 * copy cost more than it saved (256-row chunks 83% of the peak in place, 81% copied). */
#define A_COPY_LD (KC_MAX + 16)

/* Whether MR rows of A, lda apart, put more than 4 lines in one set of the L1 cache (64 sets
 * of 64-byte lines, 8 ways, shared with the panel's). */
static gboolean rows_crowd_l1(int64_t lda)
{
  int count[64] = {0}, most = 0;
  for (int r = 0; r < MR; r++)
    most = MAX(most, ++count[(r * lda * (int64_t)sizeof(float) / 64) % 64]);
  return most > 4;
}

/* g->a_blocks: block b of KC columns of A (the last one narrower) holds row i's values at
 * a_blocks + (b * m + i) * A_COPY_LD, so a tile of MR rows is one contiguous run. */
size_t cpu_gemm_avx512_a_blocks_size(const cpu_gemm_args *g)
{
  if (!rows_crowd_l1(g->lda))
    return 0;
  int kc_step = cpu_gemm_block_depth(g->k);
  int64_t n_blocks = MAX(1, (g->k + kc_step - 1) / kc_step);
  return (size_t)(n_blocks * g->m * A_COPY_LD);
}

void cpu_gemm_avx512_pack_a(const cpu_gemm_args *g, float *dst, int64_t r0, int64_t r1)
{
  int kc_step = cpu_gemm_block_depth(g->k);
  for (int64_t kb = 0, b = 0; kb < g->k; kb += kc_step, b++)
    for (int64_t i = r0; i < r1; i++)
      memcpy(dst + (b * g->m + i) * A_COPY_LD, g->a + i * g->lda + kb,
             (size_t)MIN(kc_step, g->k - kb) * sizeof(float));
}

__attribute__((target(AVX512_TARGET), always_inline)) static inline __m512
load16(const char *row, int64_t kk, int n, ivl_dtype dtype)
{
  __mmask16 m = mask16(n);
  if (dtype == IVL_DTYPE_F32)
    return _mm512_maskz_loadu_ps(m, (const float *)row + kk);
  __m256i h = _mm256_maskz_loadu_epi16(m, (const uint16_t *)row + kk);
  if (dtype == IVL_DTYPE_F16)
    return _mm512_cvtph_ps(h);
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

/* panel[kk * NR + col0 + c] = row c's value kk for c < 16 (rows at or past nb: zero), kk < kc. */
__attribute__((target(AVX512_TARGET), always_inline)) static inline void
pack16(float *panel, const char *const rows[16], int nb, int kc, ivl_dtype dtype)
{
  for (int kk = 0; kk < kc; kk += 16) {
    __m512 r[16];
    int n = MIN(16, kc - kk);
    for (int c = 0; c < 16; c++)
      r[c] = c < nb ? load16(rows[c], kk, n, dtype) : _mm512_setzero_ps();
    transpose16(r);
    for (int i = 0; i < n; i++)
      _mm512_store_ps(panel + (kk + i) * NR, r[i]);
  }
}

/* One panel of nb <= NR columns from B stored [n, k] (weights, keys). */
__attribute__((target(AVX512_TARGET))) static void pack_rows(float *panel, const cpu_gemm_args *g,
                                                             int64_t j0, int nb, int64_t k0, int kc,
                                                             float (*dequant)[KC_MAX])
{
  const char *rows[NR] = {NULL}; /* columns past nb are not read */
  ivl_dtype dtype = g->b_dtype;
  for (int c = 0; c < nb; c++) {
    if (cpu_dtype_is_quant(g->b_dtype)) {
      cpu_quant_row_to_f32(dequant[c], g, j0 + c, k0, kc, TRUE);
      rows[c] = (const char *)dequant[c];
    } else {
      rows[c] = b_row(g, j0 + c, k0, kc, (uint16_t *)dequant[g->bc ? c : 0]);
    }
  }
  if (cpu_dtype_is_quant(dtype))
    dtype = IVL_DTYPE_F32;
  for (int half = 0; half < 2; half++) {
    const char *const *r = rows + 16 * half;
    int n = MAX(0, MIN(16, nb - 16 * half));
    float *p = panel + 16 * half;
    switch (dtype) { /* a constant dtype per instance, so the loads are not branches */
    case IVL_DTYPE_BF16:
      pack16(p, r, n, kc, IVL_DTYPE_BF16);
      break;
    case IVL_DTYPE_F16:
      pack16(p, r, n, kc, IVL_DTYPE_F16);
      break;
    default:
      pack16(p, r, n, kc, IVL_DTYPE_F32);
      break;
    }
  }
}

/* One panel from B stored [k, n] (attention values): rows of B are rows of the panel. */
__attribute__((target(AVX512_TARGET))) static void pack_cols(float *panel, const cpu_gemm_args *g,
                                                             int64_t j0, int nb, int64_t k0, int kc)
{
  for (int kk = 0; kk < kc; kk++) {
    const char *row = b_at(g, (k0 + kk) * g->ldb + j0);
    float *p = panel + kk * NR;
    if (g->b_dtype == IVL_DTYPE_F32 || nb < NR) {
      cpu_row_to_f32(p, row, g->b_dtype, nb);
      memset(p + nb, 0, (size_t)(NR - nb) * sizeof(float));
    } else {
      _mm512_store_ps(p, load16(row, 0, 16, g->b_dtype));
      _mm512_store_ps(p + 16, load16(row, 16, 16, g->b_dtype));
    }
  }
}

/* C[0:mr, 0:nb] = alpha * A[0:mr, 0:kc] · panel + bias (first k block) or C += alpha * (...). */
__attribute__((target(AVX512_TARGET), always_inline)) static inline void
kernel_rows(const int mr, int kc, const float *a, int64_t lda, const float *panel, float *c,
            int64_t ldc, int nb, float alpha, const float *bias, gboolean first)
{
  __m512 c0[MR], c1[MR];
#pragma GCC unroll 12
  for (int r = 0; r < mr; r++) {
    c0[r] = c1[r] = _mm512_setzero_ps();
    /* the tile's lines, in cache by the time the products are done */
    _mm_prefetch((const char *)(c + r * ldc), _MM_HINT_T0);
    _mm_prefetch((const char *)(c + r * ldc + 16), _MM_HINT_T0);
  }
  /* row r at base[r / 4] + (r % 4) * lda: three pointers and two strides address all twelve
   * (one pointer per row ran out of registers, and GCC spilled a panel row to the stack) */
  const char *base[3] = {(const char *)a, (const char *)(a + 4 * lda), (const char *)(a + 8 * lda)};
  const int64_t l1 = lda * (int64_t)sizeof(float), l3 = 3 * l1;
  for (int kk = 0; kk < kc; kk++) {
    __m512 b0 = _mm512_load_ps(panel + kk * NR);
    __m512 b1 = _mm512_load_ps(panel + kk * NR + 16);
#pragma GCC unroll 12
    for (int r = 0; r < mr; r++) {
      const char *q = base[r / 4];
      const char *at = r % 4 == 0 ? q : r % 4 == 1 ? q + l1 : r % 4 == 2 ? q + 2 * l1 : q + l3;
      __m512 av = _mm512_set1_ps(*(const float *)at);
      c0[r] = _mm512_fmadd_ps(av, b0, c0[r]);
      c1[r] = _mm512_fmadd_ps(av, b1, c1[r]);
    }
    for (int i = 0; i < 3; i++)
      base[i] += sizeof(float);
  }
  store_tile_avx512(mr, c0, c1, c, ldc, nb, alpha, bias, first);
}

__attribute__((target(AVX512_TARGET))) static void kernel(int mr, int kc, const float *a,
                                                          int64_t lda, const float *panel, float *c,
                                                          int64_t ldc, int nb, float alpha,
                                                          const float *bias, gboolean first)
{
  switch (mr) {
#define CASE(n)                                                                                    \
  case n:                                                                                          \
    kernel_rows(n, kc, a, lda, panel, c, ldc, nb, alpha, bias, first);                             \
    break;
    CPU_GEMM_ROWS_2_TO_12(CASE)
#undef CASE
  default:
    kernel_rows(1, kc, a, lda, panel, c, ldc, nb, alpha, bias, first);
    break;
  }
}

void cpu_gemm_packed_avx512(const cpu_gemm_args *g, int64_t i0, int64_t i1, int64_t j0, int64_t j1)
{
  _Alignas(64) float block[KC_MAX * NC];
  /* quantized rows as f32, or compact ones decoded to bf16 */
  _Alignas(64) float dequant[cpu_dtype_is_quant(g->b_dtype) || g->bc ? NR : 1][KC_MAX];
  _Alignas(64) float a_copy[MR * A_COPY_LD];
  float bias[NC * (KC_MAX / 16)];
  int kc_step = cpu_gemm_block_depth(g->k);
  /* a shallow product (attention's scores, k = 64) takes as many more columns per block as the
   * block has room for: each tile of A is then read (and copied) once for all 1025 keys
   * rather than once per 256 */
  int nc = NC * MAX(1, KC_MAX / kc_step);
  size_t panel_size = (size_t)kc_step * NR;
  gboolean copy_a = rows_crowd_l1(g->lda);
  for (int64_t jc = j0; jc < j1; jc += nc) {
    int ncols = (int)MIN(nc, j1 - jc);
    int n_panels = (ncols + NR - 1) / NR;
    if (g->bias)
      cpu_row_to_f32(bias, (const char *)g->bias + jc * (int64_t)ivl_dtype_size(g->bias_dtype),
                     g->bias_dtype, ncols);
    for (int64_t kb = 0; kb < g->k || kb == 0; kb += kc_step) {
      int kc = (int)MIN(kc_step, g->k - kb);
      for (int p = 0; p < n_panels; p++) {
        float *panel = block + p * panel_size;
        int nb = MIN(NR, ncols - p * NR);
        /* the task's first block was not asked for in advance (below): each panel's rows
         * while the one before is packed */
        if (jc == j0 && kb == 0 && p + 1 < n_panels && g->b_rows_are_n &&
            !cpu_dtype_is_quant(g->b_dtype)) {
          int nb_next = MIN(NR, ncols - (p + 1) * NR);
          prefetch_b(g, jc + (p + 1) * NR, nb_next, kb, kc, 0, nb_next * b_lines(g, kc));
        }
        if (g->b_rows_are_n)
          pack_rows(panel, g, jc + p * NR, nb, kb, kc, dequant);
        else
          pack_cols(panel, g, jc + p * NR, nb, kb, kc);
      }
      /* the next block of B (its rows are in memory, read at its latency by the packing
       * otherwise), a share before each tile of rows */
      int64_t next_j = jc, next_k = kb + kc_step;
      if (next_k >= g->k) {
        next_j = jc + nc;
        next_k = 0;
      }
      int next_nb = (int)MAX(0, MIN(nc, j1 - next_j)), next_kc = (int)MIN(kc_step, g->k - next_k);
      gboolean prefetch_next = g->b_rows_are_n && !cpu_dtype_is_quant(g->b_dtype) && next_nb > 0;
      int64_t n_tiles = (i1 - i0 + MR - 1) / MR,
              next_lines = next_nb * b_lines(g, next_kc);
      for (int64_t ib = i0; ib < i1; ib += MR) {
        int mr = (int)MIN(MR, i1 - ib);
        if (prefetch_next) {
          int64_t t = (ib - i0) / MR;
          prefetch_b(g, next_j, next_nb, next_k, next_kc, next_lines * t / n_tiles,
                     next_lines * (t + 1) / n_tiles);
        }
        const float *a = g->a + ib * g->lda + kb, *a_rows = a;
        int64_t lda = g->lda, next_lda = g->lda;
        if (g->a_blocks != NULL) {
          a = a_rows = g->a_blocks + (kb / kc_step * g->m + ib) * A_COPY_LD;
          lda = next_lda = A_COPY_LD;
        } else if (copy_a) {
          for (int r = 0; r < mr; r++)
            memcpy(a_copy + r * A_COPY_LD, a + r * g->lda, (size_t)kc * sizeof(float));
          a_rows = a_copy;
          lda = A_COPY_LD;
        }
        /* the next tile's rows into L2 while this one computes, a share before each panel:
         * A's rows come from L3 at its latency otherwise, and the copy or the kernel waited
         * for them (qkv 83% -> 87% of the peak; spread over the panels rather than all at
         * once, the copy's share of a vision tile's time fell from ~5.8% to ~4.5%) */
        int next_rows = (int)MAX(0, MIN(MR, i1 - ib - MR));
        for (int p = 0; p < n_panels; p++) {
          for (int r = next_rows * p / n_panels; r < next_rows * (p + 1) / n_panels; r++)
            for (int kk = 0; kk < kc; kk += 16)
              _mm_prefetch((const char *)(a + (MR + r) * next_lda + kk), _MM_HINT_T1);
          kernel(mr, kc, a_rows, lda, block + p * panel_size, g->c + ib * g->ldc + jc + p * NR,
                 g->ldc, MIN(NR, ncols - p * NR), g->alpha, g->bias ? bias + p * NR : NULL,
                 kb == 0);
        }
      }
    }
  }
}

#endif
