/* `ivl preprocess` and `ivl frames` as a user runs them ($IVL is the built tool): the JSON
 * they print, the raw float32 file (--out) and the PNG tiles (--png), compared with the
 * library's own tiles; bad arguments and unreadable files give an exit status, not a crash. */
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/wait.h>

#include "image-decode.h"
#include "ivl.h"
#include "test-util.h"

static char *examples, *tmp;

static void test_preprocess(void)
{
  g_autofree char *image = g_build_filename(examples, "image1.jpg", NULL);
  g_autofree char *raw = g_build_filename(tmp, "tiles.f32", NULL);
  g_autofree char *pngs = g_build_filename(tmp, "png", NULL);
  const char *const args[] = {"preprocess", image,   "--max-num", "6", "--out",
                              raw,          "--png", pngs,        NULL};
  int status;
  g_autofree char *out = ivl_test_run_ivl(&status, args);
  g_assert_cmpint(status, ==, 0);
  g_assert_cmpstr(out, ==, "{\"grid\":[3,2],\"tiles\":7,\"shape\":[7,3,448,448]}\n");

  ivl_image_params params = ivl_image_default_params();
  params.max_num = 6;
  g_autoptr(GError) error = NULL;
  ivl_media *m = ivl_media_from_image_file(image, &params, &error);
  g_assert_no_error(error);
  g_autofree char *data = NULL;
  gsize len;
  g_assert_true(g_file_get_contents(raw, &data, &len, NULL));
  gsize tile_bytes = 3 * 448 * 448 * sizeof(float);
  g_assert_cmpuint(len, ==, 7 * tile_bytes);
  for (int i = 0; i < 7; i++) {
    g_assert_cmpmem(data + i * tile_bytes, tile_bytes, ivl_media_get_tile(m, i), tile_bytes);
    g_autofree char *name = g_strdup_printf("tile-%02d.png", i);
    g_autofree char *path = g_build_filename(pngs, name, NULL);
    g_autoptr(ivl_rgb_image) png = ivl_rgb_image_load(path, &error);
    g_assert_no_error(error);
    g_assert_cmpmem(png->rgb, 448 * 448 * 3, ivl_media_get_tile_rgb(m, i), 448 * 448 * 3);
    g_unlink(path);
  }
  ivl_media_free(m);
  g_unlink(raw);
  g_rmdir(pngs);
}

static void test_frames(void)
{
  g_autofree char *video = g_build_filename(examples, "red-panda.mp4", NULL);
  g_autofree char *raw = g_build_filename(tmp, "frames.f32", NULL);
  const char *const args[] = {"frames", video, "--segments", "4", "--start", "1",
                              "--end",  "2",   "--out",      raw, NULL};
  int status;
  g_autofree char *out = ivl_test_run_ivl(&status, args);
  g_assert_cmpint(status, ==, 0);
  /* get_index((1, 2), 895000/29833, 894, num_segments=4) */
  g_assert_cmpstr(out, ==,
                  "{\"fps\":30.00033519927597,\"frame_count\":895,\"indices\":[33,41,48,55]}\n");
  GStatBuf st;
  g_assert_cmpint(g_stat(raw, &st), ==, 0);
  g_assert_cmpint(st.st_size, ==, 4 * 3 * 448 * 448 * sizeof(float));
  g_unlink(raw);
}

static void test_bad_use(void)
{
  g_autofree char *video = g_build_filename(examples, "red-panda.mp4", NULL);
  g_autofree char *missing = g_build_filename(tmp, "missing.png", NULL);
  const char *const half_bound[] = {"frames", video, "--start", "1", NULL};
  const char *const no_image[] = {"preprocess", NULL};
  const char *const bad_max[] = {"preprocess", video, "--max-num", "0", NULL};
  const char *const unreadable[] = {"preprocess", missing, NULL};
  const struct {
    const char *const *args;
    int status;
  } cases[] = {{half_bound, 2}, {no_image, 2}, {bad_max, 1}, {unreadable, 1}};
  for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
    int status;
    g_autofree char *out = ivl_test_run_ivl(&status, cases[i].args);
    g_assert_cmpint(status, ==, cases[i].status);
    g_assert_cmpstr(out, ==, "");
  }
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  examples = g_build_filename(g_getenv("IVL_SOURCE_ROOT"), "tests", "data", "examples", NULL);
  tmp = g_dir_make_tmp("ivl-media-cli-XXXXXX", NULL);
  g_assert_nonnull(tmp);
  g_test_add_func("/media/cli/preprocess", test_preprocess);
  g_test_add_func("/media/cli/frames", test_frames);
  g_test_add_func("/media/cli/bad-use", test_bad_use);
  int rc = g_test_run();
  g_rmdir(tmp);
  return rc;
}
