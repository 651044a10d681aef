/* media-output.h — writing a media's tiles for `ivl preprocess` and `ivl frames`. */
#ifndef IVL_MEDIA_OUTPUT_H
#define IVL_MEDIA_OUTPUT_H

#include "ivl.h"

/* Raw little-endian float32 [n, 3, 448, 448] to out_path and/or tile-NN.png files into
 * png_dir (created); either may be NULL. */
gboolean ivl_cli_write_tiles(const ivl_media *media, const char *out_path, const char *png_dir,
                             GError **error);

#endif
