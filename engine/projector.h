/* projector.h — vision features to language embeddings: drop cls, pixel shuffle v2, mlp1
 * (internal to libivl). */
#ifndef IVL_PROJECTOR_H
#define IVL_PROJECTOR_H

#include "backend.h"
#include "config.h"
#include "model-loader.h"

typedef struct ivl_projector ivl_projector;

ivl_projector *ivl_projector_new(ivl_backend *be, const ivl_config *cfg, ivl_loader *ld,
                                 GError **error);
void ivl_projector_free(ivl_projector *proj);

/* vit [n_tiles * (1 + g²), Dv] (cls first per tile) -> [n_tiles * (g/2)², Dl], written to
 * rows [row0, row0 + n_tiles * (g/2)²) of out. */
gboolean ivl_projector_forward(ivl_projector *proj, const ivl_tensor *vit, int n_tiles,
                               ivl_tensor *out, int64_t row0, GError **error);

#endif /* IVL_PROJECTOR_H */
