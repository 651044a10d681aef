/* tokenizer-llama.c — InternVL3-9B-hf's tokenizer.json: transformers' LlamaConverter output
 * (a BPE with byte fallback over the SentencePiece pieces), read as the same 9B tokenizer.
 *
 * Encoding is what the tokenizers library does with that file (docs/model-coverage.md has
 * the sources): on each stretch between added tokens, the normalizer Prepend("▁") +
 * Replace(" ", "▁") (or a Metaspace pre-tokenizer with prepend_scheme "always", the same
 * text), then the whole stretch is one word: its characters are the first symbols, a
 * character not in the vocabulary becomes its bytes' <0xNN> pieces (byte_fallback), and the
 * adjacent pair of lowest merge rank is merged, leftmost first among equals, until no pair
 * has a merge (tokenizers' Word::merge_all). Decoding is not the fast decoder's: it follows
 * the 9B's Python path (the slow tokenizer's rules, as tokenizer-spm.c, with SentencePiece's
 * piece decoding redone here), so the -hf twin decodes exactly as the original.
 */
#include "tokenizer-impl.h"

#include "ivl.h"
#include "json-check.h"

#include <string.h>

#define SPIECE_UNDERLINE "\xe2\x96\x81" /* ▁ U+2581 */
#define UNK_SURFACE " \xe2\x81\x87 "    /* SentencePiece's " ⁇ " for <unk> */

typedef struct {
  gint64 key; /* left id << 32 | right id */
  guint32 rank;
  gint32 merged;
} merge;

typedef struct {
  ivl_tokenizer_impl base;
  gint32 n_vocab;
  char **tokens;             /* [n_vocab] NULL for holes */
  GHashTable *ids;           /* token -> GINT_TO_POINTER(id + 1) */
  merge *merges;             /* owns the keys of by_pair */
  GHashTable *by_pair;       /* &merge.key -> merge* */
  gint32 byte_ids[256];      /* <0xNN> */
  gboolean *control;         /* [n_vocab] special added tokens of tokenizer.json: decode to "" */
  gint32 unk;                /* model.unk_token's id, -1 when none */
  gboolean prepend;          /* ▁ before each stretch */
  gboolean add_prefix_space; /* decoding drops the first token's ▁ */
} llama;

static gint32 llama_token_to_id(const ivl_tokenizer_impl *impl, const char *token)
{
  gpointer v = g_hash_table_lookup(((const llama *)impl)->ids, token);
  return v ? GPOINTER_TO_INT(v) - 1 : -1;
}

static const char *llama_id_to_token(const ivl_tokenizer_impl *impl, gint32 id)
{
  const llama *t = (const llama *)impl;
  return id >= 0 && id < t->n_vocab ? t->tokens[id] : NULL;
}

static gint32 llama_vocab_size(const ivl_tokenizer_impl *impl)
{
  return ((const llama *)impl)->n_vocab;
}

static gint32 byte_piece_value(const llama *t, gint32 id)
{
  const char *s = llama_id_to_token(&t->base, id);
  if (!s || strlen(s) != 6 || !g_str_has_prefix(s, "<0x") || s[5] != '>' ||
      !g_ascii_isxdigit(s[3]) || !g_ascii_isxdigit(s[4]))
    return -1;
  gint32 b = g_ascii_xdigit_value(s[3]) * 16 + g_ascii_xdigit_value(s[4]);
  return t->byte_ids[b] == id ? b : -1;
}

static ivl_piece_kind llama_piece_kind(const ivl_tokenizer_impl *impl, gint32 id)
{
  const llama *t = (const llama *)impl;
  if (id < 0 || id >= t->n_vocab || !t->tokens[id] || t->control[id] || id == t->unk)
    return IVL_PIECE_OTHER;
  return byte_piece_value(t, id) >= 0 ? IVL_PIECE_BYTE : IVL_PIECE_TEXT;
}

/* ---- encoding ---------------------------------------------------------------------------- */

static char *llama_normalize(const ivl_tokenizer_impl *impl, const char *text, gsize len,
                             gsize *out_len)
{
  (void)impl;
  *out_len = len; /* the normalizer runs per stretch, in llama_encode */
  return g_memdup2(text, len + 1);
}

static const merge *find_merge(const llama *t, gint32 a, gint32 b)
{
  gint64 key = ((gint64)a << 32) | (guint32)b;
  return g_hash_table_lookup(t->by_pair, &key);
}

/* Queue entries order by rank, then position (tokenizers' Merge ordering). */
typedef struct {
  guint32 rank;
  gint32 pos;
  gint32 merged;
} queued;

static gboolean queued_before(const queued *x, const queued *y)
{
  return x->rank != y->rank ? x->rank < y->rank : x->pos < y->pos;
}

static void heap_push(GArray *h, queued q)
{
  g_array_append_val(h, q);
  queued *a = (queued *)(void *)h->data;
  for (guint i = h->len - 1; i > 0 && queued_before(&a[i], &a[(i - 1) / 2]); i = (i - 1) / 2) {
    queued tmp = a[i];
    a[i] = a[(i - 1) / 2];
    a[(i - 1) / 2] = tmp;
  }
}

static queued heap_pop(GArray *h)
{
  queued *a = (queued *)(void *)h->data;
  queued top = a[0];
  a[0] = a[h->len - 1];
  g_array_set_size(h, h->len - 1);
  for (guint i = 0;;) {
    guint c = 2 * i + 1;
    if (c >= h->len)
      break;
    if (c + 1 < h->len && queued_before(&a[c + 1], &a[c]))
      c++;
    if (!queued_before(&a[c], &a[i]))
      break;
    queued tmp = a[i];
    a[i] = a[c];
    a[c] = tmp;
    i = c;
  }
  return top;
}

static void queue_pair(const llama *t, GArray *heap, const gint32 *id, const gint32 *next,
                       gint32 pos)
{
  if (pos < 0 || next[pos] < 0)
    return;
  const merge *m = find_merge(t, id[pos], id[next[pos]]);
  if (m)
    heap_push(heap, (queued){m->rank, pos, m->merged});
}

/* The first symbols of a word: its characters, or their bytes' pieces when a character is
 * not in the vocabulary; <unk> (consecutive ones fused) when a byte piece is missing too. */
static void initial_symbols(const llama *t, const char *s, gsize len, GArray *ids)
{
  char ch[8];
  for (const char *p = s; p < s + len;) {
    const char *q = g_utf8_next_char(p);
    gsize n = (gsize)(q - p);
    memcpy(ch, p, n);
    ch[n] = '\0';
    gint32 id = llama_token_to_id(&t->base, ch);
    if (id >= 0) {
      g_array_append_val(ids, id);
    } else {
      gboolean all = TRUE;
      for (gsize i = 0; i < n; i++)
        all &= t->byte_ids[(guint8)p[i]] >= 0;
      for (gsize i = 0; all && i < n; i++)
        g_array_append_val(ids, t->byte_ids[(guint8)p[i]]);
      gboolean fused = ids->len > 0 && g_array_index(ids, gint32, ids->len - 1) == t->unk;
      if (!all && t->unk >= 0 && !fused)
        g_array_append_val(ids, t->unk);
    }
    p = q;
  }
}

static void llama_encode(const ivl_tokenizer_impl *impl, const char *text, gsize len, GArray *out)
{
  const llama *t = (const llama *)impl;
  g_autoptr(GString) word = g_string_sized_new(len + 8);
  if (t->prepend)
    g_string_append(word, SPIECE_UNDERLINE);
  for (gsize i = 0; i < len; i++) {
    if (text[i] == ' ')
      g_string_append(word, SPIECE_UNDERLINE);
    else
      g_string_append_c(word, text[i]);
  }
  g_autoptr(GArray) sym = g_array_new(FALSE, FALSE, sizeof(gint32));
  initial_symbols(t, word->str, word->len, sym);
  gint32 n = (gint32)sym->len;
  gint32 *id = (gint32 *)(void *)sym->data;
  g_autofree gint32 *next = g_new(gint32, n + 1);
  g_autofree gint32 *prev = g_new(gint32, n + 1);
  for (gint32 i = 0; i < n; i++) {
    next[i] = i + 1 < n ? i + 1 : -1;
    prev[i] = i - 1;
  }
  g_autoptr(GArray) heap = g_array_new(FALSE, FALSE, sizeof(queued));
  for (gint32 i = 0; i < n; i++)
    queue_pair(t, heap, id, next, i);
  while (heap->len > 0) {
    queued q = heap_pop(heap);
    /* Stale entries: the symbol was merged into its left, or its pair changed. */
    if (id[q.pos] < 0 || next[q.pos] < 0)
      continue;
    gint32 right = next[q.pos];
    const merge *m = find_merge(t, id[q.pos], id[right]);
    if (!m || m->merged != q.merged)
      continue;
    id[q.pos] = q.merged;
    id[right] = -1;
    next[q.pos] = next[right];
    if (next[q.pos] >= 0)
      prev[next[q.pos]] = q.pos;
    queue_pair(t, heap, id, next, prev[q.pos]);
    queue_pair(t, heap, id, next, q.pos);
  }
  for (gint32 i = 0; i < n; i++) {
    if (id[i] >= 0)
      g_array_append_val(out, id[i]);
  }
}

/* ---- decoding ---------------------------------------------------------------------------- */

/* SentencePiece's byte run: each valid character as it is, each byte that starts none as
 * U+FFFD. */
static void flush_bytes(GString *bytes, GString *out)
{
  for (gsize i = 0; i < bytes->len;) {
    if ((guint8)bytes->str[i] < 0x80) { /* NUL too, which GLib's validation refuses */
      g_string_append_c(out, bytes->str[i++]);
      continue;
    }
    gunichar c = g_utf8_get_char_validated(bytes->str + i, (gssize)(bytes->len - i));
    if (c == (gunichar)-1 || c == (gunichar)-2) {
      g_string_append(out, "\xef\xbf\xbd");
      i++;
    } else {
      gsize n = (gsize)g_unichar_to_utf8(c, NULL);
      g_string_append_len(out, bytes->str + i, (gssize)n);
      i += n;
    }
  }
  g_string_truncate(bytes, 0);
}

/* SentencePieceProcessor.Decode(pieces) on this vocabulary (Debian's 0.1.97, checked with
 * python3-sentencepiece): a piece not in it is written as it is; a control piece is nothing,
 * <unk> is " ⁇ "; byte pieces form characters; the first text piece loses its leading ▁ (the
 * dummy prefix) when nothing is written before it, and every other ▁ is a space. */
static void decode_pieces(const llama *t, const char *const *pieces, gsize n, GString *out)
{
  g_autoptr(GString) text = g_string_new(NULL);
  g_autoptr(GString) bytes = g_string_new(NULL);
  gboolean text_seen = FALSE; /* a text piece came: no later piece is the first */
  for (gsize i = 0; i < n; i++) {
    gint32 id = llama_token_to_id(&t->base, pieces[i]);
    gint32 b = id >= 0 ? byte_piece_value(t, id) : -1;
    if (b >= 0) {
      g_string_append_c(bytes, (char)b);
      continue;
    }
    flush_bytes(bytes, text);
    if (id < 0) {
      g_string_append(text, pieces[i]);
      continue;
    }
    if (t->control[id])
      continue;
    if (id == t->unk) {
      g_string_append(text, UNK_SURFACE);
      continue;
    }
    const char *p = pieces[i];
    if (!text_seen && text->len == 0 && t->prepend && g_str_has_prefix(p, SPIECE_UNDERLINE))
      p += strlen(SPIECE_UNDERLINE);
    text_seen = TRUE;
    g_auto(GStrv) parts = g_strsplit(p, SPIECE_UNDERLINE, -1);
    g_autofree char *spaced = g_strjoinv(" ", parts);
    g_string_append(text, spaced);
  }
  flush_bytes(bytes, text);
  g_string_append_len(out, text->str, (gssize)text->len);
}

static void decode_run(const void *t, const char *const *pieces, gsize n, GString *out)
{
  decode_pieces(t, pieces, n, out);
}

/* As tokenizer-spm.c's. */
static void llama_tokens_to_string(const ivl_tokenizer_impl *impl, const char *const *tokens,
                                   const gboolean *special, gsize n, GString *out)
{
  const llama *t = (const llama *)impl;
  ivl_tokens_to_string_in_runs(tokens, special, n, t->add_prefix_space, decode_run, t, out);
}

static void llama_free(ivl_tokenizer_impl *impl)
{
  llama *t = (llama *)impl;
  if (!t)
    return;
  g_clear_pointer(&t->ids, g_hash_table_unref);
  g_clear_pointer(&t->by_pair, g_hash_table_unref);
  if (t->tokens) {
    for (gint32 i = 0; i < t->n_vocab; i++)
      g_free(t->tokens[i]);
  }
  g_free(t->tokens);
  g_free(t->merges);
  g_free(t->control);
  g_free(t);
}

static const ivl_tokenizer_vtable llama_vtable = {
    .kind = "llama-bpe",
    .add_bos_default = TRUE, /* LlamaTokenizerFast's add_bos_token */
    .normalize = llama_normalize,
    .encode = llama_encode,
    .id_to_token = llama_id_to_token,
    .token_to_id = llama_token_to_id,
    .vocab_size = llama_vocab_size,
    .piece_kind = llama_piece_kind,
    .tokens_to_string = llama_tokens_to_string,
    .free = llama_free,
};

/* ---- loading ----------------------------------------------------------------------------- */

static gboolean read_vocab(llama *t, JsonObject *vocab, const char *path, GError **error)
{
  g_autoptr(GList) members = json_object_get_members(vocab);
  gint32 n = 0;
  for (GList *l = members; l; l = l->next) {
    JsonNode *v = json_object_get_member(vocab, l->data);
    gint64 id = JSON_NODE_HOLDS_VALUE(v) && json_node_get_value_type(v) == G_TYPE_INT64
                    ? json_node_get_int(v)
                    : -1;
    if (id < 0 || id >= G_MAXINT32 / 2) {
      g_set_error(error, IVL_ERROR, IVL_ERROR_CORRUPT, "%s: bad vocabulary entry '%s'", path,
                  (const char *)l->data);
      return FALSE;
    }
    n = MAX(n, (gint32)id + 1);
  }
  t->n_vocab = n;
  t->tokens = g_new0(char *, n);
  t->control = g_new0(gboolean, n);
  for (GList *l = members; l; l = l->next) {
    gint32 id = (gint32)json_object_get_int_member(vocab, l->data);
    if (t->tokens[id]) {
      g_set_error(error, IVL_ERROR, IVL_ERROR_CORRUPT, "%s: id %d is in the vocabulary twice", path,
                  id);
      return FALSE;
    }
    t->tokens[id] = g_strdup(l->data);
    g_hash_table_insert(t->ids, t->tokens[id], GINT_TO_POINTER(id + 1));
  }
  for (int b = 0; b < 256; b++) {
    char name[8];
    g_snprintf(name, sizeof name, "<0x%02X>", b);
    t->byte_ids[b] = llama_token_to_id(&t->base, name);
  }
  return TRUE;
}

/* model.merges: "a b" strings or [a, b] pairs; rank = place. Of two equal pairs the later
 * one counts, as in the tokenizers library's map (collected from the list in order). */
static gboolean read_merges(llama *t, JsonArray *merges, const char *path, GError **error)
{
  guint n = json_array_get_length(merges);
  t->merges = g_new0(merge, n);
  g_autoptr(GString) joined = g_string_new(NULL);
  for (guint i = 0; i < n; i++) {
    JsonNode *e = json_array_get_element(merges, i);
    const char *a = NULL, *b = NULL;
    g_auto(GStrv) parts = NULL;
    if (JSON_NODE_HOLDS_VALUE(e) && json_node_get_value_type(e) == G_TYPE_STRING) {
      parts = g_strsplit(json_node_get_string(e), " ", 3);
      if (parts[0] && parts[1] && !parts[2]) {
        a = parts[0];
        b = parts[1];
      }
    } else if (JSON_NODE_HOLDS_ARRAY(e) && json_array_get_length(json_node_get_array(e)) == 2) {
      JsonArray *pair = json_node_get_array(e);
      JsonNode *x = json_array_get_element(pair, 0), *y = json_array_get_element(pair, 1);
      if (JSON_NODE_HOLDS_VALUE(x) && json_node_get_value_type(x) == G_TYPE_STRING &&
          JSON_NODE_HOLDS_VALUE(y) && json_node_get_value_type(y) == G_TYPE_STRING) {
        a = json_node_get_string(x);
        b = json_node_get_string(y);
      }
    }
    if (!a || !b) {
      g_set_error(error, IVL_ERROR, IVL_ERROR_CORRUPT, "%s: merge %u is not a pair", path, i);
      return FALSE;
    }
    g_string_assign(joined, a);
    g_string_append(joined, b);
    gint32 ia = llama_token_to_id(&t->base, a), ib = llama_token_to_id(&t->base, b);
    gint32 merged = llama_token_to_id(&t->base, joined->str);
    if (ia < 0 || ib < 0 || merged < 0) {
      g_set_error(error, IVL_ERROR, IVL_ERROR_CORRUPT, "%s: merge %u: token not in the vocabulary",
                  path, i);
      return FALSE;
    }
    merge *m = &t->merges[i];
    m->key = ((gint64)ia << 32) | (guint32)ib;
    m->rank = i;
    m->merged = merged;
    g_hash_table_insert(t->by_pair, &m->key, m);
  }
  return TRUE;
}

static JsonObject *member_object(JsonObject *o, const char *name)
{
  JsonNode *n = o ? json_object_get_member(o, name) : NULL;
  return n && JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
}

/* A step of a Sequence (normalizers / decoders) or the object itself when it is no Sequence. */
static JsonObject *step(JsonObject *o, const char *list, guint i, guint *n)
{
  JsonArray *a = g_strcmp0(ivl_json_string_or(o, "type", NULL), "Sequence") == 0
                     ? ivl_json_array_member(o, list)
                     : NULL;
  *n = a ? json_array_get_length(a) : (o ? 1 : 0);
  return a ? ivl_json_object_element(a, i) : o;
}

static gboolean is_replace(JsonObject *o, const char *from, const char *to)
{
  JsonObject *pattern = member_object(o, "pattern");
  return g_strcmp0(ivl_json_string_or(o, "type", NULL), "Replace") == 0 &&
         g_strcmp0(ivl_json_string_or(pattern, "String", NULL), from) == 0 &&
         g_strcmp0(ivl_json_string_or(o, "content", NULL), to) == 0;
}

/* The two forms LlamaConverter writes: legacy, normalizer [Prepend("▁")], Replace(" ", "▁")
 * and no pre-tokenizer; or no normalizer and Metaspace("▁", prepend_scheme, split false). A
 * Metaspace with prepend_scheme "first" (legacy=False) prepends to the first stretch only,
 * which the per-stretch interface cannot see, so it is refused. */
static gboolean read_normalization(llama *t, JsonObject *top, const char *path, GError **error)
{
  JsonObject *norm = member_object(top, "normalizer");
  JsonObject *pre = member_object(top, "pre_tokenizer");
  guint n = 0;
  if (norm && !pre) {
    JsonObject *first = step(norm, "normalizers", 0, &n);
    t->prepend = n == 2 && g_strcmp0(ivl_json_string_or(first, "type", NULL), "Prepend") == 0 &&
                 g_strcmp0(ivl_json_string_or(first, "prepend", NULL), SPIECE_UNDERLINE) == 0;
    if (n == (t->prepend ? 2u : 1u) &&
        is_replace(step(norm, "normalizers", n - 1, &n), " ", SPIECE_UNDERLINE))
      return TRUE;
  } else if (pre && !norm && g_strcmp0(ivl_json_string_or(pre, "type", NULL), "Metaspace") == 0 &&
             g_strcmp0(ivl_json_string_or(pre, "replacement", NULL), SPIECE_UNDERLINE) == 0 &&
             !ivl_json_bool_or(pre, "split", TRUE)) {
    const char *scheme = ivl_json_string_or(pre, "prepend_scheme", NULL);
    if (g_strcmp0(scheme, "always") == 0 || g_strcmp0(scheme, "never") == 0) {
      t->prepend = g_strcmp0(scheme, "always") == 0;
      return TRUE;
    }
  }
  g_set_error(error, IVL_ERROR, IVL_ERROR_UNSUPPORTED,
              "%s: a normalizer / pre-tokenizer ivl does not read (it reads LlamaConverter's "
              "legacy Prepend + Replace, or Metaspace with prepend_scheme always or never)",
              path);
  return FALSE;
}

/* The decoder: Replace("▁", " "), ByteFallback, Fuse, and Strip(" ", 1, 0) when the slow
 * tokenizer had add_prefix_space. */
static gboolean read_decoder(llama *t, JsonObject *top, const char *path, GError **error)
{
  JsonObject *dec = member_object(top, "decoder");
  guint n = 0;
  step(dec, "decoders", 0, &n);
  static const char *const want[] = {"Replace", "ByteFallback", "Fuse", "Strip"};
  gboolean ok = n == 3 || n == 4;
  for (guint i = 0; ok && i < n; i++) {
    JsonObject *s = step(dec, "decoders", i, &n);
    ok = g_strcmp0(ivl_json_string_or(s, "type", NULL), want[i]) == 0;
  }
  ok = ok && is_replace(step(dec, "decoders", 0, &n), SPIECE_UNDERLINE, " ");
  if (ok && n == 4) {
    JsonObject *strip = step(dec, "decoders", 3, &n);
    ok = g_strcmp0(ivl_json_string_or(strip, "content", NULL), " ") == 0 &&
         ivl_json_int_or(strip, "start", -1) == 1 && ivl_json_int_or(strip, "stop", -1) == 0;
  }
  if (!ok) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_UNSUPPORTED,
                "%s: not the Llama decoder (Replace ▁, ByteFallback, Fuse, Strip)", path);
    return FALSE;
  }
  t->add_prefix_space = n == 4;
  return TRUE;
}

/* tokenizer.json's special added tokens inside the vocabulary (<unk> <s> </s>: the
 * SentencePiece control pieces) decode to nothing when they reach the pieces. */
static void read_control(llama *t, JsonObject *top)
{
  JsonArray *added = ivl_json_array_member(top, "added_tokens");
  for (guint i = 0; added && i < json_array_get_length(added); i++) {
    JsonObject *a = ivl_json_object_element(added, i);
    gint64 id = ivl_json_int_or(a, "id", -1);
    if (id >= 0 && id < t->n_vocab && id != t->unk && ivl_json_bool_or(a, "special", FALSE) &&
        g_strcmp0(t->tokens[id], ivl_json_string_or(a, "content", NULL)) == 0)
      t->control[id] = TRUE;
  }
}

ivl_tokenizer_impl *ivl_tokenizer_llama_load(const char *dir, GError **error)
{
  g_autofree char *path = g_build_filename(dir, "tokenizer.json", NULL);
  g_autoptr(JsonParser) parser =
      ivl_json_load_file(path, IVL_TOKENIZER_MAX_FILE_BYTES, path, error);
  if (!parser)
    return NULL;
  JsonNode *root = json_parser_get_root(parser);
  JsonObject *top = root && JSON_NODE_HOLDS_OBJECT(root) ? json_node_get_object(root) : NULL;
  JsonObject *model = member_object(top, "model");
  JsonObject *vocab = member_object(model, "vocab");
  JsonArray *merges = ivl_json_array_member(model, "merges");
  if (!vocab || !merges) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_CORRUPT, "%s: no model.vocab and model.merges", path);
    return NULL;
  }
  if (g_strcmp0(ivl_json_string_or(model, "type", NULL), "BPE") != 0 ||
      !ivl_json_bool_or(model, "byte_fallback", FALSE) ||
      ivl_json_bool_or(model, "ignore_merges", FALSE) ||
      ivl_json_number_or(model, "dropout", 0.0) != 0.0) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_UNSUPPORTED,
                "%s: not a BPE with byte fallback (the Llama tokenizer.json)", path);
    return NULL;
  }
  llama *t = g_new0(llama, 1);
  t->base.vt = &llama_vtable;
  t->ids = g_hash_table_new(g_str_hash, g_str_equal);
  t->by_pair = g_hash_table_new(g_int64_hash, g_int64_equal);
  if (!read_vocab(t, vocab, path, error) || !read_merges(t, merges, path, error) ||
      !read_normalization(t, top, path, error) || !read_decoder(t, top, path, error)) {
    llama_free(&t->base);
    return NULL;
  }
  const char *unk = ivl_json_string_or(model, "unk_token", NULL);
  t->unk = unk ? llama_token_to_id(&t->base, unk) : -1;
  read_control(t, top);
  return &t->base;
}
