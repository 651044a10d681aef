/* tiny-model.h — writes small random InternVL3 models in the exact Hugging Face layout of
 * OpenGVLab/InternVL3-1B (config.json, safetensors, generation_config.json, tokenizer files),
 * or of its "-hf" twin OpenGVLab/InternVL3-1B-hf, for tests of every part that reads a model
 * directory. */
#ifndef IVL_TINY_MODEL_H
#define IVL_TINY_MODEL_H

#include <glib.h>

#include "config.h"
#include "model-info.h"
#include "safetensors.h"

G_BEGIN_DECLS

typedef struct {
  guint64 seed;    /* weights are a pure function of (seed, tensor name, index) */
  ivl_dtype dtype; /* IVL_DTYPE_BF16 (as the hub files) or IVL_DTYPE_F32 */
  int n_shards;    /* 0: one model.safetensors; N >= 1: N shards + index.json */
  /* Vision: FALSE = InternViT-300M layout (LayerNorm, qkv bias); TRUE = InternViT-6B layout
   * (RMSNorm, q/k norm, no qkv bias) as in 38B/78B. image 448, patch 14 always. */
  gboolean vision_6b;
  int vision_hidden, vision_layers, vision_heads, vision_ffn;
  /* Language model: Qwen2 (1B..78B) or InternLM2 layout (9B). */
  ivl_llm_arch llm_arch;
  int llm_hidden, llm_layers, llm_heads, llm_kv_heads, llm_ffn, llm_vocab;
  int max_position_embeddings;
  /* Every regular file of this directory is copied into the model (vocab.json, merges.txt,
   * tokenizer_config.json, …); NULL = write no tokenizer files. Not owned. */
  const char *tokenizer_dir;
  /* IVL_LAYOUT_HF writes the transformers-native "-hf" repo of the same model: its config,
   * the same weight values under its names (q/k/v split), tokenizer.json in place of
   * vocab.json + merges.txt, and the published chat template. */
  ivl_layout layout;
} ivl_tiny_model_params;

/* Small defaults: vision 64 hidden, 2 layers, 4 heads, ffn 128; LLM 16 hidden, 2 layers,
 * 4 heads, 2 kv heads, ffn 32, vocab 151674 (the real Qwen2.5 + InternVL3 vocabulary, so the
 * embedding dominates: about 10 MB in bf16); bf16, one file, seed 0, no tokenizer. */
ivl_tiny_model_params ivl_tiny_model_default_params(void);
/* The default params with every dimension of a published size (spec section 1; the 9B
 * vocabulary, the InternLM3 base's 128512, is UNCONFIRMED there). */
ivl_tiny_model_params ivl_tiny_model_params_for_size(const ivl_model_size *size);

/* The config.json text for params: every key of the InternVL3-1B file (spec section 3)
 * with params' dimensions, and for InternLM2 the InternLM3-8B LLM keys. Caller frees. */
char *ivl_tiny_model_config_json(const ivl_tiny_model_params *params);

/* Creates dir (and parents) and writes the model there. Files already there are replaced.
 * Errors: INVALID_ARGUMENT (dimensions config.json would refuse; the message says which),
 * IO, NOT_FOUND (tokenizer_dir missing). */
gboolean ivl_tiny_model_write(const char *dir, const ivl_tiny_model_params *params, GError **error);

G_END_DECLS

#endif /* IVL_TINY_MODEL_H */
