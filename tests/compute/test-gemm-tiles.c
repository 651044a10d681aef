/* The packed GEMM (cpu-gemm.c, cpu-gemm-avx512.c, cpu-gemm-bf16dot.c) gives bit for bit the same
 * C whether computed as one call or tile by tile (rows cut anywhere, columns at multiples of
 * CPU_GEMM_PANEL), on each path this CPU has (portable, AVX2, AVX-512, bf16 dot products): what
 * lets the backend split a product over threads without changing a token. Shapes cover several k
 * blocks, A's rows in place and copied (lda a multiple of 1024 floats: tile by tile, or all of A at
 * once by cpu_gemm_pack_a), a tile wider than the AVX-512 column block, bias and alpha, and B
 * stored [k, n] as attention's values are. Usage: test-gemm-tiles */
#include "cpu-kernels.h"
#include "expect.h"

#include <stdio.h>
#include <string.h>

static int failures, a_blocks_checked;

typedef struct {
  int64_t m, k, n;
  ivl_dtype dtype;
  gboolean b_rows_are_n, bias;
} shape;

static float uniform(guint32 *state)
{
  *state = *state * 1664525u + 1013904223u;
  return (float)(*state >> 8) * 0x1p-23f - 1.0f;
}

static void check(const shape *s, gboolean simd, gboolean avx512, gboolean bf16_dot,
                  const char *path)
{
  guint32 state = 20261207;
  int64_t b_rows = s->b_rows_are_n ? s->n : s->k, b_cols = s->b_rows_are_n ? s->k : s->n;
  g_autofree float *a = g_new(float, s->m * s->k);
  g_autofree uint16_t *b16 = g_new(uint16_t, b_rows * b_cols);
  g_autofree float *b32 = g_new(float, b_rows *b_cols);
  g_autofree float *bias = g_new(float, s->n);
  g_autofree float *c = g_new0(float, s->m * s->n);
  g_autofree float *c_tiled = g_new0(float, s->m * s->n);
  for (int64_t i = 0; i < s->m * s->k; i++)
    a[i] = uniform(&state);
  for (int64_t i = 0; i < b_rows * b_cols; i++) {
    b32[i] = uniform(&state);
    b16[i] = s->dtype == IVL_DTYPE_F16 ? cpu_f32_to_f16(b32[i]) : cpu_f32_to_bf16(b32[i]);
  }
  for (int64_t j = 0; j < s->n; j++)
    bias[j] = uniform(&state);
  cpu_gemm_args g = {
      .m = s->m,
      .n = s->n,
      .k = s->k,
      .a = a,
      .lda = s->k,
      .b = s->dtype == IVL_DTYPE_F32 ? (const void *)b32 : (const void *)b16,
      .b_dtype = s->dtype,
      .b_rows = b_rows,
      .ldb = b_cols,
      .b_rows_are_n = s->b_rows_are_n,
      .bias = s->bias ? bias : NULL,
      .bias_dtype = IVL_DTYPE_F32,
      .alpha = 0.125f,
      .c = c,
      .ldc = s->n,
      .avx512 = avx512,
      .bf16_dot = bf16_dot,
      .bf16_dot_f32 = bf16_dot,
  };
  cpu_gemm_tile(&g, 0, s->m, 0, s->n, simd);
  g.c = c_tiled;
  for (int64_t i0 = 0; i0 < s->m; i0 += 7)
    for (int64_t j0 = 0, w = CPU_GEMM_PANEL; j0 < s->n;
         j0 += w, w = w == CPU_GEMM_PANEL ? 3 * w : CPU_GEMM_PANEL)
      cpu_gemm_tile(&g, i0, MIN(s->m, i0 + 7), j0, MIN(s->n, j0 + w), simd);
  EXPECT(memcmp(c, c_tiled, (size_t)(s->m * s->n) * sizeof(float)) == 0,
         "%s: m %" G_GINT64_FORMAT " k %" G_GINT64_FORMAT " n %" G_GINT64_FORMAT
         ": tile by tile differs from one call",
         path, s->m, s->k, s->n);
  size_t a_size = cpu_gemm_a_blocks_size(&g, simd);
  if (a_size > 0) { /* A copied out once, in two ranges of rows, as matmul_run does */
    g_autofree float *a_blocks = g_new(float, a_size);
    g_autofree float *c_blocks = g_new0(float, s->m * s->n);
    cpu_gemm_pack_a(&g, a_blocks, 0, s->m / 2, simd);
    cpu_gemm_pack_a(&g, a_blocks, s->m / 2, s->m, simd);
    g.a_blocks = a_blocks;
    g.c = c_blocks;
    for (int64_t j0 = 0; j0 < s->n; j0 += CPU_GEMM_PANEL)
      cpu_gemm_tile(&g, 0, s->m, j0, MIN(s->n, j0 + CPU_GEMM_PANEL), simd);
    EXPECT(memcmp(c, c_blocks, (size_t)(s->m * s->n) * sizeof(float)) == 0,
           "%s: m %" G_GINT64_FORMAT " k %" G_GINT64_FORMAT " n %" G_GINT64_FORMAT
           ": A copied out by k block differs from A in place",
           path, s->m, s->k, s->n);
    g.a_blocks = NULL;
    a_blocks_checked++;
  }
  g.c = c; /* the whole product again: nothing depends on what ran before */
  g_autofree float *again = g_memdup2(c, (size_t)(s->m * s->n) * sizeof(float));
  cpu_gemm_tile(&g, 0, s->m, 0, s->n, simd);
  EXPECT(memcmp(c, again, (size_t)(s->m * s->n) * sizeof(float)) == 0,
         "%s: a second call differs from the first", path);
}

int main(void)
{
  static const shape shapes[] = {
      {37, 1030, 100, IVL_DTYPE_BF16, TRUE, TRUE},  /* 3 k blocks, rows in place */
      {37, 1024, 300, IVL_DTYPE_BF16, TRUE, FALSE}, /* rows copied, tiles past a column block */
      {25, 64, 1025, IVL_DTYPE_F32, TRUE, FALSE},   /* attention's scores */
      {40, 1025, 64, IVL_DTYPE_F32, FALSE, FALSE},  /* attention's values: B stored [k, n] */
      {13, 100, 70, IVL_DTYPE_F16, TRUE, TRUE},     /* k below one block */
      {30, 4096, 70, IVL_DTYPE_BF16, TRUE, TRUE},   /* vision's fc2: 8 k blocks, A copied out */
  };
  for (size_t i = 0; i < G_N_ELEMENTS(shapes); i++) {
    check(&shapes[i], FALSE, FALSE, FALSE, "portable");
    if (cpu_simd_available())
      check(&shapes[i], TRUE, FALSE, FALSE, "avx2");
    if (cpu_avx512_available())
      check(&shapes[i], TRUE, TRUE, FALSE, "avx512");
    if (cpu_bf16_dot_available())
      check(&shapes[i], TRUE, TRUE, TRUE, "bf16-dot");
  }
  /* the AVX-512 path copies A out for k = 1024 and 4096 */
  EXPECT(!cpu_avx512_available() || a_blocks_checked > 0, "A was never copied out by k block");
  printf("paths: portable%s%s%s; A copied out in %d shape(s); %d failure(s)\n",
         cpu_simd_available() ? ", avx2" : "", cpu_avx512_available() ? ", avx512" : "",
         cpu_bf16_dot_available() ? ", bf16-dot" : "", a_blocks_checked, failures);
  return failures == 0 ? 0 : 1;
}
