/* ivl-thumbnails.c — small pictures of attachments, decoded once per file. */
#include "ivl-thumbnails.h"

#define THUMBNAIL_SIZE 256
/* Enough for the images of a long conversation; past it the cache starts over. */
#define CACHE_MAX 256

static GHashTable *cache; /* path -> GdkTexture; used from the main thread only */

GdkPaintable *ivl_thumbnail_get(IvlAttachment *attachment)
{
  const char *path = ivl_attachment_get_path(attachment);
  GdkPaintable *preview = ivl_attachment_get_preview(attachment);
  GdkTexture *texture;

  if (preview)
    return g_object_ref(preview);
  if (ivl_attachment_is_video(attachment))
    return NULL;
  if (cache == NULL)
    cache = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_object_unref);
  texture = g_hash_table_lookup(cache, path);
  if (texture)
    return g_object_ref(GDK_PAINTABLE(texture));

  g_autoptr(GdkPixbuf) pixbuf =
      gdk_pixbuf_new_from_file_at_scale(path, THUMBNAIL_SIZE, THUMBNAIL_SIZE, TRUE, NULL);
  if (pixbuf == NULL)
    return NULL;
  if (g_hash_table_size(cache) >= CACHE_MAX)
    g_hash_table_remove_all(cache);
  texture = gdk_texture_new_for_pixbuf(pixbuf);
  g_hash_table_insert(cache, g_strdup(path), texture);
  return g_object_ref(GDK_PAINTABLE(texture));
}

GdkPaintable *ivl_picture_get_full(IvlAttachment *attachment)
{
  g_autoptr(GdkPixbuf) pixbuf = NULL;
  g_autoptr(GdkPixbuf) upright = NULL;

  if (!ivl_attachment_is_video(attachment))
    pixbuf = gdk_pixbuf_new_from_file(ivl_attachment_get_path(attachment), NULL);
  if (pixbuf == NULL)
    return ivl_thumbnail_get(attachment);
  upright = gdk_pixbuf_apply_embedded_orientation(pixbuf);
  return GDK_PAINTABLE(gdk_texture_new_for_pixbuf(upright));
}
