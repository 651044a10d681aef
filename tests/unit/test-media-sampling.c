/* The tile grid (dynamic_preprocess's candidate order and choice) and the video frame indices
 * (load_video's get_index) against the quick start's own Python, run by
 * tests/reference/make_sampling_goldens.py into tests/data/sampling-goldens.json, and against
 * the candidate lists the spec quotes (shared/spec/INTERNVL3.md section 8). */
#include <json-glib/json-glib.h>

#include "ivl.h"
#include "tiling.h"
#include "video.h"

static JsonObject *goldens;

static char *grids_to_string(const ivl_grid *g, int n)
{
  GString *s = g_string_new(NULL);
  for (int k = 0; k < n; k++)
    g_string_append_printf(s, "(%d,%d)", g[k].cols, g[k].rows);
  return g_string_free(s, FALSE);
}

static char *candidates_string(int min_num, int max_num)
{
  g_autofree ivl_grid *c = NULL;
  int n = ivl_tiling_candidates(min_num, max_num, &c);
  return grids_to_string(c, n);
}

static void test_spec_lists(void)
{
  g_autofree char *c12 = candidates_string(1, 12);
  g_assert_cmpstr(c12, ==,
                  "(1,1)(1,2)(2,1)(3,1)(1,3)(2,2)(4,1)(1,4)(5,1)(1,5)(1,6)(6,1)(3,2)(2,3)(7,1)"
                  "(1,7)(4,2)(2,4)(1,8)(8,1)(1,9)(3,3)(9,1)(2,5)(5,2)(10,1)(1,10)(11,1)(1,11)"
                  "(12,1)(3,4)(4,3)(1,12)(6,2)(2,6)");
  g_autofree char *c6 = candidates_string(1, 6);
  g_assert_cmpstr(c6, ==, "(1,1)(1,2)(2,1)(3,1)(1,3)(4,1)(1,4)(2,2)(1,5)(5,1)(6,1)(2,3)(1,6)(3,2)");
  g_autofree char *c1 = candidates_string(1, 1);
  g_assert_cmpstr(c1, ==, "(1,1)");
}

static void test_candidates(void)
{
  JsonArray *cases = json_object_get_array_member(goldens, "candidates");
  for (guint i = 0; i < json_array_get_length(cases); i++) {
    JsonObject *c = json_array_get_object_element(cases, i);
    JsonArray *want = json_object_get_array_member(c, "grids");
    g_autofree ivl_grid *g = g_new(ivl_grid, json_array_get_length(want));
    for (guint k = 0; k < json_array_get_length(want); k++) {
      JsonArray *p = json_array_get_array_element(want, k);
      g[k] =
          (ivl_grid){(int)json_array_get_int_element(p, 0), (int)json_array_get_int_element(p, 1)};
    }
    g_autofree char *expected = grids_to_string(g, (int)json_array_get_length(want));
    g_autofree char *got = candidates_string((int)json_object_get_int_member(c, "min"),
                                             (int)json_object_get_int_member(c, "max"));
    g_assert_cmpstr(got, ==, expected);
  }
}

static void test_grids(void)
{
  JsonArray *cases = json_object_get_array_member(goldens, "grids");
  for (guint i = 0; i < json_array_get_length(cases); i++) {
    JsonObject *c = json_array_get_object_element(cases, i);
    JsonArray *size = json_object_get_array_member(c, "size");
    JsonArray *want = json_object_get_array_member(c, "grid");
    int w = (int)json_array_get_int_element(size, 0), h = (int)json_array_get_int_element(size, 1);
    int lo = (int)json_object_get_int_member(c, "min"),
        hi = (int)json_object_get_int_member(c, "max");
    ivl_grid g = ivl_tiling_choose_grid(w, h, lo, hi, 448);
    if (g.cols != json_array_get_int_element(want, 0) ||
        g.rows != json_array_get_int_element(want, 1))
      g_error("%dx%d (min %d, max %d): grid %dx%d, the reference picks %" G_GINT64_FORMAT
              "x%" G_GINT64_FORMAT,
              w, h, lo, hi, g.cols, g.rows, json_array_get_int_element(want, 0),
              json_array_get_int_element(want, 1));
  }
}

static void test_indices(void)
{
  JsonArray *cases = json_object_get_array_member(goldens, "indices");
  for (guint i = 0; i < json_array_get_length(cases); i++) {
    JsonObject *c = json_array_get_object_element(cases, i);
    JsonNode *bound = json_object_get_member(c, "bound");
    gboolean has_bound = !JSON_NODE_HOLDS_NULL(bound);
    double start = 0, end = 0;
    if (has_bound) {
      start = json_array_get_double_element(json_node_get_array(bound), 0);
      end = json_array_get_double_element(json_node_get_array(bound), 1);
    }
    JsonArray *want = json_object_get_array_member(c, "indices");
    int n = (int)json_object_get_int_member(c, "segments");
    g_autofree gint64 *got = g_new(gint64, n);
    g_autoptr(GError) error = NULL;
    g_assert_true(ivl_video_frame_indices(json_object_get_double_member(c, "fps"),
                                          json_object_get_int_member(c, "frame_count"), has_bound,
                                          start, end, n, got, &error));
    g_assert_no_error(error);
    for (int k = 0; k < n; k++)
      g_assert_cmpint(got[k], ==, json_array_get_int_element(want, k));
  }
}

/* Python rounds half to even: round(2.5) == 2 and round(0.5) == 0 (seg 5/2 over 2 frames
 * of 6 at 1 fps). */
static void test_half_even(void)
{
  gint64 idx[2];
  g_assert_true(ivl_video_frame_indices(1.0, 6, FALSE, 0, 0, 2, idx, NULL));
  g_assert_cmpint(idx[0], ==, 1);
  g_assert_cmpint(idx[1], ==, 3);
}

static void test_bad_ranges(void)
{
  gint64 idx[8];
  g_autoptr(GError) error = NULL;
  /* A clip after the end of the video holds no frame. */
  g_assert_false(ivl_video_frame_indices(30.0, 90, TRUE, 10.0, 12.0, 8, idx, &error));
  g_assert_error(error, IVL_ERROR, IVL_ERROR_INVALID_ARGUMENT);
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_autofree char *path =
      g_build_filename(g_getenv("IVL_SOURCE_ROOT"), "tests", "data", "sampling-goldens.json", NULL);
  g_autoptr(JsonParser) parser = json_parser_new();
  g_autoptr(GError) error = NULL;
  if (!json_parser_load_from_file(parser, path, &error))
    g_error("%s", error->message);
  goldens = json_node_get_object(json_parser_get_root(parser));
  g_test_add_func("/media/tiling/spec-lists", test_spec_lists);
  g_test_add_func("/media/tiling/candidates", test_candidates);
  g_test_add_func("/media/tiling/grids", test_grids);
  g_test_add_func("/media/video/indices", test_indices);
  g_test_add_func("/media/video/half-even", test_half_even);
  g_test_add_func("/media/video/bad-ranges", test_bad_ranges);
  return g_test_run();
}
