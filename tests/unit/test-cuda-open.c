/* Opening the CUDA backend: with a usable device it works and frees cleanly; without one
 * (no driver, as on CI) it fails with IVL_ERROR_UNSUPPORTED and no crash, so that the
 * backend choice "auto" can fall back to the CPU. The memory check behaves the same way. */
#include "ivl-config.h"

#include "backend.h"
#include "ivl.h"

#include <string.h>

static void test_open(void)
{
  g_autoptr(GError) error = NULL;
  ivl_backend *be = ivl_backend_cuda_new(0, &error);
  if (be == NULL) {
    g_assert_error(error, IVL_ERROR, IVL_ERROR_UNSUPPORTED);
    g_test_message("no device: %s", error->message);
    return;
  }
  g_assert_no_error(error);
  g_assert_cmpstr(be->ops->name, ==, "cuda");
  g_assert_cmpint(be->act_dtype, ==, IVL_DTYPE_BF16);
  g_assert_nonnull(be->ops->graph_begin);
  be->ops->free(be);
}

static void test_bad_device(void)
{
  g_autoptr(GError) error = NULL;
  g_assert_null(ivl_backend_cuda_new(1 << 20, &error));
  g_assert_error(error, IVL_ERROR, IVL_ERROR_UNSUPPORTED);
}

static void test_check_memory(void)
{
  g_autoptr(GError) error = NULL;
  /* A petabyte never fits; with no device the answer is "unsupported" instead. */
  const guint64 pib = (guint64)1 << 50;
  const ivl_gpu_memory_plan plan = {.precision = IVL_PRECISION_BF16, .weights = pib};
  g_assert_false(ivl_backend_cuda_check_memory(0, &plan, &error));
  g_assert_true(g_error_matches(error, IVL_ERROR, IVL_ERROR_OUT_OF_MEMORY) ||
                g_error_matches(error, IVL_ERROR, IVL_ERROR_UNSUPPORTED));
}

#if IVL_CUDA_EMULATION
/* A GPU this build has no code for (the emulation refuses every launch as such a GPU does):
 * opening fails with "unsupported", so that --backend auto falls back to the CPU, instead of
 * the first kernel failing while a model loads. */
static void open_without_kernel_image(void)
{
  if (!g_test_subprocess())
    return;
  g_autoptr(GError) error = NULL;
  g_assert_null(ivl_backend_cuda_new(0, &error));
  g_assert_error(error, IVL_ERROR, IVL_ERROR_UNSUPPORTED);
  g_assert_nonnull(strstr(error->message, "no kernel image"));
}

static void test_no_kernel_image(void)
{
  g_setenv("IVL_EMU_NO_KERNEL_IMAGE", "1", TRUE);
  g_test_trap_subprocess("/cuda-open/subprocess/no-kernel-image", 0,
                         G_TEST_SUBPROCESS_INHERIT_STDERR);
  g_unsetenv("IVL_EMU_NO_KERNEL_IMAGE");
  g_test_trap_assert_passed();
}
#endif

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
#if IVL_CUDA_EMULATION
  g_test_add_func("/cuda-open/no-kernel-image", test_no_kernel_image);
  g_test_add_func("/cuda-open/subprocess/no-kernel-image", open_without_kernel_image);
#endif
  g_test_add_func("/cuda-open/open", test_open);
  g_test_add_func("/cuda-open/bad-device", test_bad_device);
  g_test_add_func("/cuda-open/check-memory", test_check_memory);
  return g_test_run();
}
