/* tokenizer.h — text <-> token ids for the language model of an InternVL3 checkpoint.
 *
 * One opaque type for every tokenizer family; the family is chosen at load time from
 * tokenizer_config.json (tokenizer_class) and the files present: the Qwen2 byte-level BPE
 * (1B, 2B, 8B, 14B, 38B, 78B), InternLM3's SentencePiece model (9B, tokenizer.model, run
 * by the SentencePiece library) and the same model as 9B-hf saves it (tokenizer.json, a BPE
 * with byte fallback, giving the same ids and text).
 *
 * Encoding follows the Hugging Face "slow" tokenizers (the README loads them with
 * use_fast=False): added tokens matched literally (leftmost, longest) and never split; for
 * Qwen2Tokenizer NFC first, then the pre-tokenizer regex and byte-level BPE by merge rank on
 * the text between them; for InternLM3Tokenizer sp_model.encode() on each stretch between
 * them. Encoding adds no BOS; ivl_tokenizer_get_bos_id() says whether the family wants one
 * (the 9B does: add_bos_token) and the prompt code puts it first.
 *
 * Threads: a loaded tokenizer is read-only except for an internal, locked cache, so one
 * tokenizer may be used from several threads at once.
 */
#ifndef IVL_TOKENIZER_H
#define IVL_TOKENIZER_H

#include <glib.h>

G_BEGIN_DECLS

typedef struct ivl_tokenizer ivl_tokenizer;

/* Loads the tokenizer files of a model directory. NOT_FOUND when the files are missing,
 * CORRUPT when they are malformed, UNSUPPORTED for a tokenizer family ivl does not have. */
ivl_tokenizer *ivl_tokenizer_load(const char *dir, GError **error);
void ivl_tokenizer_free(ivl_tokenizer *tok);

/* "qwen2-bpe", "internlm3-spm" or "llama-bpe" (the 9B-hf's tokenizer.json); owned by the
 * tokenizer. */
const char *ivl_tokenizer_get_kind(const ivl_tokenizer *tok);

/* Encodes len bytes of text (len < 0: NUL-terminated). Invalid UTF-8 is first replaced by
 * U+FFFD as Python's bytes.decode("utf-8", "replace") does (one U+FFFD per maximal invalid
 * subpart); encoding never fails. Returns a new GArray of gint32. */
GArray *ivl_tokenizer_encode(const ivl_tokenizer *tok, const char *text, gssize len);

/* Decodes ids to UTF-8 (caller frees) as the slow tokenizer's decode() does. Qwen2: token
 * bytes concatenated, invalid UTF-8 replaced by U+FFFD (errors="replace"). InternLM3: pieces
 * through the SentencePiece library (▁ as space, the first piece's prefix space dropped, a
 * byte that starts no character as U+FFFD), non-special added tokens set apart by spaces.
 * skip_special drops the special tokens. Ids that name no token are skipped. The result is a
 * C string: text after a decoded NUL byte is hidden. */
char *ivl_tokenizer_decode(const ivl_tokenizer *tok, const gint32 *ids, gsize n_ids,
                           gboolean skip_special);

/* Number of ids (vocabulary plus added tokens: 151674 for InternVL3's Qwen sizes). */
gint32 ivl_tokenizer_get_vocab_size(const ivl_tokenizer *tok);
/* The id of a token in its vocabulary form ("Ġhello", "<|im_end|>"); -1 when absent. */
gint32 ivl_tokenizer_token_to_id(const ivl_tokenizer *tok, const char *token);
/* The vocabulary form of an id (owned by the tokenizer); NULL when the id names no token. */
const char *ivl_tokenizer_id_to_token(const ivl_tokenizer *tok, gint32 id);
/* TRUE for the special added tokens (those skip_special drops). */
gboolean ivl_tokenizer_is_special(const ivl_tokenizer *tok, gint32 id);

/* Ids of the tokens the chat code needs; -1 when the tokenizer has none. */
gint32 ivl_tokenizer_get_im_start_id(const ivl_tokenizer *tok);    /* <|im_start|> */
gint32 ivl_tokenizer_get_im_end_id(const ivl_tokenizer *tok);      /* <|im_end|>: chat's eos */
gint32 ivl_tokenizer_get_img_context_id(const ivl_tokenizer *tok); /* <IMG_CONTEXT> */
gint32 ivl_tokenizer_get_pad_id(const ivl_tokenizer *tok);         /* pad_token */
gint32 ivl_tokenizer_get_eos_id(const ivl_tokenizer *tok);         /* eos_token of the config */
gint32 ivl_tokenizer_get_bos_id(const ivl_tokenizer *tok);         /* -1: no BOS is prepended */

/* Incremental decoding for streamed generation: text comes out only as whole UTF-8
 * characters; a token that ends inside a multi-byte character is held until it completes.
 * The concatenation of every feed plus the flush equals ivl_tokenizer_decode() of all ids. */
typedef struct ivl_token_stream ivl_token_stream;

/* The stream borrows tok, which must outlive it. */
ivl_token_stream *ivl_token_stream_new(const ivl_tokenizer *tok, gboolean skip_special);
void ivl_token_stream_free(ivl_token_stream *stream);
/* Returns the text that id completes ("" when none yet); caller frees. */
char *ivl_token_stream_feed(ivl_token_stream *stream, gint32 id);
/* Returns what is still held (an unfinished character becomes U+FFFD) and resets. */
char *ivl_token_stream_flush(ivl_token_stream *stream);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(ivl_tokenizer, ivl_tokenizer_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ivl_token_stream, ivl_token_stream_free)

G_END_DECLS

#endif /* IVL_TOKENIZER_H */
