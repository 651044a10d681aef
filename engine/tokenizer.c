/* tokenizer.c — the tokenizer families' common part: choosing the family, added tokens,
 * decoding and streaming. See tokenizer.h. */
#include "tokenizer.h"

#include "ivl.h"
#include "json-check.h"
#include "tokenizer-impl.h"
#include "utf8.h"

#include <json-glib/json-glib.h>
#include <string.h>

typedef struct {
  char *content;
  gsize len;
  gint32 id;
  gboolean special;
} added_token;

struct ivl_tokenizer {
  ivl_tokenizer_impl *impl;
  GPtrArray *added;              /* added_token*, owns them */
  GHashTable *added_by_text;     /* content -> added_token* */
  GHashTable *added_by_id;       /* GINT_TO_POINTER(id) -> added_token* */
  GPtrArray *by_first_byte[256]; /* candidates for a match, longest first; NULL when none */
  gint32 vocab_size;
  gint32 im_start, im_end, img_context, pad, eos, bos;
};

static void added_token_free(gpointer p)
{
  added_token *a = p;
  g_free(a->content);
  g_free(a);
}

/* ---- reading the JSON files -------------------------------------------------------------- */

/* Reads dir/name as a JSON object; a missing file gives NULL without an error. */
static JsonObject *read_json_object(const char *dir, const char *name, GError **error)
{
  g_autofree char *path = g_build_filename(dir, name, NULL);
  if (!g_file_test(path, G_FILE_TEST_EXISTS))
    return NULL;
  g_autoptr(JsonParser) parser =
      ivl_json_load_file(path, IVL_TOKENIZER_MAX_FILE_BYTES, path, error);
  if (!parser)
    return NULL;
  JsonNode *root = json_parser_get_root(parser);
  if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_CORRUPT, "%s: not a JSON object", path);
    return NULL;
  }
  return json_object_ref(json_node_get_object(root));
}

/* A special-token field is a string or an AddedToken object {"content": ...}. */
static const char *token_field(JsonObject *obj, const char *member)
{
  JsonNode *n = obj ? json_object_get_member(obj, member) : NULL;
  if (!n)
    return NULL;
  if (JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING)
    return json_node_get_string(n);
  if (JSON_NODE_HOLDS_OBJECT(n)) {
    JsonObject *o = json_node_get_object(n);
    JsonNode *c = json_object_get_member(o, "content");
    if (c && JSON_NODE_HOLDS_VALUE(c) && json_node_get_value_type(c) == G_TYPE_STRING)
      return json_node_get_string(c);
  }
  return NULL;
}

static void add_token(ivl_tokenizer *tok, const char *content, gint32 id, gboolean special)
{
  added_token *a = g_hash_table_lookup(tok->added_by_text, content);
  if (a) {
    a->special |= special;
    return;
  }
  a = g_new0(added_token, 1);
  a->content = g_strdup(content);
  a->len = strlen(content);
  a->id = id;
  a->special = special;
  g_ptr_array_add(tok->added, a);
  g_hash_table_insert(tok->added_by_text, a->content, a);
  g_hash_table_insert(tok->added_by_id, GINT_TO_POINTER(id), a);
  tok->vocab_size = MAX(tok->vocab_size, id + 1);
}

/* tokenizer_config.json's added_tokens_decoder: {"151643": {"content": ..., "special": ...}}. */
static gboolean read_added_decoder(ivl_tokenizer *tok, JsonObject *config, GError **error)
{
  JsonNode *dec_node = config ? json_object_get_member(config, "added_tokens_decoder") : NULL;
  if (!dec_node || JSON_NODE_HOLDS_NULL(dec_node))
    return TRUE;
  if (!JSON_NODE_HOLDS_OBJECT(dec_node)) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_CORRUPT,
                "tokenizer_config.json: \"added_tokens_decoder\" must be an object");
    return FALSE;
  }
  JsonObject *dec = json_node_get_object(dec_node);
  g_autoptr(GList) members = json_object_get_members(dec);
  for (GList *l = members; l; l = l->next) {
    char *end;
    gint64 id = g_ascii_strtoll(l->data, &end, 10);
    JsonNode *n = json_object_get_member(dec, l->data);
    JsonObject *entry = JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
    const char *content = entry ? token_field(entry, "content") : NULL;
    if (*end || id < 0 || id >= G_MAXINT32 / 2 || !content || !*content) {
      g_set_error(error, IVL_ERROR, IVL_ERROR_CORRUPT,
                  "tokenizer_config.json: bad added token '%s'", (const char *)l->data);
      return FALSE;
    }
    gboolean special = FALSE;
    if (!ivl_json_get_bool(entry, "special", &special, "tokenizer_config.json", error))
      return FALSE;
    add_token(tok, content, (gint32)id, special);
  }
  return TRUE;
}

/* added_tokens.json: {"<|im_end|>": 151645, ...}; special-ness comes from the other files. */
static gboolean read_added_tokens(ivl_tokenizer *tok, JsonObject *added, GError **error)
{
  g_autoptr(GList) members = added ? json_object_get_members(added) : NULL;
  for (GList *l = members; l; l = l->next) {
    JsonNode *n = json_object_get_member(added, l->data);
    if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_INT64 ||
        json_node_get_int(n) < 0 || json_node_get_int(n) >= G_MAXINT32 / 2 ||
        !*(const char *)l->data) {
      g_set_error(error, IVL_ERROR, IVL_ERROR_CORRUPT, "added_tokens.json: bad entry '%s'",
                  (const char *)l->data);
      return FALSE;
    }
    add_token(tok, l->data, (gint32)json_node_get_int(n), FALSE);
  }
  return TRUE;
}

/* The named special tokens (eos, pad, additional_special_tokens, ...) of a config or a
 * special_tokens_map.json; skip_special_tokens drops all of them. */
static void mark_special(ivl_tokenizer *tok, JsonObject *obj)
{
  static const char *const fields[] = {"bos_token", "eos_token", "unk_token", "sep_token",
                                       "pad_token", "cls_token", "mask_token"};
  if (!obj)
    return;
  for (gsize i = 0; i < G_N_ELEMENTS(fields); i++) {
    const char *content = token_field(obj, fields[i]);
    if (!content || !*content)
      continue;
    added_token *a = g_hash_table_lookup(tok->added_by_text, content);
    gint32 id = a ? -1 : tok->impl->vt->token_to_id(tok->impl, content);
    /* transformers adds every named special token to the added tokens, so "<s>" in a
     * question is the BOS piece, never spelled out by the family. */
    if (id >= 0)
      add_token(tok, content, id, TRUE);
    else if (a)
      a->special = TRUE;
  }
  JsonNode *n = json_object_get_member(obj, "additional_special_tokens");
  if (!n || !JSON_NODE_HOLDS_ARRAY(n))
    return;
  JsonArray *arr = json_node_get_array(n);
  for (guint i = 0; i < json_array_get_length(arr); i++) {
    JsonNode *e = json_array_get_element(arr, i);
    const char *s = NULL;
    if (JSON_NODE_HOLDS_VALUE(e) && json_node_get_value_type(e) == G_TYPE_STRING)
      s = json_node_get_string(e);
    else if (JSON_NODE_HOLDS_OBJECT(e))
      s = token_field(json_node_get_object(e), "content");
    added_token *a = s ? g_hash_table_lookup(tok->added_by_text, s) : NULL;
    if (a)
      a->special = TRUE;
  }
}

static gint compare_longer_first(gconstpointer a, gconstpointer b)
{
  gsize la = (*(added_token *const *)a)->len, lb = (*(added_token *const *)b)->len;
  return la < lb ? 1 : la > lb ? -1 : 0;
}

static void index_added(ivl_tokenizer *tok)
{
  for (guint i = 0; i < tok->added->len; i++) {
    added_token *a = g_ptr_array_index(tok->added, i);
    guint8 first = (guint8)a->content[0];
    if (!tok->by_first_byte[first])
      tok->by_first_byte[first] = g_ptr_array_new();
    g_ptr_array_add(tok->by_first_byte[first], a);
  }
  for (int b = 0; b < 256; b++) {
    if (tok->by_first_byte[b])
      g_ptr_array_sort(tok->by_first_byte[b], compare_longer_first);
  }
}

/* ---- choosing the family ----------------------------------------------------------------- */

static gboolean has_file(const char *dir, const char *name)
{
  g_autofree char *path = g_build_filename(dir, name, NULL);
  /* Any kind of file: the loader then says why a FIFO or a folder will not do. */
  return g_file_test(path, G_FILE_TEST_EXISTS);
}

static ivl_tokenizer_impl *load_family(const char *dir, JsonObject *config, GError **error)
{
  const char *cls = NULL;
  if (!ivl_json_get_string(config, "tokenizer_class", &cls, "tokenizer_config.json", error))
    return NULL;
  if (cls) {
    if (strcmp(cls, "Qwen2Tokenizer") == 0 || strcmp(cls, "Qwen2TokenizerFast") == 0)
      return ivl_tokenizer_bpe_load(dir, error);
    /* InternVL3-9B's class. InternLM2Tokenizer (InternVL2.5) encodes alike but decodes
     * otherwise (a space before special tokens, clean-up, its own prefix-space rule), so it
     * is not taken for this one. */
    if (strcmp(cls, "InternLM3Tokenizer") == 0)
      return ivl_tokenizer_spm_load(dir, config, error);
    /* InternVL3-9B-hf: the 9B's tokenizer converted by LlamaConverter into tokenizer.json. */
    if ((strcmp(cls, "LlamaTokenizerFast") == 0 || strcmp(cls, "LlamaTokenizer") == 0) &&
        has_file(dir, "tokenizer.json"))
      return ivl_tokenizer_llama_load(dir, error);
    g_set_error(error, IVL_ERROR, IVL_ERROR_UNSUPPORTED,
                "tokenizer class %s is not supported (ivl reads the Qwen2 BPE, the InternLM "
                "SentencePiece and the Llama tokenizer.json tokenizers)",
                cls);
    return NULL;
  }
  if ((has_file(dir, "vocab.json") && has_file(dir, "merges.txt")) ||
      has_file(dir, "tokenizer.json"))
    return ivl_tokenizer_bpe_load(dir, error);
  if (has_file(dir, "tokenizer.model"))
    return ivl_tokenizer_spm_load(dir, config, error);
  g_set_error(error, IVL_ERROR, IVL_ERROR_NOT_FOUND, "%s: no tokenizer files", dir);
  return NULL;
}

/* The id of a named special token, from tokenizer_config.json or else special_tokens_map.json. */
static gint32 config_token_id(const ivl_tokenizer *tok, JsonObject *config, JsonObject *map,
                              const char *field)
{
  const char *content = token_field(config, field);
  if (!content)
    content = token_field(map, field);
  return content ? ivl_tokenizer_token_to_id(tok, content) : -1;
}

ivl_tokenizer *ivl_tokenizer_load(const char *dir, GError **error)
{
  if (!g_file_test(dir, G_FILE_TEST_IS_DIR)) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_NOT_FOUND, "%s: no such directory", dir);
    return NULL;
  }
  GError *local = NULL;
  g_autoptr(JsonObject) config = read_json_object(dir, "tokenizer_config.json", &local);
  g_autoptr(JsonObject) added = local ? NULL : read_json_object(dir, "added_tokens.json", &local);
  g_autoptr(JsonObject) map =
      local ? NULL : read_json_object(dir, "special_tokens_map.json", &local);
  if (local) {
    g_propagate_error(error, local);
    return NULL;
  }
  ivl_tokenizer_impl *impl = load_family(dir, config, error);
  if (!impl)
    return NULL;
  g_autoptr(ivl_tokenizer) tok = g_new0(ivl_tokenizer, 1);
  tok->impl = impl;
  tok->vocab_size = impl->vt->vocab_size(impl);
  tok->added = g_ptr_array_new_with_free_func(added_token_free);
  tok->added_by_text = g_hash_table_new(g_str_hash, g_str_equal);
  tok->added_by_id = g_hash_table_new(g_direct_hash, g_direct_equal);
  if (!read_added_decoder(tok, config, error) || !read_added_tokens(tok, added, error))
    return NULL;
  mark_special(tok, config);
  mark_special(tok, map);
  index_added(tok);

  tok->im_start = ivl_tokenizer_token_to_id(tok, "<|im_start|>");
  tok->im_end = ivl_tokenizer_token_to_id(tok, "<|im_end|>");
  tok->img_context = ivl_tokenizer_token_to_id(tok, "<IMG_CONTEXT>");
  tok->pad = config_token_id(tok, config, map, "pad_token");
  tok->eos = config_token_id(tok, config, map, "eos_token");
  gboolean add_bos = impl->vt->add_bos_default;
  if (!ivl_json_get_bool(config, "add_bos_token", &add_bos, "tokenizer_config.json", error))
    return NULL;
  tok->bos = add_bos ? config_token_id(tok, config, map, "bos_token") : -1;
  /* InternLM3Tokenizer's bos_token defaults to <s> when no file names one. */
  if (add_bos && tok->bos < 0 && !token_field(config, "bos_token") &&
      !token_field(map, "bos_token") && impl->vt->add_bos_default)
    tok->bos = ivl_tokenizer_token_to_id(tok, "<s>");
  return g_steal_pointer(&tok);
}

void ivl_tokenizer_free(ivl_tokenizer *tok)
{
  if (!tok)
    return;
  if (tok->impl)
    tok->impl->vt->free(tok->impl);
  for (int b = 0; b < 256; b++)
    g_clear_pointer(&tok->by_first_byte[b], g_ptr_array_unref);
  g_clear_pointer(&tok->added_by_text, g_hash_table_unref);
  g_clear_pointer(&tok->added_by_id, g_hash_table_unref);
  g_clear_pointer(&tok->added, g_ptr_array_unref);
  g_free(tok);
}

/* ---- encoding ---------------------------------------------------------------------------- */

static const added_token *match_added(const ivl_tokenizer *tok, const char *s, gsize len)
{
  GPtrArray *cands = tok->by_first_byte[(guint8)s[0]];
  for (guint i = 0; cands && i < cands->len; i++) {
    const added_token *a = g_ptr_array_index(cands, i);
    if (a->len <= len && memcmp(a->content, s, a->len) == 0)
      return a;
  }
  return NULL;
}

GArray *ivl_tokenizer_encode(const ivl_tokenizer *tok, const char *text, gssize len)
{
  GArray *ids = g_array_new(FALSE, FALSE, sizeof(gint32));
  gsize n = len < 0 ? strlen(text) : (gsize)len;
  g_autoptr(GString) valid = g_string_sized_new(n);
  ivl_utf8_append_replacing(valid, text, n, TRUE);
  const ivl_tokenizer_vtable *vt = tok->impl->vt;
  gsize norm_len;
  g_autofree char *norm = vt->normalize(tok->impl, valid->str, valid->len, &norm_len);

  /* Leftmost, then longest, added token first; the family encodes the text between. */
  gsize seg = 0;
  for (gsize pos = 0; pos < norm_len;) {
    const added_token *a = match_added(tok, norm + pos, norm_len - pos);
    if (!a) {
      pos++;
      continue;
    }
    if (pos > seg)
      vt->encode(tok->impl, norm + seg, pos - seg, ids);
    g_array_append_val(ids, a->id);
    pos += a->len;
    seg = pos;
  }
  if (norm_len > seg)
    vt->encode(tok->impl, norm + seg, norm_len - seg, ids);
  return ids;
}

/* ---- decoding ---------------------------------------------------------------------------- */

/* Added tokens stand for their text; the family's tokens for their bytes. */
static void append_id_bytes(const ivl_tokenizer *tok, gint32 id, gboolean skip_special,
                            GString *bytes)
{
  const added_token *a = g_hash_table_lookup(tok->added_by_id, GINT_TO_POINTER(id));
  if (a) {
    if (!(skip_special && a->special))
      g_string_append_len(bytes, a->content, a->len);
    return;
  }
  gsize len;
  const char *b = tok->impl->vt->id_bytes(tok->impl, id, &len);
  if (b)
    g_string_append_len(bytes, b, len);
}

/* transformers' PreTrainedTokenizer._decode, for a family with tokens_to_string (the slow
 * SentencePiece tokenizers): special tokens dropped when asked; the "legacy" added tokens
 * (those not special, and the special ones past the family's vocabulary) stand alone, the
 * tokens between them go through convert_tokens_to_string (kept when not empty); the parts
 * are joined by a space (spaces_between_special_tokens, true by default). */
static void decode_by_tokens(const ivl_tokenizer *tok, const gint32 *ids, gsize n_ids,
                             gboolean skip_special, GString *out)
{
  const ivl_tokenizer_vtable *vt = tok->impl->vt;
  gint32 n_family = vt->vocab_size(tok->impl);
  g_autofree const char **tokens = g_new(const char *, n_ids + 1);
  g_autofree gboolean *special = g_new(gboolean, n_ids + 1);
  gsize n = 0;
  gboolean first_part = TRUE;
  g_autoptr(GString) part = g_string_new(NULL);
  for (gsize i = 0; i <= n_ids; i++) {
    const added_token *a =
        i < n_ids ? g_hash_table_lookup(tok->added_by_id, GINT_TO_POINTER(ids[i])) : NULL;
    if (i < n_ids && !a) {
      /* An id that names no token is "" in transformers, which decodes to nothing. */
      const char *t = vt->id_to_token(tok->impl, ids[i]);
      if (t) {
        tokens[n] = t;
        special[n++] = FALSE;
      }
      continue;
    }
    if (a && skip_special && a->special)
      continue;
    if (a && a->special && a->id < n_family) {
      tokens[n] = a->content;
      special[n++] = TRUE;
      continue;
    }
    /* A legacy added token, or the end: the stretch before it becomes one part. */
    g_string_truncate(part, 0);
    vt->tokens_to_string(tok->impl, tokens, special, n, part);
    n = 0;
    if (part->len > 0 || a) {
      if (part->len > 0) {
        if (!first_part)
          g_string_append_c(out, ' ');
        g_string_append_len(out, part->str, (gssize)part->len);
        first_part = FALSE;
      }
      if (a) {
        if (!first_part)
          g_string_append_c(out, ' ');
        g_string_append_len(out, a->content, (gssize)a->len);
        first_part = FALSE;
      }
    }
  }
}

char *ivl_tokenizer_decode(const ivl_tokenizer *tok, const gint32 *ids, gsize n_ids,
                           gboolean skip_special)
{
  g_autoptr(GString) bytes = g_string_new(NULL);
  if (tok->impl->vt->tokens_to_string) {
    decode_by_tokens(tok, ids, n_ids, skip_special, bytes);
  } else {
    for (gsize i = 0; i < n_ids; i++)
      append_id_bytes(tok, ids[i], skip_special, bytes);
  }
  GString *out = g_string_sized_new(bytes->len);
  ivl_utf8_append_replacing(out, bytes->str, bytes->len, TRUE);
  return g_string_free(out, FALSE);
}

/* ---- lookups ----------------------------------------------------------------------------- */

const char *ivl_tokenizer_get_kind(const ivl_tokenizer *tok)
{
  return tok->impl->vt->kind;
}

gint32 ivl_tokenizer_get_vocab_size(const ivl_tokenizer *tok)
{
  return tok->vocab_size;
}

gint32 ivl_tokenizer_token_to_id(const ivl_tokenizer *tok, const char *token)
{
  const added_token *a = g_hash_table_lookup(tok->added_by_text, token);
  return a ? a->id : tok->impl->vt->token_to_id(tok->impl, token);
}

const char *ivl_tokenizer_id_to_token(const ivl_tokenizer *tok, gint32 id)
{
  const added_token *a = g_hash_table_lookup(tok->added_by_id, GINT_TO_POINTER(id));
  return a ? a->content : tok->impl->vt->id_to_token(tok->impl, id);
}

gboolean ivl_tokenizer_is_special(const ivl_tokenizer *tok, gint32 id)
{
  const added_token *a = g_hash_table_lookup(tok->added_by_id, GINT_TO_POINTER(id));
  return a && a->special;
}

gint32 ivl_tokenizer_get_im_start_id(const ivl_tokenizer *tok)
{
  return tok->im_start;
}
gint32 ivl_tokenizer_get_im_end_id(const ivl_tokenizer *tok)
{
  return tok->im_end;
}
gint32 ivl_tokenizer_get_img_context_id(const ivl_tokenizer *tok)
{
  return tok->img_context;
}
gint32 ivl_tokenizer_get_pad_id(const ivl_tokenizer *tok)
{
  return tok->pad;
}
gint32 ivl_tokenizer_get_eos_id(const ivl_tokenizer *tok)
{
  return tok->eos;
}
gint32 ivl_tokenizer_get_bos_id(const ivl_tokenizer *tok)
{
  return tok->bos;
}

/* ---- streaming --------------------------------------------------------------------------- */

struct ivl_token_stream {
  const ivl_tokenizer *tok;
  gboolean skip_special;
  GString *held; /* bytes of an unfinished character */
  /* Families with tokens_to_string: the ids whose decoding is still open (from the start, or
   * from an anchor piece on) and how many bytes of that decoding went out. */
  GArray *ids;
  gsize emitted;
  gboolean byte_run; /* the last id that counts ended in a byte piece */
};

ivl_token_stream *ivl_token_stream_new(const ivl_tokenizer *tok, gboolean skip_special)
{
  ivl_token_stream *s = g_new0(ivl_token_stream, 1);
  s->tok = tok;
  s->skip_special = skip_special;
  s->held = g_string_new(NULL);
  s->ids = g_array_new(FALSE, FALSE, sizeof(gint32));
  return s;
}

void ivl_token_stream_free(ivl_token_stream *stream)
{
  if (!stream)
    return;
  g_string_free(stream->held, TRUE);
  g_array_unref(stream->ids);
  g_free(stream);
}

static char *decode_window(const ivl_token_stream *stream)
{
  return ivl_tokenizer_decode(stream->tok, (const gint32 *)(void *)stream->ids->data,
                              stream->ids->len, stream->skip_special);
}

/* Where a piece's text depends on its neighbours (the prefix space of a stretch's first
 * piece, a byte run's characters, the spaces around legacy added tokens), the stream decodes
 * the open ids again and sends what is new, holding back U+FFFD at the end while a byte run
 * is open (a later byte piece may complete the character). Once everything is out and the
 * last id is a text piece that decodes to something alone, it becomes the anchor: what
 * follows decodes after it exactly as after all that came before (the first piece, and so
 * the prefix-space rules, are behind; a byte run cannot span it), so the ids before it are
 * dropped and each token costs the decoding of a few pieces. */
static char *feed_by_tokens(ivl_token_stream *stream, gint32 id)
{
  const ivl_tokenizer *tok = stream->tok;
  const ivl_tokenizer_vtable *vt = tok->impl->vt;
  g_array_append_val(stream->ids, id);
  g_autofree char *text = decode_window(stream);
  gsize full = strlen(text), len = full;
  const added_token *a = g_hash_table_lookup(tok->added_by_id, GINT_TO_POINTER(id));
  ivl_piece_kind kind = a ? IVL_PIECE_OTHER : vt->piece_kind(tok->impl, id);
  /* A skipped special token or an id of nothing leaves a byte run open; anything else that
   * is decoded ends it. */
  if (a ? !(stream->skip_special && a->special) : vt->id_to_token(tok->impl, id) != NULL)
    stream->byte_run = kind == IVL_PIECE_BYTE;
  if (stream->byte_run) {
    static const char replacement[] = "\xef\xbf\xbd";
    while (len >= 3 && memcmp(text + len - 3, replacement, 3) == 0)
      len -= 3;
  }
  char *out = g_strndup(text + MIN(stream->emitted, len), len - MIN(stream->emitted, len));
  stream->emitted = MAX(stream->emitted, len);
  if (kind == IVL_PIECE_TEXT && len == full && full > 0 && stream->ids->len > 1) {
    g_autofree char *alone = ivl_tokenizer_decode(tok, &id, 1, stream->skip_special);
    if (*alone) {
      g_array_set_size(stream->ids, 1);
      g_array_index(stream->ids, gint32, 0) = id;
      stream->emitted = strlen(alone);
    }
  }
  return out;
}

char *ivl_token_stream_feed(ivl_token_stream *stream, gint32 id)
{
  if (stream->tok->impl->vt->tokens_to_string)
    return feed_by_tokens(stream, id);
  append_id_bytes(stream->tok, id, stream->skip_special, stream->held);
  GString *out = g_string_new(NULL);
  gsize used = ivl_utf8_append_replacing(out, stream->held->str, stream->held->len, FALSE);
  g_string_erase(stream->held, 0, (gssize)used);
  return g_string_free(out, FALSE);
}

char *ivl_token_stream_flush(ivl_token_stream *stream)
{
  if (stream->tok->impl->vt->tokens_to_string) {
    g_autofree char *text = decode_window(stream);
    gsize len = strlen(text);
    char *out = g_strdup(len > stream->emitted ? text + stream->emitted : "");
    g_array_set_size(stream->ids, 0);
    stream->emitted = 0;
    stream->byte_run = FALSE;
    return out;
  }
  GString *out = g_string_new(NULL);
  ivl_utf8_append_replacing(out, stream->held->str, stream->held->len, TRUE);
  g_string_truncate(stream->held, 0);
  return g_string_free(out, FALSE);
}

void ivl_tokens_to_string_in_runs(const char *const *tokens, const gboolean *special, gsize n,
                                  gboolean strip_first, ivl_piece_run_decoder decode_run,
                                  const void *ctx, GString *out)
{
  static const char underline[] = "\xe2\x96\x81"; /* ▁ U+2581 */
  if (n == 0)
    return;
  g_autofree const char **run = g_new(const char *, n);
  gsize n_run = 0;
  for (gsize i = 0; i < n; i++) {
    const char *token = tokens[i];
    if (i == 0 && strip_first && g_str_has_prefix(token, underline))
      token += strlen(underline);
    if (special[i]) {
      decode_run(ctx, run, n_run, out);
      n_run = 0;
      g_string_append(out, token);
    } else {
      run[n_run++] = token;
    }
  }
  decode_run(ctx, run, n_run, out);
}
