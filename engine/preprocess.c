/* preprocess.c — dynamic_preprocess and the tensor transform of the InternVL quick start. */
#include "preprocess.h"
#include "ivl.h"
#include "resize.h"

#include <string.h>

static gboolean resize_or_fail(const guint8 *src, int sw, int sh, size_t stride, guint8 *dst,
                               int dw, int dh, GError **error)
{
  if (ivl_resize_bicubic_rgb(src, sw, sh, stride, dst, dw, dh))
    return TRUE;
  g_set_error(error, IVL_ERROR, IVL_ERROR_OUT_OF_MEMORY,
              "Not enough memory to resize a %d×%d image", sw, sh);
  return FALSE;
}

guint8 *ivl_preprocess_tiles(const ivl_rgb_image *img, int min_num, int max_num,
                             gboolean use_thumbnail, int *n_tiles, ivl_grid *grid, GError **error)
{
  const int S = IVL_TILE_SIZE;
  if (min_num < 1 || max_num < min_num || max_num > 64) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_INVALID_ARGUMENT,
                "The tile limits must satisfy 1 ≤ min (%d) ≤ max (%d) ≤ 64", min_num, max_num);
    return NULL;
  }
  ivl_grid g = ivl_tiling_choose_grid(img->width, img->height, min_num, max_num, S);
  int n_grid = g.cols * g.rows;
  int n = n_grid + (use_thumbnail && n_grid != 1 ? 1 : 0);
  gsize tile_bytes = (gsize)IVL_TILE_PIXELS * 3;
  g_autofree guint8 *tiles = g_try_malloc(tile_bytes * n);
  g_autofree guint8 *resized = g_try_malloc(tile_bytes * n_grid);
  if (tiles == NULL || resized == NULL) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_OUT_OF_MEMORY, "Not enough memory for %d tiles", n);
    return NULL;
  }
  int rw = S * g.cols, rh = S * g.rows;
  if (!resize_or_fail(img->rgb, img->width, img->height, (size_t)img->width * 3, resized, rw, rh,
                      error))
    return NULL;
  for (int k = 0; k < n_grid; k++) {
    int x0 = (k % g.cols) * S, y0 = (k / g.cols) * S;
    guint8 *tile = tiles + tile_bytes * k;
    for (int y = 0; y < S; y++)
      memcpy(tile + (gsize)y * S * 3, resized + ((gsize)(y0 + y) * rw + x0) * 3, (gsize)S * 3);
  }
  if (n > n_grid && !resize_or_fail(img->rgb, img->width, img->height, (size_t)img->width * 3,
                                    tiles + tile_bytes * n_grid, S, S, error))
    return NULL;
  *n_tiles = n;
  *grid = g;
  return g_steal_pointer(&tiles);
}

void ivl_preprocess_normalize(const guint8 *tile_rgb, float *chw)
{
  /* torchvision: x.float().div(255) then (x - mean) / std, all in float32. A table per
   * channel holds those exact values; volatile keeps the compiler from fusing or
   * reassociating the two float32 steps. */
  static const float mean[3] = {0.485f, 0.456f, 0.406f};
  static const float std[3] = {0.229f, 0.224f, 0.225f};
  float table[3][256];
  for (int c = 0; c < 3; c++)
    for (int v = 0; v < 256; v++) {
      volatile float x = (float)v / 255.0f;
      volatile float centered = x - mean[c];
      table[c][v] = centered / std[c];
    }
  for (int c = 0; c < 3; c++) {
    float *plane = chw + (gsize)c * IVL_TILE_PIXELS;
    for (int i = 0; i < IVL_TILE_PIXELS; i++)
      plane[i] = table[c][tile_rgb[(gsize)i * 3 + c]];
  }
}
