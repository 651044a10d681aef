/* Matrix products for the CPU backend: a packed GEMM for many rows (prefill, vision tiles,
 * attention scores) and a streaming GEMV for few rows (decode).
 *
 * GEMM follows the BLIS scheme: a panel of NR = 16 columns of B, KC deep, is converted
 * to f32 and packed k-major (16 KiB, stays in L1) and reused by every block of MR rows of A; a
 * register tile MR x 16 accumulates by broadcasting one A value against two 8-wide rows of
 * the panel (12 FMAs per 2 panel loads + 6 broadcasts, so FMA-bound rather than load-bound).
 * Where the CPU has AVX-512, cpu-gemm-avx512.c does the same with 32-wide panels instead.
 * Few rows go to the streaming GEMV (cpu-gemv.c). Quantized weights are multiplied in integers
 * (cpu-int-dot.c) when the caller quantized A (g->aq); otherwise (IVL_CPU_INT_DOT=0)
 * cpu-gemm-quant.c dequantizes them into the panel or reads them in its own float dot products.
 */
#include "cpu-gemm-private.h"
#include "quantize.h"

#include <string.h>

#define MR 6
#define NR 16
#define KC 256
/* Up to this many rows of A, B is streamed row by row instead of packed: packing converts and
 * transposes all of B, which only pays when enough rows reuse it (measured on a 4864 x 896
 * bf16 weight: streaming ~50 GFLOP/s flat, packing overtakes it from about 11 rows). */
#define GEMV_MAX_ROWS 10

/* panel[kk * NR + c] = B[j0 + c][k0 + kk] as f32; columns nb..NR-1 are zero. */
static void pack_panel(float *panel, const cpu_gemm_args *g, int64_t j0, int nb, int64_t k0, int kc,
                       gboolean simd)
{
  float row[KC > NR ? KC : NR];
  if (g->b_rows_are_n) {
    for (int c = 0; c < nb; c++) {
      if (cpu_dtype_is_quant(g->b_dtype))
        cpu_quant_row_to_f32(row, g, j0 + c, k0, kc, simd);
      else
        cpu_row_to_f32(row, b_at(g, (j0 + c) * g->ldb + k0), g->b_dtype, kc);
      for (int kk = 0; kk < kc; kk++)
        panel[kk * NR + c] = row[kk];
    }
  } else if (g->b_dtype == IVL_DTYPE_F32 && nb == NR) { /* attention values: plain copies */
    for (int kk = 0; kk < kc; kk++)
      memcpy(panel + kk * NR, (const float *)g->b + (k0 + kk) * g->ldb + j0, NR * sizeof(float));
  } else {
    for (int kk = 0; kk < kc; kk++)
      cpu_row_to_f32(panel + kk * NR, b_at(g, (k0 + kk) * g->ldb + j0), g->b_dtype, nb);
  }
  if (nb < NR)
    for (int kk = 0; kk < kc; kk++)
      memset(panel + kk * NR + nb, 0, (size_t)(NR - nb) * sizeof(float));
}

#if HAVE_X86_SIMD
/* In-register transpose: r[i] = row i of an 8 x 8 block becomes r[i] = column i. */
__attribute__((target("avx2,fma"), always_inline)) static inline void transpose8(__m256 r[8])
{
  __m256 t[8], u[8];
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 8; i += 4) {
    u[i] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
    u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
    u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
    u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int i = 0; i < 4; i++) {
    r[i] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x20);
    r[i + 4] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x31);
  }
}

/* 8 rows x 8 values of B (rows past nb zero) into panel columns col0..col0+7, k rows 0..7. */
__attribute__((target("avx2,fma,f16c"), always_inline)) static inline void
pack_block8(float *panel, const char *const rows[NR], int col0, int nb, int64_t kk, ivl_dtype dtype)
{
  __m256 r[8];
  for (int c = 0; c < 8; c++)
    r[c] = col0 + c < nb ? load8(rows[col0 + c], kk, dtype) : _mm256_setzero_ps();
  transpose8(r);
  for (int i = 0; i < 8; i++)
    _mm256_store_ps(panel + i * NR + col0, r[i]);
}

__attribute__((target("avx2,fma,f16c"), always_inline)) static inline void
pack_rows_avx2_t(float *panel, const char *const rows[NR], int nb, int kc, ivl_dtype dtype)
{
  for (int kk = 0; kk + 8 <= kc; kk += 8) {
    pack_block8(panel + kk * NR, rows, 0, nb, kk, dtype);
    pack_block8(panel + kk * NR, rows, 8, nb, kk, dtype);
  }
}

/* pack_panel for B stored [n, k] (weights, keys), 8 x 8 blocks converted and transposed in
 * registers: scalar packing cost as much as the products below ~300 rows of A. Quantized
 * rows are dequantized to f32 first, then packed as f32. */
__attribute__((target("avx2,fma,f16c"))) static void
pack_rows_avx2(float *panel, const cpu_gemm_args *g, int64_t j0, int nb, int64_t k0, int kc)
{
  const char *rows[NR];
  _Alignas(64) float dequant[cpu_dtype_is_quant(g->b_dtype) ? NR : 1][KC];
  ivl_dtype dtype = g->b_dtype;
  for (int c = 0; c < NR; c++) {
    if (cpu_dtype_is_quant(g->b_dtype)) {
      if (c < nb)
        cpu_quant_row_to_f32(dequant[c], g, j0 + c, k0, kc, TRUE);
      rows[c] = (const char *)dequant[MIN(c, nb - 1)];
      dtype = IVL_DTYPE_F32;
    } else {
      rows[c] = b_at(g, (j0 + MIN(c, nb - 1)) * g->ldb + k0);
    }
  }
  switch (dtype) {
  case IVL_DTYPE_BF16:
    pack_rows_avx2_t(panel, rows, nb, kc, IVL_DTYPE_BF16);
    break;
  case IVL_DTYPE_F16:
    pack_rows_avx2_t(panel, rows, nb, kc, IVL_DTYPE_F16);
    break;
  default:
    pack_rows_avx2_t(panel, rows, nb, kc, IVL_DTYPE_F32);
    break;
  }
  size_t es = ivl_dtype_size(dtype);
  for (int c = 0; c < NR; c++) /* the last kc % 8 values */
    for (int t = kc / 8 * 8; t < kc; t++) {
      float v = 0.0f;
      if (c < nb)
        cpu_row_to_f32(&v, rows[c] + t * (int64_t)es, dtype, 1);
      panel[t * NR + c] = v;
    }
}
#endif

/* C tile = alpha * acc (+ bias) on the first k block, C += alpha * acc on later ones. */
static void store_tile(const cpu_gemm_args *g, int64_t i0, int mr, int64_t j0, int nb,
                       float acc[MR][NR], gboolean first, const float *bias)
{
  for (int r = 0; r < mr; r++) {
    float *c = g->c + (i0 + r) * g->ldc + j0;
    for (int j = 0; j < nb; j++) {
      float v = g->alpha * acc[r][j];
      c[j] = first ? v + (bias ? bias[j] : 0.0f) : c[j] + v;
    }
  }
}

#if HAVE_X86_SIMD
/* store_tile for a full 16-wide tile: attention scores have k = head_dim = 64, where a scalar
 * store would cost a sixth of the FMAs. */
__attribute__((target("avx2,fma"))) static void
store_full_tile_avx2(const cpu_gemm_args *g, int64_t i0, int mr, int64_t j0, float acc[MR][NR],
                     gboolean first, const float *bias)
{
  __m256 alpha = _mm256_set1_ps(g->alpha);
  __m256 b0 = bias ? _mm256_loadu_ps(bias) : _mm256_setzero_ps();
  __m256 b1 = bias ? _mm256_loadu_ps(bias + 8) : _mm256_setzero_ps();
  for (int r = 0; r < mr; r++) {
    float *c = g->c + (i0 + r) * g->ldc + j0;
    __m256 base0 = first ? b0 : _mm256_loadu_ps(c);
    __m256 base1 = first ? b1 : _mm256_loadu_ps(c + 8);
    _mm256_storeu_ps(c, _mm256_fmadd_ps(alpha, _mm256_loadu_ps(acc[r]), base0));
    _mm256_storeu_ps(c + 8, _mm256_fmadd_ps(alpha, _mm256_loadu_ps(acc[r] + 8), base1));
  }
}
#endif

static void kernel_portable(int mr, int kc, const float *a, int64_t lda, const float *panel,
                            float acc[MR][NR])
{
  memset(acc, 0, sizeof(float) * MR * NR);
  for (int kk = 0; kk < kc; kk++) {
    const float *p = panel + kk * NR;
    for (int r = 0; r < mr; r++) {
      float av = a[r * lda + kk];
      for (int j = 0; j < NR; j++)
        acc[r][j] += av * p[j];
    }
  }
}

#if HAVE_X86_SIMD
__attribute__((target("avx2,fma"), always_inline)) static inline void
kernel_avx2_rows(const int mr, int kc, const float *a, int64_t lda, const float *panel,
                 float acc[MR][NR])
{
  __m256 c0[MR], c1[MR];
#pragma GCC unroll 6
  for (int r = 0; r < mr; r++)
    c0[r] = c1[r] = _mm256_setzero_ps();
  for (int kk = 0; kk < kc; kk++) {
    __m256 b0 = _mm256_load_ps(panel + kk * NR);
    __m256 b1 = _mm256_load_ps(panel + kk * NR + 8);
#pragma GCC unroll 6
    for (int r = 0; r < mr; r++) {
      __m256 av = _mm256_broadcast_ss(a + r * lda + kk);
      c0[r] = _mm256_fmadd_ps(av, b0, c0[r]);
      c1[r] = _mm256_fmadd_ps(av, b1, c1[r]);
    }
  }
#pragma GCC unroll 6
  for (int r = 0; r < mr; r++) {
    _mm256_storeu_ps(acc[r], c0[r]);
    _mm256_storeu_ps(acc[r] + 8, c1[r]);
  }
}

__attribute__((target("avx2,fma"))) static void
kernel_avx2(int mr, int kc, const float *a, int64_t lda, const float *panel, float acc[MR][NR])
{
  switch (mr) {
  case 6:
    kernel_avx2_rows(6, kc, a, lda, panel, acc);
    break;
  case 5:
    kernel_avx2_rows(5, kc, a, lda, panel, acc);
    break;
  case 4:
    kernel_avx2_rows(4, kc, a, lda, panel, acc);
    break;
  case 3:
    kernel_avx2_rows(3, kc, a, lda, panel, acc);
    break;
  case 2:
    kernel_avx2_rows(2, kc, a, lda, panel, acc);
    break;
  default:
    kernel_avx2_rows(1, kc, a, lda, panel, acc);
    break;
  }
}
#endif

static void gemm_packed(const cpu_gemm_args *g, int64_t i0, int64_t i1, int64_t j0, int64_t j1,
                        gboolean simd)
{
  _Alignas(64) float panel[KC * NR];
  float acc[MR][NR];
  float bias[NR];
  for (int64_t jb = j0; jb < j1; jb += NR) {
    int nb = (int)MIN(NR, j1 - jb);
    if (g->bias)
      cpu_row_to_f32(bias, (const char *)g->bias + jb * (int64_t)ivl_dtype_size(g->bias_dtype),
                     g->bias_dtype, nb);
    for (int64_t kb = 0; kb < g->k || kb == 0; kb += KC) {
      int kc = (int)MIN(KC, g->k - kb);
#if HAVE_X86_SIMD
      if (simd && g->b_rows_are_n)
        pack_rows_avx2(panel, g, jb, nb, kb, kc);
      else
#endif
        pack_panel(panel, g, jb, nb, kb, kc, simd);
      for (int64_t ib = i0; ib < i1; ib += MR) {
        int mr = (int)MIN(MR, i1 - ib);
        const float *a = g->a + ib * g->lda + kb;
#if HAVE_X86_SIMD
        if (simd)
          kernel_avx2(mr, kc, a, g->lda, panel, acc);
        else
#endif
          kernel_portable(mr, kc, a, g->lda, panel, acc);
#if HAVE_X86_SIMD
        if (simd && nb == NR)
          store_full_tile_avx2(g, ib, mr, jb, acc, kb == 0, g->bias ? bias : NULL);
        else
#endif
          store_tile(g, ib, mr, jb, nb, acc, kb == 0, g->bias ? bias : NULL);
      }
    }
  }
  (void)simd;
}

/* Whether cpu_gemm_tile takes the bf16 dot-product path (cpu-gemm-bf16dot.c). */
static gboolean bf16_dot(const cpu_gemm_args *g, gboolean simd)
{
  return g->aq == NULL && g->m > GEMV_MAX_ROWS && simd && g->avx512 && g->bf16_dot &&
         ((g->b_dtype == IVL_DTYPE_BF16 && g->b_rows_are_n) ||
          (g->b_dtype == IVL_DTYPE_F32 && g->bf16_dot_f32));
}

int cpu_gemm_block_depth(int64_t k)
{
  int64_t n_blocks = (k + CPU_GEMM_KC_MAX - 1) / CPU_GEMM_KC_MAX;
  int64_t kc = (k + n_blocks - 1) / MAX(n_blocks, 1);
  return (int)MAX(16, (kc + 15) / 16 * 16);
}

size_t cpu_gemm_a_blocks_size(const cpu_gemm_args *g, gboolean simd)
{
#if HAVE_X86_SIMD
  if (bf16_dot(g, simd))
    return cpu_gemm_bf16dot_a_blocks_size(g);
  if (g->aq == NULL && g->m > GEMV_MAX_ROWS && simd && g->avx512)
    return cpu_gemm_avx512_a_blocks_size(g);
#endif
  (void)g, (void)simd;
  return 0;
}

void cpu_gemm_pack_a(const cpu_gemm_args *g, float *dst, int64_t r0, int64_t r1, gboolean simd)
{
#if HAVE_X86_SIMD
  if (bf16_dot(g, simd))
    cpu_gemm_bf16dot_pack_a(g, dst, r0, r1);
  else
    cpu_gemm_avx512_pack_a(g, dst, r0, r1);
#else
  (void)g, (void)dst, (void)r0, (void)r1, (void)simd;
#endif
}

void cpu_gemm_tile(const cpu_gemm_args *g, int64_t i0, int64_t i1, int64_t j0, int64_t j1,
                   gboolean simd)
{
  if (j1 <= j0 || i1 <= i0)
    return;
  if (g->aq != NULL)
    cpu_int_dot_tile(g, i0, i1, j0, j1, simd);
#if HAVE_X86_SIMD
  else if (bf16_dot(g, simd))
    cpu_gemm_packed_bf16dot(g, i0, i1, j0, j1);
  else if (g->m > GEMV_MAX_ROWS && simd && g->avx512)
    cpu_gemm_packed_avx512(g, i0, i1, j0, j1);
#endif
  else if (g->m > GEMV_MAX_ROWS)
    gemm_packed(g, i0, i1, j0, j1, simd);
  else
    cpu_gemv_tile(g, i0, i1, j0, j1, simd);
}
