/* Broken and hostile media files each give a clear error in the IVL_ERROR domain, never a
 * crash: truncated JPEG (baseline and progressive), PNG with a bad checksum, empty file, text
 * named .jpg, decompression-bomb headers (JPEG, BMP), a missing file, an audio-only file, text
 * named .mp4, empty and cut-off videos, and a video clip outside the file's time range. The broken
 * files are made here from the committed examples; the audio file with gst-launch-1.0. */
#include <glib/gstdio.h>
#include <string.h>

#include "ivl.h"

static char *examples, *media_dir, *tmp;

static char *read_file(const char *dir, const char *name, gsize *len)
{
  g_autofree char *path = g_build_filename(dir, name, NULL);
  char *data = NULL;
  g_assert_true(g_file_get_contents(path, &data, len, NULL));
  return data;
}

static char *write_tmp(const char *name, const void *data, gsize len)
{
  char *path = g_build_filename(tmp, name, NULL);
  g_assert_true(g_file_set_contents(path, data, (gssize)len, NULL));
  return path;
}

/* Opens path as an image and expects error code; the message must name the file. */
static void expect_image_error(const char *path, int code, const char *in_message)
{
  g_autoptr(GError) error = NULL;
  ivl_media *m = ivl_media_from_image_file(path, NULL, &error);
  g_assert_null(m);
  g_assert_error(error, IVL_ERROR, code);
  g_test_message("%s: %s", path, error->message);
  if (in_message && strstr(error->message, in_message) == NULL)
    g_error("\"%s\" does not say \"%s\"", error->message, in_message);
}

static void expect_video_error(const char *path, int code, const ivl_video_params *params)
{
  g_autoptr(GError) error = NULL;
  ivl_media *m = ivl_media_from_video_file(path, params, &error);
  g_assert_null(m);
  g_assert_error(error, IVL_ERROR, code);
  g_test_message("%s: %s", path, error->message);
}

static void test_truncated_jpeg(void)
{
  const char *names[] = {"image4.jpg" /* baseline */, "image1.jpg" /* progressive */};
  for (int i = 0; i < 2; i++) {
    gsize len;
    g_autofree char *data = read_file(examples, names[i], &len);
    g_autofree char *path = write_tmp("truncated.jpg", data, len / 3);
    expect_image_error(path, IVL_ERROR_CORRUPT, "truncated");
  }
}

static void test_png_bad_crc(void)
{
  gsize len;
  g_autofree char *data = read_file(media_dir, "rgb-448x448.png", &len);
  /* The checksum of IHDR (signature 8 + length 4 + type 4 + data 13 bytes in). Pillow
   * refuses it too ("bad header checksum"). */
  data[8 + 4 + 4 + 13] ^= 0x55;
  g_autofree char *path = write_tmp("bad-crc.png", data, len);
  expect_image_error(path, IVL_ERROR_CORRUPT, "CRC");
  /* Damaged compressed pixels: the inflate or the row filters fail. */
  data[8 + 4 + 4 + 13] ^= 0x55;
  for (gsize i = len / 2; i < len / 2 + 64; i++)
    data[i] ^= 0x55;
  g_autofree char *damaged = write_tmp("damaged.png", data, len);
  expect_image_error(damaged, IVL_ERROR_CORRUPT, "broken PNG");
}

static void test_empty_and_text(void)
{
  g_autofree char *empty = write_tmp("empty.jpg", "", 0);
  expect_image_error(empty, IVL_ERROR_CORRUPT, "empty");
  const char *text = "This is not a picture.\n";
  g_autofree char *fake = write_tmp("text.jpg", text, strlen(text));
  expect_image_error(fake, IVL_ERROR_UNSUPPORTED, "not an image");
  g_autofree char *missing = g_build_filename(tmp, "missing.png", NULL);
  expect_image_error(missing, IVL_ERROR_NOT_FOUND, NULL);
}

/* The frame header of image4.jpg with its size set to 60000x60000 (3.6 gigapixels). */
static void test_jpeg_bomb(void)
{
  gsize len;
  g_autofree char *data = read_file(examples, "image4.jpg", &len);
  guint8 *p = (guint8 *)data;
  gsize sof = 2;
  while (sof + 9 < len && !(p[sof] == 0xFF && (p[sof + 1] == 0xC0 || p[sof + 1] == 0xC2)))
    sof += 2 + ((gsize)p[sof + 2] << 8 | p[sof + 3]);
  g_assert_cmpuint(sof + 9, <, len);
  p[sof + 5] = p[sof + 7] = 60000 >> 8; /* height, width */
  p[sof + 6] = p[sof + 8] = 60000 & 0xFF;
  g_autofree char *path = write_tmp("bomb.jpg", data, len);
  expect_image_error(path, IVL_ERROR_UNSUPPORTED, "decompression bomb");
}

/* A BMP header claiming 30000x30000 pixels with hardly any data behind it. */
static void test_bmp_bomb(void)
{
  guint8 bmp[54 + 64] = {'B', 'M'};
  guint32 fields[][2] = {{2, sizeof bmp}, {10, 54}, {14, 40}, {18, 30000}, {22, 30000}};
  for (gsize i = 0; i < G_N_ELEMENTS(fields); i++) {
    guint32 v = GUINT32_TO_LE(fields[i][1]);
    memcpy(bmp + fields[i][0], &v, 4);
  }
  bmp[26] = 1;  /* planes */
  bmp[28] = 24; /* bits per pixel */
  g_autofree char *path = write_tmp("bomb.bmp", bmp, sizeof bmp);
  expect_image_error(path, IVL_ERROR_UNSUPPORTED, "decompression bomb");
}

static void test_video_errors(void)
{
  g_autofree char *missing = g_build_filename(tmp, "missing.mp4", NULL);
  expect_video_error(missing, IVL_ERROR_NOT_FOUND, NULL);
  const char *text = "This is not a video.\n";
  g_autofree char *fake = write_tmp("text.mp4", text, strlen(text));
  expect_video_error(fake, IVL_ERROR_CORRUPT, NULL);

  g_autofree char *audio = g_build_filename(tmp, "audio.ogg", NULL);
  g_autofree char *location = g_strdup_printf("location=%s", audio);
  const char *argv[] = {
      "gst-launch-1.0", "-q", "audiotestsrc", "num-buffers=10", "!", "vorbisenc", "!",
      "oggmux",         "!",  "filesink",     location,         NULL};
  int status;
  g_autoptr(GError) error = NULL;
  g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL,
                             &status, &error));
  g_assert_no_error(error);
  g_assert_true(g_spawn_check_wait_status(status, NULL));
  expect_video_error(audio, IVL_ERROR_UNSUPPORTED, NULL);

  g_autofree char *empty = write_tmp("empty.mp4", "", 0);
  expect_video_error(empty, IVL_ERROR_CORRUPT, NULL);

  /* A cut-off download is read up to where it ends (GStreamer plays what is there); with
   * too little left for any frame it is refused. */
  g_autofree char *panda = g_build_filename(examples, "red-panda.mp4", NULL);
  gsize len;
  g_autofree char *bytes = read_file(examples, "red-panda.mp4", &len);
  g_autofree char *half = write_tmp("half.mp4", bytes, len / 2);
  ivl_media *m = ivl_media_from_video_file(half, NULL, &error);
  g_assert_no_error(error);
  gint64 count = 0;
  ivl_media_get_video_info(m, NULL, &count, NULL);
  g_assert_cmpint(count, >, 100);
  g_assert_cmpint(count, <, 895);
  ivl_media_free(m);
  g_autofree char *stub = write_tmp("stub.mp4", bytes, 10000);
  expect_video_error(stub, IVL_ERROR_CORRUPT, NULL);

  /* red-panda.mp4 lasts 29.8 s: a clip from 40 s to 50 s holds no frame. */
  ivl_video_params params = ivl_video_default_params();
  params.has_bound = TRUE;
  params.start = 40;
  params.end = 50;
  expect_video_error(panda, IVL_ERROR_INVALID_ARGUMENT, &params);
  params = ivl_video_default_params();
  params.n_segments = 0;
  expect_video_error(panda, IVL_ERROR_INVALID_ARGUMENT, &params);
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  const char *root = g_getenv("IVL_SOURCE_ROOT");
  examples = g_build_filename(root, "tests", "data", "examples", NULL);
  media_dir = g_build_filename(root, "tests", "data", "media", NULL);
  tmp = g_dir_make_tmp("ivl-media-XXXXXX", NULL);
  g_assert_nonnull(tmp);
  g_test_add_func("/media/errors/truncated-jpeg", test_truncated_jpeg);
  g_test_add_func("/media/errors/png-bad-crc", test_png_bad_crc);
  g_test_add_func("/media/errors/empty-and-text", test_empty_and_text);
  g_test_add_func("/media/errors/jpeg-bomb", test_jpeg_bomb);
  g_test_add_func("/media/errors/bmp-bomb", test_bmp_bomb);
  g_test_add_func("/media/errors/video", test_video_errors);
  int rc = g_test_run();
  g_autoptr(GDir) dir = g_dir_open(tmp, 0, NULL);
  const char *name;
  while (dir && (name = g_dir_read_name(dir)) != NULL) {
    g_autofree char *path = g_build_filename(tmp, name, NULL);
    g_unlink(path);
  }
  g_rmdir(tmp);
  return rc;
}
