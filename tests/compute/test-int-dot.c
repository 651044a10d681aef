/* The integer dot products of cpu-int-dot.c against plain references, for odd sizes: partial
 * Q8 blocks, k below one block, n not a multiple of a panel, tiles of rows and columns cut
 * short, all-zero and outlier rows, rows over more than one slice of A.
 *   - the panel layout (cpu-qpanel.h): every weight decoded from the panels equals what
 *     ivl_dequantize_row gives from quantize.h's layout;
 *   - activation quantization: the AVX2 bytes and scales equal the portable ones, and every
 *     value is within half a step of its input;
 *   - products: within f32 rounding of the same block formula in double, within the
 *     activations' quantization error of the float product, and bit for bit the same on every
 *     path (portable, AVX2, AVX-512 VNNI where the CPU has it; IVL_CPU_NO_AVX512=1 leaves it
 *     out) and whether computed as one call or tile by tile.
 * Usage: test-int-dot [-v]. */
#include "cpu-kernels.h"
#include "cpu-qpanel.h"
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

/* The integer weight value t of row j and its scale, decoded from the panel layout as
 * cpu-qpanel.h describes it. */
static int weight_int(const shape *s, const uint8_t *wp, int64_t j, int64_t t, double *scale)
{
  const int64_t n_blocks = (s->k + 31) / 32, b = t / 32, gr = t % 32 / 4, r = j % 16;
  const uint8_t *panel = wp + j / 16 * cpu_qpanel_bytes(s->dtype, s->k);
  float f;
  if (s->dtype == IVL_DTYPE_Q8) {
    memcpy(&f, panel + n_blocks * 512 + r * 4, sizeof(f));
    *scale = f;
    return (int8_t)panel[b * 512 + gr * 64 + r * 4 + t % 4];
  }
  const uint8_t *blk = panel + b * 320;
  memcpy(&f, blk + 256 + r * 4, sizeof(f));
  *scale = f;
  uint8_t byte = blk[gr / 2 * 64 + r * 4 + t % 4];
  return (gr % 2 == 0 ? byte & 15 : byte >> 4) - 8;
}

static void check_panels(const shape *s, const void *w, const uint8_t *wp)
{
  float *want = g_new(float, s->k);
  for (int64_t j = 0; j < s->n; j++) {
    ivl_dequantize_row(s->dtype, want, w, s->n, s->k, j, 0, s->k);
    for (int64_t t = 0; t < s->k; t++) {
      double scale;
      float got = (float)(weight_int(s, wp, j, t, &scale) * scale);
      if (got != want[t]) {
        EXPECT(FALSE, "panels: w[%" G_GINT64_FORMAT "][%" G_GINT64_FORMAT "] = %g, want %g", j, t,
               got, want[t]);
        g_free(want);
        return;
      }
    }
  }
  g_free(want);
}

static void check_qact(const shape *s, const cpu_qact *qa, const cpu_qact *ref, const float *a)
{
  size_t nq = (size_t)s->m * qa->n_blocks * CPU_QACT_BLOCK;
  size_t nd = (size_t)(s->m * qa->n_blocks);
  EXPECT(memcmp(qa->q, ref->q, nq) == 0 && memcmp(qa->d, ref->d, nd * sizeof(float)) == 0 &&
             memcmp(qa->sum, ref->sum, nd * sizeof(int32_t)) == 0,
         "avx2: quantized activations differ from the portable ones (m %" G_GINT64_FORMAT
         ", k %" G_GINT64_FORMAT ")",
         s->m, s->k);
  for (int64_t i = 0; i < s->m; i++)
    for (int64_t t = 0; t < s->k; t++) {
      float d = qa->d[i * qa->n_blocks + t / CPU_QACT_BLOCK];
      int q = qa->q[i * qa->n_blocks * CPU_QACT_BLOCK + t];
      if (!(fabs(q * (double)d - a[i * s->k + t]) <= d * 0.5001 && q >= -127 && q <= 127)) {
        EXPECT(FALSE, "a[%" G_GINT64_FORMAT "][%" G_GINT64_FORMAT "] = %g quantized to %d x %g", i,
               t, a[i * s->k + t], q, d);
        return;
      }
    }
}

/* C on one path, as one call and tile by tile (3 rows x 5 columns), both compared with want
 * (NULL: none yet); returns the one-call result. */
static float *product(cpu_gemm_args *g, gboolean simd, gboolean avx512, const float *want,
                      const char *path)
{
  const size_t bytes = (size_t)(g->m * g->n) * sizeof(float);
  float *c = g_malloc0(bytes), *tiled = g_malloc0(bytes);
  g->avx512 = avx512;
  g->c = c;
  cpu_gemm_tile(g, 0, g->m, 0, g->n, simd);
  g->c = tiled;
  for (int64_t i0 = 0; i0 < g->m; i0 += 3)
    for (int64_t j0 = 0; j0 < g->n; j0 += 5)
      cpu_gemm_tile(g, i0, MIN(g->m, i0 + 3), j0, MIN(g->n, j0 + 5), simd);
  EXPECT(memcmp(c, tiled, bytes) == 0,
         "%s: tile by tile differs from one call (m %" G_GINT64_FORMAT ", k %" G_GINT64_FORMAT
         ", n %" G_GINT64_FORMAT ")",
         path, g->m, g->k, g->n);
  EXPECT(want == NULL || memcmp(c, want, bytes) == 0,
         "%s: differs from the portable path (m %" G_GINT64_FORMAT ", k %" G_GINT64_FORMAT
         ", n %" G_GINT64_FORMAT ")",
         path, g->m, g->k, g->n);
  g_free(tiled);
  return c;
}

static void run_shape(const shape *s, GRand *rng, gboolean simd, gboolean avx512)
{
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
  uint8_t *wp = g_malloc(cpu_qpanel_nbytes(s->dtype, s->n, s->k));
  cpu_qpanel_pack(s->dtype, wp, w, s->n, s->k);
  check_panels(s, w, wp);

  cpu_qact *qa = cpu_qact_new(s->m, s->k);
  cpu_qact_rows(qa, a, s->k, 0, s->m, FALSE);
  if (simd) {
    cpu_qact *qs = cpu_qact_new(s->m, s->k);
    cpu_qact_rows(qs, a, s->k, 0, s->m, TRUE);
    check_qact(s, qs, qa, a);
    cpu_qact_free(qs);
  }

  cpu_gemm_args g = {
      .m = s->m,
      .n = s->n,
      .k = s->k,
      .a = a,
      .lda = s->k,
      .b = wp,
      .b_dtype = s->dtype,
      .b_rows = s->n,
      .ldb = s->k,
      .b_rows_are_n = TRUE,
      .bias = bias,
      .bias_dtype = IVL_DTYPE_F32,
      .alpha = 0.75f,
      .ldc = s->n,
      .aq = qa,
  };
  float *c = product(&g, FALSE, FALSE, NULL, "portable");
  if (simd)
    g_free(product(&g, TRUE, FALSE, c, "avx2"));
  if (avx512)
    g_free(product(&g, TRUE, TRUE, c, "avx512"));

  double worst = 0.0;
  for (int64_t i = 0; i < s->m; i++)
    for (int64_t j = 0; j < s->n; j++) {
      /* the block formula in double, and the float product with its error bound */
      double blocks = 0.0, mag = 0.0, exact = 0.0, bound = 0.0, row_scale = 1.0;
      for (int64_t b = 0; b < qa->n_blocks; b++) {
        double d = qa->d[i * qa->n_blocks + b], ws = 1.0, isum = 0.0;
        for (int64_t t = b * CPU_QACT_BLOCK; t < MIN(s->k, (b + 1) * CPU_QACT_BLOCK); t++) {
          int wi = weight_int(s, wp, j, t, &ws);
          if (s->dtype == IVL_DTYPE_Q8) { /* applied once per row, as the kernels do */
            row_scale = ws;
            ws = 1.0;
          }
          isum += (double)qa->q[i * qa->n_blocks * CPU_QACT_BLOCK + t] * wi;
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
               "C[%" G_GINT64_FORMAT "][%" G_GINT64_FORMAT "] = %.9g, block formula %.9g "
               "(m %" G_GINT64_FORMAT ", k %" G_GINT64_FORMAT ", n %" G_GINT64_FORMAT ")",
               i, j, got, want, s->m, s->k, s->n);
        goto done;
      }
      double fl = 0.75 * row_scale * exact + bias[j];
      if (!(fabs(got - fl) <= 0.75 * row_scale * bound * 1.0001 + tol)) {
        EXPECT(FALSE,
               "C[%" G_GINT64_FORMAT "][%" G_GINT64_FORMAT "] = %.9g, float product %.9g, "
               "more than the activations' rounding %.3g apart",
               i, j, got, fl, 0.75 * row_scale * bound);
        goto done;
      }
    }
done:
  if (verbose)
    printf("%s m %3" G_GINT64_FORMAT " k %4" G_GINT64_FORMAT " n %3" G_GINT64_FORMAT
           ": worst error %.2f of the f32 bound\n",
           s->dtype == IVL_DTYPE_Q8 ? "q8" : "q4", s->m, s->k, s->n, worst);
  cpu_qact_free(qa);
  g_free(c);
  g_free(wp);
  g_free(w);
  g_free(bias);
  g_free(wf);
  g_free(a);
}

int main(int argc, char **argv)
{
  verbose = argc > 1 && strcmp(argv[1], "-v") == 0;
  static const shape shapes[] = {
      {1, 37, 5, IVL_DTYPE_Q8},     /* decode, a partial block */
      {1, 31, 3, IVL_DTYPE_Q8},     /* k below one block */
      {3, 896, 9, IVL_DTYPE_Q8},    /* the most rows streamed */
      {4, 33, 3, IVL_DTYPE_Q8},     /* the fewest rows tiled, a 1-value block */
      {19, 588, 6, IVL_DTYPE_Q8},   /* patch embedding's k = 3 * 14 * 14 */
      {1, 64, 3, IVL_DTYPE_Q4},     /* decode, two groups */
      {9, 896, 13, IVL_DTYPE_Q4},   /* a 1B row length */
      {21, 288, 48, IVL_DTYPE_Q4},  /* whole panels */
      {40, 4096, 18, IVL_DTYPE_Q4}, /* more than one slice of A */
      {37, 4100, 17, IVL_DTYPE_Q8}, /* more than one slice of A, a partial block */
  };
  GRand *rng = g_rand_new_with_seed(20261207);
  gboolean simd = cpu_simd_available(), avx512 = simd && cpu_avx512_available();
  printf("paths: portable%s%s\n", simd ? ", avx2" : " (no AVX2 here)", avx512 ? ", avx512" : "");
  for (size_t i = 0; i < G_N_ELEMENTS(shapes); i++)
    run_shape(&shapes[i], rng, simd, avx512);
  /* every row count of the streamed and the tiled kernels, the tiles cut short in columns */
  for (int64_t m = 1; m <= 13; m++) {
    run_shape(&(shape){m, 100, 21, IVL_DTYPE_Q8}, rng, simd, avx512);
    run_shape(&(shape){m, 160, 35, IVL_DTYPE_Q4}, rng, simd, avx512);
  }
  g_rand_free(rng);
  printf("%d failure(s)\n", failures);
  return failures == 0 ? 0 : 1;
}
