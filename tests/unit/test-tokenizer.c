/* Tokenizer tests: ids against the independent Python reference (tests/reference), the ids the
 * spec states, decoding, streaming, loading errors, and a speed figure. */
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "ivl.h"
#include "tokenizer.h"
#include "../common/test-data.h"

static ivl_tokenizer *tok;

static void check_case(JsonObject *c)
{
  const char *name = json_object_get_string_member(c, "name");
  g_autoptr(GBytes) input = hex_to_bytes(json_object_get_string_member(c, "hex"));
  JsonArray *want = json_object_get_array_member(c, "ids");
  gsize len;
  const char *text = g_bytes_get_data(input, &len);
  g_autoptr(GArray) ids = ivl_tokenizer_encode(tok, text ? text : "", (gssize)len);
  if (ids->len != json_array_get_length(want))
    g_error("case %s: %u ids, want %u", name, ids->len, json_array_get_length(want));
  for (guint i = 0; i < ids->len; i++) {
    if (g_array_index(ids, gint32, i) != json_array_get_int_element(want, i))
      g_error("case %s: id %u is %d, want %" G_GINT64_FORMAT, name, i,
              g_array_index(ids, gint32, i), json_array_get_int_element(want, i));
  }
  if (text && memchr(text, '\0', len))
    return; /* decoded text is a C string: a NUL would end it */
  const char *decoded = json_object_get_string_member(c, "decoded");
  g_autofree char *back = ivl_tokenizer_decode(tok, (gint32 *)ids->data, ids->len, FALSE);
  g_assert_cmpstr(back, ==, decoded);
  g_autofree char *streamed = stream_all(tok, (gint32 *)ids->data, ids->len, FALSE);
  g_assert_cmpstr(streamed, ==, decoded);
  /* decode(encode(x)) == NFC(x) */
  if (g_utf8_validate(text ? text : "", (gssize)len, NULL)) {
    g_autofree char *nfc = g_utf8_normalize(text ? text : "", (gssize)len, G_NORMALIZE_NFC);
    g_assert_cmpstr(back, ==, nfc);
  }
}

static void test_goldens(void)
{
  g_autofree char *path = data_path("tokenizer-goldens.json");
  g_autoptr(JsonParser) parser = json_parser_new();
  g_autoptr(GError) error = NULL;
  g_assert_true(json_parser_load_from_file(parser, path, &error));
  g_assert_no_error(error);
  JsonArray *cases =
      json_object_get_array_member(json_node_get_object(json_parser_get_root(parser)), "cases");
  g_assert_cmpuint(json_array_get_length(cases), >, 300);
  for (guint i = 0; i < json_array_get_length(cases); i++)
    check_case(json_array_get_object_element(cases, i));
}

/* Ids the spec states (section 4a). */
static void test_spec_ids(void)
{
  static const char *const special[] = {
      "<|endoftext|>",      "<|im_start|>",     "<|im_end|>",     "<|object_ref_start|>",
      "<|object_ref_end|>", "<|box_start|>",    "<|box_end|>",    "<|quad_start|>",
      "<|quad_end|>",       "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>",
      "<|image_pad|>",      "<|video_pad|>"};
  static const char *const plain[] = {"<tool_call>",    "</tool_call>",   "<|fim_prefix|>",
                                      "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>",
                                      "<|repo_name|>",  "<|file_sep|>"};
  static const char *const internvl[] = {"<img>", "</img>", "<IMG_CONTEXT>", "<quad>", "</quad>",
                                         "<ref>", "</ref>", "<box>",         "</box>"};
  for (gint32 i = 0; i < (gint32)G_N_ELEMENTS(special); i++) {
    g_assert_cmpint(ivl_tokenizer_token_to_id(tok, special[i]), ==, 151643 + i);
    g_assert_true(ivl_tokenizer_is_special(tok, 151643 + i));
    g_assert_cmpstr(ivl_tokenizer_id_to_token(tok, 151643 + i), ==, special[i]);
  }
  for (gint32 i = 0; i < (gint32)G_N_ELEMENTS(plain); i++) {
    g_assert_cmpint(ivl_tokenizer_token_to_id(tok, plain[i]), ==, 151657 + i);
    g_assert_false(ivl_tokenizer_is_special(tok, 151657 + i));
  }
  for (gint32 i = 0; i < (gint32)G_N_ELEMENTS(internvl); i++) {
    g_assert_cmpint(ivl_tokenizer_token_to_id(tok, internvl[i]), ==, 151665 + i);
    g_assert_true(ivl_tokenizer_is_special(tok, 151665 + i));
  }
  g_assert_cmpint(ivl_tokenizer_token_to_id(tok, "system"), ==, 8948);
  g_assert_cmpint(ivl_tokenizer_token_to_id(tok, "user"), ==, 872);
  g_assert_cmpint(ivl_tokenizer_token_to_id(tok, "assistant"), ==, 77091);
  g_assert_cmpint(ivl_tokenizer_token_to_id(tok, "\xC4\x8A"), ==, 198); /* "Ċ" = "\n" */
  g_assert_cmpint(ivl_tokenizer_token_to_id(tok, "no such token"), ==, -1);
  g_assert_null(ivl_tokenizer_id_to_token(tok, 151674));
  g_assert_null(ivl_tokenizer_id_to_token(tok, -5));
  g_assert_false(ivl_tokenizer_is_special(tok, 8948));

  g_assert_cmpint(ivl_tokenizer_get_im_start_id(tok), ==, 151644);
  g_assert_cmpint(ivl_tokenizer_get_im_end_id(tok), ==, 151645);
  g_assert_cmpint(ivl_tokenizer_get_img_context_id(tok), ==, 151667);
  g_assert_cmpint(ivl_tokenizer_get_pad_id(tok), ==, 151643);
  g_assert_cmpint(ivl_tokenizer_get_eos_id(tok), ==, 151645);
  g_assert_cmpint(ivl_tokenizer_get_bos_id(tok), ==, -1);
  g_assert_cmpint(ivl_tokenizer_get_vocab_size(tok), ==, 151674);
  g_assert_cmpstr(ivl_tokenizer_get_kind(tok), ==, "qwen2-bpe");

  const char *turn = "<|im_start|>system\nx<|im_end|>\n<|im_start|>user\n";
  g_autoptr(GArray) ids = ivl_tokenizer_encode(tok, turn, -1);
  const gint32 want[] = {151644, 8948, 198, 87, 151645, 198, 151644, 872, 198};
  g_assert_cmpmem(ids->data, ids->len * sizeof(gint32), want, sizeof want);
}

static void test_decode(void)
{
  const gint32 ids[] = {151644, 77091, 198, 9707, 151645, 99999999, -1, 151643};
  g_autofree char *all = ivl_tokenizer_decode(tok, ids, G_N_ELEMENTS(ids), FALSE);
  g_assert_cmpstr(all, ==, "<|im_start|>assistant\nHello<|im_end|><|endoftext|>");
  g_autofree char *plain = ivl_tokenizer_decode(tok, ids, G_N_ELEMENTS(ids), TRUE);
  g_assert_cmpstr(plain, ==, "assistant\nHello");
  const gint32 tool[] = {151657, 151667};
  g_autofree char *kept = ivl_tokenizer_decode(tok, tool, 2, TRUE);
  g_assert_cmpstr(kept, ==, "<tool_call>");
  g_autofree char *none = ivl_tokenizer_decode(tok, NULL, 0, FALSE);
  g_assert_cmpstr(none, ==, "");
}

/* The single-byte token of each byte, from GPT-2's byte-to-unicode map. */
static gint32 byte_token(guint8 b)
{
  int n = 0;
  gunichar c = 0;
  for (int i = 0; i <= b; i++) {
    gboolean printable = (i >= '!' && i <= '~') || (i >= 0xA1 && i <= 0xAC) || i >= 0xAE;
    c = printable ? (gunichar)i : (gunichar)(256 + n++);
  }
  char s[8];
  s[g_unichar_to_utf8(c, s)] = '\0';
  return ivl_tokenizer_token_to_id(tok, s);
}

/* One token per byte puts a token boundary at every byte boundary of the text. */
static void test_stream_every_byte(void)
{
  static const char *const texts[] = {"héllo 你好 🦀👩‍👩‍👧 Ω 𝕏 end",
                                      "\xe4\xbd x \xf0\x9f\x98 y \xff\xc3\x28 \xed\xa0\x80 z \xf0"};
  for (gsize t = 0; t < G_N_ELEMENTS(texts); t++) {
    const char *text = texts[t];
    gsize n = strlen(text);
    g_autoptr(GArray) ids = g_array_new(FALSE, FALSE, sizeof(gint32));
    for (gsize i = 0; i < n; i++) {
      gint32 id = byte_token((guint8)text[i]);
      g_assert_cmpint(id, >=, 0);
      g_array_append_val(ids, id);
    }
    g_autofree char *whole = ivl_tokenizer_decode(tok, (gint32 *)ids->data, ids->len, FALSE);
    g_autofree char *streamed = stream_all(tok, (gint32 *)ids->data, ids->len, FALSE);
    g_assert_cmpstr(streamed, ==, whole);
    if (t == 0)
      g_assert_cmpstr(whole, ==, text);
  }
  /* A held partial character is released exactly when its last byte arrives. */
  g_autoptr(ivl_token_stream) s = ivl_token_stream_new(tok, TRUE);
  const guint8 crab[] = {0xF0, 0x9F, 0xA6, 0x80};
  for (int i = 0; i < 4; i++) {
    g_autofree char *piece = ivl_token_stream_feed(s, byte_token(crab[i]));
    g_assert_cmpstr(piece, ==, i < 3 ? "" : "🦀");
  }
  g_autofree char *special = ivl_token_stream_feed(s, 151645);
  g_assert_cmpstr(special, ==, "");
  g_autofree char *part = ivl_token_stream_feed(s, byte_token(0xE4));
  g_assert_cmpstr(part, ==, "");
  g_autofree char *rest = ivl_token_stream_flush(s);
  g_assert_cmpstr(rest, ==, "\xEF\xBF\xBD");
}

static void write_file(const char *dir, const char *name, const char *contents)
{
  g_autofree char *path = g_build_filename(dir, name, NULL);
  g_assert_true(g_file_set_contents(path, contents, -1, NULL));
}

static void expect_load_error(const char *dir, int code)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(ivl_tokenizer) t = ivl_tokenizer_load(dir, &error);
  g_assert_null(t);
  g_assert_error(error, IVL_ERROR, code);
}

static void test_load_errors(void)
{
  expect_load_error("/nonexistent/ivl-model", IVL_ERROR_NOT_FOUND);
  g_autofree char *dir = g_dir_make_tmp("ivl-tok-XXXXXX", NULL);
  g_assert_nonnull(dir);
  expect_load_error(dir, IVL_ERROR_NOT_FOUND);
  write_file(dir, "tokenizer.model", "x");
  expect_load_error(dir, IVL_ERROR_CORRUPT); /* no SentencePiece model */
  write_file(dir, "tokenizer_config.json", "{\"tokenizer_class\": \"InternLM3Tokenizer\"}");
  expect_load_error(dir, IVL_ERROR_CORRUPT);
  write_file(dir, "tokenizer_config.json", "{\"tokenizer_class\": \"BertTokenizer\"}");
  expect_load_error(dir, IVL_ERROR_UNSUPPORTED);
  write_file(dir, "tokenizer_config.json", "{\"tokenizer_class\": \"Qwen2Tokenizer\"");
  expect_load_error(dir, IVL_ERROR_CORRUPT);
  write_file(dir, "tokenizer_config.json", "{\"tokenizer_class\": \"Qwen2Tokenizer\"}");
  expect_load_error(dir, IVL_ERROR_NOT_FOUND);
  write_file(dir, "vocab.json", "{\"a\": 0, \"b\": 1}");
  write_file(dir, "merges.txt", "#version: 0.2\na b\n");
  expect_load_error(dir, IVL_ERROR_CORRUPT); /* no token for most bytes */
  /* The -hf repos' tokenizer.json, when vocab.json is absent: only a byte-level BPE. */
  g_autofree char *vocab = g_build_filename(dir, "vocab.json", NULL);
  g_unlink(vocab);
  write_file(dir, "tokenizer.json", "{\"model\": {\"type\": \"BPE\"}}");
  expect_load_error(dir, IVL_ERROR_CORRUPT); /* no vocab, no merges */
  write_file(dir, "tokenizer.json",
             "{\"model\": {\"type\": \"BPE\", \"byte_fallback\": true, \"vocab\": {\"a\": 0},"
             " \"merges\": []}, \"decoder\": {\"type\": \"Sequence\"}}");
  expect_load_error(dir, IVL_ERROR_UNSUPPORTED); /* Llama's SentencePiece-style BPE */
  write_file(dir, "tokenizer.json",
             "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [[\"a\"]]},"
             " \"decoder\": {\"type\": \"ByteLevel\"}}");
  expect_load_error(dir, IVL_ERROR_CORRUPT); /* no token for most bytes */
  const char *names[] = {"tokenizer.model", "tokenizer_config.json", "vocab.json", "merges.txt",
                         "tokenizer.json"};
  for (gsize i = 0; i < G_N_ELEMENTS(names); i++) {
    g_autofree char *path = g_build_filename(dir, names[i], NULL);
    g_unlink(path);
  }
  g_rmdir(dir);
}

/* The 9B-hf's tokenizer.json (tokenizer-llama.c): what LlamaConverter writes loads; other
 * models, normalizers and decoders are refused, and a broken file is CORRUPT. */
static void test_llama_errors(void)
{
  g_autofree char *dir = g_dir_make_tmp("ivl-tok-XXXXXX", NULL);
  g_assert_nonnull(dir);
  write_file(dir, "tokenizer_config.json", "{\"tokenizer_class\": \"LlamaTokenizerFast\"}");
  static const char model[] =
      "\"model\": {\"type\": \"BPE\", \"byte_fallback\": true, \"unk_token\": \"<unk>\","
      " \"vocab\": {\"<unk>\": 0, \"\u2581\": 1, \"a\": 2, \"\u2581a\": 3},"
      " \"merges\": [\"\u2581 a\"]}";
  static const char legacy[] =
      "\"normalizer\": {\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"Prepend\","
      " \"prepend\": \"\u2581\"}, {\"type\": \"Replace\", \"pattern\": {\"String\": \" \"},"
      " \"content\": \"\u2581\"}]}";
  static const char decoder[] =
      "\"decoder\": {\"type\": \"Sequence\", \"decoders\": [{\"type\": \"Replace\","
      " \"pattern\": {\"String\": \"\u2581\"}, \"content\": \" \"}, {\"type\": "
      "\"ByteFallback\"}, {\"type\": \"Fuse\"}, {\"type\": \"Strip\", \"content\": \" \","
      " \"start\": 1, \"stop\": 0}]}";
  g_autofree char *good = g_strdup_printf("{%s, %s, %s}", model, legacy, decoder);
  write_file(dir, "tokenizer.json", good);
  g_autoptr(GError) error = NULL;
  g_autoptr(ivl_tokenizer) t = ivl_tokenizer_load(dir, &error);
  g_assert_no_error(error);
  g_assert_cmpstr(ivl_tokenizer_get_kind(t), ==, "llama-bpe");
  g_autoptr(GArray) ids = ivl_tokenizer_encode(t, "a a", -1);
  g_assert_cmpuint(ids->len, ==, 2); /* ▁a ▁a */
  g_assert_cmpint(g_array_index(ids, gint32, 0), ==, 3);
  g_assert_cmpint(g_array_index(ids, gint32, 1), ==, 3);
  g_autofree char *text = ivl_tokenizer_decode(t, (gint32 *)(void *)ids->data, ids->len, FALSE);
  g_assert_cmpstr(text, ==, "a a");
  g_autoptr(GArray) unk = ivl_tokenizer_encode(t, "b", -1); /* no byte pieces: <unk> */
  g_assert_cmpuint(unk->len, ==, 2);
  g_assert_cmpint(g_array_index(unk, gint32, 1), ==, 0);

  /* legacy=False: Metaspace prepending to the first stretch only. */
  g_autofree char *first = g_strdup_printf(
      "{%s, \"pre_tokenizer\": {\"type\": \"Metaspace\", \"replacement\": \"\u2581\","
      " \"prepend_scheme\": \"first\", \"split\": false}, %s}",
      model, decoder);
  write_file(dir, "tokenizer.json", first);
  expect_load_error(dir, IVL_ERROR_UNSUPPORTED);
  g_autofree char *always = g_strdup_printf(
      "{%s, \"pre_tokenizer\": {\"type\": \"Metaspace\", \"replacement\": \"\u2581\","
      " \"prepend_scheme\": \"always\", \"split\": false}, %s}",
      model, decoder);
  write_file(dir, "tokenizer.json", always);
  g_autoptr(ivl_tokenizer) t2 = ivl_tokenizer_load(dir, &error);
  g_assert_no_error(error);
  g_autofree char *byte_level = g_strdup_printf("{%s, %s, \"decoder\": {\"type\": "
                                                "\"ByteLevel\"}}", model, legacy);
  write_file(dir, "tokenizer.json", byte_level);
  expect_load_error(dir, IVL_ERROR_UNSUPPORTED);
  write_file(dir, "tokenizer.json",
             "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}}");
  expect_load_error(dir, IVL_ERROR_UNSUPPORTED); /* no byte fallback */
  write_file(dir, "tokenizer.json",
             "{\"model\": {\"type\": \"BPE\", \"byte_fallback\": true, \"vocab\": {\"a\": 0},"
             " \"merges\": [\"a b\"]}}");
  expect_load_error(dir, IVL_ERROR_CORRUPT); /* b is no token */
  write_file(dir, "tokenizer.json", "{\"model\": {\"type\": \"BPE\"}}");
  expect_load_error(dir, IVL_ERROR_CORRUPT);
  const char *names[] = {"tokenizer_config.json", "tokenizer.json"};
  for (gsize i = 0; i < G_N_ELEMENTS(names); i++) {
    g_autofree char *path = g_build_filename(dir, names[i], NULL);
    g_unlink(path);
  }
  g_rmdir(dir);
}

/* Varied text (seeded pseudo-random words in several scripts) keeps the word cache from
 * doing all the work. */
static GString *varied_text(gsize size)
{
  static const char *const parts[] = {"the",  "model", "reads", " ",    "  ",   "\n",
                                      "42",   "3.14",  "你好",  "世界", "图片", "don't",
                                      "I'LL", ", ",    ". ",    "🦀", "é",    "Привет",
                                      "(x)",  "{}",    "->",    "\t",   "image"};
  GRand *rand = g_rand_new_with_seed(20251127);
  GString *text = g_string_new(NULL);
  while (text->len < size) {
    g_string_append(text, parts[g_rand_int_range(rand, 0, G_N_ELEMENTS(parts))]);
    for (int i = g_rand_int_range(rand, 0, 4); i > 0; i--)
      g_string_append_c(text, (char)g_rand_int_range(rand, 'a', 'z' + 1));
  }
  g_rand_free(rand);
  return text;
}

static double timed_encode(const char *what, const GString *text)
{
  gint64 t0 = g_get_monotonic_time();
  g_autoptr(GArray) ids = ivl_tokenizer_encode(tok, text->str, (gssize)text->len);
  double seconds = (g_get_monotonic_time() - t0) / 1e6;
  g_printerr("# encode speed (%s): %zu bytes -> %u ids in %.3f s\n", what, text->len, ids->len,
             seconds);
  g_autofree char *back = ivl_tokenizer_decode(tok, (gint32 *)ids->data, ids->len, FALSE);
  g_assert_cmpstr(back, ==, text->str);
  return seconds;
}

/* Not a speed assertion: a generous bound catches only a pathological slowdown. */
static void test_speed(void)
{
  GString *varied = varied_text(100 * 1024);
  GString *one_word = g_string_new(NULL);
  while (one_word->len < 100 * 1024)
    g_string_append(one_word, "abcdefghij");
  g_assert_cmpfloat(timed_encode("varied", varied), <, 5.0);
  g_assert_cmpfloat(timed_encode("one 100 KB word", one_word), <, 5.0);
  g_string_free(varied, TRUE);
  g_string_free(one_word, TRUE);
}

/* Random bytes, mostly not UTF-8: encoding never fails and decodes to valid UTF-8. */
static void test_random_bytes(void)
{
  GRand *rand = g_rand_new_with_seed(7);
  for (int round = 0; round < 200; round++) {
    guint8 buf[64];
    gsize n = (gsize)g_rand_int_range(rand, 0, sizeof buf);
    for (gsize i = 0; i < n; i++)
      buf[i] = (guint8)g_rand_int_range(rand, 0, 256);
    g_autoptr(GArray) ids = ivl_tokenizer_encode(tok, (const char *)buf, (gssize)n);
    g_autofree char *back = ivl_tokenizer_decode(tok, (gint32 *)ids->data, ids->len, FALSE);
    g_assert_true(g_utf8_validate(back, -1, NULL));
  }
  g_rand_free(rand);
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_autofree char *dir = data_path("tokenizer/qwen2.5");
  g_autoptr(GError) error = NULL;
  tok = ivl_tokenizer_load(dir, &error);
  g_assert_no_error(error);
  g_test_add_func("/tokenizer/goldens", test_goldens);
  g_test_add_func("/tokenizer/llama-errors", test_llama_errors);
  g_test_add_func("/tokenizer/spec-ids", test_spec_ids);
  g_test_add_func("/tokenizer/decode", test_decode);
  g_test_add_func("/tokenizer/stream-every-byte", test_stream_every_byte);
  g_test_add_func("/tokenizer/load-errors", test_load_errors);
  g_test_add_func("/tokenizer/random-bytes", test_random_bytes);
  g_test_add_func("/tokenizer/speed", test_speed);
  int status = g_test_run();
  ivl_tokenizer_free(tok);
  return status;
}
