/* Video frames: frame count, average fps and sampled indices of the example clips; videos
 * generated here with gst-launch-1.0 (videotestsrc, known rate and length) in MP4, WebM and
 * lossless Matroska; each decoded frame checked against the source frames videotestsrc
 * renders raw (bit-exact through the lossless codec, nearest of its neighbours through the
 * lossy ones), so a wrong or shifted frame index fails; rotation metadata applied as decord
 * does; and the decision for decord's corrupted clip. */
#include <gst/app/gstappsink.h>
#include <gst/gst.h>
#include <gst/video/video.h>
#include <math.h>
#include <string.h>
#include <glib/gstdio.h>

#include "ivl.h"
#include "preprocess.h"
#include "resize.h"
#include "video.h"

#define W 160
#define H 120
#define N_FRAMES 30

static char *examples, *tmp;

static char *example(const char *name)
{
  return g_build_filename(examples, name, NULL);
}

static void probe(const char *path, ivl_video_info *info)
{
  g_autoptr(GError) error = NULL;
  g_assert_true(ivl_video_probe(path, info, &error));
  g_assert_no_error(error);
}

static void test_red_panda(void)
{
  g_autofree char *path = example("red-panda.mp4");
  g_auto(ivl_video_info) info = {0};
  probe(path, &info);
  /* decord's numbers (SOURCES.md): 895 frames, avg_frame_rate 895000/29833. */
  g_assert_cmpint(info.frame_count, ==, 895);
  g_assert_cmpfloat(fabs(info.fps - 895000.0 / 29833.0), <, 1e-12);

  ivl_video_params params = ivl_video_default_params();
  g_autoptr(GError) error = NULL;
  ivl_media *m = ivl_media_from_video_file(path, &params, &error);
  g_assert_no_error(error);
  g_assert_true(ivl_media_is_video(m));
  g_assert_cmpint(ivl_media_get_n_tiles(m), ==, 8);
  int cols, rows;
  ivl_media_get_grid(m, &cols, &rows);
  g_assert_cmpint(cols * rows, ==, 1);
  const gint64 *idx;
  gint64 count;
  g_assert_true(ivl_media_get_video_info(m, NULL, &count, &idx));
  const gint64 want[8] = {55, 167, 279, 390, 502, 614, 725, 837}; /* get_index, bound=None */
  for (int k = 0; k < 8; k++)
    g_assert_cmpint(idx[k], ==, want[k]);
  g_assert_cmpstr(ivl_media_get_id(m), ==,
                  "d921c07bb97224d65a37801541d246067f0d506f08723ffa1ad85c217907ccb8");
  ivl_media_free(m);
}

/* All frames videotestsrc renders for these caps, converted to RGB as the reader converts. */
static GPtrArray *source_frames(int fps)
{
  g_autofree char *desc = g_strdup_printf(
      "videotestsrc pattern=ball num-buffers=%d ! video/x-raw,format=I420,width=%d,height=%d,"
      "framerate=%d/1 ! videoconvert ! video/x-raw,format=RGB ! appsink name=sink sync=false",
      N_FRAMES, W, H, fps);
  g_autoptr(GError) error = NULL;
  GstElement *pipe = gst_parse_launch(desc, &error);
  g_assert_no_error(error);
  GstAppSink *sink = GST_APP_SINK(gst_bin_get_by_name(GST_BIN(pipe), "sink"));
  gst_element_set_state(pipe, GST_STATE_PLAYING);
  GPtrArray *frames = g_ptr_array_new_with_free_func(g_free);
  GstSample *s;
  while ((s = gst_app_sink_try_pull_sample(sink, 10 * GST_SECOND)) != NULL) {
    GstVideoInfo vi;
    GstVideoFrame f;
    g_assert_true(gst_video_info_from_caps(&vi, gst_sample_get_caps(s)));
    g_assert_true(gst_video_frame_map(&f, &vi, gst_sample_get_buffer(s), GST_MAP_READ));
    guint8 *rgb = g_malloc(W * H * 3);
    for (int y = 0; y < H; y++)
      memcpy(rgb + y * W * 3,
             (guint8 *)GST_VIDEO_FRAME_PLANE_DATA(&f, 0) + y * GST_VIDEO_FRAME_PLANE_STRIDE(&f, 0),
             W * 3);
    gst_video_frame_unmap(&f);
    g_ptr_array_add(frames, rgb);
    gst_sample_unref(s);
  }
  gst_element_set_state(pipe, GST_STATE_NULL);
  gst_object_unref(sink);
  gst_object_unref(pipe);
  g_assert_cmpuint(frames->len, ==, N_FRAMES);
  return frames;
}

static char *encode(const char *name, const char *encoder, int fps)
{
  char *path = g_build_filename(tmp, name, NULL);
  g_autofree char *cmd = g_strdup_printf(
      "gst-launch-1.0 -q videotestsrc pattern=ball num-buffers=%d ! "
      "video/x-raw,format=I420,width=%d,height=%d,framerate=%d/1 ! %s ! filesink location=%s",
      N_FRAMES, W, H, fps, encoder, path);
  g_autoptr(GError) error = NULL;
  g_autofree char *err = NULL; /* openh264 reports a harmless flush error */
  int status;
  g_assert_true(g_spawn_command_line_sync(cmd, NULL, &err, &status, &error));
  g_assert_no_error(error);
  g_assert_true(g_spawn_check_wait_status(status, NULL));
  return path;
}

static double mean_abs_diff(const guint8 *a, const guint8 *b)
{
  double sum = 0;
  for (int i = 0; i < W * H * 3; i++)
    sum += abs(a[i] - b[i]);
  return sum / (W * H * 3);
}

static void check_generated(const char *name, const char *encoder, int fps, gboolean lossless)
{
  g_autofree char *path = encode(name, encoder, fps);
  g_autoptr(GPtrArray) source = source_frames(fps);
  g_auto(ivl_video_info) info = {0};
  probe(path, &info);
  g_assert_cmpint(info.frame_count, ==, N_FRAMES);
  g_assert_cmpfloat(fabs(info.fps - fps), <, 1e-9);

  /* Every frame once, then the quick start's 8 segments of a bound clip. */
  gint64 all[N_FRAMES];
  for (int k = 0; k < N_FRAMES; k++)
    all[k] = k;
  g_autoptr(GError) error = NULL;
  ivl_rgb_image **frames = ivl_video_read_frames(path, &info, all, N_FRAMES, &error);
  g_assert_no_error(error);
  for (int k = 0; k < N_FRAMES; k++) {
    g_assert_cmpint(frames[k]->width, ==, W);
    g_assert_cmpint(frames[k]->height, ==, H);
    double here = mean_abs_diff(frames[k]->rgb, source->pdata[k]);
    if (lossless)
      g_assert_cmpfloat(here, ==, 0.0);
    for (int j = MAX(0, k - 1); j <= MIN(N_FRAMES - 1, k + 1); j++)
      if (j != k && mean_abs_diff(frames[k]->rgb, source->pdata[j]) <= here)
        g_error("%s: decoded frame %d looks like source frame %d", name, k, j);
    ivl_rgb_image_free(frames[k]);
  }
  g_free(frames);

  ivl_video_params params = ivl_video_default_params();
  params.has_bound = TRUE;
  params.start = 0.2;
  params.end = (N_FRAMES - 2.0) / fps;
  ivl_media *m = ivl_media_from_video_file(path, &params, &error);
  g_assert_no_error(error);
  const gint64 *idx;
  g_assert_true(ivl_media_get_video_info(m, NULL, NULL, &idx));
  g_autofree gint64 *want = g_new(gint64, params.n_segments);
  g_assert_true(ivl_video_frame_indices(fps, N_FRAMES, TRUE, params.start, params.end,
                                        params.n_segments, want, NULL));
  g_autofree guint8 *tile = g_malloc(IVL_TILE_PIXELS * 3);
  for (int k = 0; k < params.n_segments; k++) {
    g_assert_cmpint(idx[k], ==, want[k]);
    if (lossless) {
      /* The tile is the source frame's bicubic 448x448, byte for byte. */
      g_assert_true(ivl_resize_bicubic_rgb(source->pdata[idx[k]], W, H, W * 3, tile, 448, 448));
      g_assert_cmpmem(ivl_media_get_tile_rgb(m, k), IVL_TILE_PIXELS * 3, tile, IVL_TILE_PIXELS * 3);
    }
  }
  ivl_media_free(m);
  g_unlink(path);
}

static void test_lossless_mkv(void)
{
  check_generated("ffv1.mkv", "avenc_ffv1 ! matroskamux", 25, TRUE);
}

static void test_mp4(void)
{
  check_generated("h264.mp4", "openh264enc ! h264parse ! mp4mux", 30, FALSE);
}

static void test_webm(void)
{
  check_generated("vp8.webm", "vp8enc target-bitrate=4000000 ! webmmux", 12, FALSE);
}

/* decord's test_video_reader.py: rotated clips come out as displayed. */
static void test_rotation(void)
{
  const struct {
    const char *name;
    int width, height;
  } cases[] = {{"decord/video_0.mov", 568, 320},
               {"decord/video_90.mov", 320, 568},
               {"decord/video_180.mov", 568, 320},
               {"decord/video_270.mov", 320, 568}};
  for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autofree char *path = example(cases[i].name);
    g_auto(ivl_video_info) info = {0};
    probe(path, &info);
    g_assert_cmpint(info.frame_count, ==, 3);
    const gint64 first = 0;
    g_autoptr(GError) error = NULL;
    ivl_rgb_image **frames = ivl_video_read_frames(path, &info, &first, 1, &error);
    g_assert_no_error(error);
    g_assert_cmpint(frames[0]->width, ==, cases[i].width);
    g_assert_cmpint(frames[0]->height, ==, cases[i].height);
    ivl_rgb_image_free(frames[0]);
    g_free(frames);
  }
}

/* Frames stored out of presentation order come out in presentation order. */
static void test_unordered(void)
{
  g_autofree char *path = example("decord/unordered.mov");
  g_auto(ivl_video_info) info = {0};
  probe(path, &info);
  g_assert_cmpint(info.frame_count, ==, 4);
  g_assert_cmpfloat(info.fps, ==, 32.0);
  const gint64 times[4] = {0, 31250000, 62500000, 93750000}; /* decord: 0, 1/32, 2/32, 3/32 s */
  g_assert_nonnull(info.pts);
  for (int k = 0; k < 4; k++)
    g_assert_cmpint(info.pts[k] - info.pts[0], ==, times[k]);
}

/* decord's corrupted.mp4 (the header lists 50 frames, one NAL unit is corrupt): decord fails
 * to read it; GStreamer's demuxer presents 49 frames, all of which decode, so ivl reads it as
 * a 49-frame video rather than refusing it. A frame the decoder drops would be an error. */
static void test_corrupted(void)
{
  g_autofree char *path = example("decord/corrupted.mp4");
  ivl_video_params params = ivl_video_default_params();
  params.n_segments = 49;
  g_autoptr(GError) error = NULL;
  ivl_media *m = ivl_media_from_video_file(path, &params, &error);
  g_assert_no_error(error);
  double fps;
  gint64 count;
  g_assert_true(ivl_media_get_video_info(m, &fps, &count, NULL));
  g_assert_cmpint(count, ==, 49);
  g_assert_cmpfloat(fps, ==, 10.0);
  ivl_media_free(m);
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  gst_init(NULL, NULL);
  examples = g_build_filename(g_getenv("IVL_SOURCE_ROOT"), "tests", "data", "examples", NULL);
  tmp = g_dir_make_tmp("ivl-video-XXXXXX", NULL);
  g_assert_nonnull(tmp);
  g_test_add_func("/media/video/red-panda", test_red_panda);
  g_test_add_func("/media/video/lossless-mkv", test_lossless_mkv);
  g_test_add_func("/media/video/mp4", test_mp4);
  g_test_add_func("/media/video/webm", test_webm);
  g_test_add_func("/media/video/rotation", test_rotation);
  g_test_add_func("/media/video/unordered", test_unordered);
  g_test_add_func("/media/video/corrupted", test_corrupted);
  int rc = g_test_run();
  g_rmdir(tmp);
  return rc;
}
