#include "media-output.h"

#include <gdk-pixbuf/gdk-pixbuf.h>
#include <errno.h>
#include <glib/gstdio.h>
#include <unistd.h>

#include "file-io.h"

#define TILE 448

static gboolean write_raw(const ivl_media *media, const char *path, GError **error)
{
  int fd = ivl_output_open(path, error);
  if (fd < 0)
    return FALSE;
  gsize tile_bytes = (gsize)3 * TILE * TILE * sizeof(float);
  for (int i = 0; i < ivl_media_get_n_tiles(media); i++) {
    /* x86-64 and every platform we build for is little-endian, the format asked for. */
    if (!ivl_output_write(fd, ivl_media_get_tile(media, i), tile_bytes, path, error)) {
      close(fd);
      return FALSE;
    }
  }
  return ivl_output_close(fd, path, error);
}

static gboolean write_pngs(const ivl_media *media, const char *dir, GError **error)
{
  if (g_mkdir_with_parents(dir, 0755) != 0) {
    g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno), "Cannot create %s", dir);
    return FALSE;
  }
  for (int i = 0; i < ivl_media_get_n_tiles(media); i++) {
    g_autoptr(GdkPixbuf) pb =
        gdk_pixbuf_new_from_data(ivl_media_get_tile_rgb(media, i), GDK_COLORSPACE_RGB, FALSE, 8,
                                 TILE, TILE, TILE * 3, NULL, NULL);
    g_autofree char *name = g_strdup_printf("tile-%02d.png", i);
    g_autofree char *path = g_build_filename(dir, name, NULL);
    if (!gdk_pixbuf_save(pb, path, "png", error, NULL))
      return FALSE;
  }
  return TRUE;
}

gboolean ivl_cli_write_tiles(const ivl_media *media, const char *out_path, const char *png_dir,
                             GError **error)
{
  return (out_path == NULL || write_raw(media, out_path, error)) &&
         (png_dir == NULL || write_pngs(media, png_dir, error));
}
