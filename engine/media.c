/* media.c — ivl_media: an image or a video's frames as normalized 448x448 tiles. */
#include "file-io.h"
#include "ivl.h"
#include "preprocess.h"
#include "video.h"

#include <string.h>

struct ivl_media {
  gboolean is_video;
  int n_tiles;
  ivl_grid grid;
  guint8 *rgb;   /* [n_tiles][448*448*3] */
  float *pixels; /* [n_tiles][3][448][448] */
  char *id;      /* sha256 of the file */
  double fps;
  gint64 frame_count;
  gint64 *indices;
};

ivl_image_params ivl_image_default_params(void)
{
  return (ivl_image_params){.min_num = 1, .max_num = 12, .use_thumbnail = TRUE};
}

ivl_video_params ivl_video_default_params(void)
{
  return (ivl_video_params){.n_segments = 8, .has_bound = FALSE, .start = 0, .end = 0};
}

void ivl_media_free(ivl_media *media)
{
  if (media == NULL)
    return;
  g_free(media->rgb);
  g_free(media->pixels);
  g_free(media->id);
  g_free(media->indices);
  g_free(media);
}

static char *file_sha256(const char *path, GError **error)
{
  g_autoptr(GMappedFile) file = ivl_file_map(path, error);
  if (file == NULL)
    return NULL;
  return g_compute_checksum_for_data(G_CHECKSUM_SHA256,
                                     (const guchar *)g_mapped_file_get_contents(file),
                                     g_mapped_file_get_length(file));
}

/* Takes the RGB tiles and the id (NULL: an error already set) and computes the tensors. */
static ivl_media *media_new(guint8 *rgb, int n_tiles, ivl_grid grid, char *id, GError **error)
{
  float *pixels = id ? g_try_malloc((gsize)n_tiles * 3 * IVL_TILE_PIXELS * sizeof(float)) : NULL;
  if (id == NULL || pixels == NULL) {
    if (id)
      g_set_error(error, IVL_ERROR, IVL_ERROR_OUT_OF_MEMORY, "Not enough memory for %d tiles",
                  n_tiles);
    g_free(rgb);
    g_free(id);
    return NULL;
  }
  ivl_media *m = g_new0(ivl_media, 1);
  m->rgb = rgb;
  m->pixels = pixels;
  m->id = id;
  m->n_tiles = n_tiles;
  m->grid = grid;
  for (int i = 0; i < n_tiles; i++)
    ivl_preprocess_normalize(rgb + (gsize)i * IVL_TILE_PIXELS * 3,
                             pixels + (gsize)i * 3 * IVL_TILE_PIXELS);
  return m;
}

ivl_media *ivl_media_from_image_data(const guint8 *data, gsize size, const char *label,
                                     const ivl_image_params *params, GError **error)
{
  ivl_image_params p = params ? *params : ivl_image_default_params();
  g_autoptr(ivl_rgb_image) img = ivl_rgb_image_decode(data, size, label, error);
  if (img == NULL)
    return NULL;
  int n = 0;
  ivl_grid grid;
  guint8 *rgb = ivl_preprocess_tiles(img, p.min_num, p.max_num, p.use_thumbnail, &n, &grid, error);
  if (rgb == NULL)
    return NULL;
  return media_new(rgb, n, grid, g_compute_checksum_for_data(G_CHECKSUM_SHA256, data, size),
                   error);
}

ivl_media *ivl_media_from_image_file(const char *path, const ivl_image_params *params,
                                     GError **error)
{
  g_autoptr(GMappedFile) file = ivl_image_file_map(path, error);
  if (file == NULL)
    return NULL;
  g_autofree char *label = g_filename_display_basename(path);
  return ivl_media_from_image_data((const guint8 *)g_mapped_file_get_contents(file),
                                   g_mapped_file_get_length(file), label, params, error);
}

ivl_media *ivl_media_from_video_file(const char *path, const ivl_video_params *params,
                                     GError **error)
{
  ivl_video_params p = params ? *params : ivl_video_default_params();
  g_auto(ivl_video_info) info = {0};
  if (p.n_segments < 1 || p.n_segments > 256) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_INVALID_ARGUMENT,
                "The number of frames must be between 1 and 256, not %d", p.n_segments);
    return NULL;
  }
  if (!ivl_video_probe(path, &info, error))
    return NULL;
  g_autofree gint64 *indices = g_new(gint64, p.n_segments);
  if (!ivl_video_frame_indices(info.fps, info.frame_count, p.has_bound, p.start, p.end,
                               p.n_segments, indices, error))
    return NULL;
  ivl_rgb_image **frames = ivl_video_read_frames(path, &info, indices, p.n_segments, error);
  if (frames == NULL)
    return NULL;
  gsize tile_bytes = (gsize)IVL_TILE_PIXELS * 3;
  guint8 *rgb = g_try_malloc(tile_bytes * p.n_segments);
  GError *local = rgb ? NULL
                      : g_error_new(IVL_ERROR, IVL_ERROR_OUT_OF_MEMORY,
                                    "Not enough memory for %d frames", p.n_segments);
  for (int k = 0; k < p.n_segments; k++) {
    if (local == NULL) {
      /* Each frame is dynamic_preprocess(max_num=1): one bicubic resize to 448x448. */
      int n = 0;
      ivl_grid grid;
      g_autofree guint8 *tile = ivl_preprocess_tiles(frames[k], 1, 1, FALSE, &n, &grid, &local);
      if (tile)
        memcpy(rgb + tile_bytes * k, tile, tile_bytes);
    }
    ivl_rgb_image_free(frames[k]);
  }
  g_free(frames);
  if (local) {
    g_free(rgb);
    g_propagate_error(error, local);
    return NULL;
  }
  ivl_media *m = media_new(rgb, p.n_segments, (ivl_grid){1, 1}, file_sha256(path, error), error);
  if (m) {
    m->is_video = TRUE;
    m->fps = info.fps;
    m->frame_count = info.frame_count;
    m->indices = g_steal_pointer(&indices);
  }
  return m;
}

gboolean ivl_media_is_video(const ivl_media *media)
{
  return media->is_video;
}

int ivl_media_get_n_tiles(const ivl_media *media)
{
  return media->n_tiles;
}

void ivl_media_get_grid(const ivl_media *media, int *cols, int *rows)
{
  if (cols)
    *cols = media->grid.cols;
  if (rows)
    *rows = media->grid.rows;
}

const float *ivl_media_get_tile(const ivl_media *media, int i)
{
  g_return_val_if_fail(i >= 0 && i < media->n_tiles, NULL);
  return media->pixels + (gsize)i * 3 * IVL_TILE_PIXELS;
}

const guint8 *ivl_media_get_tile_rgb(const ivl_media *media, int i)
{
  g_return_val_if_fail(i >= 0 && i < media->n_tiles, NULL);
  return media->rgb + (gsize)i * 3 * IVL_TILE_PIXELS;
}

const char *ivl_media_get_id(const ivl_media *media)
{
  return media->id;
}

gboolean ivl_media_get_video_info(const ivl_media *media, double *fps, gint64 *frame_count,
                                  const gint64 **indices)
{
  if (!media->is_video)
    return FALSE;
  if (fps)
    *fps = media->fps;
  if (frame_count)
    *frame_count = media->frame_count;
  if (indices)
    *indices = media->indices;
  return TRUE;
}
