/* tokenizer-spm.c — the SentencePiece tokenizer of InternVL3-9B (tokenizer.model, InternLM3's
 * vocabulary), run by the SentencePiece library itself (engine/spm.cc).
 *
 * Mirrors the slow InternLM3Tokenizer of the Hub repo internlm/internlm3-8b-instruct
 * (tokenization_internlm3.py), which InternVL3-9B loads: _tokenize() is
 * sp_model.encode(text, out_type=str) on each stretch of text between added tokens, so the
 * model's own normalizer decides the prefix space (its dummy prefix, once per stretch);
 * convert_tokens_to_string() drops the ▁ of the first token when add_prefix_space (default
 * true) and decodes the other tokens with sp_model.decode(), special tokens verbatim between.
 * See docs/model-coverage.md for the sources.
 */
#include "tokenizer-impl.h"

#include "file-io.h"
#include "ivl.h"
#include "json-check.h"
#include "spm.h"

typedef struct {
  ivl_tokenizer_impl base;
  ivl_spm *spm;
  gboolean add_prefix_space;
} spm_tokenizer;

/* The library normalizes each stretch itself (its normalizer_spec); the text is kept as is. */
static char *spm_normalize(const ivl_tokenizer_impl *impl, const char *text, gsize len,
                           gsize *out_len)
{
  (void)impl;
  *out_len = len;
  return g_memdup2(text, len + 1);
}

static void spm_encode(const ivl_tokenizer_impl *impl, const char *text, gsize len, GArray *ids)
{
  ivl_spm_encode(((const spm_tokenizer *)impl)->spm, text, len, ids);
}

static const char *spm_id_to_token(const ivl_tokenizer_impl *impl, gint32 id)
{
  return ivl_spm_id_to_piece(((const spm_tokenizer *)impl)->spm, id);
}

static gint32 spm_token_to_id(const ivl_tokenizer_impl *impl, const char *token)
{
  return ivl_spm_piece_to_id(((const spm_tokenizer *)impl)->spm, token);
}

static gint32 spm_vocab_size(const ivl_tokenizer_impl *impl)
{
  return ivl_spm_get_piece_size(((const spm_tokenizer *)impl)->spm);
}

static ivl_piece_kind spm_piece_kind(const ivl_tokenizer_impl *impl, gint32 id)
{
  const spm_tokenizer *t = (const spm_tokenizer *)impl;
  if (id < 0 || id >= ivl_spm_get_piece_size(t->spm))
    return IVL_PIECE_OTHER;
  switch (ivl_spm_get_piece_kind(t->spm, id)) {
  case IVL_SPM_PIECE_NORMAL:
    return IVL_PIECE_TEXT;
  case IVL_SPM_PIECE_BYTE:
    return IVL_PIECE_BYTE;
  default:
    return IVL_PIECE_OTHER;
  }
}

static void decode_run(const void *spm, const char *const *pieces, gsize n, GString *out)
{
  ivl_spm_decode_pieces(spm, pieces, n, out);
}

static void spm_tokens_to_string(const ivl_tokenizer_impl *impl, const char *const *tokens,
                                 const gboolean *special, gsize n, GString *out)
{
  const spm_tokenizer *t = (const spm_tokenizer *)impl;
  ivl_tokens_to_string_in_runs(tokens, special, n, t->add_prefix_space, decode_run, t->spm, out);
}

static void spm_free(ivl_tokenizer_impl *impl)
{
  spm_tokenizer *t = (spm_tokenizer *)impl;
  if (!t)
    return;
  g_clear_pointer(&t->spm, ivl_spm_free);
  g_free(t);
}

static const ivl_tokenizer_vtable spm_vtable = {
    .kind = "internlm3-spm",
    .add_bos_default = TRUE,
    .normalize = spm_normalize,
    .encode = spm_encode,
    .id_to_token = spm_id_to_token,
    .token_to_id = spm_token_to_id,
    .vocab_size = spm_vocab_size,
    .piece_kind = spm_piece_kind,
    .tokens_to_string = spm_tokens_to_string,
    .free = spm_free,
};

ivl_tokenizer_impl *ivl_tokenizer_spm_load(const char *dir, JsonObject *config, GError **error)
{
  gboolean add_prefix_space = TRUE; /* InternLM3Tokenizer's default */
  if (!ivl_json_get_bool(config, "add_prefix_space", &add_prefix_space, "tokenizer_config.json",
                         error))
    return NULL;
  g_autofree char *path = g_build_filename(dir, "tokenizer.model", NULL);
  g_autofree char *data = NULL;
  gsize len = 0;
  if (!ivl_file_read(path, IVL_TOKENIZER_MAX_FILE_BYTES, &data, &len, error))
    return NULL;
  g_autofree char *message = NULL;
  ivl_spm *spm = ivl_spm_new_from_serialized(data, len, &message);
  if (!spm) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_CORRUPT, "%s: not a SentencePiece model (%s)", path,
                message);
    return NULL;
  }
  spm_tokenizer *t = g_new0(spm_tokenizer, 1);
  t->base.vt = &spm_vtable;
  t->spm = spm;
  t->add_prefix_space = add_prefix_space;
  return &t->base;
}
