/* Media pipeline: the reference's grid order and choice, frame sampling, video decoding
 * against an independent GStreamer decode, and clear errors for broken files. */
#include <glib/gstdio.h>
#include <string.h>

#include "image-decode.h"
#include "ivl.h"
#include "resize.h"
#include "tiling.h"
#include "video.h"

static char *data_dir, *tmp_dir;

static char *data_path(const char *rel)
{
  return g_build_filename(data_dir, rel, NULL);
}

static char *tmp_path(const char *name)
{
  return g_build_filename(tmp_dir, name, NULL);
}

static char *grids_text(int min_num, int max_num)
{
  g_autofree ivl_grid *g = NULL;
  int n = ivl_tiling_candidates(min_num, max_num, &g);
  GString *s = g_string_new(NULL);
  for (int i = 0; i < n; i++)
    g_string_append_printf(s, "(%d,%d)", g[i].cols, g[i].rows);
  return g_string_free(s, FALSE);
}

/* The orders the spec records from CPython for the quick start's set comprehension. */
static void test_candidate_order(void)
{
  g_autofree char *g12 = grids_text(1, 12), *g6 = grids_text(1, 6), *g1 = grids_text(1, 1);
  g_assert_cmpstr(g12, ==, "(1,1)(1,2)(2,1)(3,1)(1,3)(2,2)(4,1)(1,4)(5,1)(1,5)(1,6)(6,1)(3,2)"
                           "(2,3)(7,1)(1,7)(4,2)(2,4)(1,8)(8,1)(1,9)(3,3)(9,1)(2,5)(5,2)(10,1)"
                           "(1,10)(11,1)(1,11)(12,1)(3,4)(4,3)(1,12)(6,2)(2,6)");
  g_assert_cmpstr(g6, ==, "(1,1)(1,2)(2,1)(3,1)(1,3)(4,1)(1,4)(2,2)(1,5)(5,1)(6,1)(2,3)(1,6)(3,2)");
  g_assert_cmpstr(g1, ==, "(1,1)");
}

static void test_grid_choice(void)
{
  /* Examples of spec section 8 (W, H -> grid). */
  static const int cases[][4] = {{448, 448, 1, 1},  {1000, 1000, 3, 3}, {800, 600, 4, 3},
                                 {1920, 1080, 4, 2}, {600, 400, 3, 2},  {500, 2000, 1, 4},
                                 {3000, 1000, 6, 2}};
  for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
    ivl_grid g = ivl_tiling_choose_grid(cases[i][0], cases[i][1], 1, 12, 448);
    g_assert_cmpint(g.cols, ==, cases[i][2]);
    g_assert_cmpint(g.rows, ==, cases[i][3]);
  }
}

static void assert_indices(double fps, gint64 count, gboolean bound, double s, double e, int n,
                           const gint64 *expected)
{
  gint64 got[64];
  g_autoptr(GError) error = NULL;
  g_assert_true(ivl_video_frame_indices(fps, count, bound, s, e, n, got, &error));
  for (int i = 0; i < n; i++)
    g_assert_cmpint(got[i], ==, expected[i]);
}

/* Expected values from the reference get_index with numpy (see tests/data/SOURCES.md). */
static void test_frame_indices(void)
{
  static const gint64 whole8[] = {55, 167, 279, 390, 502, 614, 725, 837};
  assert_indices(895000.0 / 29833, 895, FALSE, 0, 0, 8, whole8);
  static const gint64 bound32[] = {107, 123, 140, 156, 172, 189, 205, 221, 237, 254, 270,
                                   286, 303, 319, 335, 352, 368, 384, 401, 417, 433, 450,
                                   466, 482, 499, 515, 531, 547, 564, 580, 596, 613};
  assert_indices(895000.0 / 29833, 895, TRUE, 3.3, 20.7, 32, bound32);
  /* round(2.5) == 2 and round(0.5) == 0 in Python: seg 5/2 over 2 frames of 6. */
  static const gint64 half_even[] = {1, 3};
  assert_indices(1.0, 6, FALSE, 0, 0, 2, half_even);
  gint64 out[4];
  g_autoptr(GError) error = NULL;
  g_assert_false(ivl_video_frame_indices(30, 100, TRUE, 50, 60, 4, out, &error));
  g_assert_error(error, IVL_ERROR, IVL_ERROR_INVALID_ARGUMENT);
}

static void test_red_panda(void)
{
  g_autofree char *path = data_path("examples/red-panda.mp4");
  ivl_video_params p = ivl_video_default_params();
  g_autoptr(GError) error = NULL;
  ivl_media *m = ivl_media_from_video_file(path, &p, &error);
  g_assert_no_error(error);
  double fps;
  gint64 count;
  const gint64 *idx;
  g_assert_true(ivl_media_is_video(m));
  g_assert_true(ivl_media_get_video_info(m, &fps, &count, &idx));
  g_assert_cmpint(count, ==, 895);
  g_assert_cmpfloat_with_epsilon(fps, 30.0, 0.01);
  g_assert_cmpint(ivl_media_get_n_tiles(m), ==, 8);
  g_assert_cmpint(idx[0], ==, 55);
  g_assert_cmpint(idx[7], ==, 837);
  ivl_media_free(m);
}

static gboolean run(const char *cmd)
{
  int status = 0;
  g_autoptr(GError) error = NULL;
  if (!g_spawn_command_line_sync(cmd, NULL, NULL, &status, &error))
    g_error("%s", error->message);
  return g_spawn_check_wait_status(status, NULL);
}

/* A generated VP8 clip: our sampled tiles must equal the same frames decoded by a separate
 * gst-launch pipeline (frames written as PNG, then resized by the same bicubic). */
static void test_generated_video(void)
{
  g_autofree char *video = tmp_path("ball.webm");
  g_autofree char *cmd = g_strdup_printf(
      "gst-launch-1.0 -q videotestsrc pattern=ball num-buffers=40 ! "
      "video/x-raw,width=160,height=120,framerate=20/1 ! vp8enc ! webmmux ! filesink location=%s",
      video);
  g_assert_true(run(cmd));
  g_autofree char *frames_pattern = tmp_path("ref-%05d.png");
  g_autofree char *cmd2 = g_strdup_printf(
      "gst-launch-1.0 -q filesrc location=%s ! decodebin ! videoconvert ! "
      "video/x-raw,format=RGB ! pngenc ! multifilesink location=%s", video, frames_pattern);
  g_assert_true(run(cmd2));

  ivl_video_params p = ivl_video_default_params();
  p.n_segments = 6;
  g_autoptr(GError) error = NULL;
  ivl_media *m = ivl_media_from_video_file(video, &p, &error);
  g_assert_no_error(error);
  double fps;
  gint64 count;
  const gint64 *idx;
  ivl_media_get_video_info(m, &fps, &count, &idx);
  g_assert_cmpint(count, ==, 40);
  g_assert_cmpfloat(fps, ==, 20.0);
  guint8 *tile = g_malloc(448 * 448 * 3);
  for (int k = 0; k < 6; k++) {
    g_autofree char *name = g_strdup_printf("ref-%05d.png", (int)idx[k]);
    g_autofree char *ref = tmp_path(name);
    g_autoptr(ivl_rgb_image) img = ivl_rgb_image_load(ref, &error);
    g_assert_no_error(error);
    g_assert_true(ivl_resize_bicubic_rgb(img->rgb, img->width, img->height, img->width * 3, tile,
                                         448, 448));
    g_assert_cmpmem(tile, 448 * 448 * 3, ivl_media_get_tile_rgb(m, k), 448 * 448 * 3);
  }
  g_free(tile);
  ivl_media_free(m);
}

static void write_file(const char *path, const void *data, gsize n)
{
  g_autoptr(GError) error = NULL;
  g_assert_true(g_file_set_contents(path, data, (gssize)n, &error));
}

static void assert_image_error(const char *path, int code)
{
  g_autoptr(GError) error = NULL;
  ivl_media *m = ivl_media_from_image_file(path, NULL, &error);
  g_assert_null(m);
  g_assert_error(error, IVL_ERROR, code);
  g_test_message("%s: %s", path, error->message);
}

static void test_broken_images(void)
{
  g_autofree char *jpeg_path = data_path("examples/image4.jpg");
  g_autofree char *jpeg = NULL;
  gsize jpeg_len;
  g_assert_true(g_file_get_contents(jpeg_path, &jpeg, &jpeg_len, NULL));

  g_autofree char *truncated = tmp_path("truncated.jpg");
  write_file(truncated, jpeg, jpeg_len / 3);
  assert_image_error(truncated, IVL_ERROR_CORRUPT);

  /* A baseline JPEG whose frame header claims 65000 x 65000 pixels. */
  g_autofree char *bomb = tmp_path("bomb.jpg");
  g_autofree guint8 *patched = g_memdup2(jpeg, jpeg_len);
  for (gsize i = 2; i + 8 < jpeg_len; i++) {
    if (patched[i] == 0xFF && patched[i + 1] == 0xC0) {
      patched[i + 5] = patched[i + 7] = 65000 >> 8;
      patched[i + 6] = patched[i + 8] = 65000 & 0xFF;
      break;
    }
  }
  write_file(bomb, patched, jpeg_len);
  assert_image_error(bomb, IVL_ERROR_UNSUPPORTED);

  g_autofree char *png_path = data_path("media/rgb-449x448.png");
  g_autofree char *png = NULL;
  gsize png_len;
  g_assert_true(g_file_get_contents(png_path, &png, &png_len, NULL));
  g_autofree char *bad_crc = tmp_path("bad-crc.png");
  png[29] ^= 0x55; /* the IHDR chunk's CRC (8 signature + 8 header + 13 data bytes in) */
  write_file(bad_crc, png, png_len);
  assert_image_error(bad_crc, IVL_ERROR_CORRUPT);

  g_autofree char *empty = tmp_path("empty.jpg");
  write_file(empty, "", 0);
  assert_image_error(empty, IVL_ERROR_CORRUPT);

  g_autofree char *text = tmp_path("notes.jpg");
  write_file(text, "this is not a picture\n", 22);
  assert_image_error(text, IVL_ERROR_UNSUPPORTED);

  g_autofree char *missing = tmp_path("missing.png");
  assert_image_error(missing, IVL_ERROR_NOT_FOUND);
}

static void assert_video_error(const char *path, int code)
{
  g_autoptr(GError) error = NULL;
  ivl_media *m = ivl_media_from_video_file(path, NULL, &error);
  g_assert_null(m);
  g_assert_error(error, IVL_ERROR, code);
  g_test_message("%s: %s", path, error->message);
}

static void test_broken_videos(void)
{
  g_autofree char *audio = tmp_path("audio-only.ogg");
  g_autofree char *cmd = g_strdup_printf(
      "gst-launch-1.0 -q audiotestsrc num-buffers=20 ! vorbisenc ! oggmux ! filesink location=%s",
      audio);
  g_assert_true(run(cmd));
  assert_video_error(audio, IVL_ERROR_UNSUPPORTED);

  g_autofree char *text = tmp_path("notes.mp4");
  write_file(text, "this is not a video\n", 20);
  assert_video_error(text, IVL_ERROR_CORRUPT);

  g_autofree char *empty = tmp_path("empty.mp4");
  write_file(empty, "", 0);
  assert_video_error(empty, IVL_ERROR_CORRUPT);

  /* A cut-off download: read up to where it ends, or refused when no frame is left. */
  g_autofree char *panda_path = data_path("examples/red-panda.mp4");
  g_autofree char *panda = NULL;
  gsize panda_len;
  g_assert_true(g_file_get_contents(panda_path, &panda, &panda_len, NULL));
  g_autofree char *half = tmp_path("half.mp4");
  write_file(half, panda, panda_len / 2);
  g_autoptr(GError) error = NULL;
  ivl_media *m = ivl_media_from_video_file(half, NULL, &error);
  g_assert_no_error(error);
  gint64 count = 0;
  ivl_media_get_video_info(m, NULL, &count, NULL);
  g_assert_cmpint(count, >, 100);
  g_assert_cmpint(count, <, 895);
  ivl_media_free(m);
  g_autofree char *stub = tmp_path("stub.mp4");
  write_file(stub, panda, 10000);
  assert_video_error(stub, IVL_ERROR_CORRUPT);

  /* decord's corrupted clip: one NAL unit is broken; the sampled frames still decode. */
  g_autofree char *corrupted = data_path("examples/decord/corrupted.mp4");
  ivl_video_params p = ivl_video_default_params();
  p.n_segments = 4;
  g_clear_error(&error);
  m = ivl_media_from_video_file(corrupted, &p, &error);
  g_assert_no_error(error);
  g_assert_cmpint(ivl_media_get_n_tiles(m), ==, 4);
  ivl_media_free(m);
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  data_dir = g_build_filename(g_getenv("IVL_SOURCE_ROOT"), "tests", "data", NULL);
  tmp_dir = g_dir_make_tmp("ivl-media-XXXXXX", NULL);
  g_test_add_func("/media/candidate-order", test_candidate_order);
  g_test_add_func("/media/grid-choice", test_grid_choice);
  g_test_add_func("/media/frame-indices", test_frame_indices);
  g_test_add_func("/media/red-panda", test_red_panda);
  g_test_add_func("/media/generated-video", test_generated_video);
  g_test_add_func("/media/broken-images", test_broken_images);
  g_test_add_func("/media/broken-videos", test_broken_videos);
  int ret = g_test_run();
  g_autofree char *rm = g_strdup_printf("rm -rf %s", tmp_dir);
  run(rm);
  return ret;
}
