/* vision.h — InternViT (300M and 6B layouts) over the backend ops (internal to libivl). */
#ifndef IVL_VISION_H
#define IVL_VISION_H

#include "backend.h"
#include "config.h"
#include "model-loader.h"

typedef struct ivl_vision ivl_vision;

/* Takes the weights of vision_model.* from the loader. select_layer as in config.json:
 * -1 = the last layer's output, k >= 0 = the output after k layers (hidden_states[k]). */
ivl_vision *ivl_vision_new(ivl_backend *be, const ivl_vision_config *cfg, int select_layer,
                           ivl_loader *ld, GError **error);
void ivl_vision_free(ivl_vision *vision);

/* Tiles (n_tiles x 3 x S x S normalized floats, CHW each) -> the selected layer's hidden
 * states [n_tiles * (1 + (S/p)²), Dv], cls first in each tile. Caller frees the tensor. */
ivl_tensor *ivl_vision_encode(ivl_vision *vision, const float *pixels, int n_tiles, GError **error);

#endif /* IVL_VISION_H */
