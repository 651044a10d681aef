/* preprocess.h — an RGB image to the quick start's normalized 448x448 tiles. */
#ifndef IVL_PREPROCESS_H
#define IVL_PREPROCESS_H

#include "image-decode.h"
#include "tiling.h"

#define IVL_TILE_SIZE 448
#define IVL_TILE_PIXELS (IVL_TILE_SIZE * IVL_TILE_SIZE)

/* dynamic_preprocess: n tiles of IVL_TILE_SIZE² RGB bytes (HWC), grid row-major, then the
 * thumbnail when the grid has more than one tile and use_thumbnail is set. Returns the
 * tiles (g_free) and sets *n_tiles and *grid. */
guint8 *ivl_preprocess_tiles(const ivl_rgb_image *img, int min_num, int max_num,
                             gboolean use_thumbnail, int *n_tiles, ivl_grid *grid, GError **error);

/* ToTensor + Normalize(ImageNet mean, std) of one RGB tile into CHW float32, with the same
 * float32 operations torchvision performs, so the values are identical. */
void ivl_preprocess_normalize(const guint8 *tile_rgb, float *chw);

#endif
