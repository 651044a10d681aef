/* The GPU memory plan: what fits passes, what does not names the shortfall and the levers. */
#include "gpu-memory-plan.h"
#include "ivl.h"

#include <string.h>

#define GIB ((guint64)1 << 30)
/* the weights of a 16 GiB bf16 model in bf16, int8, 4-bit */
#define BF16_8B                                                                                    \
  {                                                                                                \
    16 * GIB, 8 * GIB, 5 * GIB                                                                     \
  }

static void test_fits(void)
{
  const ivl_gpu_memory_plan plan = {IVL_PRECISION_BF16, 16 * GIB, 4 * GIB, 1 * GIB, BF16_8B, 1};
  g_autoptr(GError) error = NULL;
  g_assert_true(ivl_gpu_memory_plan_check(&plan, "GPU 0 (test)", 22 * GIB, 80 * GIB, &error));
  g_assert_no_error(error);
}

static void test_reserve_counts(void)
{
  /* Exactly the plan free: the reserve is missing. */
  const ivl_gpu_memory_plan plan = {IVL_PRECISION_BF16, 16 * GIB, 4 * GIB, 1 * GIB, BF16_8B, 1};
  g_autoptr(GError) error = NULL;
  g_assert_false(ivl_gpu_memory_plan_check(&plan, "GPU 0 (test)", 21 * GIB, 80 * GIB, &error));
  g_assert_error(error, IVL_ERROR, IVL_ERROR_OUT_OF_MEMORY);
  g_assert_nonnull(strstr(error->message, "0.50 GiB are missing"));
}

static void test_shortfall_message(void)
{
  /* 8B in bf16 (~16 GiB) with a 32k context on a 12 GiB card. */
  const ivl_gpu_memory_plan plan = {IVL_PRECISION_BF16, 16 * GIB, 4 * GIB, 2 * GIB, BF16_8B, 1};
  g_autoptr(GError) error = NULL;
  g_assert_false(ivl_gpu_memory_plan_check(&plan, "GPU 0 (RTX 4070)", 11 * GIB, 12 * GIB, &error));
  g_assert_error(error, IVL_ERROR, IVL_ERROR_OUT_OF_MEMORY);
  const char *m = error->message;
  g_assert_nonnull(strstr(m, "GPU 0 (RTX 4070) has 11.00 GiB free (of 12.00 GiB)"));
  g_assert_nonnull(strstr(m, "needs 22.50 GiB"));
  g_assert_nonnull(strstr(m, "11.50 GiB are missing"));
  g_assert_nonnull(strstr(m, "Try --precision 4bit (the weights take 5.00 GiB instead of 16.00) "
                             "together with the steps below"));
  g_assert_nonnull(strstr(m, "shorter context (the KV cache takes 4.00 GiB)"));
  g_assert_nonnull(strstr(m, "fewer image tiles"));
  g_assert_nonnull(strstr(m, "a GPU with more memory"));
}

static void test_small_shortfall_suggests_int8(void)
{
  const ivl_gpu_memory_plan plan = {IVL_PRECISION_BF16, 16 * GIB, 1 * GIB, 0, BF16_8B, 1};
  g_autoptr(GError) error = NULL;
  g_assert_false(ivl_gpu_memory_plan_check(&plan, "GPU 0 (test)", 14 * GIB, 16 * GIB, &error));
  g_assert_nonnull(strstr(error->message, "Try --precision int8 (the weights take 8.00 GiB"));
  g_assert_null(strstr(error->message, "steps below"));
  g_assert_null(strstr(error->message, "fewer image tiles"));
}

/* Already at 4-bit: no smaller precision to offer, the other levers remain. */
static void test_smallest_precision(void)
{
  const ivl_gpu_memory_plan plan = {IVL_PRECISION_Q4, 5 * GIB, 4 * GIB, 1 * GIB, BF16_8B, 1};
  g_autoptr(GError) error = NULL;
  g_assert_false(ivl_gpu_memory_plan_check(&plan, "GPU 0 (test)", 6 * GIB, 8 * GIB, &error));
  g_assert_null(strstr(error->message, "--precision"));
  g_assert_nonnull(strstr(error->message, "Try a shorter context"));
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/gpu-memory-plan/fits", test_fits);
  g_test_add_func("/gpu-memory-plan/reserve-counts", test_reserve_counts);
  g_test_add_func("/gpu-memory-plan/shortfall-message", test_shortfall_message);
  g_test_add_func("/gpu-memory-plan/small-shortfall", test_small_shortfall_suggests_int8);
  g_test_add_func("/gpu-memory-plan/smallest-precision", test_smallest_precision);
  return g_test_run();
}
