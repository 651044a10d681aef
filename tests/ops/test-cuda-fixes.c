/* test-cuda-fixes — the CUDA backend's fixes that a reading found (issue 13), each where the
 * device shows it: attention over a cache whose later rows were never written stays finite
 * (the flash tile loader stopped at the keys it may read); and, under the CPU emulation,
 * which counts the runtime's calls and can make cuBLAS fail: a cuBLAS failure says why,
 * buffers that grow with the context are reallocated a few times, not every 256 tokens, and
 * tensors freed and made again at one size (the vision batches) reuse their memory. Exit 77
 * without a CUDA device. */
#include "ivl-config.h"

#include "backend.h"
#include "ops-harness.h"
#include "ivl.h"
#include "tensor-view.h"
#if IVL_CUDA_EMULATION
#include "ivl-emu.h"
#endif

#include <math.h>
#include <string.h>

static ivl_backend *be;

/* Decode with 18 query heads on one KV head takes the flash kernel (the split-key one takes
 * groups up to 16), over the whole 40-row cache as a recorded graph does: only rows
 * 0 .. 5 were written. */
static void test_attention_unwritten_cache(void)
{
  g_autoptr(GError) error = NULL;
  const int heads = 18, hd = 64, cache = 40, pos = 5;
  ivl_tensor *q = be->ops->tensor_new(be, IVL_DTYPE_BF16, 1, heads * hd, &error);
  ivl_tensor *k = be->ops->tensor_new(be, IVL_DTYPE_BF16, cache, hd, &error);
  ivl_tensor *v = be->ops->tensor_new(be, IVL_DTYPE_BF16, cache, hd, &error);
  ivl_tensor *out = be->ops->tensor_new(be, IVL_DTYPE_BF16, 1, heads * hd, &error);
  g_assert_no_error(error);
  g_autofree float *host = g_new(float, heads *hd);
  for (int i = 0; i < heads * hd; i++)
    host[i] = sinf((float)i);
  g_assert_true(be->ops->upload_f32(be, q, 0, 1, host, &error));
  g_assert_true(be->ops->upload_f32(be, k, 0, pos + 1, host, &error));
  g_assert_true(be->ops->upload_f32(be, v, 0, pos + 1, host, &error));
  be->ops->attention(be, out, q, k, v, 1, heads, 1, hd, TRUE, pos, 0.125f);
  g_assert_true(be->ops->download_f32(be, out, 0, 1, host, &error));
  for (int i = 0; i < heads * hd; i++)
    g_assert_true(isfinite(host[i]));
  ivl_tensor *all[] = {q, k, v, out};
  for (gsize i = 0; i < G_N_ELEMENTS(all); i++)
    be->ops->tensor_free(be, all[i]);
}

#if IVL_CUDA_EMULATION
static void test_cublas_error_message(void)
{
  g_autoptr(GError) error = NULL;
  ivl_tensor *x = be->ops->tensor_new(be, IVL_DTYPE_BF16, 4, 64, &error);
  ivl_tensor *y = be->ops->tensor_new(be, IVL_DTYPE_BF16, 4, 32, &error);
  g_autofree guint16 *w_host = g_new0(guint16, 32 * 64);
  ivl_tensor *w = be->ops->weight_from_host(be, IVL_DTYPE_BF16, 32, 64, w_host, &error);
  g_autofree float *zeros = g_new0(float, 4 * 64);
  g_assert_true(be->ops->upload_f32(be, x, 0, 4, zeros, &error));
  g_setenv("IVL_EMU_CUBLAS_STATUS", "13", TRUE); /* CUBLAS_STATUS_EXECUTION_FAILED */
  be->ops->matmul(be, y, x, w, NULL);
  g_unsetenv("IVL_EMU_CUBLAS_STATUS");
  g_assert_false(be->ops->synchronize(be, &error));
  g_assert_error(error, IVL_ERROR, IVL_ERROR_BACKEND);
  g_test_message("%s", error->message);
  g_assert_nonnull(strstr(error->message, "the GPU program failed to execute"));
  g_assert_nonnull(strstr(error->message, "CUBLAS_STATUS_EXECUTION_FAILED"));
  be->ops->tensor_free(be, x);
  be->ops->tensor_free(be, y);
  be->ops->tensor_free(be, w);
}

static guint64 mallocs(void)
{
  ivl_emu_stats s;
  ivl_emu_get_stats(&s);
  return s.mallocs;
}

/* Decode attention at every length from 256 to 4096 keys in steps of 256: the workspace
 * grows with the key count. */
static void test_workspace_growth(void)
{
  g_autoptr(GError) error = NULL;
  const int heads = 4, hd = 64, max = 4096;
  ivl_tensor *q = be->ops->tensor_new(be, IVL_DTYPE_BF16, 1, heads * hd, &error);
  ivl_tensor *kv = be->ops->tensor_new(be, IVL_DTYPE_BF16, max, hd, &error);
  ivl_tensor *out = be->ops->tensor_new(be, IVL_DTYPE_BF16, 1, heads * hd, &error);
  g_autofree float *zeros = g_new0(float, (gsize)max *hd);
  g_assert_true(be->ops->upload_f32(be, q, 0, 1, zeros, &error));
  g_assert_true(be->ops->upload_f32(be, kv, 0, max, zeros, &error));
  const guint64 before = mallocs();
  for (int n = 256; n <= max; n += 256) {
    ivl_tensor kc = ivl_tensor_view_rows(kv, 0, n);
    be->ops->attention(be, out, q, &kc, &kc, 1, heads, 1, hd, TRUE, n - 1, 0.125f);
  }
  g_assert_true(be->ops->synchronize(be, &error));
  const guint64 grown = mallocs() - before;
  g_test_message("%" G_GUINT64_FORMAT " allocations over 16 lengths", grown);
  g_assert_cmpuint(grown, <=, 6);
  be->ops->tensor_free(be, q);
  be->ops->tensor_free(be, kv);
  be->ops->tensor_free(be, out);
}

static void test_tensor_pool(void)
{
  g_autoptr(GError) error = NULL;
  const guint64 before = mallocs();
  for (int batch = 0; batch < 10; batch++) {
    ivl_tensor *a = be->ops->tensor_new(be, IVL_DTYPE_BF16, 1025, 96, &error);
    ivl_tensor *b = be->ops->tensor_new(be, IVL_DTYPE_F32, 3, 448 * 448, &error);
    g_assert_no_error(error);
    be->ops->tensor_free(be, a);
    be->ops->tensor_free(be, b);
  }
  g_assert_cmpuint(mallocs() - before, <=, 2);
}
#endif

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  be = ops_cuda_backend_or_skip();
  g_test_add_func("/cuda-fixes/attention-unwritten-cache", test_attention_unwritten_cache);
#if IVL_CUDA_EMULATION
  g_test_add_func("/cuda-fixes/cublas-error-message", test_cublas_error_message);
  g_test_add_func("/cuda-fixes/workspace-growth", test_workspace_growth);
  g_test_add_func("/cuda-fixes/tensor-pool", test_tensor_pool);
#endif
  const int rc = g_test_run();
  be->ops->free(be);
  return rc;
}
