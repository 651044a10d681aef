/* image-jpeg.c — JPEG through libjpeg-turbo, with the settings Pillow decodes with.
 *
 * Pillow's decoder leaves libjpeg's defaults (islow DCT, fancy upsampling), asks for RGB,
 * gray or CMYK output, inverts CMYK from Adobe files ("CMYK;I") and refuses a truncated file.
 * convert('RGB') then replicates gray and maps CMYK with Pillow's cmyk2rgb. */
#include "image-decode-private.h"
#include "ivl.h"

#include <setjmp.h>
#include <stdio.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

typedef struct {
  struct jpeg_error_mgr pub;
  jmp_buf jmp;
  char message[JMSG_LENGTH_MAX];
} jpeg_errors;

static void jpeg_fail(j_common_ptr cinfo)
{
  jpeg_errors *err = (jpeg_errors *)cinfo->err;
  cinfo->err->format_message(cinfo, err->message);
  longjmp(err->jmp, 1);
}

/* Warnings are ignored as Pillow does, except running out of data: Pillow then reports the
 * image file as truncated. */
static void jpeg_message(j_common_ptr cinfo, int level)
{
  if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) {
    jpeg_errors *err = (jpeg_errors *)cinfo->err;
    g_strlcpy(err->message, "the file is truncated", sizeof err->message);
    longjmp(err->jmp, 1);
  }
}

static inline guint8 muldiv255(int a, int b)
{
  int tmp = a * b + 128;
  return (guint8)(((tmp >> 8) + tmp) >> 8);
}

static void cmyk_row_to_rgb(const guint8 *in, guint8 *out, int width, gboolean inverted)
{
  for (int x = 0; x < width; x++) {
    int c[4];
    for (int k = 0; k < 4; k++)
      c[k] = inverted ? 255 - in[x * 4 + k] : in[x * 4 + k];
    int nk = 255 - c[3];
    for (int k = 0; k < 3; k++) {
      int v = nk - muldiv255(c[k], nk);
      out[x * 3 + k] = (guint8)CLAMP(v, 0, 255);
    }
  }
}

ivl_rgb_image *ivl_decode_jpeg(const guint8 *data, gsize size, const char *label, GError **error)
{
  struct jpeg_decompress_struct cinfo;
  jpeg_errors err;
  ivl_rgb_image *volatile img = NULL;
  guint8 *volatile row = NULL;

  memset(&cinfo, 0, sizeof cinfo);
  cinfo.err = jpeg_std_error(&err.pub);
  err.pub.error_exit = jpeg_fail;
  err.pub.emit_message = jpeg_message;
  if (setjmp(err.jmp)) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_CORRUPT, "%s: broken JPEG file: %s", label,
                err.message);
    jpeg_destroy_decompress(&cinfo);
    ivl_rgb_image_free(img);
    g_free(row);
    return NULL;
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, data, size);
  jpeg_read_header(&cinfo, TRUE);
  if (!ivl_image_check_size(cinfo.image_width, cinfo.image_height, label, error)) {
    jpeg_destroy_decompress(&cinfo);
    return NULL;
  }
  gboolean cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
  gboolean gray = cinfo.jpeg_color_space == JCS_GRAYSCALE;
  cinfo.out_color_space = cmyk ? JCS_CMYK : gray ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_start_decompress(&cinfo);

  GError *local = NULL;
  int w = (int)cinfo.output_width, h = (int)cinfo.output_height;
  img = ivl_rgb_image_new(w, h, &local);
  if (img == NULL) {
    jpeg_destroy_decompress(&cinfo);
    g_propagate_error(error, local);
    return NULL;
  }
  row = g_malloc((gsize)w * cinfo.output_components);
  while (cinfo.output_scanline < cinfo.output_height) {
    guint8 *out = img->rgb + (gsize)cinfo.output_scanline * w * 3;
    JSAMPROW rows[1] = {cmyk || gray ? row : out};
    jpeg_read_scanlines(&cinfo, rows, 1);
    if (cmyk) {
      cmyk_row_to_rgb(row, out, w, cinfo.saw_Adobe_marker);
    } else if (gray) {
      for (int x = 0; x < w; x++)
        out[x * 3] = out[x * 3 + 1] = out[x * 3 + 2] = row[x];
    }
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  g_free(row);
  return img;
}
