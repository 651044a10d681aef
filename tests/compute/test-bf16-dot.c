/* The packed GEMM's bf16 dot products (cpu-gemm-bf16dot.c) against a plain scalar reference of
 * the same arithmetic, bit for bit:
 *   - A rounded to bf16, nearest even (f32 denormals to zero); bf16 denormals read as zero;
 *   - per output and per block of cpu_gemm_block_depth(k) values, from zero, pair by pair:
 *     s = (s + a[2p+1] * b[2p+1]) + a[2p] * b[2p], each sum rounded to nearest even and
 *     flushed to zero if denormal (an odd k's last pair: the missing value is 0);
 *   - C = fma(alpha, s, bias) after the first block, C = fma(alpha, s, C) after the others.
 * bf16 weights, and f32 B (attention's keys, stored [n, k], and values, [k, n]) rounded to bf16
 * as A is. Odd m, n and k, k below one block and over several, bias, alpha, computed as one call,
 * tile by tile (rows cut anywhere, columns at multiples of CPU_GEMM_PANEL) and with A rounded once
 * for the whole product (cpu_gemm_pack_a). Skipped (exit 77) where the CPU lacks AVX512_BF16 or
 * IVL_CPU_BF16_DOT=0.
 * Usage: test-bf16-dot */
#include "cpu-kernels.h"
#include "expect.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static int failures;

typedef struct {
  int64_t m, k, n;
  gboolean bias;
  float alpha;
  ivl_dtype b_dtype; /* bf16 weights, or f32 (attention's keys, values: rounded to bf16) */
  gboolean b_rows_are_n;
} shape;

static float uniform(guint32 *state)
{
  *state = *state * 1664525u + 1013904223u;
  return (float)(*state >> 8) * 0x1p-23f - 1.0f;
}

static float flush(float x)
{
  return fpclassify(x) == FP_SUBNORMAL ? copysignf(0.0f, x) : x;
}

static float bf16_read(uint16_t h)
{
  return flush(cpu_bf16_to_f32(h));
}

static uint16_t bf16_round(float x)
{
  return cpu_f32_to_bf16(flush(x));
}

/* B[j][t] as the products read it: bf16 as stored, f32 rounded to bf16. */
static float b_value(const shape *s, const uint16_t *b16, const float *b32, int64_t j, int64_t t)
{
  int64_t at = s->b_rows_are_n ? j * s->k + t : t * s->n + j;
  return bf16_read(s->b_dtype == IVL_DTYPE_BF16 ? b16[at] : bf16_round(b32[at]));
}

/* C[i][j] by the arithmetic the header states. */
static float reference(const shape *s, const float *a, const uint16_t *b16, const float *b32,
                       const float *bias, int64_t i, int64_t j)
{
  int kc_step = cpu_gemm_block_depth(s->k);
  float c = 0.0f;
  for (int64_t kb = 0; kb < s->k; kb += kc_step) {
    float sum = 0.0f;
    for (int64_t t = kb; t < MIN(s->k, kb + kc_step); t += 2) {
      float a0 = bf16_read(bf16_round(a[i * s->k + t])), b0 = b_value(s, b16, b32, j, t);
      float a1 = 0.0f, b1 = 0.0f;
      if (t + 1 < MIN(s->k, kb + kc_step)) {
        a1 = bf16_read(bf16_round(a[i * s->k + t + 1]));
        b1 = b_value(s, b16, b32, j, t + 1);
      }
      volatile float p1 = a1 * b1, p0 = a0 * b0; /* exact: two 8-bit significands */
      sum = flush(flush(sum + p1) + p0);
    }
    c = fmaf(s->alpha, sum, kb == 0 ? (bias ? bias[j] : 0.0f) : c);
  }
  return c;
}

static void check(const shape *s)
{
  guint32 state = 20261207 + (guint32)(s->m * 31 + s->k * 7 + s->n);
  g_autofree float *a = g_new(float, s->m * s->k);
  g_autofree uint16_t *b = g_new(uint16_t, s->n * s->k);
  g_autofree float *b32 = g_new(float, s->n * s->k);
  g_autofree float *bias = g_new(float, s->n);
  g_autofree float *want = g_new(float, s->m * s->n);
  g_autofree float *f32 = g_new0(float, s->m * s->n);
  for (int64_t i = 0; i < s->m * s->k; i++)
    a[i] = uniform(&state) * 4.0f;
  for (int64_t i = 0; i < s->n * s->k; i++) {
    b32[i] = uniform(&state);
    b[i] = cpu_f32_to_bf16(b32[i]);
  }
  /* a few exact zeros, denormals (read as zero) and values halfway between two bf16 */
  for (int64_t i = 0; i < s->m * s->k; i += 37)
    a[i] = i % 3 == 0 ? 0.0f : i % 3 == 1 ? 1e-40f : 1.0f + 0x1p-8f;
  for (int64_t i = 5; i < s->n * s->k; i += 41) {
    b[i] = i % 2 ? 0x0001 : 0x8000;
    b32[i] = i % 2 ? 1e-39f : 1.0f - 0x1p-9f;
  }
  for (int64_t j = 0; j < s->n; j++)
    bias[j] = uniform(&state);
  for (int64_t i = 0; i < s->m; i++)
    for (int64_t j = 0; j < s->n; j++)
      want[i * s->n + j] = reference(s, a, b, b32, s->bias ? bias : NULL, i, j);
  cpu_gemm_args g = {
      .m = s->m,
      .n = s->n,
      .k = s->k,
      .a = a,
      .lda = s->k,
      .b = s->b_dtype == IVL_DTYPE_BF16 ? (const void *)b : (const void *)b32,
      .b_dtype = s->b_dtype,
      .b_rows = s->b_rows_are_n ? s->n : s->k,
      .ldb = s->b_rows_are_n ? s->k : s->n,
      .b_rows_are_n = s->b_rows_are_n,
      .bias = s->bias ? bias : NULL,
      .bias_dtype = IVL_DTYPE_F32,
      .alpha = s->alpha,
      .ldc = s->n,
      .avx512 = TRUE,
      .bf16_dot = TRUE,
      .bf16_dot_f32 = TRUE,
  };
  size_t bytes = (size_t)(s->m * s->n) * sizeof(float);
  const char *what[] = {"one call", "tile by tile", "A rounded once"};
  for (int way = 0; way < 3; way++) {
    g_autofree float *c = g_new0(float, s->m * s->n);
    g_autofree float *a_blocks = NULL;
    g.c = c;
    g.a_blocks = NULL;
    if (way == 0)
      cpu_gemm_tile(&g, 0, s->m, 0, s->n, TRUE);
    else {
      if (way == 2) { /* in two ranges of rows, as matmul_run does over threads */
        a_blocks = g_new(float, cpu_gemm_a_blocks_size(&g, TRUE));
        cpu_gemm_pack_a(&g, a_blocks, 0, s->m / 3, TRUE);
        cpu_gemm_pack_a(&g, a_blocks, s->m / 3, s->m, TRUE);
        g.a_blocks = a_blocks;
      }
      for (int64_t i0 = 0; i0 < s->m; i0 += 17)
        for (int64_t j0 = 0, w = CPU_GEMM_PANEL; j0 < s->n;
             j0 += w, w = w == CPU_GEMM_PANEL ? 9 * w : CPU_GEMM_PANEL)
          cpu_gemm_tile(&g, i0, MIN(s->m, i0 + 17), j0, MIN(s->n, j0 + w), TRUE);
    }
    int64_t bad = 0, first = -1;
    for (int64_t i = 0; i < s->m * s->n; i++)
      if (memcmp(&c[i], &want[i], sizeof(float)) != 0 && bad++ == 0)
        first = i;
    EXPECT(memcmp(c, want, bytes) == 0,
           "m %" G_GINT64_FORMAT " k %" G_GINT64_FORMAT " n %" G_GINT64_FORMAT
           ", %s: %" G_GINT64_FORMAT " outputs differ from the reference, first [%" G_GINT64_FORMAT
           "][%" G_GINT64_FORMAT "] %.9g != %.9g",
           s->m, s->k, s->n, what[way], bad, first / MAX(1, s->n), first % MAX(1, s->n),
           first >= 0 ? c[first] : 0.0, first >= 0 ? want[first] : 0.0);
  }
  /* the f32 path gives other numbers: the test did take the bf16 one */
  g.bf16_dot = g.bf16_dot_f32 = FALSE;
  g.a_blocks = NULL;
  g.c = f32;
  cpu_gemm_tile(&g, 0, s->m, 0, s->n, TRUE);
  EXPECT(memcmp(f32, want, bytes) != 0, "k %" G_GINT64_FORMAT ": the f32 path agrees exactly",
         s->k);
}

int main(void)
{
  if (!cpu_bf16_dot_available()) {
    printf("skipped: this CPU has no AVX512_BF16 (or IVL_CPU_BF16_DOT=0, IVL_CPU_NO_AVX512)\n");
    return 77;
  }
  static const shape shapes[] = {
      {37, 1031, 101, TRUE, 0.125f, IVL_DTYPE_BF16, TRUE}, /* 3 blocks, the last one odd */
      {13, 7, 45, TRUE, 1.0f, IVL_DTYPE_BF16, TRUE},       /* k below one pair block, odd */
      {25, 4096, 70, FALSE, 1.0f, IVL_DTYPE_BF16, TRUE},   /* vision's fc2: 8 blocks */
      {61, 896, 300, TRUE, 0.5f, IVL_DTYPE_BF16, TRUE},    /* prefill's k: 2 blocks, wide tiles */
      {11, 1024, 33, FALSE, -0.25f, IVL_DTYPE_BF16, TRUE}, /* one row past the GEMV's */
      {29, 64, 1025, FALSE, 0.125f, IVL_DTYPE_F32, TRUE},  /* attention's scores: keys f32 */
      {30, 1025, 64, FALSE, 1.0f, IVL_DTYPE_F32, FALSE},   /* its values: B stored [k, n] */
      {17, 9, 37, TRUE, 1.0f, IVL_DTYPE_F32, FALSE},       /* odd everything, [k, n] */
  };
  for (size_t i = 0; i < G_N_ELEMENTS(shapes); i++)
    check(&shapes[i]);
  printf("%zu shapes, %d failure(s)\n", G_N_ELEMENTS(shapes), failures);
  return failures == 0 ? 0 : 1;
}
