/* The compact layout of bf16 weights (cpu-compact-bf16.h) gives back every value bit for bit,
 * and the CPU backend's products, lookups and reads of a compact weight give the same bits as
 * of the same weight in plain rows (IVL_CPU_COMPACT_BF16=0): the few-row kernels (decode,
 * batched decode, long rows), the packed GEMMs with f32 and bf16 dot products, get_rows, add
 * and download_f32, of the whole weight and of a view of its rows, with 1 and 2 threads.
 * Values include zeros, -0, denormals, infinities and NaNs (read back only), and blocks whose
 * exponents span too much for the codes (stored raw). Skipped (exit 77) where the AVX-512
 * kernels do not run: only they read the layout.
 * Usage: test-compact-bf16 */
#include "backend-cpu-private.h"
#include "expect.h"
#include "ivl.h"
#include "tensor-view.h"

#include <stdio.h>
#include <string.h>

static int failures;

static guint32 next(guint32 *state)
{
  *state = *state * 1664525u + 1013904223u;
  return *state >> 8;
}

typedef enum {
  PLAIN,
  /* zeros, -0, denormals, values far below and above their block (raw blocks) */
  SPECIAL,
  /* and infinities and NaNs, for the values alone: in a product they leave NaNs, and which of
   * two NaNs a sum keeps depends on an operand order that compilers may swap */
  NON_FINITE,
} kind;

/* Weights as a model has them, N(0, ~0.02)-like, with the special values of `special`
 * sprinkled in. */
static uint16_t *weights(int64_t rows, int64_t cols, guint32 seed, kind special)
{
  uint16_t *w = g_new(uint16_t, rows * cols);
  for (int64_t i = 0; i < rows * cols; i++) {
    float u = ((float)(next(&seed) % 20001) - 10000.0f) * 4e-6f;
    w[i] = cpu_f32_to_bf16(u);
    if (special == PLAIN)
      continue;
    switch (next(&seed) % (special == NON_FINITE ? 997 : 4999)) {
    case 0: w[i] = 0x0000; break;                  /* +0 */
    case 1: w[i] = 0x8000; break;                  /* -0 */
    case 2: w[i] = 0x0001; break;                  /* the smallest denormal */
    case 3: w[i] = cpu_f32_to_bf16(1e-30f); break; /* far below its block: raw */
    case 4: w[i] = cpu_f32_to_bf16(3e4f); break;   /* far above */
    case 5: w[i] = special == NON_FINITE ? 0x7f80 : w[i]; break; /* inf */
    case 6: w[i] = special == NON_FINITE ? 0xffc1 : w[i]; break; /* a NaN with a payload */
    default: break;
    }
  }
  return w;
}

static void test_round_trip(int64_t rows, int64_t cols, kind special)
{
  g_autofree uint16_t *w = weights(rows, cols, (guint32)(rows * 31 + cols), special);
  cpu_compact_bf16 *z = cpu_compact_bf16_new(rows, cols);
  cpu_compact_bf16_code_rows(z, w, 0, rows / 2);
  cpu_compact_bf16_code_rows(z, w, rows / 2, rows);
  EXPECT(cpu_compact_bf16_finish(z, w), "finish");
  g_autofree uint16_t *back = g_new(uint16_t, cols);
  int64_t bad = 0;
  for (int64_t r = 0; r < rows; r++) {
    cpu_compact_bf16_values(z, r, 0, cols, back);
    bad += memcmp(back, w + r * cols, (size_t)cols * 2) != 0;
    /* a piece starting and ending inside blocks */
    int64_t k0 = MIN(cols - 1, 37), n = MIN(cols - k0, 100);
    cpu_compact_bf16_values(z, r, k0, n, back);
    bad += memcmp(back, w + r * cols + k0, (size_t)n * 2) != 0;
  }
  EXPECT(bad == 0, "[%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT "]: %" G_GINT64_FORMAT
                   " rows decode to other bits",
         rows, cols, bad);
  size_t plain = (size_t)(rows * cols * 2);
  printf("[%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT "]%s: %" G_GINT64_FORMAT
         " raw blocks of %" G_GINT64_FORMAT ", %.3f of the bytes\n",
         rows, cols, special != PLAIN ? " with special values" : "", z->n_raw, rows * z->n_blocks,
         (double)cpu_compact_bf16_bytes(z) / (double)plain);
  if (special != PLAIN)
    EXPECT(z->n_raw > 0, "no block was stored raw: the raw path went untested");
  cpu_compact_bf16_free(z);
}

typedef struct {
  ivl_backend *be;
  ivl_tensor *w;
} side;

static side make_side(gboolean compact, int threads, const uint16_t *w, int64_t n, int64_t k)
{
  g_setenv("IVL_CPU_COMPACT_BF16", compact ? "1" : "0", TRUE);
  GError *error = NULL;
  side s = {ivl_backend_cpu_new(threads, &error), NULL};
  g_assert_no_error(error);
  s.w = s.be->ops->weight_from_host(s.be, IVL_DTYPE_BF16, n, k, w, &error);
  g_assert_no_error(error);
  /* narrow rows (under ~70 values) would take more bytes compact: they stay plain */
  EXPECT(s.w->layout ? compact : !compact || k < 100, "[%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT
         "]: the weight is %s", n, k, s.w->layout ? "compact" : "plain");
  /* the loader counts these bytes as what a decode step reads (ivl bench) */
  size_t held = s.be->ops->weight_nbytes(s.be, s.w), plain = (size_t)(n * k) * sizeof(uint16_t);
  EXPECT(s.w->layout ? held == cpu_compact_bf16_bytes(s.w->layout) && held < plain : held == plain,
         "weight_nbytes %zu for a %s [%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT "] weight", held,
         s.w->layout ? "compact" : "plain", n, k);
  return s;
}

static void free_side(side *s)
{
  s->be->ops->tensor_free(s->be, s->w);
  s->be->ops->free(s->be);
}

/* y = x w^T on both sides, compared bit for bit; w's rows [row0, row0 + n) when row0 > 0 (a
 * view, as vision's q, k and v of its qkv weight). */
static void compare_matmul(side *s, int64_t m, int64_t k, int64_t n, int64_t row0)
{
  g_autofree float *x = g_new(float, m * k);
  guint32 seed = (guint32)(m * 7 + k);
  for (int64_t i = 0; i < m * k; i++)
    x[i] = ((float)(next(&seed) % 2001) - 1000.0f) * 1e-3f;
  float *out[2] = {g_new(float, m * n), g_new(float, m * n)};
  for (int b = 0; b < 2; b++) {
    ivl_backend *be = s[b].be;
    GError *error = NULL;
    ivl_tensor *xt = be->ops->tensor_new(be, IVL_DTYPE_F32, m, k, &error);
    ivl_tensor *yt = be->ops->tensor_new(be, IVL_DTYPE_F32, m, n, &error);
    g_assert_no_error(error);
    be->ops->upload_f32(be, xt, 0, m, x, &error);
    ivl_tensor w = ivl_tensor_view_rows(s[b].w, row0, n);
    be->ops->matmul(be, yt, xt, &w, NULL);
    EXPECT(ivl_backend_take_error(be, &error) && be->ops->download_f32(be, yt, 0, m, out[b], &error),
           "matmul: %s", error ? error->message : "");
    g_clear_error(&error);
    be->ops->tensor_free(be, xt);
    be->ops->tensor_free(be, yt);
  }
  EXPECT(memcmp(out[0], out[1], (size_t)(m * n) * sizeof(float)) == 0,
         "matmul m %" G_GINT64_FORMAT " k %" G_GINT64_FORMAT " n %" G_GINT64_FORMAT
         " from row %" G_GINT64_FORMAT ": compact and plain differ",
         m, k, n, row0);
  g_free(out[0]);
  g_free(out[1]);
}

/* get_rows, add and download_f32 of the weight on both sides. */
static void compare_reads(side *s, int64_t n, int64_t k)
{
  const int32_t ids[] = {0, (int32_t)(n - 1), (int32_t)(n / 2), 0};
  /* the second half of the rows as a view, read back */
  float *half[2] = {g_new(float, n / 2 * k), g_new(float, n / 2 * k)};
  for (int b = 0; b < 2; b++) {
    ivl_tensor view = ivl_tensor_view_rows(s[b].w, n - n / 2, n / 2);
    EXPECT(s[b].be->ops->download_f32(s[b].be, &view, 0, n / 2, half[b], NULL), "view read");
  }
  EXPECT(memcmp(half[0], half[1], (size_t)(n / 2 * k) * sizeof(float)) == 0,
         "a view's rows: compact and plain differ");
  g_free(half[0]);
  g_free(half[1]);
  float *got[2][3] = {{NULL}};
  for (int b = 0; b < 2; b++) {
    ivl_backend *be = s[b].be;
    GError *error = NULL;
    ivl_tensor *rows = be->ops->tensor_new(be, IVL_DTYPE_F32, 4, k, &error);
    ivl_tensor *a = be->ops->tensor_new(be, IVL_DTYPE_F32, n, k, &error);
    ivl_tensor *sum = be->ops->tensor_new(be, IVL_DTYPE_F32, n, k, &error);
    g_assert_no_error(error);
    be->ops->get_rows(be, rows, s[b].w, ids, 4);
    be->ops->add(be, sum, a, s[b].w);
    got[b][0] = g_new(float, 4 * k);
    got[b][1] = g_new(float, n * k);
    got[b][2] = g_new(float, n * k);
    EXPECT(ivl_backend_take_error(be, &error) &&
               be->ops->download_f32(be, rows, 0, 4, got[b][0], &error) &&
               be->ops->download_f32(be, sum, 0, n, got[b][1], &error) &&
               be->ops->download_f32(be, s[b].w, 0, n, got[b][2], &error),
           "reads: %s", error ? error->message : "");
    g_clear_error(&error);
    be->ops->tensor_free(be, rows);
    be->ops->tensor_free(be, a);
    be->ops->tensor_free(be, sum);
  }
  const char *what[] = {"get_rows", "add", "download_f32"};
  const int64_t count[] = {4 * k, n * k, n * k};
  for (int i = 0; i < 3; i++)
    EXPECT(memcmp(got[0][i], got[1][i], (size_t)count[i] * sizeof(float)) == 0,
           "%s of [%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT "]: compact and plain differ", what[i],
           n, k);
  for (int b = 0; b < 2; b++)
    for (int i = 0; i < 3; i++)
      g_free(got[b][i]);
}

static void test_products(int threads)
{
  /* k: the 1B's 896 and 4864, the patch embedding's 588 (a partial last block, a tail of 12
   * past the 32-value steps), and past the few-row kernels' L1 limit (8192: chunks of k; a
   * last block of 40, a half-block step); 40, 80 and 96 (below one block, one and a half)
   * stay plain, the layout being no smaller there */
  const int64_t ks[] = {40, 80, 96, 588, 896, 4864, 9000};
  const int64_t ms[] = {1, 2, 3, 5, 8, 9, 10, 11, 13, 40};
  for (size_t ki = 0; ki < G_N_ELEMENTS(ks); ki++) {
    int64_t k = ks[ki], n = k > 4000 ? 40 : 75;
    g_autofree uint16_t *w = weights(n, k, (guint32)k, SPECIAL);
    side s[2] = {make_side(TRUE, threads, w, n, k), make_side(FALSE, threads, w, n, k)};
    for (size_t mi = 0; mi < G_N_ELEMENTS(ms); mi++) {
      compare_matmul(s, ms[mi], k, n, 0);
      compare_matmul(s, ms[mi], k, n / 3, n / 3);
    }
    compare_reads(s, n, k);
    free_side(&s[0]);
    free_side(&s[1]);
  }
}

int main(void)
{
  if (!cpu_avx512_available()) {
    printf("SKIP: without the AVX-512 kernels (or with IVL_CPU_NO_AVX512 set) bf16 weights keep "
           "plain rows\n");
    return 77;
  }
  test_round_trip(3, 40, PLAIN);
  test_round_trip(64, 896, PLAIN);
  test_round_trip(17, 1000, NON_FINITE);
  test_round_trip(5, 4864, NON_FINITE);
  test_round_trip(9, 896, SPECIAL);
  for (int threads = 1; threads <= 2; threads++)
    test_products(threads);
  if (failures == 0)
    printf("ok\n");
  return failures == 0 ? 0 : 1;
}
