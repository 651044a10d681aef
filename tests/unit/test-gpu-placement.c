/* Placement over several GPUs: split_model's table, placement by free memory, refusals. */
#include "gpu-placement.h"
#include "ivl.h"

#include <string.h>

#define GIB ((guint64)1 << 30)

/* Computed by the quick start's split_model (Python, InternVL3 model card) for each layer
 * count and device count: the layers of each device, devices separated by " | ". */
static const struct {
  int layers, devices;
  const char *expect;
} table[] = {
    {24, 1, "0-23"},
    {24, 2, "0-7, 23 | 8-22"},
    {24, 3, "0-4, 23 | 5-14 | 15-22"},
    {24, 4, "0-3, 23 | 4-10 | 11-17 | 18-22"},
    {24, 5, "0-2, 23 | 3-8 | 9-14 | 15-20 | 21-22"},
    {24, 6, "0-2, 23 | 3-7 | 8-12 | 13-17 | 18-22 | none"},
    {24, 7, "0-1, 23 | 2-5 | 6-9 | 10-13 | 14-17 | 18-21 | 22"},
    {24, 8, "0-1, 23 | 2-5 | 6-9 | 10-13 | 14-17 | 18-21 | 22 | none"},
    {28, 1, "0-27"},
    {28, 2, "0-9, 27 | 10-26"},
    {28, 3, "0-5, 27 | 6-17 | 18-26"},
    {28, 4, "0-3, 27 | 4-11 | 12-19 | 20-26"},
    {28, 5, "0-3, 27 | 4-10 | 11-17 | 18-24 | 25-26"},
    {28, 6, "0-2, 27 | 3-8 | 9-14 | 15-20 | 21-26 | none"},
    {28, 7, "0-2, 27 | 3-7 | 8-12 | 13-17 | 18-22 | 23-26 | none"},
    {28, 8, "0-1, 27 | 2-5 | 6-9 | 10-13 | 14-17 | 18-21 | 22-25 | 26"},
    {48, 1, "0-47"},
    {48, 2, "0-15, 47 | 16-46"},
    {48, 3, "0-9, 47 | 10-29 | 30-46"},
    {48, 4, "0-6, 47 | 7-20 | 21-34 | 35-46"},
    {48, 5, "0-5, 47 | 6-16 | 17-27 | 28-38 | 39-46"},
    {48, 6, "0-4, 47 | 5-13 | 14-22 | 23-31 | 32-40 | 41-46"},
    {48, 7, "0-3, 47 | 4-11 | 12-19 | 20-27 | 28-35 | 36-43 | 44-46"},
    {48, 8, "0-3, 47 | 4-10 | 11-17 | 18-24 | 25-31 | 32-38 | 39-45 | 46"},
    {64, 1, "0-63"},
    {64, 2, "0-21, 63 | 22-62"},
    {64, 3, "0-12, 63 | 13-38 | 39-62"},
    {64, 4, "0-9, 63 | 10-28 | 29-47 | 48-62"},
    {64, 5, "0-7, 63 | 8-22 | 23-37 | 38-52 | 53-62"},
    {64, 6, "0-5, 63 | 6-17 | 18-29 | 30-41 | 42-53 | 54-62"},
    {64, 7, "0-4, 63 | 5-14 | 15-24 | 25-34 | 35-44 | 45-54 | 55-62"},
    {64, 8, "0-4, 63 | 5-13 | 14-22 | 23-31 | 32-40 | 41-49 | 50-58 | 59-62"},
    {80, 1, "0-79"},
    {80, 2, "0-26, 79 | 27-78"},
    {80, 3, "0-15, 79 | 16-47 | 48-78"},
    {80, 4, "0-11, 79 | 12-34 | 35-57 | 58-78"},
    {80, 5, "0-8, 79 | 9-26 | 27-44 | 45-62 | 63-78"},
    {80, 6, "0-7, 79 | 8-22 | 23-37 | 38-52 | 53-67 | 68-78"},
    {80, 7, "0-6, 79 | 7-19 | 20-32 | 33-45 | 46-58 | 59-71 | 72-78"},
    {80, 8, "0-5, 79 | 6-16 | 17-27 | 28-38 | 39-49 | 50-60 | 61-71 | 72-78"},
};

/* 78B-like costs in bf16: 80 layers of ~1.8 GiB, 20 GiB vision + embeddings + head. */
static ivl_split_costs big_costs(int n_layers)
{
  ivl_split_costs c = {IVL_PRECISION_BF16,
                       n_layers,
                       20 * GIB,
                       2 * GIB,
                       GIB / 4,
                       3 * GIB,
                       GIB,
                       {20 * GIB, 11 * GIB, 6 * GIB},
                       {2 * GIB, GIB, GIB / 2}};
  return c;
}

static char *describe(const ivl_placement *p)
{
  GString *s = g_string_new(NULL);
  for (int d = 0; d < p->n_devices; d++) {
    g_autofree char *t = ivl_placement_layers_text(p, d);
    g_string_append_printf(s, "%s%s", d ? " | " : "", t);
  }
  return g_string_free(s, FALSE);
}

static void test_split_model_table(void)
{
  for (gsize i = 0; i < G_N_ELEMENTS(table); i++) {
    ivl_split_costs c = big_costs(table[i].layers);
    g_autoptr(ivl_placement) p = ivl_placement_new_unchecked(&c, table[i].devices);
    g_autofree char *got = describe(p);
    if (strcmp(got, table[i].expect) != 0)
      g_error("%d layers over %d GPUs: got %s, expected %s", table[i].layers, table[i].devices, got,
              table[i].expect);
  }
}

static void fill(guint64 *free_b, guint64 *total_b, const char **names, int n, guint64 each)
{
  static const char *const n8[] = {"GPU 0", "GPU 1", "GPU 2", "GPU 3",
                                   "GPU 4", "GPU 5", "GPU 6", "GPU 7"};
  for (int d = 0; d < n; d++)
    free_b[d] = total_b[d] = each, names[d] = n8[d];
}

/* The layer split checked per device: the same table, and a device short of memory named. */
static void test_layers_fits_and_refuses(void)
{
  ivl_split_costs c = big_costs(80);
  guint64 free_b[8], total_b[8];
  const char *names[8];
  fill(free_b, total_b, names, 4, 80 * GIB);
  g_autoptr(GError) error = NULL;
  g_autoptr(ivl_placement) p =
      ivl_placement_new(&c, IVL_SPLIT_LAYERS, 4, free_b, total_b, names, &error);
  g_assert_no_error(error);
  g_assert_cmpint(p->n_layers_on[0], ==, 13);
  g_assert_cmpuint(p->weights[0], ==, 20 * GIB + 13 * 2 * GIB);
  g_assert_cmpuint(p->kv_cache[1], ==, 23 * (GIB / 4));
  g_assert_cmpuint(p->workspace[2], ==, GIB);

  /* GPU 2 has only 40 GiB: 23 layers need 51.75 + 1 + 0.5 reserve. */
  free_b[2] = 40 * GIB;
  g_autoptr(ivl_placement) q =
      ivl_placement_new(&c, IVL_SPLIT_LAYERS, 4, free_b, total_b, names, &error);
  g_assert_null(q);
  g_assert_error(error, IVL_ERROR, IVL_ERROR_OUT_OF_MEMORY);
  const char *m = error->message;
  g_assert_nonnull(strstr(m, "layers 35-57 on GPU 2"));
  g_assert_nonnull(strstr(m, "GPU 2 has 40.00 GiB free"));
  g_assert_nonnull(strstr(m, "13.25 GiB are missing"));
  g_assert_nonnull(strstr(m, "--precision int8"));
  g_assert_nonnull(strstr(m, "shorter context"));
  g_assert_nonnull(strstr(m, "more GPUs"));
  g_assert_nonnull(strstr(m, "--split auto fits"));
  g_clear_error(&error);

  /* two GPUs: neither placement fits, so auto is not offered */
  fill(free_b, total_b, names, 2, 80 * GIB);
  g_assert_null(ivl_placement_new(&c, IVL_SPLIT_LAYERS, 2, free_b, total_b, names, &error));
  g_assert_nonnull(strstr(error->message, "layers 0-26, 79 on GPU 0"));
  g_assert_null(strstr(error->message, "--split auto"));
}

/* Auto: layers in proportion to the room each device has; small devices take fewer. */
static void test_auto_by_free_memory(void)
{
  ivl_split_costs c = big_costs(80);
  guint64 free_b[8], total_b[8];
  const char *names[8];
  fill(free_b, total_b, names, 4, 80 * GIB);
  free_b[2] = 24 * GIB;
  g_autoptr(GError) error = NULL;
  g_autoptr(ivl_placement) p =
      ivl_placement_new(&c, IVL_SPLIT_AUTO, 4, free_b, total_b, names, &error);
  g_assert_no_error(error);
  int total = 0;
  for (int d = 0; d < 4; d++) {
    total += p->n_layers_on[d];
    g_assert_cmpuint(ivl_placement_need(p, d), <=, free_b[d]);
  }
  g_assert_cmpint(total, ==, 80);
  /* room: GPU 0 (80 - 23.5) / 2.25 = 25, GPUs 1 and 3 (80 - 1.5) / 2.25 = 34, GPU 2 10, of
   * 103: 80 x room / 103 rounded down (19, 26, 7, 26), the 2 left to the first ones */
  g_autofree char *got = describe(p);
  g_assert_cmpstr(got, ==, "0-19 | 20-46 | 47-53 | 54-79");
}

static void test_auto_refuses(void)
{
  ivl_split_costs c = big_costs(80);
  guint64 free_b[8], total_b[8];
  const char *names[8];
  fill(free_b, total_b, names, 2, 80 * GIB);
  g_autoptr(GError) error = NULL;
  g_assert_null(ivl_placement_new(&c, IVL_SPLIT_AUTO, 2, free_b, total_b, names, &error));
  g_assert_error(error, IVL_ERROR, IVL_ERROR_OUT_OF_MEMORY);
  const char *m = error->message;
  /* 25 + 34 = 59 layers of 80: 21 x 2.25 missing */
  g_assert_nonnull(strstr(m, "The 2 GPUs hold 59 of the 80 language layers"));
  g_assert_nonnull(strstr(m, "GPU 0 takes 25 with 80.00 GiB free"));
  g_assert_nonnull(strstr(m, "47.25 GiB are missing"));
  g_assert_nonnull(strstr(m, "--precision int8"));
  g_assert_nonnull(strstr(m, "more GPUs"));
  g_clear_error(&error);

  /* The first device cannot even hold the vision tower and lm_head. */
  free_b[0] = 16 * GIB;
  g_assert_null(ivl_placement_new(&c, IVL_SPLIT_AUTO, 2, free_b, total_b, names, &error));
  g_assert_nonnull(strstr(error->message, "GPU 0 has 16.00 GiB free"));
  g_assert_nonnull(strstr(error->message, "7.50 GiB are missing"));
}

static void test_modes_by_name(void)
{
  ivl_split_mode m;
  g_assert_true(ivl_split_mode_from_name("auto", &m) && m == IVL_SPLIT_AUTO);
  g_assert_true(ivl_split_mode_from_name("layers", &m) && m == IVL_SPLIT_LAYERS);
  g_assert_false(ivl_split_mode_from_name("rows", &m));
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/placement/split-model-table", test_split_model_table);
  g_test_add_func("/placement/layers", test_layers_fits_and_refuses);
  g_test_add_func("/placement/auto", test_auto_by_free_memory);
  g_test_add_func("/placement/auto-refuses", test_auto_refuses);
  g_test_add_func("/placement/modes", test_modes_by_name);
  return g_test_run();
}
