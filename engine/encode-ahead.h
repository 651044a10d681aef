/* encode-ahead.h — image rows encoded ahead of the ask that brings their media, held by the
 * model until an ask takes them (internal; the public calls are in ivl.h). */
#ifndef IVL_ENCODE_AHEAD_H
#define IVL_ENCODE_AHEAD_H

#include "model.h"

/* The image rows of the media, in order: those encoded ahead copied, the others through the
 * vision encoder (in one batch when none was ahead, as without this file). keys gets the keys
 * of the rows that came from ahead, for ivl_encode_ahead_drop once the ask has succeeded;
 * *n_ahead_tiles counts their tiles and *vision_ms the time spent in the vision encoder. */
ivl_tensor *ivl_encode_ahead_rows(ivl_model *model, ivl_media *const *media, int n_media,
                                  GPtrArray *keys, int *n_ahead_tiles, double *vision_ms,
                                  GCancellable *cancellable, GError **error);
/* Forgets the rows of keys: their turn holds its own copy now. */
void ivl_encode_ahead_drop(ivl_model *model, GPtrArray *keys);

#endif /* IVL_ENCODE_AHEAD_H */
