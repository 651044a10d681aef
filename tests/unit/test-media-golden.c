/* Tiles of every golden image equal Pillow + torchvision's, byte for byte (uint8 tiles) and
 * bit for bit (the float32 tensor of the first tile). Goldens: tests/data/media-goldens.json
 * from tests/reference/make_media_goldens.py. */
#include <json-glib/json-glib.h>

#include "ivl.h"
#include "preprocess.h"

static char *data_dir;

static char *sha256(const void *data, gsize n)
{
  return g_compute_checksum_for_data(G_CHECKSUM_SHA256, data, n);
}

static void check_case(gconstpointer user_data)
{
  JsonObject *c = (JsonObject *)user_data;
  g_autofree char *path =
      g_build_filename(data_dir, json_object_get_string_member(c, "file"), NULL);
  ivl_image_params params = ivl_image_default_params();
  params.max_num = (int)json_object_get_int_member(c, "max_num");
  g_autoptr(GError) error = NULL;
  ivl_media *m = ivl_media_from_image_file(path, &params, &error);
  g_assert_no_error(error);

  JsonArray *grid = json_object_get_array_member(c, "grid");
  int cols, rows;
  ivl_media_get_grid(m, &cols, &rows);
  g_assert_cmpint(cols, ==, json_array_get_int_element(grid, 0));
  g_assert_cmpint(rows, ==, json_array_get_int_element(grid, 1));

  JsonArray *tiles = json_object_get_array_member(c, "tile_sha256");
  g_assert_cmpint(ivl_media_get_n_tiles(m), ==, json_array_get_length(tiles));
  for (int i = 0; i < ivl_media_get_n_tiles(m); i++) {
    g_autofree char *got = sha256(ivl_media_get_tile_rgb(m, i), 448 * 448 * 3);
    if (g_strcmp0(got, json_array_get_string_element(tiles, i)) != 0)
      g_error("%s (max_num %d): tile %d differs from Pillow's", path, params.max_num, i);
  }
  g_autofree char *f32 = sha256(ivl_media_get_tile(m, 0), sizeof(float) * 3 * 448 * 448);
  g_assert_cmpstr(f32, ==, json_object_get_string_member(c, "first_tile_f32_sha256"));
  ivl_media_free(m);
}

/* A 12-megapixel photo to 13 tiles (grid 4x3 + thumbnail) on one core: printed, not
 * asserted (no test asserts a speed). */
static void test_speed(void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(ivl_rgb_image) img = ivl_rgb_image_new(4000, 3000, &error);
  g_assert_no_error(error);
  for (gsize i = 0; i < (gsize)4000 * 3000 * 3; i++)
    img->rgb[i] = (guint8)(i * 2654435761u >> 24);
  gint64 t0 = g_get_monotonic_time();
  int n = 0;
  ivl_grid grid;
  g_autofree guint8 *tiles = ivl_preprocess_tiles(img, 1, 12, TRUE, &n, &grid, &error);
  g_assert_no_error(error);
  gint64 t1 = g_get_monotonic_time();
  g_autofree float *chw = g_new(float, (gsize)n * 3 * IVL_TILE_PIXELS);
  for (int i = 0; i < n; i++)
    ivl_preprocess_normalize(tiles + (gsize)i * 3 * IVL_TILE_PIXELS,
                             chw + (gsize)i * 3 * IVL_TILE_PIXELS);
  gint64 t2 = g_get_monotonic_time();
  g_assert_cmpint(n, ==, 13);
  g_test_message("4000x3000 -> %d tiles (%dx%d + thumbnail): resize and crop %.1f ms, "
                 "normalize %.1f ms",
                 n, grid.cols, grid.rows, (t1 - t0) / 1e3, (t2 - t1) / 1e3);
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  data_dir = g_build_filename(g_getenv("IVL_SOURCE_ROOT"), "tests", "data", NULL);
  g_autofree char *golden = g_build_filename(data_dir, "media-goldens.json", NULL);
  g_autoptr(JsonParser) parser = json_parser_new();
  g_autoptr(GError) error = NULL;
  if (!json_parser_load_from_file(parser, golden, &error))
    g_error("%s", error->message);
  JsonArray *cases =
      json_object_get_array_member(json_node_get_object(json_parser_get_root(parser)), "cases");
  for (guint i = 0; i < json_array_get_length(cases); i++) {
    JsonObject *c = json_array_get_object_element(cases, i);
    g_autofree char *name = g_strdup_printf("/media/golden/%s/max%" G_GINT64_FORMAT,
                                            json_object_get_string_member(c, "file"),
                                            json_object_get_int_member(c, "max_num"));
    g_test_add_data_func(name, c, check_case);
  }
  g_test_add_func("/media/speed/4000x3000", test_speed);
  return g_test_run();
}
