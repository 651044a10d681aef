/* tokenizer-bpe.c — the Qwen2 byte-level BPE (vocab.json + merges.txt).
 *
 * Mirrors transformers' slow Qwen2Tokenizer (tokenization_qwen2.py): NFC, the pre-tokenizer
 * regex, GPT-2's byte-to-unicode map, and GPT-2's bpe() loop, which in each round merges
 * every occurrence of the lowest-ranked adjacent pair, left to right.
 */
#include "tokenizer-impl.h"

#include "file-io.h"
#include "ivl.h"
#include "json-check.h"

#include <json-glib/json-glib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

/* The pre-tokenizer of Qwen2 (PRETOKENIZE_REGEX). With PCRE2_UCP, \s is Unicode White_Space
 * (category Z plus TAB, LF, VT, FF, CR, NEL), the same set as Python's regex module and the
 * Rust regex crate; \p{N} takes one digit per piece. */
static const char pretokenize_pattern[] = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{"
                                          "L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*"
                                          "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/* Word -> ids memo; cleared when it grows past this many words. */
#define CACHE_MAX_WORDS 65536
/* Longer pieces are rare and not worth keeping. */
#define CACHE_MAX_PIECE 128

/* Merge table: (left id, right id) -> (rank, merged id), open addressing. */
typedef struct {
  guint64 *keys;
  guint64 *values;
  gsize mask;
} merge_table;

#define MERGE_EMPTY G_MAXUINT64

typedef struct {
  ivl_tokenizer_impl base;
  gint32 n_vocab;
  char **tokens;         /* [n_vocab] vocabulary form, NULL for holes */
  const char **bytes;    /* [n_vocab] raw bytes of each token */
  guint32 *n_bytes;      /* [n_vocab] */
  GStringChunk *strings; /* owns tokens and bytes */
  GHashTable *token_ids; /* vocabulary form -> id (GINT_TO_POINTER(id + 1)) */
  gint32 byte_ids[256];  /* the single-character token of each byte */
  merge_table merges;
  pcre2_code *regex;
  GMutex cache_lock;
  GHashTable *cache; /* piece -> gint32[1 + n] (count first) */
} bpe;

/* ---- GPT-2 byte <-> unicode map ---------------------------------------------------------- */

/* Printable Latin-1 bytes stand for themselves; the others take U+0100 upwards, in order. */
static void byte_to_unicode_table(gunichar table[256])
{
  int n = 0;
  for (int b = 0; b < 256; b++) {
    gboolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
    table[b] = printable ? (gunichar)b : (gunichar)(256 + n++);
  }
}

/* ---- merge table ------------------------------------------------------------------------- */

static gsize merge_slot(const merge_table *t, guint64 key)
{
  return (gsize)((key * G_GUINT64_CONSTANT(0x9E3779B97F4A7C15)) >> 20) & t->mask;
}

static void merge_table_init(merge_table *t, gsize n)
{
  gsize cap = 1024;
  while (cap < 2 * n)
    cap *= 2;
  t->mask = cap - 1;
  t->keys = g_new(guint64, cap);
  t->values = g_new(guint64, cap);
  memset(t->keys, 0xFF, cap * sizeof(guint64));
}

static guint64 pair_key(gint32 a, gint32 b)
{
  return ((guint64)(guint32)a << 32) | (guint32)b;
}

/* A later line of merges.txt wins over an earlier equal pair, as dict(zip(...)) does. */
static void merge_table_put(merge_table *t, gint32 a, gint32 b, guint32 rank, gint32 merged)
{
  guint64 key = pair_key(a, b);
  gsize i = merge_slot(t, key);
  while (t->keys[i] != MERGE_EMPTY && t->keys[i] != key)
    i = (i + 1) & t->mask;
  t->keys[i] = key;
  t->values[i] = ((guint64)rank << 32) | (guint32)merged;
}

static gboolean merge_table_get(const merge_table *t, gint32 a, gint32 b, guint32 *rank,
                                gint32 *merged)
{
  guint64 key = pair_key(a, b);
  for (gsize i = merge_slot(t, key); t->keys[i] != MERGE_EMPTY; i = (i + 1) & t->mask) {
    if (t->keys[i] == key) {
      *rank = (guint32)(t->values[i] >> 32);
      *merged = (gint32)(guint32)t->values[i];
      return TRUE;
    }
  }
  return FALSE;
}

/* ---- the BPE of one piece ---------------------------------------------------------------- */

/* Heap entries order by rank, then position, so equal pairs merge left to right. */
typedef struct {
  guint64 *items;
  gsize len;
} heap;

static void heap_push(heap *h, guint64 v)
{
  gsize i = h->len++;
  while (i > 0 && h->items[(i - 1) / 2] > v) {
    h->items[i] = h->items[(i - 1) / 2];
    i = (i - 1) / 2;
  }
  h->items[i] = v;
}

static guint64 heap_pop(heap *h)
{
  guint64 top = h->items[0];
  guint64 last = h->items[--h->len];
  gsize i = 0;
  for (;;) {
    gsize c = 2 * i + 1;
    if (c >= h->len)
      break;
    if (c + 1 < h->len && h->items[c + 1] < h->items[c])
      c++;
    if (h->items[c] >= last)
      break;
    h->items[i] = h->items[c];
    i = c;
  }
  if (h->len > 0)
    h->items[i] = last;
  return top;
}

typedef struct {
  gint32 *id;
  int *next;
  int *prev;
  heap queue;
  guint64 *pending; /* pairs born in the current round: GPT-2 sees them only in the next */
  gsize n_pending;
} bpe_word;

static void queue_pair(const bpe *t, bpe_word *w, int pos, gboolean defer)
{
  guint32 rank;
  gint32 merged;
  if (pos < 0 || w->next[pos] < 0 ||
      !merge_table_get(&t->merges, w->id[pos], w->id[w->next[pos]], &rank, &merged))
    return;
  guint64 entry = ((guint64)rank << 32) | (guint32)pos;
  if (defer)
    w->pending[w->n_pending++] = entry;
  else
    heap_push(&w->queue, entry);
}

/* Merges one round's entry if it still names the pair at pos. Pairs only grow, so a pair
 * whose rank is unchanged is the very pair that was queued. */
static void apply_merge(const bpe *t, bpe_word *w, guint64 entry)
{
  int pos = (int)(guint32)entry;
  int right = w->next[pos];
  guint32 rank;
  gint32 merged;
  if (w->id[pos] < 0 || right < 0 ||
      !merge_table_get(&t->merges, w->id[pos], w->id[right], &rank, &merged) ||
      rank != (guint32)(entry >> 32))
    return;
  w->id[pos] = merged;
  w->id[right] = -1;
  w->next[pos] = w->next[right];
  if (w->next[pos] >= 0)
    w->prev[w->next[pos]] = pos;
  queue_pair(t, w, w->prev[pos], TRUE);
  queue_pair(t, w, pos, TRUE);
}

static void bpe_piece(const bpe *t, const guint8 *piece, int n, GArray *out)
{
  bpe_word w;
  w.id = g_new(gint32, n);
  w.next = g_new(int, n);
  w.prev = g_new(int, n);
  w.queue.items = g_new(guint64, 3 * (gsize)n);
  w.queue.len = 0;
  w.pending = g_new(guint64, 2 * (gsize)n);
  w.n_pending = 0;
  for (int i = 0; i < n; i++) {
    w.id[i] = t->byte_ids[piece[i]];
    w.next[i] = i + 1 < n ? i + 1 : -1;
    w.prev[i] = i - 1;
  }
  for (int i = 0; i + 1 < n; i++)
    queue_pair(t, &w, i, FALSE);

  guint32 round = 0;
  for (;;) {
    if (w.n_pending > 0 && (w.queue.len == 0 || (guint32)(w.queue.items[0] >> 32) != round)) {
      for (gsize i = 0; i < w.n_pending; i++)
        heap_push(&w.queue, w.pending[i]);
      w.n_pending = 0;
    }
    if (w.queue.len == 0)
      break;
    guint64 entry = heap_pop(&w.queue);
    round = (guint32)(entry >> 32);
    apply_merge(t, &w, entry);
  }
  for (int i = 0; i >= 0; i = w.next[i])
    g_array_append_val(out, w.id[i]);
  g_free(w.id);
  g_free(w.next);
  g_free(w.prev);
  g_free(w.queue.items);
  g_free(w.pending);
}

/* ---- the family's entries ---------------------------------------------------------------- */

static void encode_piece(const bpe *t, const char *piece, gsize len, GArray *ids)
{
  /* Keys are C strings: a piece holding NUL would collide with its prefix. */
  gboolean cacheable = len <= CACHE_MAX_PIECE && !memchr(piece, '\0', len);
  g_autofree char *key = cacheable ? g_strndup(piece, len) : NULL;
  if (cacheable) {
    g_mutex_lock((GMutex *)&t->cache_lock);
    const gint32 *hit = g_hash_table_lookup(t->cache, key);
    if (hit)
      g_array_append_vals(ids, hit + 1, hit[0]);
    g_mutex_unlock((GMutex *)&t->cache_lock);
    if (hit)
      return;
  }
  guint start = ids->len;
  bpe_piece(t, (const guint8 *)piece, (int)len, ids);
  if (!cacheable)
    return;
  guint n = ids->len - start;
  gint32 *value = g_new(gint32, n + 1);
  value[0] = (gint32)n;
  memcpy(value + 1, &g_array_index(ids, gint32, start), n * sizeof(gint32));
  g_mutex_lock((GMutex *)&t->cache_lock);
  if (g_hash_table_size(t->cache) >= CACHE_MAX_WORDS)
    g_hash_table_remove_all(t->cache);
  g_hash_table_replace(t->cache, g_steal_pointer(&key), value);
  g_mutex_unlock((GMutex *)&t->cache_lock);
}

static void bpe_encode(const ivl_tokenizer_impl *impl, const char *text, gsize len, GArray *ids)
{
  const bpe *t = (const bpe *)impl;
  pcre2_match_data *md = pcre2_match_data_create_from_pattern(t->regex, NULL);
  PCRE2_SIZE offset = 0;
  while (offset < len) {
    int rc = pcre2_match(t->regex, (PCRE2_SPTR)text, len, offset, PCRE2_NO_UTF_CHECK, md, NULL);
    if (rc < 0)
      break; /* findall keeps no text that no alternative matches; every character matches */
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
    if (ov[1] > ov[0])
      encode_piece(t, text + ov[0], ov[1] - ov[0], ids);
    offset = ov[1] > offset ? ov[1] : offset + 1;
  }
  pcre2_match_data_free(md);
}

/* NFC over each NUL-free run: g_utf8_normalize stops at NUL, which composes with nothing. */
static char *bpe_normalize(const ivl_tokenizer_impl *impl, const char *text, gsize len,
                           gsize *out_len)
{
  (void)impl;
  GString *out = g_string_sized_new(len + 16);
  gsize start = 0;
  while (start <= len) {
    const char *nul = memchr(text + start, '\0', len - start);
    gsize end = nul ? (gsize)(nul - text) : len;
    if (end > start) {
      g_autofree char *nfc = g_utf8_normalize(text + start, end - start, G_NORMALIZE_NFC);
      g_string_append(out, nfc);
    }
    if (!nul)
      break;
    g_string_append_c(out, '\0');
    start = end + 1;
  }
  *out_len = out->len;
  return g_string_free(out, FALSE);
}

static const char *bpe_id_bytes(const ivl_tokenizer_impl *impl, gint32 id, gsize *len)
{
  const bpe *t = (const bpe *)impl;
  if (id < 0 || id >= t->n_vocab || !t->tokens[id])
    return NULL;
  *len = t->n_bytes[id];
  return t->bytes[id];
}

static const char *bpe_id_to_token(const ivl_tokenizer_impl *impl, gint32 id)
{
  const bpe *t = (const bpe *)impl;
  return id >= 0 && id < t->n_vocab ? t->tokens[id] : NULL;
}

static gint32 bpe_token_to_id(const ivl_tokenizer_impl *impl, const char *token)
{
  const bpe *t = (const bpe *)impl;
  return GPOINTER_TO_INT(g_hash_table_lookup(t->token_ids, token)) - 1;
}

static gint32 bpe_vocab_size(const ivl_tokenizer_impl *impl)
{
  return ((const bpe *)impl)->n_vocab;
}

static void bpe_free(ivl_tokenizer_impl *impl)
{
  bpe *t = (bpe *)impl;
  if (!t)
    return;
  g_free(t->tokens);
  g_free(t->bytes);
  g_free(t->n_bytes);
  if (t->strings)
    g_string_chunk_free(t->strings);
  g_clear_pointer(&t->token_ids, g_hash_table_unref);
  g_clear_pointer(&t->cache, g_hash_table_unref);
  g_free(t->merges.keys);
  g_free(t->merges.values);
  g_clear_pointer(&t->regex, pcre2_code_free);
  g_mutex_clear(&t->cache_lock);
  g_free(t);
}

static const ivl_tokenizer_vtable bpe_vtable = {
    .kind = "qwen2-bpe",
    .normalize = bpe_normalize,
    .encode = bpe_encode,
    .id_bytes = bpe_id_bytes,
    .id_to_token = bpe_id_to_token,
    .token_to_id = bpe_token_to_id,
    .vocab_size = bpe_vocab_size,
    .free = bpe_free,
};

/* ---- loading ----------------------------------------------------------------------------- */

/* The {token: id} object of vocab.json or of tokenizer.json's model.vocab. */
static gboolean vocab_from_object(bpe *t, JsonObject *obj, const char *path, GError **error)
{
  g_autoptr(GList) members = json_object_get_members(obj);
  gint64 max_id = -1;
  for (GList *l = members; l; l = l->next) {
    JsonNode *v = json_object_get_member(obj, l->data);
    if (!JSON_NODE_HOLDS_VALUE(v) || json_node_get_value_type(v) != G_TYPE_INT64 ||
        json_node_get_int(v) < 0 || json_node_get_int(v) >= G_MAXINT32 / 2) {
      g_set_error(error, IVL_ERROR, IVL_ERROR_CORRUPT, "%s: bad id for token '%s'", path,
                  (const char *)l->data);
      return FALSE;
    }
    max_id = MAX(max_id, json_node_get_int(v));
  }
  /* Byte-level BPE numbers its tokens densely; a larger id would only size the tables by what
   * the file claims rather than by what it holds. */
  guint n_tokens = json_object_get_size(obj);
  if (max_id >= (gint64)n_tokens) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_CORRUPT,
                "%s: id %" G_GINT64_FORMAT " but only %u tokens (ids must run from 0 to %u)",
                path, max_id, n_tokens, n_tokens - 1);
    return FALSE;
  }
  t->n_vocab = (gint32)(max_id + 1);
  t->tokens = g_new0(char *, t->n_vocab);
  t->bytes = g_new0(const char *, t->n_vocab);
  t->n_bytes = g_new0(guint32, t->n_vocab);
  for (GList *l = members; l; l = l->next) {
    gint32 id = (gint32)json_object_get_int_member(obj, l->data);
    t->tokens[id] = g_string_chunk_insert(t->strings, l->data);
    g_hash_table_insert(t->token_ids, t->tokens[id], GINT_TO_POINTER(id + 1));
  }
  return TRUE;
}

static gboolean read_vocab(bpe *t, const char *path, GError **error)
{
  g_autoptr(JsonParser) parser =
      ivl_json_load_file(path, IVL_TOKENIZER_MAX_FILE_BYTES, path, error);
  if (!parser)
    return FALSE;
  JsonNode *root = json_parser_get_root(parser);
  if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_CORRUPT, "%s: not a JSON object", path);
    return FALSE;
  }
  return vocab_from_object(t, json_node_get_object(root), path, error);
}

/* Maps each token back to its bytes and finds the single-byte tokens. */
static gboolean decode_vocab(bpe *t, GError **error)
{
  gunichar to_unicode[256];
  gint16 to_byte[324];
  byte_to_unicode_table(to_unicode);
  memset(to_byte, 0xFF, sizeof to_byte);
  for (int b = 0; b < 256; b++)
    to_byte[to_unicode[b]] = (gint16)b;
  GString *buf = g_string_new(NULL);
  for (gint32 id = 0; id < t->n_vocab; id++) {
    if (!t->tokens[id])
      continue;
    g_string_truncate(buf, 0);
    for (const char *p = t->tokens[id]; *p; p = g_utf8_next_char(p)) {
      gunichar c = g_utf8_get_char(p);
      if (c >= G_N_ELEMENTS(to_byte) || to_byte[c] < 0) {
        g_set_error(error, IVL_ERROR, IVL_ERROR_CORRUPT,
                    "vocab.json: token %d ('%s') is not in byte-level form", id, t->tokens[id]);
        g_string_free(buf, TRUE);
        return FALSE;
      }
      g_string_append_c(buf, (char)to_byte[c]);
    }
    t->bytes[id] = g_string_chunk_insert_len(t->strings, buf->str, buf->len);
    t->n_bytes[id] = (guint32)buf->len;
  }
  g_string_free(buf, TRUE);
  for (int b = 0; b < 256; b++) {
    char s[8];
    s[g_unichar_to_utf8(to_unicode[b], s)] = '\0';
    t->byte_ids[b] = bpe_token_to_id(&t->base, s);
    if (t->byte_ids[b] < 0) {
      g_set_error(error, IVL_ERROR, IVL_ERROR_CORRUPT, "vocab.json: no token for byte 0x%02x", b);
      return FALSE;
    }
  }
  return TRUE;
}

/* One merge "a b" (rank = its place); at: where, for messages. */
static gboolean add_merge(bpe *t, const char *a_text, const char *b_text, guint32 rank,
                          GString *joined, const char *path, guint at, GError **error)
{
  g_string_assign(joined, a_text);
  g_string_append(joined, b_text);
  gint32 a = bpe_token_to_id(&t->base, a_text);
  gint32 b = bpe_token_to_id(&t->base, b_text);
  gint32 merged = bpe_token_to_id(&t->base, joined->str);
  if (a < 0 || b < 0 || merged < 0) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_CORRUPT, "%s:%u: token not in the vocabulary", path,
                at);
    return FALSE;
  }
  merge_table_put(&t->merges, a, b, rank, merged);
  return TRUE;
}

/* tokenizer.json's model.merges: "a b" strings, or [a, b] pairs (tokenizers 0.20 on). */
static gboolean merges_from_array(bpe *t, JsonArray *merges, const char *path, GError **error)
{
  guint n = json_array_get_length(merges);
  merge_table_init(&t->merges, n + 1);
  g_autoptr(GString) joined = g_string_new(NULL);
  for (guint i = 0; i < n; i++) {
    JsonNode *e = json_array_get_element(merges, i);
    g_auto(GStrv) parts = NULL;
    if (JSON_NODE_HOLDS_VALUE(e) && json_node_get_value_type(e) == G_TYPE_STRING) {
      parts = g_strsplit(json_node_get_string(e), " ", 3);
    } else if (JSON_NODE_HOLDS_ARRAY(e) && json_array_get_length(json_node_get_array(e)) == 2) {
      JsonArray *pair = json_node_get_array(e);
      JsonNode *x = json_array_get_element(pair, 0), *y = json_array_get_element(pair, 1);
      if (JSON_NODE_HOLDS_VALUE(x) && json_node_get_value_type(x) == G_TYPE_STRING &&
          JSON_NODE_HOLDS_VALUE(y) && json_node_get_value_type(y) == G_TYPE_STRING) {
        parts = g_new0(char *, 3);
        parts[0] = g_strdup(json_node_get_string(x));
        parts[1] = g_strdup(json_node_get_string(y));
      }
    }
    if (!parts || !parts[0] || !parts[1] || parts[2]) {
      g_set_error(error, IVL_ERROR, IVL_ERROR_CORRUPT, "%s: merge %u is not a pair", path, i);
      return FALSE;
    }
    if (!add_merge(t, parts[0], parts[1], i, joined, path, i, error))
      return FALSE;
  }
  return TRUE;
}

/* The -hf repos' tokenizer.json (Qwen2TokenizerFast): the same vocabulary and merges inside
 * "model"; only a byte-level BPE is this family (a SentencePiece-style BPE such as Llama's
 * has a byte-fallback model and another decoder). */
static gboolean read_tokenizer_json(bpe *t, const char *path, GError **error)
{
  g_autoptr(JsonParser) parser =
      ivl_json_load_file(path, IVL_TOKENIZER_MAX_FILE_BYTES, path, error);
  if (!parser)
    return FALSE;
  JsonNode *root = json_parser_get_root(parser);
  JsonObject *top = root && JSON_NODE_HOLDS_OBJECT(root) ? json_node_get_object(root) : NULL;
  JsonNode *m = top ? json_object_get_member(top, "model") : NULL;
  JsonObject *model = m && JSON_NODE_HOLDS_OBJECT(m) ? json_node_get_object(m) : NULL;
  JsonNode *d = top ? json_object_get_member(top, "decoder") : NULL;
  JsonObject *decoder = d && JSON_NODE_HOLDS_OBJECT(d) ? json_node_get_object(d) : NULL;
  JsonNode *vocab = model ? json_object_get_member(model, "vocab") : NULL;
  JsonNode *merges = model ? json_object_get_member(model, "merges") : NULL;
  if (!vocab || !JSON_NODE_HOLDS_OBJECT(vocab) || !merges || !JSON_NODE_HOLDS_ARRAY(merges)) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_CORRUPT, "%s: no model.vocab and model.merges", path);
    return FALSE;
  }
  gboolean byte_fallback = FALSE;
  if (!ivl_json_get_bool(model, "byte_fallback", &byte_fallback, path, error))
    return FALSE;
  if (g_strcmp0(ivl_json_string_or(model, "type", NULL), "BPE") != 0 || byte_fallback ||
      g_strcmp0(ivl_json_string_or(decoder, "type", NULL), "ByteLevel") != 0) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_UNSUPPORTED,
                "%s: not a byte-level BPE (ivl reads Qwen2's tokenizer.json)", path);
    return FALSE;
  }
  return vocab_from_object(t, json_node_get_object(vocab), path, error) &&
         decode_vocab(t, error) && merges_from_array(t, json_node_get_array(merges), path, error);
}

static gboolean read_merges(bpe *t, const char *path, GError **error)
{
  g_autofree char *text = NULL;
  gsize length = 0;
  if (!ivl_file_read(path, IVL_TOKENIZER_MAX_FILE_BYTES, &text, &length, error))
    return FALSE;
  /* Lines are cut at NUL below as at '\n'; a NUL inside would end the file early unseen. */
  const char *nul = memchr(text, '\0', length);
  if (nul) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_CORRUPT, "%s: a NUL byte at offset %" G_GSIZE_FORMAT,
                path, (gsize)(nul - text));
    return FALSE;
  }
  gsize n_lines = 1;
  for (const char *p = text; (p = strchr(p, '\n')); p++)
    n_lines++;
  merge_table_init(&t->merges, n_lines);
  GString *joined = g_string_new(NULL);
  guint32 rank = 0;
  char *next = text;
  /* Lines are cut in place: g_strsplit rescans the rest of the text at every line. */
  for (guint i = 0; next; i++) {
    char *line = next;
    char *nl = strchr(line, '\n');
    next = nl ? nl + 1 : NULL;
    if (nl)
      *nl = '\0';
    g_strstrip(line);
    if ((i == 0 && g_str_has_prefix(line, "#version:")) || !*line)
      continue;
    char *space = strchr(line, ' ');
    if (!space || strchr(space + 1, ' ')) {
      g_set_error(error, IVL_ERROR, IVL_ERROR_CORRUPT, "%s:%u: not a pair", path, i + 1);
      g_string_free(joined, TRUE);
      return FALSE;
    }
    *space = '\0';
    if (!add_merge(t, line, space + 1, rank++, joined, path, i + 1, error)) {
      g_string_free(joined, TRUE);
      return FALSE;
    }
  }
  g_string_free(joined, TRUE);
  return TRUE;
}

static gboolean compile_regex(bpe *t, GError **error)
{
  int code;
  PCRE2_SIZE offset;
  t->regex = pcre2_compile((PCRE2_SPTR)pretokenize_pattern, PCRE2_ZERO_TERMINATED,
                           PCRE2_UTF | PCRE2_UCP, &code, &offset, NULL);
  if (!t->regex) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(code, msg, sizeof msg);
    g_set_error(error, IVL_ERROR, IVL_ERROR_UNSUPPORTED, "PCRE2 rejects the Qwen2 regex: %s",
                (const char *)msg);
    return FALSE;
  }
  /* JIT is a speed-up only; pcre2_match falls back to the interpreter without it. */
  pcre2_jit_compile(t->regex, PCRE2_JIT_COMPLETE);
  return TRUE;
}

ivl_tokenizer_impl *ivl_tokenizer_bpe_load(const char *dir, GError **error)
{
  bpe *t = g_new0(bpe, 1);
  t->base.vt = &bpe_vtable;
  t->strings = g_string_chunk_new(1 << 20);
  t->token_ids = g_hash_table_new(g_str_hash, g_str_equal);
  t->cache = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  g_mutex_init(&t->cache_lock);
  g_autofree char *vocab_path = g_build_filename(dir, "vocab.json", NULL);
  g_autofree char *merges_path = g_build_filename(dir, "merges.txt", NULL);
  g_autofree char *json_path = g_build_filename(dir, "tokenizer.json", NULL);
  /* The slow tokenizer's files when present (what use_fast=False reads), else the fast one's. */
  gboolean slow_files = g_file_test(vocab_path, G_FILE_TEST_EXISTS) ||
                        !g_file_test(json_path, G_FILE_TEST_EXISTS);
  if (!(slow_files ? read_vocab(t, vocab_path, error) && decode_vocab(t, error) &&
                         read_merges(t, merges_path, error)
                   : read_tokenizer_json(t, json_path, error)) ||
      !compile_regex(t, error)) {
    bpe_free(&t->base);
    return NULL;
  }
  return &t->base;
}
