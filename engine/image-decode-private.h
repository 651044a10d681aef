/* image-decode-private.h — shared between the image decoders. */
#ifndef IVL_IMAGE_DECODE_PRIVATE_H
#define IVL_IMAGE_DECODE_PRIVATE_H

#include "image-decode.h"

/* FALSE with an error for empty or over-large (decompression bomb) images. */
gboolean ivl_image_check_size(gint64 width, gint64 height, const char *label, GError **error);
/* The colour Pillow shows where a GIF's first frame is transparent or absent. */
void ivl_gif_fill_color(const guint8 *data, gsize size, guint8 rgb[3]);
ivl_rgb_image *ivl_decode_jpeg(const guint8 *data, gsize size, const char *label, GError **error);

#endif
