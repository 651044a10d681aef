/* The 9B-style SentencePiece tokenizer (InternLM3Tokenizer) against the Python reference
 * (tests/reference/internlm3_tokenizer.py over python3-sentencepiece), on the tiny model of
 * tests/data/tokenizer/internlm3-tiny: ids of the Qwen tokenizer's corpus, decoding with and
 * without special tokens, random id sequences, streaming, the BOS and the prompt ids.
 *
 * With the argument "hf", the same checks and goldens run on tests/data/tokenizer/
 * internlm3-tiny-hf: that model as the 9B-hf repo saves it, a tokenizer.json written the way
 * transformers' LlamaConverter writes it (tests/reference/make_llama_tokenizer_json.py). */
#include <json-glib/json-glib.h>
#include <string.h>

#include "ivl.h"
#include "prompt.h"
#include "template.h"
#include "tokenizer.h"
#include "../common/test-data.h"

static ivl_tokenizer *tok;
static JsonObject *goldens;
static const char *want_kind = "internlm3-spm";

static GArray *ids_of(JsonArray *a)
{
  GArray *ids = g_array_new(FALSE, FALSE, sizeof(gint32));
  for (guint i = 0; i < json_array_get_length(a); i++) {
    gint32 id = (gint32)json_array_get_int_element(a, i);
    g_array_append_val(ids, id);
  }
  return ids;
}

/* decode, both ways, and the stream, against the reference. A decoded NUL ends the C string
 * decode returns, while the stream goes on past it, so with a NUL byte piece only decode is
 * compared. */
static void check_decode(const char *name, GArray *ids, JsonObject *c)
{
  static const char *const fields[] = {"decoded", "decoded_skip"};
  gint32 nul = ivl_tokenizer_token_to_id(tok, "<0x00>");
  gboolean has_nul = FALSE;
  for (guint i = 0; i < ids->len; i++)
    has_nul |= g_array_index(ids, gint32, i) == nul;
  for (int skip = 0; skip < 2; skip++) {
    const char *want = json_object_get_string_member(c, fields[skip]);
    g_autofree char *got = ivl_tokenizer_decode(tok, (gint32 *)ids->data, ids->len, skip);
    if (strcmp(got, want) != 0)
      g_error("case %s: decode(skip=%d) is \"%s\", want \"%s\"", name, skip, got, want);
    if (has_nul)
      continue;
    g_autofree char *streamed = stream_all(tok, (gint32 *)ids->data, ids->len, skip);
    if (strcmp(streamed, want) != 0)
      g_error("case %s: stream(skip=%d) is \"%s\", want \"%s\"", name, skip, streamed, want);
  }
}

static void test_text_cases(void)
{
  JsonArray *cases = json_object_get_array_member(goldens, "cases");
  g_assert_cmpuint(json_array_get_length(cases), >, 300);
  for (guint i = 0; i < json_array_get_length(cases); i++) {
    JsonObject *c = json_array_get_object_element(cases, i);
    const char *name = json_object_get_string_member(c, "name");
    g_autoptr(GBytes) input = hex_to_bytes(json_object_get_string_member(c, "hex"));
    gsize len;
    const char *text = g_bytes_get_data(input, &len);
    g_autoptr(GArray) ids = ivl_tokenizer_encode(tok, text ? text : "", (gssize)len);
    g_autoptr(GArray) want = ids_of(json_object_get_array_member(c, "ids"));
    if (ids->len != want->len)
      g_error("case %s: %u ids, want %u", name, ids->len, want->len);
    for (guint k = 0; k < ids->len; k++) {
      if (g_array_index(ids, gint32, k) != g_array_index(want, gint32, k))
        g_error("case %s: id %u is %d, want %d", name, k, g_array_index(ids, gint32, k),
                g_array_index(want, gint32, k));
    }
    if (text && memchr(text, '\0', len))
      continue; /* the decoded text would end at the NUL */
    check_decode(name, ids, c);
  }
}

static void test_id_cases(void)
{
  JsonArray *cases = json_object_get_array_member(goldens, "id_cases");
  g_assert_cmpuint(json_array_get_length(cases), >=, 300);
  for (guint i = 0; i < json_array_get_length(cases); i++) {
    JsonObject *c = json_array_get_object_element(cases, i);
    g_autoptr(GArray) ids = ids_of(json_object_get_array_member(c, "ids"));
    check_decode(json_object_get_string_member(c, "name"), ids, c);
  }
}

/* Long random id sequences (text, byte and control pieces, added tokens, ids of nothing):
 * the stream, which drops what lies behind an anchor piece, must still give decode() exactly,
 * with and without special tokens. */
static void test_stream_long(void)
{
  gint32 nul = ivl_tokenizer_token_to_id(tok, "<0x00>");
  gint32 n_ids = ivl_tokenizer_get_vocab_size(tok);
  GRand *rand = g_rand_new_with_seed(20251207);
  for (int round = 0; round < 20; round++) {
    g_autoptr(GArray) ids = g_array_new(FALSE, FALSE, sizeof(gint32));
    while (ids->len < 1500) {
      /* byte pieces (<0x00> and the 255 after it) often, to make and break characters */
      gint32 id = g_rand_int_range(rand, 0, 4) == 0 ? g_rand_int_range(rand, nul + 1, nul + 256)
                                                    : g_rand_int_range(rand, 0, n_ids + 3);
      if (id != nul)
        g_array_append_val(ids, id);
    }
    for (int skip = 0; skip < 2; skip++) {
      g_autofree char *want = ivl_tokenizer_decode(tok, (gint32 *)ids->data, ids->len, skip);
      g_autofree char *got = stream_all(tok, (gint32 *)ids->data, ids->len, skip);
      g_assert_cmpstr(got, ==, want);
    }
  }
  g_rand_free(rand);
}

static void test_lookups(void)
{
  g_assert_cmpstr(ivl_tokenizer_get_kind(tok), ==, want_kind);
  /* 3000 pieces + InternVL's nine tokens beyond them. */
  g_assert_cmpint(ivl_tokenizer_get_vocab_size(tok), ==, 3009);
  g_assert_cmpint(ivl_tokenizer_get_bos_id(tok), ==, json_object_get_int_member(goldens, "bos_id"));
  g_assert_cmpint(ivl_tokenizer_get_bos_id(tok), ==, 1);
  g_assert_cmpint(ivl_tokenizer_get_eos_id(tok), ==, 2);
  g_assert_cmpint(ivl_tokenizer_get_pad_id(tok), ==, 2);
  g_assert_cmpint(ivl_tokenizer_get_img_context_id(tok), ==, 3002);
  g_assert_cmpint(ivl_tokenizer_get_im_start_id(tok), ==, 3);
  g_assert_cmpint(ivl_tokenizer_get_im_end_id(tok), ==, 4);
  g_assert_true(ivl_tokenizer_is_special(tok, 1));
  g_assert_true(ivl_tokenizer_is_special(tok, 3002));
  g_assert_false(ivl_tokenizer_is_special(tok, 100));
  g_assert_cmpstr(ivl_tokenizer_id_to_token(tok, 3000), ==, "<img>");
  g_assert_cmpstr(ivl_tokenizer_id_to_token(tok, 1), ==, "<s>");
  g_assert_cmpint(ivl_tokenizer_token_to_id(tok, "\xe2\x96\x81"), >=, 0); /* ▁ */
  g_assert_cmpint(ivl_tokenizer_token_to_id(tok, "no such piece"), ==, -1);
  g_assert_null(ivl_tokenizer_id_to_token(tok, 5000));
}

/* chat()'s prompt for the 9B: BOS, then the template text with the image expanded, tokenized
 * as the reference tokenizes that same text (the goldens' "internlm-chat" case spells one). */
static void test_prompt_ids(void)
{
  g_autoptr(GError) error = NULL;
  const ivl_template *tpl = ivl_template_lookup("internvl2_5", &error);
  g_assert_no_error(error);
  int n_tiles = 1;
  ivl_prompt_turn turn = {.question = "<image>\nWhat is it?", .n_tiles = &n_tiles, .n_images = 1};
  g_autoptr(ivl_prompt) p = ivl_prompt_build(tok, tpl, "You are helpful.", &turn, 1, 2, &error);
  g_assert_no_error(error);
  JsonArray *cases = json_object_get_array_member(goldens, "cases");
  JsonObject *chat = NULL;
  for (guint i = 0; i < json_array_get_length(cases); i++) {
    JsonObject *c = json_array_get_object_element(cases, i);
    if (strcmp(json_object_get_string_member(c, "name"), "internlm-chat") == 0)
      chat = c;
  }
  g_assert_nonnull(chat);
  g_autoptr(GArray) want = ids_of(json_object_get_array_member(chat, "ids"));
  g_assert_cmpuint(p->ids->len, ==, want->len);
  for (guint k = 0; k < want->len; k++)
    g_assert_cmpint(g_array_index(p->ids, gint32, k), ==, g_array_index(want, gint32, k));
  g_assert_cmpuint(p->image_positions->len, ==, 2);
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  gboolean hf = argc > 1 && strcmp(argv[1], "hf") == 0;
  if (hf)
    want_kind = "llama-bpe";
  g_autofree char *dir = data_path(hf ? "tokenizer/internlm3-tiny-hf" : "tokenizer/internlm3-tiny");
  g_autoptr(GError) error = NULL;
  tok = ivl_tokenizer_load(dir, &error);
  g_assert_no_error(error);
  g_autofree char *path = data_path("tokenizer-spm-goldens.json");
  g_autoptr(JsonParser) parser = json_parser_new();
  g_assert_true(json_parser_load_from_file(parser, path, &error));
  goldens = json_node_get_object(json_parser_get_root(parser));
  g_test_add_func("/tokenizer-spm/lookups", test_lookups);
  g_test_add_func("/tokenizer-spm/text-cases", test_text_cases);
  g_test_add_func("/tokenizer-spm/id-cases", test_id_cases);
  g_test_add_func("/tokenizer-spm/stream-long", test_stream_long);
  g_test_add_func("/tokenizer-spm/prompt-ids", test_prompt_ids);
  int status = g_test_run();
  ivl_tokenizer_free(tok);
  return status;
}
