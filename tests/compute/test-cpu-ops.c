/* The CPU backend against the reference ops (op-cases.c), plus what only the CPU backend has:
 * dtype conversion on upload/download and errors for bad shapes. Runs the AVX2 kernels, or the
 * portable ones when IVL_CPU_NO_SIMD=1 (meson runs it both ways), with quantized weights by
 * integer dot products unless IVL_CPU_INT_DOT=0 (meson runs the products that way too).
 * Usage: test-cpu-ops [-v] [filter]; IVL_TEST_SEED overrides the fixed seed. */
#include "backend.h"
#include "cpu-kernels.h"
#include "expect.h"
#include "ivl.h"
#include "op-cases.h"
#include "quantize.h"
#include "reference-ops.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static int failures;

/* f32 -> bf16/f16 -> f32 through a tensor: rounding to nearest even, overflow, subnormals. */
static void test_conversions(ivl_backend *be)
{
  static const struct {
    ivl_dtype dtype;
    float in, out;
  } cases[] = {
      {IVL_DTYPE_BF16, 1.0f, 1.0f},
      {IVL_DTYPE_BF16, 1.0f + 0x1p-8f, 1.0f},                      /* tie: to even */
      {IVL_DTYPE_BF16, 1.0f + 3 * 0x1p-8f, 1.0f + 0x1p-6f},        /* tie: to even, up */
      {IVL_DTYPE_BF16, 1.0f + 0x1p-8f + 0x1p-12f, 1.0f + 0x1p-7f}, /* above the tie */
      {IVL_DTYPE_BF16, -FLT_MAX, -INFINITY},                       /* past the last bf16 */
      {IVL_DTYPE_F16, 1.0f + 0x1p-11f, 1.0f},                      /* tie: to even */
      {IVL_DTYPE_F16, 65504.0f, 65504.0f},
      {IVL_DTYPE_F16, 65519.0f, 65504.0f},
      {IVL_DTYPE_F16, 65520.0f, INFINITY},
      {IVL_DTYPE_F16, 0x1p-24f, 0x1p-24f},       /* smallest subnormal */
      {IVL_DTYPE_F16, 0x1p-25f, 0.0f},           /* tie: to even (zero) */
      {IVL_DTYPE_F16, 3 * 0x1p-25f, 0x1p-23f},   /* tie: to even, up */
      {IVL_DTYPE_F16, -0x1.ffcp-15f, -0x1p-14f}, /* subnormal rounds to normal */
  };
  for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autoptr(GError) error = NULL;
    ivl_tensor *t = be->ops->tensor_new(be, cases[i].dtype, 1, 1, &error);
    float back = NAN;
    EXPECT(t && be->ops->upload_f32(be, t, 0, 1, &cases[i].in, &error) &&
               be->ops->download_f32(be, t, 0, 1, &back, &error),
           "conversion setup: %s", error ? error->message : "");
    EXPECT(back == cases[i].out, "%s(%a) -> %a, expected %a",
           cases[i].dtype == IVL_DTYPE_BF16 ? "bf16" : "f16", cases[i].in, back, cases[i].out);
    be->ops->tensor_free(be, t);
  }
  EXPECT(isnan(cpu_bf16_to_f32(cpu_f32_to_bf16(NAN))), "bf16 NaN");
  EXPECT(isnan(cpu_f16_to_f32(cpu_f32_to_f16(NAN))), "f16 NaN");
  /* every half value survives f16 -> f32 -> f16 */
  for (uint32_t h = 0; h < 0x10000u; h++) {
    float f = cpu_f16_to_f32((uint16_t)h);
    if (!isnan(f) && cpu_f32_to_f16(f) != h) {
      EXPECT(FALSE, "f16 %04x -> %a -> %04x", h, f, cpu_f32_to_f16(f));
      break;
    }
  }
}

/* New tensors are zero, from the heap (small) or a mapping (>= 1 MiB); an impossible size is an
 * out-of-memory error. */
static void test_memory(ivl_backend *be)
{
  static const int64_t rows[] = {3, 1 << 12};
  for (size_t i = 0; i < G_N_ELEMENTS(rows); i++) {
    g_autoptr(GError) error = NULL;
    ivl_tensor *t = be->ops->tensor_new(be, IVL_DTYPE_F32, rows[i], 100, &error);
    g_autofree float *v = g_new(float, rows[i] * 100);
    EXPECT(t && be->ops->download_f32(be, t, 0, rows[i], v, &error), "tensor_new: %s",
           error ? error->message : "");
    for (int64_t j = 0; t && j < rows[i] * 100; j++)
      if (v[j] != 0.0f) {
        EXPECT(FALSE, "tensor_new [%" G_GINT64_FORMAT ", 100] not zero at %" G_GINT64_FORMAT,
               rows[i], j);
        break;
      }
    be->ops->tensor_free(be, t);
  }
  g_autoptr(GError) error = NULL;
  EXPECT(be->ops->tensor_new(be, IVL_DTYPE_F32, (int64_t)1 << 40, 1 << 12, &error) == NULL &&
             g_error_matches(error, IVL_ERROR, IVL_ERROR_OUT_OF_MEMORY),
         "a 16 PiB tensor did not fail with IVL_ERROR_OUT_OF_MEMORY");
}

/* Bad shapes are reported through the backend's error, never a crash or a write. */
static void test_errors(ivl_backend *be)
{
  g_autoptr(GError) error = NULL;
  EXPECT(be->ops->tensor_new(be, IVL_DTYPE_F32, -1, 4, &error) == NULL &&
             g_error_matches(error, IVL_ERROR, IVL_ERROR_INVALID_ARGUMENT),
         "negative rows accepted");
  g_clear_error(&error);

  ivl_tensor *x = be->ops->tensor_new(be, IVL_DTYPE_F32, 2, 8, &error);
  ivl_tensor *w = be->ops->tensor_new(be, IVL_DTYPE_F32, 3, 7, &error);
  ivl_tensor *y = be->ops->tensor_new(be, IVL_DTYPE_F32, 2, 3, &error);
  float row[8] = {0};
  EXPECT(!be->ops->upload_f32(be, x, 1, 2, row, &error) &&
             g_error_matches(error, IVL_ERROR, IVL_ERROR_INVALID_ARGUMENT),
         "upload past the end accepted");
  g_clear_error(&error);

  be->ops->matmul(be, y, x, w, NULL);
  EXPECT(!ivl_backend_take_error(be, &error) && strstr(error->message, "matmul"),
         "matmul with mismatched columns not reported");
  g_clear_error(&error);

  be->ops->attention(be, y, x, x, x, 1, 2, 2, 4, TRUE, 5, 0.5f);
  EXPECT(!ivl_backend_take_error(be, &error), "causal attention past the keys not reported");
  g_clear_error(&error);

  int32_t bad_id = 5;
  be->ops->get_rows(be, y, w, &bad_id, 1);
  EXPECT(!ivl_backend_take_error(be, &error), "get_rows with an id past the table not reported");
  g_clear_error(&error);
  EXPECT(be->ops->argmax(be, y, 2) == -1 && !ivl_backend_take_error(be, &error),
         "argmax of a missing row not reported");
  g_clear_error(&error);

  EXPECT(ivl_backend_take_error(be, &error), "an error left behind");
  be->ops->tensor_free(be, x);
  be->ops->tensor_free(be, w);
  be->ops->tensor_free(be, y);
  be->ops->tensor_free(be, NULL);
}

/* y = x · w^T + bias for x of rows rows from `data`, w [n, k] bf16; returns y on the host. */
static float *matmul_rows(ivl_backend *be, const float *x_data, int64_t rows, int64_t k,
                          ivl_tensor *w, ivl_tensor *bias, int64_t n)
{
  g_autoptr(GError) error = NULL;
  ivl_tensor *x = be->ops->tensor_new(be, IVL_DTYPE_F32, rows, k, &error);
  ivl_tensor *y = be->ops->tensor_new(be, IVL_DTYPE_F32, rows, n, &error);
  float *out = g_new0(float, rows *n);
  EXPECT(x && y && be->ops->upload_f32(be, x, 0, rows, x_data, &error), "matmul_rows setup: %s",
         error ? error->message : "");
  be->ops->matmul(be, y, x, w, bias);
  EXPECT(ivl_backend_take_error(be, &error) && be->ops->download_f32(be, y, 0, rows, out, &error),
         "matmul_rows: %s", error ? error->message : "");
  be->ops->tensor_free(be, x);
  be->ops->tensor_free(be, y);
  return out;
}

/* argmax beside NaNs and -inf, where the vector path hands over to the scalar loop: the first
 * largest non-NaN value wins; no value but NaN gives the last index. */
static void test_argmax(ivl_backend *be)
{
  static const struct {
    int64_t n, at[3];
    float v[3];
    int32_t want;
  } cases[] = {
      {100, {3, 40, 77}, {NAN, 9.0f, 9.0f}, 40},        /* a tie after a NaN */
      {100, {0, 1, 99}, {NAN, NAN, 2.0f}, 99},          /* the largest in the tail */
      {37, {5, 6, 7}, {-INFINITY, NAN, 1.0f}, 7},       /* the largest in the tail */
      {70, {0, 64, 65}, {NAN, 0.75f, 0.75f}, 64},       /* a tie in the last full vector */
      {40, {0, 1, 2}, {-INFINITY, -INFINITY, NAN}, -2}, /* all -inf but one NaN */
      {9, {0, 1, 2}, {NAN, NAN, NAN}, -1},              /* all NaN */
  };
  for (size_t c = 0; c < G_N_ELEMENTS(cases); c++) {
    g_autoptr(GError) error = NULL;
    int64_t n = cases[c].n;
    g_autofree float *x = g_new(float, n);
    /* -inf everywhere for the two last cases, small values otherwise, then the marked ones */
    for (int64_t i = 0; i < n; i++)
      x[i] = cases[c].want < 0 ? (cases[c].want == -1 ? NAN : -INFINITY) : (float)(i % 13) * 0.05f;
    for (int i = 0; i < 3; i++)
      x[cases[c].at[i]] = cases[c].v[i];
    /* all -inf: the scalar loop keeps index 0; all NaN: it walks to the last */
    int32_t want = cases[c].want == -2 ? 0 : cases[c].want == -1 ? (int32_t)(n - 1) : cases[c].want;
    ivl_tensor *t = be->ops->tensor_new(be, IVL_DTYPE_F32, 1, n, &error);
    EXPECT(t && be->ops->upload_f32(be, t, 0, 1, x, &error), "argmax setup: %s",
           error ? error->message : "");
    int32_t got = be->ops->argmax(be, t, 0);
    EXPECT(got == want, "argmax case %zu: %d, expected %d", c, got, want);
    be->ops->tensor_free(be, t);
  }
}

/* Each row of a product of 2..10 rows has the bits of that row multiplied alone: a sequence
 * decoded in a batch must give the greedy tokens it gives alone (test-batch), and the few-row
 * kernels keep the one-row summation order for that. */
static void test_rows_alone(ivl_backend *be)
{
  /* k, n: tails after the 32-value blocks or none; rows that fit in L1 together or not (the
   * AVX-512 kernel then sums 512 values at a time: the last chunk shorter at k = 1200) */
  static const int64_t shapes[][2] = {{17, 5},   {100, 37},  {1031, 23},
                                      {256, 41}, {2048, 19}, {1200, 13}};
  guint32 state = 12345;
  for (size_t s = 0; s < G_N_ELEMENTS(shapes); s++) {
    int64_t k = shapes[s][0], n = shapes[s][1];
    g_autoptr(GError) error = NULL;
    g_autofree float *x = g_new(float, 16 * k);
    g_autofree float *wv = g_new(float, n *k);
    g_autofree float *bv = g_new(float, n);
    for (int64_t i = 0; i < 16 * k; i++)
      x[i] = (float)((state = state * 1664525u + 1013904223u) >> 8) * 0x1p-23f - 1.0f;
    for (int64_t i = 0; i < n * k; i++)
      wv[i] = (float)((state = state * 1664525u + 1013904223u) >> 8) * 0x1p-23f - 1.0f;
    for (int64_t i = 0; i < n; i++)
      bv[i] = (float)i * 0.25f - 1.0f;
    ivl_tensor *w = be->ops->tensor_new(be, IVL_DTYPE_BF16, n, k, &error);
    ivl_tensor *b = be->ops->tensor_new(be, IVL_DTYPE_BF16, 1, n, &error);
    EXPECT(w && b && be->ops->upload_f32(be, w, 0, n, wv, &error) &&
               be->ops->upload_f32(be, b, 0, 1, bv, &error),
           "rows alone setup: %s", error ? error->message : "");
    g_autofree float *alone = g_new(float, 16 * n);
    for (int64_t r = 0; r < 16; r++) {
      g_autofree float *y = matmul_rows(be, x + r * k, 1, k, w, b, n);
      memcpy(alone + r * n, y, n * sizeof(float));
    }
    /* up to GEMV_MAX_ROWS (cpu-gemm.c); above, the packed GEMM sums in another order */
    for (int64_t m = 2; m <= 10; m++) {
      g_autofree float *y = matmul_rows(be, x, m, k, w, b, n);
      EXPECT(memcmp(y, alone, m * n * sizeof(float)) == 0,
             "k %" G_GINT64_FORMAT ", n %" G_GINT64_FORMAT ": %" G_GINT64_FORMAT
             " rows differ from each row alone",
             k, n, m);
    }
    be->ops->tensor_free(be, w);
    be->ops->tensor_free(be, b);
  }
}

/* n uniform values in [-1, 1), newly allocated. */
static float *random_values(int64_t n, guint32 *state)
{
  float *v = g_new(float, MAX(1, n));
  for (int64_t i = 0; i < n; i++)
    v[i] = (float)((*state = *state * 1664525u + 1013904223u) >> 8) * 0x1p-23f - 1.0f;
  return v;
}

/* A tensor of dtype holding uniform values in [-1, 1). */
static ivl_tensor *random_tensor(ivl_backend *be, ivl_dtype dtype, int64_t rows, int64_t cols,
                                 guint32 *state)
{
  g_autoptr(GError) error = NULL;
  g_autofree float *v = random_values(rows * cols, state);
  ivl_tensor *t = be->ops->tensor_new(be, dtype, rows, cols, &error);
  EXPECT(t && be->ops->upload_f32(be, t, 0, rows, v, &error), "random tensor: %s",
         error ? error->message : "");
  return t;
}

static gboolean same_bits(ivl_backend *be, const ivl_tensor *a, const ivl_tensor *b)
{
  return ivl_backend_take_error(be, NULL) &&
         memcmp(a->data, b->data, (size_t)(a->rows * a->cols) * sizeof(float)) == 0;
}

/* Decode attention splits the keys of a kv head into chunks fixed by the key count, merged in
 * key order: 1, 2 and 3 threads give the same bytes; and its AVX-512 values product the AVX2
 * one's (a fourth run without AVX-512, 2 threads). */
static void test_attention_threads(void)
{
  static const struct {
    int n_seq, tq, tk, heads, kv, hd;
    gboolean causal;
    int q_pos0;
  } cases[] = {
      {1, 1, 517, 14, 2, 64, TRUE, 516},
      {2, 1, 300, 32, 8, 128, TRUE, 250},
      {1, 4, 400, 8, 2, 64, TRUE, 396},
      {2, 1, 260, 4, 4, 64, FALSE, 0},
  };
  for (size_t c = 0; c < G_N_ELEMENTS(cases); c++) {
    g_autofree float *first = NULL;
    int64_t qr = (int64_t)cases[c].n_seq * cases[c].tq, kr = (int64_t)cases[c].n_seq * cases[c].tk;
    int64_t qc = (int64_t)cases[c].heads * cases[c].hd, kc = (int64_t)cases[c].kv * cases[c].hd;
    for (int run = 1; run <= 4; run++) {
      g_autoptr(GError) error = NULL;
      const int threads = run <= 3 ? run : 2;
      g_autofree char *no_avx512 = g_strdup(g_getenv("IVL_CPU_NO_AVX512"));
      if (run == 4)
        g_setenv("IVL_CPU_NO_AVX512", "1", TRUE);
      ivl_backend *be = ivl_backend_cpu_new(threads, &error);
      if (run == 4 && no_avx512)
        g_setenv("IVL_CPU_NO_AVX512", no_avx512, TRUE);
      else if (run == 4)
        g_unsetenv("IVL_CPU_NO_AVX512");
      guint32 state = 777;
      ivl_tensor *q = random_tensor(be, IVL_DTYPE_F32, qr, qc, &state);
      ivl_tensor *k = random_tensor(be, IVL_DTYPE_F32, kr, kc, &state);
      ivl_tensor *v = random_tensor(be, IVL_DTYPE_F32, kr, kc, &state);
      ivl_tensor *o = be->ops->tensor_new(be, IVL_DTYPE_F32, qr, qc, &error);
      be->ops->attention(be, o, q, k, v, cases[c].n_seq, cases[c].heads, cases[c].kv, cases[c].hd,
                         cases[c].causal, cases[c].q_pos0, 1.0f / sqrtf((float)cases[c].hd));
      EXPECT(ivl_backend_take_error(be, &error), "attention case %zu: %s", c,
             error ? error->message : "");
      if (first == NULL)
        first = g_memdup2(o->data, (gsize)(qr * qc) * sizeof(float));
      else
        EXPECT(memcmp(first, o->data, (size_t)(qr * qc) * sizeof(float)) == 0,
               "attention case %zu: %d threads%s differ from 1", c, threads,
               run == 4 ? " without AVX-512" : "");
      ivl_tensor *all[] = {q, k, v, o};
      for (size_t t = 0; t < G_N_ELEMENTS(all); t++)
        be->ops->tensor_free(be, all[t]);
      be->ops->free(be);
    }
  }
}

/* matmul_gelu and matmul_add_scaled (run on each tile of the product while it is in cache)
 * give the bits of matmul then gelu, and of matmul, add_scaled, layer_norm: the vision goldens stay
 * as they were. Widths are multiples of 8, as the models' (the AVX2 GELU takes 8 at a time,
 * so elsewhere the split over rows decides which values take its scalar tail). */
static void test_fusions(ivl_backend *be)
{
  /* m, n, k: the packed GEMM, the few-row GEMV, several row blocks' worth of columns, A copied
   * out (k = 1024) and split in row blocks */
  static const int64_t shapes[][3] = {{37, 40, 24}, {5, 72, 64}, {300, 136, 64}, {600, 96, 1024}};
  guint32 state = 777;
  for (size_t i = 0; i < G_N_ELEMENTS(shapes); i++) {
    const int64_t m = shapes[i][0], n = shapes[i][1], k = shapes[i][2];
    ivl_tensor *x = random_tensor(be, IVL_DTYPE_F32, m, k, &state);
    ivl_tensor *w = random_tensor(be, IVL_DTYPE_BF16, n, k, &state);
    ivl_tensor *b = random_tensor(be, IVL_DTYPE_BF16, 1, n, &state);
    ivl_tensor *ls = random_tensor(be, IVL_DTYPE_BF16, 1, n, &state);
    ivl_tensor *y1 = random_tensor(be, IVL_DTYPE_F32, m, n, &state);
    ivl_tensor *y2 = random_tensor(be, IVL_DTYPE_F32, m, n, &state);
    ivl_tensor *r1 = random_tensor(be, IVL_DTYPE_F32, m, n, &state);
    ivl_tensor *n1 = random_tensor(be, IVL_DTYPE_F32, m, n, &state);
    ivl_tensor *n2 = random_tensor(be, IVL_DTYPE_F32, m, n, &state);
    ivl_tensor *r2 = be->ops->tensor_new(be, IVL_DTYPE_F32, m, n, NULL);
    memcpy(r2->data, r1->data, (size_t)(m * n) * sizeof(float));
    for (int with_bias = 0; with_bias < 2; with_bias++) {
      ivl_tensor *bias = with_bias ? b : NULL;
      be->ops->matmul(be, y1, x, w, bias);
      be->ops->gelu(be, y1);
      be->ops->matmul_gelu(be, y2, x, w, bias);
      EXPECT(same_bits(be, y1, y2),
             "matmul_gelu %" G_GINT64_FORMAT "x%" G_GINT64_FORMAT "x%" G_GINT64_FORMAT
             " (bias %d) differs from matmul, gelu",
             m, n, k, with_bias);
      be->ops->matmul(be, y1, x, w, bias);
      be->ops->add_scaled(be, r1, y1, ls);
      be->ops->layer_norm(be, n1, r1, ls, b, 1e-6f);
      be->ops->matmul_add_scaled(be, r2, y2, x, w, bias, ls, n2, ls, b, 1e-6f);
      EXPECT(same_bits(be, r1, r2) && same_bits(be, n1, n2),
             "matmul_add_scaled %" G_GINT64_FORMAT "x%" G_GINT64_FORMAT "x%" G_GINT64_FORMAT
             " (bias %d) differs from matmul, add_scaled, layer_norm",
             m, n, k, with_bias);
    }
    /* one job over three products of x, as three matmuls */
    be->ops->matmul(be, y1, x, w, b);
    be->ops->matmul_qkv(be, y2, n1, n2, x, w, w, w, b, NULL, b);
    be->ops->matmul(be, r1, x, w, NULL);
    EXPECT(same_bits(be, y1, y2) && same_bits(be, r1, n1) && same_bits(be, y1, n2),
           "matmul_qkv %" G_GINT64_FORMAT "x%" G_GINT64_FORMAT "x%" G_GINT64_FORMAT
           " differs from three matmuls",
           m, n, k);
    ivl_tensor *all[] = {x, w, b, ls, y1, y2, r1, r2, n1, n2};
    for (size_t t = 0; t < G_N_ELEMENTS(all); t++)
      be->ops->tensor_free(be, all[t]);
  }
}

/* A weight of dtype (quantized ones as the loader makes them) holding uniform values. */
static ivl_tensor *random_weight(ivl_backend *be, ivl_dtype dtype, int64_t rows, int64_t cols,
                                 guint32 *state)
{
  if (!cpu_dtype_is_quant(dtype))
    return random_tensor(be, dtype, rows, cols, state);
  g_autoptr(GError) error = NULL;
  g_autofree float *v = random_values(rows * cols, state);
  g_autofree void *q = g_malloc(ivl_tensor_nbytes(dtype, rows, cols));
  ivl_quantize(dtype, q, v, IVL_DTYPE_F32, rows, cols);
  ivl_tensor *t = be->ops->weight_from_host(be, dtype, rows, cols, q, &error);
  EXPECT(t != NULL, "quantized weight: %s", error ? error->message : "");
  return t;
}

/* The language model's fusions (one thread-pool loop for q, k and v, and for gate and up)
 * give the bits of the ops they stand for, for every weight dtype (the integer dot products
 * quantize x once for all three products). */
static void test_language_fusions(ivl_backend *be)
{
  /* m, n (q; k and v are n / 4), k: decode, a few streams, a prefill chunk; up's width n */
  static const int64_t shapes[][3] = {{1, 64, 64}, {5, 96, 128}, {70, 128, 64}};
  static const ivl_dtype dtypes[] = {IVL_DTYPE_BF16, IVL_DTYPE_Q8, IVL_DTYPE_Q4};
  static const char *names[] = {"bf16", "int8", "4-bit"};
  guint32 state = 4242;
  for (size_t i = 0; i < G_N_ELEMENTS(shapes); i++)
    for (size_t d = 0; d < G_N_ELEMENTS(dtypes); d++) {
      const int64_t m = shapes[i][0], n = shapes[i][1], k = shapes[i][2];
      ivl_tensor *x = random_tensor(be, IVL_DTYPE_F32, m, k, &state);
      ivl_tensor *w[3], *b[3], *y1[3], *y2[3];
      for (int p = 0; p < 3; p++) {
        int64_t rows = p == 0 ? n : n / 4;
        w[p] = random_weight(be, dtypes[d], rows, k, &state);
        b[p] = random_tensor(be, IVL_DTYPE_BF16, 1, rows, &state);
        y1[p] = random_tensor(be, IVL_DTYPE_F32, m, rows, &state);
        y2[p] = random_tensor(be, IVL_DTYPE_F32, m, rows, &state);
        be->ops->matmul(be, y1[p], x, w[p], b[p]);
      }
      be->ops->matmul_qkv(be, y2[0], y2[1], y2[2], x, w[0], w[1], w[2], b[0], b[1], b[2]);
      EXPECT(same_bits(be, y1[0], y2[0]) && same_bits(be, y1[1], y2[1]) &&
                 same_bits(be, y1[2], y2[2]),
             "matmul_qkv %" G_GINT64_FORMAT "x%" G_GINT64_FORMAT "x%" G_GINT64_FORMAT
             " (%s) differs from three matmuls",
             m, n, k, names[d]);
      ivl_tensor *wu = random_weight(be, dtypes[d], n, k, &state);
      ivl_tensor *u1 = random_tensor(be, IVL_DTYPE_F32, m, n, &state);
      ivl_tensor *u2 = random_tensor(be, IVL_DTYPE_F32, m, n, &state);
      be->ops->matmul(be, y1[0], x, w[0], NULL);
      be->ops->matmul(be, u1, x, wu, NULL);
      be->ops->silu_mul(be, y1[0], u1);
      be->ops->matmul_silu_mul(be, y2[0], u2, x, w[0], wu);
      EXPECT(same_bits(be, y1[0], y2[0]),
             "matmul_silu_mul %" G_GINT64_FORMAT "x%" G_GINT64_FORMAT "x%" G_GINT64_FORMAT
             " (%s) differs from matmul, matmul, silu_mul",
             m, n, k, names[d]);
      ivl_tensor *all[] = {x,     w[0],  w[1],  w[2],  b[0],  b[1], b[2], y1[0],
                           y1[1], y1[2], y2[0], y2[1], y2[2], wu,   u1,   u2};
      for (size_t t = 0; t < G_N_ELEMENTS(all); t++)
        be->ops->tensor_free(be, all[t]);
    }
  /* add_rms_norm: x += r, then the norm, as add and rms_norm */
  ivl_tensor *x1 = random_tensor(be, IVL_DTYPE_F32, 9, 136, &state);
  ivl_tensor *x2 = be->ops->tensor_new(be, IVL_DTYPE_F32, 9, 136, NULL);
  memcpy(x2->data, x1->data, 9 * 136 * sizeof(float));
  ivl_tensor *r = random_tensor(be, IVL_DTYPE_F32, 9, 136, &state);
  ivl_tensor *nw = random_tensor(be, IVL_DTYPE_BF16, 1, 136, &state);
  ivl_tensor *n1 = random_tensor(be, IVL_DTYPE_F32, 9, 136, &state);
  ivl_tensor *n2 = random_tensor(be, IVL_DTYPE_F32, 9, 136, &state);
  be->ops->add(be, x1, x1, r);
  be->ops->rms_norm(be, n1, x1, nw, 1e-6f);
  be->ops->add_rms_norm(be, n2, x2, r, nw, 1e-6f);
  EXPECT(same_bits(be, x1, x2) && same_bits(be, n1, n2), "add_rms_norm differs from add, rms_norm");
  ivl_tensor *all[] = {x1, x2, r, nw, n1, n2};
  for (size_t t = 0; t < G_N_ELEMENTS(all); t++)
    be->ops->tensor_free(be, all[t]);
}

int main(int argc, char **argv)
{
  ivl_op_cases_params params = {.seed = 20261127};
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "-v") == 0)
      params.verbose = TRUE;
    else
      params.filter = argv[i];
  }
  const char *seed = g_getenv("IVL_TEST_SEED");
  if (seed)
    params.seed = (guint32)g_ascii_strtoull(seed, NULL, 10);
  /* activations uniform in [-1, 1] quantized per 32 to int8: NMSE = step² / 12 over the mean
   * square = (1/127)² / 12 / (1/3) ≈ 1.6e-5 at most, 1.3-1.6e-5 measured */
  if (cpu_int_dot_enabled())
    params.quant_act_nmse = 3e-5;
  /* activations uniform in [-1, 1] rounded to bf16 (8 significant bits) where the products of
   * bf16 weights take bf16 dot products (many rows only: the GEMV stays f32): 1.6-2.5e-6
   * measured */
  if (cpu_bf16_dot_available())
    params.bf16_act_nmse = 1e-5;
  /* and attention's products of more query rows than the GEMV's, with Q, K, exp(S - max) and V
   * rounded to bf16: 7-9.3e-6 measured */
  if (cpu_bf16_dot_available())
    params.bf16_attention_nmse = 3e-5;
  printf("seed %u, kernels %s, quantized weights by %s products, bf16 weights by %s products\n",
         params.seed, cpu_simd_available() ? "avx2" : "portable",
         cpu_int_dot_enabled() ? "integer" : "float", cpu_bf16_dot_available() ? "bf16" : "f32");

  g_autoptr(GError) error = NULL;
  /* 3 threads on any machine: uneven splits of every op */
  ivl_backend *cpu = ivl_backend_cpu_new(3, &error);
  ivl_backend *ref = cpu ? ivl_reference_backend_new(&error) : NULL;
  if (ref == NULL) {
    fprintf(stderr, "cannot create the backends: %s\n", error->message);
    return 1;
  }
  failures += ivl_op_cases_run(cpu, ref, &params);
  test_conversions(cpu);
  test_memory(cpu);
  test_errors(cpu);
  test_rows_alone(cpu);
  test_argmax(cpu);
  test_fusions(cpu);
  test_language_fusions(cpu);
  test_attention_threads();
  cpu->ops->free(cpu);
  ref->ops->free(ref);
  printf("%d failure(s)\n", failures);
  return failures == 0 ? 0 : 1;
}
