/* resize.h — Pillow-exact bicubic resize of 8-bit RGB images. */
#ifndef IVL_RESIZE_H
#define IVL_RESIZE_H

#include <glib.h>

/* Resizes src (sw x sh, 3 bytes per pixel, rows src_stride bytes apart) to dst (dw x dh,
 * rows dw*3 bytes apart) exactly as Pillow's Image.resize((dw, dh), BICUBIC) does on an RGB
 * image. Returns FALSE only when memory for the intermediate image could not be had. */
gboolean ivl_resize_bicubic_rgb(const guint8 *src, int sw, int sh, size_t src_stride, guint8 *dst,
                                int dw, int dh);

#endif
