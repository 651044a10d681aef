/* model-info.h — what a model is and what it costs: its family size name, parameter counts,
 * bytes on disk and memory estimates per precision, from config.json alone. */
#ifndef IVL_MODEL_INFO_H
#define IVL_MODEL_INFO_H

#include <glib.h>

#include "config.h"
#include "gpu-placement.h"
#include "ivl.h" /* ivl_precision */

G_BEGIN_DECLS

/* The KV cache length memory estimates assume unless told otherwise (ivl_model_params). */
#define IVL_DEFAULT_CONTEXT_LENGTH 8192

/* One published InternVL3 size (spec section 1). */
typedef struct {
  const char *name;   /* "InternVL3-1B" … "InternVL3-78B" */
  gboolean vision_6b; /* InternViT-6B (3200 hidden, 45 layers) instead of 300M (1024, 24) */
  ivl_llm_arch llm_arch;
  int llm_hidden, llm_layers, llm_heads, llm_kv_heads, llm_ffn;
} ivl_model_size;

/* The seven sizes 1B, 2B, 8B, 9B, 14B, 38B, 78B, in that order; *n_sizes gets 7. Static. */
const ivl_model_size *ivl_model_sizes(guint *n_sizes);

/* The name of the published size whose vision and LLM dimensions config has, else
 * "custom". Static string. */
const char *ivl_model_size_name(const ivl_config *config);

typedef struct {
  guint64 vision;    /* vision_model.* */
  guint64 projector; /* mlp1.* */
  guint64 llm;       /* language_model.* */
  guint64 total;
  guint64 linear; /* of these, in Linear weight matrices (what int8/4-bit quantize) */
} ivl_param_counts;

/* Counts the parameters of every tensor ivl_model_tensor_specs(config) lists. */
ivl_param_counts ivl_model_count_params(const ivl_config *config);

typedef struct {
  guint64 weights;   /* the weights in that precision */
  guint64 kv_cache;  /* K and V of every LLM layer for context_length tokens */
  guint64 workspace; /* activations of the larger of the vision and LLM passes */
  guint64 overhead;  /* fixed runtime cost (CUDA context, cuBLAS workspace); 0 on CPU */
  guint64 total;     /* the sum */
} ivl_memory_estimate;

/* Bytes the model needs on a GPU (gpu TRUE) or in host memory, for context_length tokens
 * (0 = IVL_DEFAULT_CONTEXT_LENGTH). An estimate for choosing hardware; the formula is in
 * model-info.c. */
ivl_memory_estimate ivl_model_estimate_memory(const ivl_config *config, ivl_precision precision,
                                              gboolean gpu, int context_length);

/* What each part costs on a GPU, for splitting the model over several (gpu-placement.h). */
ivl_split_costs ivl_model_split_costs(const ivl_config *config, ivl_precision precision,
                                      int context_length);

/* Bytes of the regular files in dir and its subfolders (shards may sit in one; symbolic links
 * to files followed, as in a Hugging Face cache snapshot; linked folders not entered). 0 when
 * dir cannot be read. */
guint64 ivl_model_dir_disk_bytes(const char *dir);

G_END_DECLS

#endif /* IVL_MODEL_INFO_H */
