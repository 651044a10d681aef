/* The download catalog (app/hub/catalog.h): the seven models and their -hf twins, lookup, and which precision
 * fits a memory budget, for the host and for a GPU. */
#include "catalog.h"

static void test_models(void)
{
  guint n;
  const IvlCatalogModel *m = ivl_catalog_models(&n);
  g_assert_cmpuint(n, ==, 14);
  g_assert_cmpstr(m[0].name, ==, "InternVL3-1B");
  g_assert_cmpstr(m[6].repo_id, ==, "OpenGVLab/InternVL3-78B");
  /* then the seven -hf twins: the same weights, so the same parameters and memory */
  g_assert_cmpstr(m[7].name, ==, "InternVL3-1B-hf");
  g_assert_cmpstr(m[13].repo_id, ==, "OpenGVLab/InternVL3-78B-hf");
  g_assert_true(ivl_catalog_find("internvl3-9b-hf") == &m[10]);
  for (guint i = 0; i < 7; i++) {
    g_assert_cmpint(m[i].layout, ==, IVL_LAYOUT_ORIGINAL);
    g_assert_cmpint(m[7 + i].layout, ==, IVL_LAYOUT_HF);
    g_assert_cmpuint(m[7 + i].params, ==, m[i].params);
    g_assert_cmpuint(m[7 + i].params, >, 0);
    g_assert_cmpuint(m[7 + i].download_bytes, >, 2 * m[i].params);
    for (int p = 0; p < IVL_N_PRECISIONS; p++)
      g_assert_cmpuint(m[7 + i].memory[p], ==, m[i].memory[p]);
  }
  g_assert_true(ivl_catalog_find("internvl3-8b") == &m[2]);
  g_assert_true(ivl_catalog_find("OpenGVLab/InternVL3-14B") == &m[4]);
  g_assert_null(ivl_catalog_find("InternVL3-3B"));
  for (guint i = 0; i < n; i++) {
    /* weights shrink with precision; the GPU adds its runtime but keeps a bf16 KV cache */
    g_assert_cmpuint(m[i].memory[IVL_PRECISION_BF16], >, m[i].memory[IVL_PRECISION_INT8]);
    g_assert_cmpuint(m[i].memory[IVL_PRECISION_INT8], >, m[i].memory[IVL_PRECISION_Q4]);
    g_assert_cmpuint(m[i].gpu_memory[IVL_PRECISION_BF16], >, m[i].gpu_memory[IVL_PRECISION_INT8]);
    g_assert_cmpuint(m[i].gpu_memory[IVL_PRECISION_INT8], >, m[i].gpu_memory[IVL_PRECISION_Q4]);
  }
}

static void test_best_precision(void)
{
  guint n;
  const IvlCatalogModel *m8 = &ivl_catalog_models(&n)[2]; /* 8B */
  const guint64 *gpu = m8->gpu_memory;
  g_assert_cmpint(ivl_catalog_best_precision(gpu, gpu[IVL_PRECISION_BF16]), ==,
                  IVL_PRECISION_BF16);
  g_assert_cmpint(ivl_catalog_best_precision(gpu, gpu[IVL_PRECISION_BF16] - 1), ==,
                  IVL_PRECISION_INT8);
  g_assert_cmpint(ivl_catalog_best_precision(gpu, gpu[IVL_PRECISION_INT8] - 1), ==,
                  IVL_PRECISION_Q4);
  g_assert_cmpint(ivl_catalog_best_precision(gpu, gpu[IVL_PRECISION_Q4] - 1), ==, -1);
  /* an 80 GB card runs the 8B as published; a 12 GB one only quantized */
  g_assert_cmpint(ivl_catalog_best_precision(gpu, 80000000000), ==, IVL_PRECISION_BF16);
  g_assert_cmpint(ivl_catalog_best_precision(gpu, 12000000000), >, IVL_PRECISION_BF16);
  const guint64 unknown[IVL_N_PRECISIONS] = {0, 0, 0};
  g_assert_cmpint(ivl_catalog_best_precision(unknown, G_MAXUINT64), ==, -1);
}

static void test_gpu(void)
{
  g_autofree char *name = NULL;
  guint64 memory = 0;
  if (ivl_catalog_gpu(&name, &memory)) {
    g_assert_nonnull(name);
    g_assert_cmpuint(memory, >, 0);
  } else {
    g_test_message("no GPU here: the catalog offers host memory only");
  }
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/catalog/models", test_models);
  g_test_add_func("/catalog/best-precision", test_best_precision);
  g_test_add_func("/catalog/gpu", test_gpu);
  return g_test_run();
}
