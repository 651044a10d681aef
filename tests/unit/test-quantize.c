/* The quantizer (engine/quantize.h): the layouts' sizes, values worked by hand (ties round
 * away from zero), the AVX2 path byte for byte against the portable one on awkward inputs,
 * and the round trip within half a step. */
#include "quantize.h"

#include <math.h>
#include <string.h>

static void test_sizes(void)
{
  g_assert_true(ivl_quant_fits(IVL_DTYPE_Q8, 3, 5));
  g_assert_false(ivl_quant_fits(IVL_DTYPE_Q4, 3, 48));
  g_assert_true(ivl_quant_fits(IVL_DTYPE_Q4, 3, 64));
  /* 3 x 5 int8 = 15 bytes, scales from 64: 3 f32 */
  g_assert_cmpuint(ivl_quant_scales_offset(IVL_DTYPE_Q8, 3, 5), ==, 64);
  g_assert_cmpuint(ivl_tensor_nbytes(IVL_DTYPE_Q8, 3, 5), ==, 64 + 12);
  /* 896 x 896 4-bit: 401408 bytes of nibbles (a multiple of 64), 896 x 28 f16 scales */
  g_assert_cmpuint(ivl_tensor_nbytes(IVL_DTYPE_Q4, 896, 896), ==, 401408 + 896 * 28 * 2);
  g_assert_cmpuint(ivl_tensor_nbytes(IVL_DTYPE_BF16, 896, 896), ==, 896 * 896 * 2);
}

static void test_q8_by_hand(void)
{
  /* max |w| = 127: the step is exactly 1, so w/s = w and the rounding shows directly */
  const float row[8] = {127.0f, -63.5f, 0.5f, -0.5f, 1.49f, -2.5f, 0.0f, 3.0f};
  const int8_t want[8] = {127, -64, 1, -1, 1, -3, 0, 3};
  guint8 q[64 + 4];
  ivl_quantize(IVL_DTYPE_Q8, q, row, IVL_DTYPE_F32, 1, 8);
  g_assert_cmpmem(q, 8, want, 8);
  g_assert_cmpfloat(ivl_q8_scales(q, 1, 8)[0], ==, 1.0f);
  float back[8];
  ivl_dequantize_row(IVL_DTYPE_Q8, back, q, 1, 8, 0, 0, 8);
  g_assert_cmpfloat(back[1], ==, -64.0f);
}

static void test_q4_by_hand(void)
{
  /* max |w| = 7 in the group: step 1 (exact in f16); -8 is reachable only by clamping */
  float row[32] = {7.0f, -7.0f, 2.5f, -2.5f, 0.49f, 6.5f, -3.5f, 1.0f};
  guint8 q[64 + 2];
  ivl_quantize(IVL_DTYPE_Q4, q, row, IVL_DTYPE_F32, 1, 32);
  /* value 2i in the low nibble of byte i, 2i + 1 in the high one, each + 8: (7, -7) -> 0x1F */
  g_assert_cmphex(q[0], ==, 0x1f);
  g_assert_cmphex(q[1], ==, (8 - 3) << 4 | (8 + 3)); /* 2.5 -> 3, -2.5 -> -3 */
  g_assert_cmphex(q[2], ==, (8 + 7) << 4 | 8);       /* 0.49 -> 0, 6.5 -> 7 */
  g_assert_cmphex(q[3], ==, (8 + 1) << 4 | (8 - 4)); /* -3.5 -> -4, 1 -> 1 */
  float back[32];
  ivl_dequantize_row(IVL_DTYPE_Q4, back, q, 1, 32, 0, 0, 32);
  g_assert_cmpfloat(back[5], ==, 7.0f);
  g_assert_cmpfloat(back[6], ==, -4.0f);
}

/* Random rows, with exact ties, zeros, an all-zero row, a NaN and an infinity mixed in. */
static float *awkward(GRand *rng, int64_t rows, int64_t cols)
{
  float *w = g_new(float, rows * cols);
  for (int64_t i = 0; i < rows * cols; i++)
    w[i] = (float)g_rand_double_range(rng, -1, 1);
  for (int64_t r = 0; r < rows; r++) {
    w[r * cols] = 1.0f; /* the step of such a row is 1/127 (int8), of its group 1/7 */
    for (int64_t c = 1; c < cols; c += 5)
      w[r * cols + c] = (float)(g_rand_int_range(rng, -14, 15) + 0.5) / 7.0f;
  }
  memset(w + 2 * cols, 0, (size_t)cols * sizeof(float));
  w[3 * cols + 7] = NAN;
  w[4 * cols + 9] = INFINITY;
  return w;
}

static void test_simd_matches_portable(gconstpointer data)
{
  const ivl_dtype dtype = GPOINTER_TO_INT(data);
  const int64_t rows = 9, cols = 4864;
  g_autoptr(GRand) rng = g_rand_new_with_seed(7);
  g_autofree float *w = awkward(rng, rows, cols);
  size_t n = ivl_tensor_nbytes(dtype, rows, cols);
  g_autofree guint8 *simd = g_malloc(n), *portable = g_malloc(n);
  ivl_quantize(dtype, simd, w, IVL_DTYPE_F32, rows, cols);
  g_setenv("IVL_CPU_NO_SIMD", "1", TRUE);
  ivl_quantize(dtype, portable, w, IVL_DTYPE_F32, rows, cols);
  g_unsetenv("IVL_CPU_NO_SIMD");
  g_assert_cmpmem(simd, n, portable, n);

  /* finite rows come back within half a step of each value */
  float back[4864];
  for (int64_t r = 0; r < rows; r++) {
    if (r == 3 || r == 4)
      continue;
    ivl_dequantize_row(dtype, back, simd, rows, cols, r, 0, cols);
    for (int64_t c = 0; c < cols; c++) {
      int64_t g0 = dtype == IVL_DTYPE_Q4 ? c / IVL_Q4_GROUP * IVL_Q4_GROUP : 0;
      int64_t len = dtype == IVL_DTYPE_Q4 ? IVL_Q4_GROUP : cols;
      float amax = 0;
      for (int64_t i = g0; i < g0 + len; i++)
        amax = fmaxf(amax, fabsf(w[r * cols + i]));
      /* the 4-bit step is rounded to f16: up to 2^-11 relative, times 8 steps */
      double step = amax / (dtype == IVL_DTYPE_Q4 ? 7.0 : 127.0);
      double bound = step / 2 * (1 + 1e-6) + (dtype == IVL_DTYPE_Q4 ? 8 * step / 2048 : 0);
      g_assert_cmpfloat(fabs(back[c] - w[r * cols + c]), <=, bound);
    }
  }
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/quantize/sizes", test_sizes);
  g_test_add_func("/quantize/q8-by-hand", test_q8_by_hand);
  g_test_add_func("/quantize/q4-by-hand", test_q4_by_hand);
  g_test_add_data_func("/quantize/q8-simd", GINT_TO_POINTER(IVL_DTYPE_Q8),
                       test_simd_matches_portable);
  g_test_add_data_func("/quantize/q4-simd", GINT_TO_POINTER(IVL_DTYPE_Q4),
                       test_simd_matches_portable);
  return g_test_run();
}
