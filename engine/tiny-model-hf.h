/* tiny-model-hf.h — the non-weight files of a tiny "-hf" repo (internal to tiny-model.c). */
#ifndef IVL_TINY_MODEL_HF_H
#define IVL_TINY_MODEL_HF_H

#include <glib.h>

/* Writes into dir, from the tokenizer folder from (already copied there, less vocab.json,
 * merges.txt and tokenizer.model): tokenizer.json built from from's
 * vocab.json and merges.txt, or from its SentencePiece tokenizer.model (when it has them),
 * tokenizer_config.json with the -hf chat template, chat_template.json,
 * preprocessor_config.json and processor_config.json. */
gboolean ivl_tiny_model_write_hf_files(const char *from, const char *dir, GError **error);

#endif /* IVL_TINY_MODEL_HF_H */
