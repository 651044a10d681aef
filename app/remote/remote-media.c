/* remote-media.c — encoding media for the servers (remote-media.h) with gdk-pixbuf, which the
 * engine already links for its decoders. */
#include "ivl-config.h"

#include "remote-media.h"
#include "remote-client.h"

#include <gdk-pixbuf/gdk-pixbuf.h>
#include <glib/gi18n.h>
#include <math.h>

char *ivl_remote_media_image_type(GBytes *bytes)
{
  gsize n;
  const guchar *data = g_bytes_get_data(bytes, &n);
  g_autofree char *type = g_content_type_guess(NULL, data, n, NULL);
  g_autofree char *mime = g_content_type_get_mime_type(type);
  if (!mime || !g_str_has_prefix(mime, "image/"))
    return NULL;
  return g_steal_pointer(&mime);
}

static GdkPixbuf *decode(GBytes *bytes, const char *label, GError **error)
{
  g_autoptr(GdkPixbufLoader) loader = gdk_pixbuf_loader_new();
  g_autoptr(GError) local = NULL;
  gsize n;
  const guchar *data = g_bytes_get_data(bytes, &n);
  if (!gdk_pixbuf_loader_write(loader, data, n, &local) ||
      !gdk_pixbuf_loader_close(loader, &local)) {
    g_set_error(error, IVL_REMOTE_ERROR, IVL_REMOTE_ERROR_MEDIA, _("%s: cannot decode: %s"), label,
                local->message);
    return NULL;
  }
  GdkPixbuf *pixbuf = gdk_pixbuf_loader_get_pixbuf(loader);
  return pixbuf ? gdk_pixbuf_apply_embedded_orientation(pixbuf) : NULL;
}

static GBytes *save(GdkPixbuf *pixbuf, const char *format, GError **error)
{
  gchar *buf = NULL;
  gsize len = 0;
  g_autoptr(GError) local = NULL;
  gboolean ok =
      g_str_equal(format, "jpeg")
          ? gdk_pixbuf_save_to_buffer(pixbuf, &buf, &len, "jpeg", &local, "quality", "92", NULL)
          : gdk_pixbuf_save_to_buffer(pixbuf, &buf, &len, format, &local, NULL);
  if (!ok) {
    g_set_error(error, IVL_REMOTE_ERROR, IVL_REMOTE_ERROR_MEDIA, _("cannot encode an image: %s"),
                local->message);
    return NULL;
  }
  return g_bytes_new_take(buf, len);
}

GBytes *ivl_remote_media_fit(GBytes *bytes, gsize max_bytes, char **mime, const char *label,
                             GError **error)
{
  if (max_bytes == 0 || g_bytes_get_size(bytes) <= max_bytes)
    return g_bytes_ref(bytes);
  g_autoptr(GdkPixbuf) full = decode(bytes, label, error);
  if (!full)
    return NULL;
  int w = gdk_pixbuf_get_width(full), h = gdk_pixbuf_get_height(full);
  /* JPEG has no alpha: the pixels are flattened by dropping it, as a thumbnail would. */
  for (double scale = 1.0; w * scale >= 1 && h * scale >= 1; scale *= M_SQRT1_2) {
    int sw = MAX(1, (int)(w * scale)), sh = MAX(1, (int)(h * scale));
    g_autoptr(GdkPixbuf) scaled = gdk_pixbuf_scale_simple(full, sw, sh, GDK_INTERP_BILINEAR);
    g_autoptr(GdkPixbuf) rgb = gdk_pixbuf_get_has_alpha(scaled)
                                   ? gdk_pixbuf_new(GDK_COLORSPACE_RGB, FALSE, 8, sw, sh)
                                   : g_object_ref(scaled);
    if (rgb != scaled)
      gdk_pixbuf_composite_color(scaled, rgb, 0, 0, sw, sh, 0, 0, 1, 1, GDK_INTERP_NEAREST, 255, 0,
                                 0, 1, 0xffffff, 0xffffff);
    GBytes *out = save(rgb, "jpeg", error);
    if (!out || g_bytes_get_size(out) <= max_bytes) {
      if (out) {
        g_free(*mime);
        *mime = g_strdup("image/jpeg");
      }
      return out;
    }
    g_bytes_unref(out);
  }
  g_set_error(error, IVL_REMOTE_ERROR, IVL_REMOTE_ERROR_MEDIA,
              _("%s: cannot be made small enough for the server"), label);
  return NULL;
}

GBytes *ivl_remote_media_encode_rgb(const guint8 *rgb, int width, int height, const char *format,
                                    GError **error)
{
  g_autoptr(GdkPixbuf) pixbuf = gdk_pixbuf_new_from_data(rgb, GDK_COLORSPACE_RGB, FALSE, 8, width,
                                                         height, width * 3, NULL, NULL);
  return save(pixbuf, format, error);
}

char *ivl_remote_media_data_url(const char *mime, GBytes *bytes)
{
  gsize n;
  const guchar *data = g_bytes_get_data(bytes, &n);
  g_autofree char *b64 = g_base64_encode(data, n);
  return g_strconcat("data:", mime, ";base64,", b64, NULL);
}
