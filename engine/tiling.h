/* tiling.h — dynamic_preprocess of the InternVL quick start: the grid an image is cut into. */
#ifndef IVL_TILING_H
#define IVL_TILING_H

#include <glib.h>

typedef struct {
  int cols, rows;
} ivl_grid;

/* The candidate grids (cols, rows) with min_num <= cols*rows <= max_num in the order the
 * reference iterates them. Returns the count; *out is newly allocated (g_free). */
int ivl_tiling_candidates(int min_num, int max_num, ivl_grid **out);

/* The grid the reference picks for an image of width x height. */
ivl_grid ivl_tiling_choose_grid(int width, int height, int min_num, int max_num, int image_size);

#endif
