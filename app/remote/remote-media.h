/* remote-media.h — images and video frames as the bytes and data URLs a server is sent. */
#ifndef IVL_REMOTE_MEDIA_H
#define IVL_REMOTE_MEDIA_H

#include <gio/gio.h>

/* The most bytes of an image or clip file read to send; the servers' bodies stop far below. */
#define IVL_REMOTE_MAX_FILE_BYTES ((gsize)64 << 20)

/* The MIME type of an image's bytes ("image/png"), or NULL when they are not an image
 * gdk-pixbuf knows. */
char *ivl_remote_media_image_type(GBytes *bytes);

/* bytes unchanged (with *mime kept) when they fit max_bytes (0: no limit), else the image
 * decoded and written again as JPEG, halved in area until it fits (*mime replaced).
 * Errors: IVL_REMOTE_ERROR_MEDIA. */
GBytes *ivl_remote_media_fit(GBytes *bytes, gsize max_bytes, char **mime, const char *label,
                             GError **error);

/* 8-bit RGB pixels (rows top to bottom, no padding) written as "png" or "jpeg". */
GBytes *ivl_remote_media_encode_rgb(const guint8 *rgb, int width, int height, const char *format,
                                    GError **error);

/* "data:MIME;base64,…". */
char *ivl_remote_media_data_url(const char *mime, GBytes *bytes);

#endif /* IVL_REMOTE_MEDIA_H */
