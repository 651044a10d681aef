/* tokenizer-impl.h — what a tokenizer family provides to engine/tokenizer.c.
 *
 * tokenizer.c owns what all families share: finding the family, the added tokens (split out
 * before the family sees the text), decoding bytes to UTF-8, streaming. A family owns its
 * vocabulary, normalization and the encoding of plain text.
 */
#ifndef IVL_TOKENIZER_IMPL_H
#define IVL_TOKENIZER_IMPL_H

#include <glib.h>
#include <json-glib/json-glib.h>

typedef struct ivl_tokenizer_impl ivl_tokenizer_impl;

/* The largest tokenizer file read (Qwen2's vocab.json is 2.7 MB, merges.txt 1.7 MB). */
#define IVL_TOKENIZER_MAX_FILE_BYTES ((gsize)64 << 20)

/* What a family's piece is to decoding, for the stream of families with tokens_to_string. */
typedef enum {
  IVL_PIECE_TEXT,  /* text of its own, the same wherever it stands after the first piece */
  IVL_PIECE_BYTE,  /* one byte: a later piece may complete its character */
  IVL_PIECE_OTHER, /* control, unknown or unused: decodes to nothing or a stand-in */
} ivl_piece_kind;

typedef struct {
  const char *kind;
  /* add_bos_token when tokenizer_config.json does not say: the class's default (false for
   * Qwen2Tokenizer, true for InternLM3Tokenizer). */
  gboolean add_bos_default;
  /* Returns the normalized copy of valid UTF-8 text (len bytes, may hold NUL), setting
   * *out_len. Runs on the whole text before the added tokens are split out. */
  char *(*normalize)(const ivl_tokenizer_impl *impl, const char *text, gsize len, gsize *out_len);
  /* Appends the ids of normalized text that holds no added token. */
  void (*encode)(const ivl_tokenizer_impl *impl, const char *text, gsize len, GArray *ids);
  /* The bytes a vocabulary id stands for; NULL when the id is not in the vocabulary. Used
   * when tokens_to_string is NULL: decoding is then the bytes of every token concatenated. */
  const char *(*id_bytes)(const ivl_tokenizer_impl *impl, gint32 id, gsize *len);
  /* Optional: transformers' convert_tokens_to_string for the family's and the special added
   * tokens of one stretch (special[i]: tokens[i] is one of all_special_tokens); decoding then
   * follows PreTrainedTokenizer._decode (see tokenizer.c). */
  void (*tokens_to_string)(const ivl_tokenizer_impl *impl, const char *const *tokens,
                           const gboolean *special, gsize n, GString *out);
  /* With tokens_to_string: what a vocabulary id is to decoding (see below). */
  ivl_piece_kind (*piece_kind)(const ivl_tokenizer_impl *impl, gint32 id);
  const char *(*id_to_token)(const ivl_tokenizer_impl *impl, gint32 id);
  gint32 (*token_to_id)(const ivl_tokenizer_impl *impl, const char *token);
  gint32 (*vocab_size)(const ivl_tokenizer_impl *impl);
  void (*free)(ivl_tokenizer_impl *impl);
} ivl_tokenizer_vtable;

/* tokens_to_string of the SentencePiece families (InternLM3Tokenizer's
 * convert_tokens_to_string, spaces_for_interleaved_special_tokens false): the first token loses
 * a leading ▁ when strip_first, special tokens are written as they are, and the runs between
 * them go through decode_run(ctx, ...) (tokenizer.c). */
typedef void (*ivl_piece_run_decoder)(const void *ctx, const char *const *pieces, gsize n,
                                      GString *out);
void ivl_tokens_to_string_in_runs(const char *const *tokens, const gboolean *special, gsize n,
                                  gboolean strip_first, ivl_piece_run_decoder decode_run,
                                  const void *ctx, GString *out);

/* Every family's state begins with this. */
struct ivl_tokenizer_impl {
  const ivl_tokenizer_vtable *vt;
};

/* Qwen2 byte-level BPE from dir/vocab.json and dir/merges.txt, or else from the -hf repos'
 * dir/tokenizer.json (engine/tokenizer-bpe.c). */
ivl_tokenizer_impl *ivl_tokenizer_bpe_load(const char *dir, GError **error);
/* InternLM3's SentencePiece model from dir/tokenizer.model, with tokenizer_config.json's
 * add_prefix_space (config may be NULL) (engine/tokenizer-spm.c). */
ivl_tokenizer_impl *ivl_tokenizer_spm_load(const char *dir, JsonObject *config, GError **error);

/* The same 9B tokenizer as the -hf repo saves it: dir/tokenizer.json of transformers'
 * LlamaConverter (BPE with byte fallback) (engine/tokenizer-llama.c). */
ivl_tokenizer_impl *ivl_tokenizer_llama_load(const char *dir, GError **error);

#endif /* IVL_TOKENIZER_IMPL_H */
