/* image-decode.c — file bytes to RGB: format sniffing, size limits, and the PNG, WebP and
 * pixbuf decoders; JPEG lives in image-jpeg.c. */
#include "image-decode.h"
#include "image-decode-private.h"
#include "file-io.h"
#include "ivl.h"

#include <gdk-pixbuf/gdk-pixbuf.h>
#include <png.h>
#include <setjmp.h>
#include <string.h>
#include <webp/decode.h>

ivl_rgb_image *ivl_rgb_image_new(int width, int height, GError **error)
{
  ivl_rgb_image *img = g_new0(ivl_rgb_image, 1);
  img->width = width;
  img->height = height;
  img->rgb = g_try_malloc((gsize)width * height * 3);
  if (img->rgb == NULL) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_OUT_OF_MEMORY, "Not enough memory for a %d×%d image",
                width, height);
    g_free(img);
    return NULL;
  }
  return img;
}

void ivl_rgb_image_free(ivl_rgb_image *img)
{
  if (img == NULL)
    return;
  g_free(img->rgb);
  g_free(img);
}

gboolean ivl_image_check_size(gint64 width, gint64 height, const char *label, GError **error)
{
  if (width <= 0 || height <= 0) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_CORRUPT,
                "%s: the image has no pixels (%" G_GINT64_FORMAT "×%" G_GINT64_FORMAT ")", label,
                width, height);
    return FALSE;
  }
  if (width * height > IVL_IMAGE_MAX_PIXELS) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_UNSUPPORTED,
                "%s: the image is %" G_GINT64_FORMAT "×%" G_GINT64_FORMAT
                " pixels, more than the %lld allowed (a possible decompression bomb)",
                label, width, height, IVL_IMAGE_MAX_PIXELS);
    return FALSE;
  }
  return TRUE;
}

/* ---- PNG ---- */

typedef struct {
  const guint8 *data;
  gsize size, pos;
  jmp_buf jmp;
  char message[256];
} png_source;

static void png_read_cb(png_structp png, png_bytep out, size_t n)
{
  png_source *src = png_get_io_ptr(png);
  if (src->size - src->pos < n)
    png_error(png, "the file is truncated");
  memcpy(out, src->data + src->pos, n);
  src->pos += n;
}

static void png_error_cb(png_structp png, png_const_charp msg)
{
  png_source *src = png_get_error_ptr(png);
  g_strlcpy(src->message, msg, sizeof src->message);
  longjmp(src->jmp, 1);
}

static void png_warning_cb(png_structp png, png_const_charp msg)
{
  (void)png;
  (void)msg;
}

static ivl_rgb_image *decode_png(const guint8 *data, gsize size, const char *label, GError **error)
{
  png_source src;
  memset(&src, 0, sizeof src);
  src.data = data;
  src.size = size;
  png_structp png =
      png_create_read_struct(PNG_LIBPNG_VER_STRING, &src, png_error_cb, png_warning_cb);
  png_infop info = png ? png_create_info_struct(png) : NULL;
  ivl_rgb_image *volatile img = NULL;
  png_bytep *volatile rows = NULL;
  if (info == NULL) {
    png_destroy_read_struct(&png, NULL, NULL);
    g_set_error(error, IVL_ERROR, IVL_ERROR_OUT_OF_MEMORY, "%s: out of memory", label);
    return NULL;
  }
  if (setjmp(src.jmp)) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_CORRUPT, "%s: broken PNG file: %s", label, src.message);
    ivl_rgb_image_free(img);
    g_free(rows);
    png_destroy_read_struct(&png, &info, NULL);
    return NULL;
  }
  /* Pillow refuses a PNG whose chunk checksums are wrong, critical or not. */
  png_set_crc_action(png, PNG_CRC_ERROR_QUIT, PNG_CRC_ERROR_QUIT);
  png_set_user_limits(png, 0x7fffffff, 0x7fffffff);
  png_set_read_fn(png, &src, png_read_cb);
  png_read_info(png, info);
  png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
  if (!ivl_image_check_size(w, h, label, error)) {
    png_destroy_read_struct(&png, &info, NULL);
    return NULL;
  }
  int color = png_get_color_type(png, info);
  /* Pillow opens 16-bit gray (without alpha) as a 32-bit integer image, and its conversion
   * to RGB clips each value to 255 rather than scaling it. */
  gboolean gray16 = color == PNG_COLOR_TYPE_GRAY && png_get_bit_depth(png, info) == 16;
  /* convert('RGB'): palettes looked up, gray replicated, alpha dropped without compositing,
   * other 16-bit samples reduced to their high byte as Pillow's unpackers do. */
  if (!gray16)
    png_set_strip_16(png);
  png_set_packing(png);
  if (color == PNG_COLOR_TYPE_PALETTE)
    png_set_palette_to_rgb(png);
  if ((color == PNG_COLOR_TYPE_GRAY || color == PNG_COLOR_TYPE_GRAY_ALPHA) && !gray16) {
    png_set_expand_gray_1_2_4_to_8(png);
    png_set_gray_to_rgb(png);
  }
  png_set_strip_alpha(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  if (png_get_rowbytes(png, info) != (size_t)w * (gray16 ? 2 : 3))
    png_error(png, "unexpected pixel layout");

  GError *local = NULL;
  img = ivl_rgb_image_new((int)w, (int)h, &local);
  if (img == NULL) {
    png_destroy_read_struct(&png, &info, NULL);
    g_propagate_error(error, local);
    return NULL;
  }
  rows = g_new(png_bytep, h);
  /* 16-bit gray rows (2 bytes a pixel) fit in the first two thirds of each RGB row; each
   * row is expanded from its end so no sample is overwritten before it is read. */
  for (png_uint_32 y = 0; y < h; y++)
    rows[y] = img->rgb + (gsize)y * w * 3;
  png_read_image(png, rows);
  png_read_end(png, NULL);
  for (png_uint_32 y = 0; gray16 && y < h; y++) {
    guint8 *row = rows[y];
    for (png_uint_32 x = w; x-- > 0;) {
      unsigned v = (unsigned)row[2 * x] << 8 | row[2 * x + 1];
      row[3 * x] = row[3 * x + 1] = row[3 * x + 2] = (guint8)MIN(v, 255u);
    }
  }
  g_free(rows);
  png_destroy_read_struct(&png, &info, NULL);
  return img;
}

/* ---- WebP ---- */

static ivl_rgb_image *decode_webp(const guint8 *data, gsize size, const char *label, GError **error)
{
  WebPBitstreamFeatures features;
  if (WebPGetFeatures(data, size, &features) != VP8_STATUS_OK) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_CORRUPT, "%s: broken WebP file", label);
    return NULL;
  }
  if (!ivl_image_check_size(features.width, features.height, label, error))
    return NULL;
  ivl_rgb_image *img = ivl_rgb_image_new(features.width, features.height, error);
  if (img == NULL)
    return NULL;
  gsize stride = (gsize)features.width * 3;
  if (WebPDecodeRGBInto(data, size, img->rgb, stride * features.height, (int)stride) == NULL) {
    ivl_rgb_image_free(img);
    g_set_error(error, IVL_ERROR, IVL_ERROR_CORRUPT, "%s: broken WebP file", label);
    return NULL;
  }
  return img;
}

/* ---- BMP, GIF and other formats gdk-pixbuf reads ---- */

typedef struct {
  gboolean refused;
  int width, height;
} pixbuf_size;

/* The header's size, before any pixel memory is allocated: a refused size is scaled to 1x1
 * so the loader never allocates it. */
static void size_prepared(GdkPixbufLoader *loader, int w, int h, gpointer user_data)
{
  pixbuf_size *size = user_data;
  if ((gint64)w * h > IVL_IMAGE_MAX_PIXELS || w <= 0 || h <= 0) {
    *size = (pixbuf_size){TRUE, w, h};
    gdk_pixbuf_loader_set_size(loader, 1, 1);
  }
}

static guint32 le32(const guint8 *p)
{
  return (guint32)p[0] | (guint32)p[1] << 8 | (guint32)p[2] << 16 | (guint32)p[3] << 24;
}

/* gdk-pixbuf decodes a BMP cut short as an image whose missing rows are black; Pillow refuses
 * it. Uncompressed pixel rows must all be in the file. */
static gboolean bmp_is_whole(const guint8 *data, gsize size, const char *label, GError **error)
{
  if (size < 14 + 40 || le32(data + 14) < 40) /* the OS/2 core header is too old to matter */
    return TRUE;
  guint64 offset = le32(data + 10), bpp = (guint64)(data[28] | data[29] << 8);
  guint32 compression = le32(data + 30);
  gint64 width = (gint32)le32(data + 18), height = (gint32)le32(data + 22);
  /* RLE data is checked by the decoder; a decompression bomb is refused there by its size. */
  if ((compression != 0 && compression != 3) || ABS(width) * ABS(height) > IVL_IMAGE_MAX_PIXELS)
    return TRUE;
  guint64 row = ((guint64)ABS(width) * bpp + 31) / 32 * 4;
  guint64 need = offset + row * (guint64)ABS(height);
  if (need > size) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_CORRUPT,
                "%s: the BMP file is truncated (%" G_GSIZE_FORMAT " of %" G_GUINT64_FORMAT
                " bytes)",
                label, size, need);
    return FALSE;
  }
  return TRUE;
}

static ivl_rgb_image *decode_pixbuf(const guint8 *data, gsize size, const char *label,
                                    const char *format, GError **error)
{
  g_autoptr(GError) local = NULL;
  g_autoptr(GdkPixbufLoader) loader = gdk_pixbuf_loader_new_with_type(format, &local);
  if (loader == NULL) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_UNSUPPORTED, "%s: no decoder for %s images: %s", label,
                format, local->message);
    return NULL;
  }
  pixbuf_size refused = {FALSE, 0, 0};
  g_signal_connect(loader, "size-prepared", G_CALLBACK(size_prepared), &refused);
  gboolean ok = gdk_pixbuf_loader_write(loader, data, size, &local);
  ok = gdk_pixbuf_loader_close(loader, ok ? &local : NULL) && ok;
  if (refused.refused) {
    ivl_image_check_size(refused.width, refused.height, label, error);
    return NULL;
  }
  GdkPixbuf *pb = ok ? gdk_pixbuf_loader_get_pixbuf(loader) : NULL;
  if (pb == NULL) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_CORRUPT, "%s: broken %s file%s%s", label, format,
                local ? ": " : "", local ? local->message : "");
    return NULL;
  }
  int w = gdk_pixbuf_get_width(pb), h = gdk_pixbuf_get_height(pb);
  int nch = gdk_pixbuf_get_n_channels(pb), stride = gdk_pixbuf_get_rowstride(pb);
  const guint8 *px = gdk_pixbuf_read_pixels(pb);
  ivl_rgb_image *img = ivl_rgb_image_new(w, h, error);
  if (img == NULL)
    return NULL;
  guint8 fill[3] = {0, 0, 0};
  gboolean gif = strcmp(format, "gif") == 0;
  if (gif)
    ivl_gif_fill_color(data, size, fill);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      const guint8 *p = px + (gsize)y * stride + (gsize)x * nch;
      memcpy(img->rgb + ((gsize)y * w + x) * 3, gif && nch == 4 && p[3] == 0 ? fill : p, 3);
    }
  return img;
}

/* ---- dispatch ---- */

ivl_rgb_image *ivl_rgb_image_decode(const guint8 *data, gsize size, const char *label,
                                    GError **error)
{
  if (size == 0) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_CORRUPT, "%s: the file is empty", label);
    return NULL;
  }
  if (size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF)
    return ivl_decode_jpeg(data, size, label, error);
  if (size >= 8 && memcmp(data, "\x89PNG\r\n\x1a\n", 8) == 0)
    return decode_png(data, size, label, error);
  if (size >= 12 && memcmp(data, "RIFF", 4) == 0 && memcmp(data + 8, "WEBP", 4) == 0)
    return decode_webp(data, size, label, error);
  if (size >= 6 && (memcmp(data, "GIF87a", 6) == 0 || memcmp(data, "GIF89a", 6) == 0))
    return decode_pixbuf(data, size, label, "gif", error);
  if (size >= 2 && memcmp(data, "BM", 2) == 0)
    return bmp_is_whole(data, size, label, error) ? decode_pixbuf(data, size, label, "bmp", error)
                                                   : NULL;
  g_set_error(error, IVL_ERROR, IVL_ERROR_UNSUPPORTED,
              "%s: not an image ivl can read (JPEG, PNG, WebP, BMP or GIF)", label);
  return NULL;
}

GMappedFile *ivl_image_file_map(const char *path, GError **error)
{
  return ivl_file_map(path, error);
}

ivl_rgb_image *ivl_rgb_image_load(const char *path, GError **error)
{
  g_autoptr(GMappedFile) file = ivl_image_file_map(path, error);
  if (file == NULL)
    return NULL;
  g_autofree char *label = g_filename_display_basename(path);
  return ivl_rgb_image_decode((const guint8 *)g_mapped_file_get_contents(file),
                              g_mapped_file_get_length(file), label, error);
}
