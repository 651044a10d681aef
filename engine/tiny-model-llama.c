/* tiny-model-llama.c — tokenizer.json of a tiny 9B-hf repo: transformers' LlamaConverter
 * (src/transformers/convert_slow_tokenizer.py) applied to the tiny SentencePiece model, the
 * same conversion as tests/reference/make_llama_tokenizer_json.py (docs/model-coverage.md). */
#include "tiny-model-llama.h"

#include <string.h>

#include "file-io.h"
#include "ivl.h"
#include "json-check.h"
#include "json-write.h"
#include "spm.h"

#define SPIECE_UNDERLINE "\xe2\x96\x81"
#define MAX_MODEL ((gsize)64 << 20)

typedef struct {
  gint32 left, right; /* ids */
  float score;        /* of the merged piece */
  glong left_chars, right_chars;
  guint order; /* place in the list before sorting (the sort is stable) */
} pair;

/* generate_merges: sorted by (score, len(left), len(right)) descending, stably. */
static gint compare_pairs(gconstpointer pa, gconstpointer pb)
{
  const pair *a = pa, *b = pb;
  if (a->score != b->score)
    return a->score > b->score ? -1 : 1;
  if (a->left_chars != b->left_chars)
    return a->left_chars > b->left_chars ? -1 : 1;
  if (a->right_chars != b->right_chars)
    return a->right_chars > b->right_chars ? -1 : 1;
  return a->order < b->order ? -1 : a->order > b->order;
}

/* Every split of a piece into two pieces (at character boundaries, as Python slices a str),
 * within a piece in (left id, right id) order, then all of them by score. Ids 0-2 score 0
 * (LlamaConverter.vocab). */
static GArray *generate_merges(const ivl_spm *spm)
{
  gint32 n = ivl_spm_get_piece_size(spm);
  GArray *pairs = g_array_new(FALSE, FALSE, sizeof(pair));
  g_autoptr(GString) left = g_string_new(NULL);
  for (gint32 id = 0; id < n; id++) {
    const char *piece = ivl_spm_id_to_piece(spm, id);
    float score = id < 3 ? 0.0f : ivl_spm_get_score(spm, id);
    guint first = pairs->len;
    glong chars = g_utf8_strlen(piece, -1);
    const char *cut = piece;
    for (glong k = 1; k < chars; k++) {
      cut = g_utf8_next_char(cut);
      g_string_assign(left, "");
      g_string_append_len(left, piece, cut - piece);
      gint32 l = ivl_spm_piece_to_id(spm, left->str), r = ivl_spm_piece_to_id(spm, cut);
      if (l >= 0 && r >= 0)
        g_array_append_val(pairs, ((pair){l, r, score, k, chars - k, 0}));
    }
    /* (left id, right id) order: few splits per piece, so an insertion sort. */
    for (guint i = first + 1; i < pairs->len; i++) {
      for (guint j = i; j > first; j--) {
        pair *x = &g_array_index(pairs, pair, j - 1), *y = &g_array_index(pairs, pair, j);
        if (x->left < y->left || (x->left == y->left && x->right <= y->right))
          break;
        pair tmp = *x;
        *x = *y;
        *y = tmp;
      }
    }
  }
  for (guint i = 0; i < pairs->len; i++)
    g_array_index(pairs, pair, i).order = i;
  g_array_sort(pairs, compare_pairs);
  return pairs;
}

static JsonObject *typed(const char *type)
{
  JsonObject *o = json_object_new();
  json_object_set_string_member(o, "type", type);
  return o;
}

static JsonObject *replace(const char *from, const char *to)
{
  JsonObject *o = typed("Replace");
  JsonObject *pattern = json_object_new();
  json_object_set_string_member(pattern, "String", from);
  json_object_set_object_member(o, "pattern", pattern);
  json_object_set_string_member(o, "content", to);
  return o;
}

/* Legacy (InternLM3Tokenizer has no "legacy" attribute): Prepend("▁") + Replace(" ", "▁"). */
static JsonObject *normalizer(void)
{
  JsonObject *prepend = typed("Prepend");
  json_object_set_string_member(prepend, "prepend", SPIECE_UNDERLINE);
  JsonArray *steps = json_array_new();
  json_array_add_object_element(steps, prepend);
  json_array_add_object_element(steps, replace(" ", SPIECE_UNDERLINE));
  JsonObject *o = typed("Sequence");
  json_object_set_array_member(o, "normalizers", steps);
  return o;
}

static JsonObject *decoder(void)
{
  JsonObject *strip = typed("Strip");
  json_object_set_string_member(strip, "content", " ");
  json_object_set_int_member(strip, "start", 1);
  json_object_set_int_member(strip, "stop", 0);
  JsonArray *steps = json_array_new();
  json_array_add_object_element(steps, replace(SPIECE_UNDERLINE, " "));
  json_array_add_object_element(steps, typed("ByteFallback"));
  json_array_add_object_element(steps, typed("Fuse"));
  json_array_add_object_element(steps, strip);
  JsonObject *o = typed("Sequence");
  json_object_set_array_member(o, "decoders", steps);
  return o;
}

static JsonObject *model(const ivl_spm *spm)
{
  JsonObject *vocab = json_object_new();
  gint32 n = ivl_spm_get_piece_size(spm);
  for (gint32 id = 0; id < n; id++)
    json_object_set_int_member(vocab, ivl_spm_id_to_piece(spm, id), id);
  g_autoptr(GArray) pairs = generate_merges(spm);
  JsonArray *merges = json_array_new();
  for (guint i = 0; i < pairs->len; i++) {
    const pair *p = &g_array_index(pairs, pair, i);
    JsonArray *two = json_array_new();
    json_array_add_string_element(two, ivl_spm_id_to_piece(spm, p->left));
    json_array_add_string_element(two, ivl_spm_id_to_piece(spm, p->right));
    json_array_add_array_element(merges, two);
  }
  JsonObject *m = typed("BPE");
  json_object_set_null_member(m, "dropout");
  json_object_set_string_member(m, "unk_token", ivl_spm_id_to_piece(spm, 0));
  json_object_set_null_member(m, "continuing_subword_prefix");
  json_object_set_null_member(m, "end_of_word_suffix");
  json_object_set_boolean_member(m, "fuse_unk", TRUE);
  json_object_set_boolean_member(m, "byte_fallback", TRUE);
  json_object_set_boolean_member(m, "ignore_merges", FALSE);
  json_object_set_object_member(m, "vocab", vocab);
  json_object_set_array_member(m, "merges", merges);
  return m;
}

/* LlamaTokenizerFast.update_post_processor: BOS before each sequence (add_bos_token). */
static JsonNode *post_processor(void)
{
  static const char text[] =
      "{\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\": {\"id\": "
      "\"<s>\", \"type_id\": 0}}, {\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}], "
      "\"pair\": [{\"SpecialToken\": {\"id\": \"<s>\", \"type_id\": 0}}, {\"Sequence\": "
      "{\"id\": \"A\", \"type_id\": 0}}, {\"SpecialToken\": {\"id\": \"<s>\", "
      "\"type_id\": 1}}, {\"Sequence\": {\"id\": \"B\", \"type_id\": 1}}], "
      "\"special_tokens\": {\"<s>\": {\"id\": \"<s>\", \"ids\": [1], \"tokens\": "
      "[\"<s>\"]}}}";
  g_autoptr(JsonParser) parser =
      ivl_json_parse_checked(text, sizeof text - 1, "post_processor", NULL);
  return json_node_copy(json_parser_get_root(parser));
}

gboolean ivl_tiny_model_write_llama_tokenizer(const char *from, const char *dir,
                                              JsonArray *added_tokens, GError **error)
{
  g_autofree char *path = g_build_filename(from, "tokenizer.model", NULL);
  g_autofree char *data = NULL;
  gsize len = 0;
  if (!ivl_file_read(path, MAX_MODEL, &data, &len, error)) {
    json_array_unref(added_tokens);
    return FALSE;
  }
  g_autofree char *message = NULL;
  ivl_spm *spm = ivl_spm_new_from_serialized(data, len, &message);
  if (!spm) {
    json_array_unref(added_tokens);
    g_set_error(error, IVL_ERROR, IVL_ERROR_CORRUPT, "%s: not a SentencePiece model (%s)", path,
                message);
    return FALSE;
  }
  JsonObject *top = json_object_new();
  json_object_set_string_member(top, "version", "1.0");
  json_object_set_null_member(top, "truncation");
  json_object_set_null_member(top, "padding");
  json_object_set_array_member(top, "added_tokens", added_tokens);
  json_object_set_object_member(top, "normalizer", normalizer());
  json_object_set_null_member(top, "pre_tokenizer");
  json_object_set_member(top, "post_processor", post_processor());
  json_object_set_object_member(top, "decoder", decoder());
  json_object_set_object_member(top, "model", model(spm));
  ivl_spm_free(spm);
  g_autoptr(JsonNode) root = json_node_init_object(json_node_alloc(), top);
  json_object_unref(top);
  g_autofree char *text = ivl_json_write_pretty(root, FALSE);
  g_autofree char *out = g_build_filename(dir, "tokenizer.json", NULL);
  return ivl_file_write(out, text, strlen(text), error);
}
