/* image-decode.h — decoding image files into 8-bit RGB as Pillow's open().convert('RGB'). */
#ifndef IVL_IMAGE_DECODE_H
#define IVL_IMAGE_DECODE_H

#include <glib.h>

/* Pillow refuses images above twice its MAX_IMAGE_PIXELS (89478485) as decompression bombs;
 * we refuse at the same size, from the header, before allocating. */
#define IVL_IMAGE_MAX_PIXELS (2 * 89478485LL)

typedef struct {
  int width, height;
  guint8 *rgb; /* width * height * 3 bytes, rows packed */
} ivl_rgb_image;

/* Decodes JPEG, PNG, WebP, BMP or GIF (first frame), chosen by the file's magic bytes. Alpha
 * is dropped without compositing, palettes and gray are expanded, as convert('RGB') does. */
ivl_rgb_image *ivl_rgb_image_decode(const guint8 *data, gsize size, const char *label,
                                    GError **error);
ivl_rgb_image *ivl_rgb_image_load(const char *path, GError **error);
/* The file mapped for reading; IVL_ERROR_NOT_FOUND or IVL_ERROR_IO otherwise. */
GMappedFile *ivl_image_file_map(const char *path, GError **error);
ivl_rgb_image *ivl_rgb_image_new(int width, int height, GError **error);
void ivl_rgb_image_free(ivl_rgb_image *img);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(ivl_rgb_image, ivl_rgb_image_free)

#endif
