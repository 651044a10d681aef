/* model-tensors.h — the tensors an InternVL3 checkpoint must hold, by name and shape
 * (spec/INTERNVL3.md section 2, original "remote-code" naming; an "-hf" checkpoint's names
 * through checkpoint-layout.h). The model code looks its weights up by the original names. */
#ifndef IVL_MODEL_TENSORS_H
#define IVL_MODEL_TENSORS_H

#include <glib.h>
#include <stdint.h>

#include "config.h"
#include "safetensors.h"

G_BEGIN_DECLS

typedef enum {
  IVL_PART_VISION,    /* vision_model.* (InternViT) */
  IVL_PART_PROJECTOR, /* mlp1.* */
  IVL_PART_LLM,       /* language_model.* */
} ivl_model_part;

typedef struct {
  char *name; /* e.g. "vision_model.encoder.layers.0.attn.qkv.weight" (original layout) */
  ivl_model_part part;
  int ndim;         /* 1..4 */
  int64_t shape[4]; /* PyTorch order: Linear weights are [out, in] */
  /* TRUE for a Linear layer's weight matrix (what int8/4-bit quantization would touch);
   * FALSE for embeddings, norms, biases, layer scales, the patch conv. */
  gboolean is_linear;
} ivl_tensor_spec;

/* Every tensor the model defined by config needs, in checkpoint order (vision, mlp1, LLM;
 * layer by layer), named as config's layout stores them. Returns a GPtrArray of
 * ivl_tensor_spec* that frees its elements. */
GPtrArray *ivl_model_tensor_specs(const ivl_config *config);
/* The same in a given layout: IVL_LAYOUT_ORIGINAL gives the names the model code asks for. */
GPtrArray *ivl_model_tensor_specs_in(const ivl_config *config, ivl_layout layout);

/* Element count of one spec (product of its shape). */
int64_t ivl_tensor_spec_n_elements(const ivl_tensor_spec *spec);

/* Checks that st holds every tensor of ivl_model_tensor_specs(config) with that shape.
 * Reports the first missing tensor (IVL_ERROR_NOT_FOUND) or wrong shape (IVL_ERROR_CORRUPT)
 * by name. Tensors st holds beyond these are ignored. */
gboolean ivl_safetensors_check(const ivl_safetensors *st, const ivl_config *config, GError **error);

G_END_DECLS

#endif /* IVL_MODEL_TENSORS_H */
