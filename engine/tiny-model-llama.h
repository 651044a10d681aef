/* tiny-model-llama.h — the 9B-hf's tokenizer.json for a tiny "-hf" repo (internal to
 * tiny-model-hf.c). */
#ifndef IVL_TINY_MODEL_LLAMA_H
#define IVL_TINY_MODEL_LLAMA_H

#include <glib.h>
#include <json-glib/json-glib.h>

/* Writes dir/tokenizer.json as transformers' LlamaConverter makes it of the SentencePiece
 * model from/tokenizer.model (legacy form), with added_tokens (taken) as its added tokens. */
gboolean ivl_tiny_model_write_llama_tokenizer(const char *from, const char *dir,
                                              JsonArray *added_tokens, GError **error);

#endif /* IVL_TINY_MODEL_LLAMA_H */
