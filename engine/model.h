/* model.h — the loaded model as the session sees it (internal to libivl).
 *
 * In the manner of llama2.c's run.c: the config, the weights (borrowed tensor handles held
 * by the parts) and the run state (the language part's KV cache and activations, allocated
 * once at load).
 */
#ifndef IVL_MODEL_H
#define IVL_MODEL_H

#include "backend.h"
#include "config.h"
#include "ivl.h"
#include "language.h"
#include "model-loader.h"
#include "projector.h"
#include "template.h"
#include "tokenizer.h"
#include "vision.h"

struct ivl_model {
  char *dir;
  ivl_config *config;
  ivl_tokenizer *tokenizer;
  const ivl_template *template; /* config.json's "template" (built in, not owned) */
  ivl_backend *backend;         /* the first GPU's when split */
  ivl_language_split split;     /* n_backends > 1: the GPUs the language layers spread over */
  int *layer_backend;           /* split.backend_of_layer's array */
  ivl_precision precision;      /* of the Linear weights */
  ivl_loader *loader;           /* the mapped weights; owns every weight tensor */
  ivl_vision *vision;           /* InternViT */
  ivl_projector *projector;     /* mlp1 */
  ivl_language *language;       /* the LLM with the one KV cache of this model */
  const void *cache_owner;      /* the session whose tokens the KV cache holds, or NULL */
  gboolean cache_lent;          /* an ask of an ivl_batch runs in the KV cache */
  GHashTable *ahead; /* media key -> image rows encoded ahead (encode-ahead.c), or NULL */
};

/* Whether cancellable fired; if so sets IVL_ERROR_CANCELLED (the code ivl.h promises). */
static inline gboolean ivl_cancelled(GCancellable *cancellable, GError **error)
{
  if (!g_cancellable_is_cancelled(cancellable))
    return FALSE;
  g_set_error_literal(error, IVL_ERROR, IVL_ERROR_CANCELLED, "cancelled");
  return TRUE;
}

/* Raw tiles (n_tiles x 3 x S x S floats, CHW) through InternViT and mlp1, in batches:
 * a tensor [n_tiles * num_image_token, Dl] the caller frees, or NULL with an error. */
ivl_tensor *ivl_model_encode_tiles(ivl_model *model, const float *pixels, int n_tiles,
                                   GCancellable *cancellable, GError **error);

#endif /* IVL_MODEL_H */
