/* The integer dot products of cpu-int-dot.c against plain references, on both paths (portable,
 * and AVX2 where the CPU has it), for odd sizes: partial Q8 blocks, k below one block, tiles
 * of rows and columns cut short, all-zero and outlier rows.
 *   - activation quantization: the AVX2 bytes and scales equal the portable ones, and every
 *     value is within half a step of its input;
 *   - products: within f32 rounding of the same block formula in double, within the
 *     activations' quantization error of the float product, and bit for bit the same whether
 *     computed as one call or tile by tile, and bit for bit the same on the AVX-512 (VNNI)
 *     path as on AVX2 where the CPU has it (IVL_CPU_NO_AVX512=1 leaves it out).
 * Usage: test-int-dot [-v]. */
#include "cpu-kernels.h"
#include "expect.h"
#include "quantize.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static int failures;
static gboolean verbose;

typedef struct {
  int64_t m, k, n;
  ivl_dtype dtype;
} shape;

/* Value t of block b of a quantized row i in natural order. */
static int qact_at(const cpu_qact *qa, int64_t i, int64_t t)
{
  int64_t b = t / CPU_QACT_BLOCK, u = t % CPU_QACT_BLOCK;
  int64_t pos = qa->split ? u / 2 + (u % 2) * (CPU_QACT_BLOCK / 2) : u;
  return qa->q[(i * qa->n_blocks + b) * CPU_QACT_BLOCK + pos];
}

/* The stored integer weight value and its scale, decoded from quantize.h's layout alone. */
static int weight_int(const shape *s, const void *w, int64_t j, int64_t t, double *scale)
{
  if (s->dtype == IVL_DTYPE_Q8) {
    *scale = ivl_q8_scales(w, s->n, s->k)[j];
    return ((const int8_t *)w)[j * s->k + t];
  }
  uint8_t byte = ((const uint8_t *)w)[(j * s->k + t) / 2];
  *scale = cpu_f16_to_f32(ivl_q4_scales(w, s->n, s->k)[(j * s->k + t) / 32]);
  return (t % 2 == 0 ? byte & 15 : byte >> 4) - 8;
}

static void check_qact(const shape *s, const cpu_qact *qa, const cpu_qact *ref, const float *a,
                       const char *path)
{
  size_t nq = (size_t)s->m * qa->n_blocks * CPU_QACT_BLOCK;
  EXPECT(memcmp(qa->q, ref->q, nq) == 0 &&
             memcmp(qa->d, ref->d, (size_t)(s->m * qa->n_blocks) * sizeof(float)) == 0,
         "%s: quantized activations differ from the portable ones (m %" G_GINT64_FORMAT
         ", k %" G_GINT64_FORMAT ")",
         path, s->m, s->k);
  for (int64_t i = 0; i < s->m; i++)
    for (int64_t t = 0; t < s->k; t++) {
      float d = qa->d[i * qa->n_blocks + t / CPU_QACT_BLOCK];
      int q = qact_at(qa, i, t);
      if (!(fabs(q * (double)d - a[i * s->k + t]) <= d * 0.5001 && q >= -127 && q <= 127)) {
        EXPECT(FALSE, "%s: a[%" G_GINT64_FORMAT "][%" G_GINT64_FORMAT "] = %g quantized to %d x %g",
               path, i, t, a[i * s->k + t], q, d);
        return;
      }
    }
}

static void run_shape(const shape *s, GRand *rng, gboolean simd)
{
  const char *path = simd ? "avx2" : "portable";
  float *a = g_new(float, s->m * s->k);
  float *wf = g_new(float, s->n * s->k);
  float *bias = g_new(float, s->n);
  for (int64_t i = 0; i < s->m * s->k; i++)
    a[i] = (float)g_rand_double_range(rng, -1, 1);
  for (int64_t i = 0; i < s->n * s->k; i++)
    wf[i] = (float)g_rand_double_range(rng, -1, 1);
  for (int64_t j = 0; j < s->n; j++)
    bias[j] = (float)g_rand_double_range(rng, -1, 1);
  if (s->m > 1) /* an all-zero row, and an outlier that flattens its block */
    memset(a + s->k, 0, (size_t)s->k * sizeof(float));
  a[s->k - 1] = 40.0f;
  void *w = g_malloc(ivl_quant_nbytes(s->dtype, s->n, s->k));
  ivl_quantize(s->dtype, w, wf, IVL_DTYPE_F32, s->n, s->k);

  cpu_qact *ref = cpu_qact_new(s->m, s->k, s->dtype);
  cpu_qact_rows(ref, a, s->k, 0, s->m, FALSE);
  cpu_qact *qa = cpu_qact_new(s->m, s->k, s->dtype);
  cpu_qact_rows(qa, a, s->k, 0, s->m, simd);
  check_qact(s, qa, ref, a, path);

  float *c = g_new0(float, s->m * s->n);
  float *c_tiled = g_new0(float, s->m * s->n);
  cpu_gemm_args g = {
      .m = s->m,
      .n = s->n,
      .k = s->k,
      .a = a,
      .lda = s->k,
      .b = w,
      .b_dtype = s->dtype,
      .b_rows = s->n,
      .ldb = s->k,
      .b_rows_are_n = TRUE,
      .bias = bias,
      .bias_dtype = IVL_DTYPE_F32,
      .alpha = 0.75f,
      .c = c,
      .ldc = s->n,
      .aq = qa,
  };
  cpu_gemm_tile(&g, 0, s->m, 0, s->n, simd);
  g.c = c_tiled; /* tiles that cut the kernel's 4 x 2 tiles short */
  for (int64_t i0 = 0; i0 < s->m; i0 += 3)
    for (int64_t j0 = 0; j0 < s->n; j0 += 5)
      cpu_gemm_tile(&g, i0, MIN(s->m, i0 + 3), j0, MIN(s->n, j0 + 5), simd);
  EXPECT(memcmp(c, c_tiled, (size_t)(s->m * s->n) * sizeof(float)) == 0,
         "%s: tile by tile differs from one call", path);
  if (simd && cpu_avx512_available()) { /* VNNI where the CPU has it: AVX2's bits exactly */
    g.avx512 = TRUE;
    g.c = c_tiled;
    memset(c_tiled, 0, (size_t)(s->m * s->n) * sizeof(float));
    cpu_gemm_tile(&g, 0, s->m, 0, s->n, simd);
    EXPECT(memcmp(c, c_tiled, (size_t)(s->m * s->n) * sizeof(float)) == 0,
           "avx512: differs from avx2 (m %" G_GINT64_FORMAT ", k %" G_GINT64_FORMAT
           ", n %" G_GINT64_FORMAT ")",
           s->m, s->k, s->n);
    memset(c_tiled, 0, (size_t)(s->m * s->n) * sizeof(float));
    for (int64_t i0 = 0; i0 < s->m; i0 += 3)
      for (int64_t j0 = 0; j0 < s->n; j0 += 5)
        cpu_gemm_tile(&g, i0, MIN(s->m, i0 + 3), j0, MIN(s->n, j0 + 5), simd);
    EXPECT(memcmp(c, c_tiled, (size_t)(s->m * s->n) * sizeof(float)) == 0,
           "avx512: tile by tile differs from avx2");
    g.avx512 = FALSE;
  }

  double worst = 0.0;
  for (int64_t i = 0; i < s->m; i++)
    for (int64_t j = 0; j < s->n; j++) {
      /* the block formula in double, and the float product with its error bound */
      double blocks = 0.0, mag = 0.0, exact = 0.0, bound = 0.0, row_scale = 1.0;
      for (int64_t b = 0; b < qa->n_blocks; b++) {
        double d = qa->d[i * qa->n_blocks + b], ws = 1.0, isum = 0.0;
        for (int64_t t = b * CPU_QACT_BLOCK; t < MIN(s->k, (b + 1) * CPU_QACT_BLOCK); t++) {
          int wi = weight_int(s, w, j, t, &ws);
          if (s->dtype == IVL_DTYPE_Q8) { /* applied once per row, as the kernels do */
            row_scale = ws;
            ws = 1.0;
          }
          isum += (double)qact_at(qa, i, t) * wi;
          exact += (double)a[i * s->k + t] * wi * ws;
          bound += fabs(wi * ws) * d * 0.5;
        }
        blocks += d * ws * isum;
        mag += fabs(d * ws * isum);
      }
      double want = 0.75 * row_scale * blocks + bias[j];
      double got = c[i * s->n + j];
      double tol = 4e-6 * (0.75 * row_scale * mag + fabs(bias[j])) + 1e-30;
      worst = MAX(worst, fabs(got - want) / tol);
      if (!(fabs(got - want) <= tol)) {
        EXPECT(FALSE,
               "%s: C[%" G_GINT64_FORMAT "][%" G_GINT64_FORMAT "] = %.9g, block formula %.9g "
               "(m %" G_GINT64_FORMAT ", k %" G_GINT64_FORMAT ", n %" G_GINT64_FORMAT ")",
               path, i, j, got, want, s->m, s->k, s->n);
        goto done;
      }
      double fl = 0.75 * row_scale * exact + bias[j];
      if (!(fabs(got - fl) <= 0.75 * row_scale * bound * 1.0001 + tol)) {
        EXPECT(FALSE,
               "%s: C[%" G_GINT64_FORMAT "][%" G_GINT64_FORMAT "] = %.9g, float product %.9g, "
               "more than the activations' rounding %.3g apart",
               path, i, j, got, fl, 0.75 * row_scale * bound);
        goto done;
      }
    }
done:
  if (verbose)
    printf("%-8s %s m %3" G_GINT64_FORMAT " k %4" G_GINT64_FORMAT " n %3" G_GINT64_FORMAT
           ": worst error %.2f of the f32 bound\n",
           path, s->dtype == IVL_DTYPE_Q8 ? "q8" : "q4", s->m, s->k, s->n, worst);
  cpu_qact_free(qa);
  cpu_qact_free(ref);
  g_free(c);
  g_free(c_tiled);
  g_free(w);
  g_free(bias);
  g_free(wf);
  g_free(a);
}

int main(int argc, char **argv)
{
  verbose = argc > 1 && strcmp(argv[1], "-v") == 0;
  static const shape shapes[] = {
      {1, 37, 5, IVL_DTYPE_Q8},    /* decode, a partial block */
      {1, 31, 3, IVL_DTYPE_Q8},    /* k below one block */
      {2, 100, 7, IVL_DTYPE_Q8},   /* two rows streamed */
      {3, 896, 9, IVL_DTYPE_Q8},   /* the most rows streamed */
      {4, 33, 3, IVL_DTYPE_Q8},    /* the fewest rows tiled, a 1-value block */
      {13, 96, 11, IVL_DTYPE_Q8},  /* tiles cut short in rows and columns */
      {19, 588, 6, IVL_DTYPE_Q8},  /* patch embedding's k = 3 * 14 * 14 */
      {1, 64, 3, IVL_DTYPE_Q4},    /* decode, two groups */
      {3, 32, 5, IVL_DTYPE_Q4},    /* one group */
      {7, 160, 9, IVL_DTYPE_Q4},   /* tiles cut short */
      {9, 896, 13, IVL_DTYPE_Q4},  /* a 1B row length */
      {21, 288, 4, IVL_DTYPE_Q4},  /* whole tiles in columns */
      {18, 900, 11, IVL_DTYPE_Q8}, /* VNNI's 4 x 4 tiles cut short, a partial block */
      {10, 416, 10, IVL_DTYPE_Q4}, /* VNNI's tiles cut short */
  };
  GRand *rng = g_rand_new_with_seed(20261207);
  gboolean simd = cpu_simd_available();
  printf("paths: portable%s%s\n", simd ? ", avx2" : " (no AVX2 here)",
         simd && cpu_avx512_available() ? ", avx512" : "");
  for (size_t i = 0; i < G_N_ELEMENTS(shapes); i++) {
    run_shape(&shapes[i], rng, FALSE);
    if (simd)
      run_shape(&shapes[i], rng, TRUE);
  }
  g_rand_free(rng);
  printf("%d failure(s)\n", failures);
  return failures == 0 ? 0 : 1;
}
