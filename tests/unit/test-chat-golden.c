/* test-chat-golden — one chat() turn through the public API against the reference: the
 * internvl2_5 prompt rendered and tokenized (compared with tests/reference/qwen2_tokenizer.py,
 * or for the 9B-style InternLM2 models internlm3_tokenizer.py with its BOS, over the spec's
 * template), an image preprocessed (the reference uses the quick start's
 * Pillow + torchvision code), then greedy decoding on a tiny model with the real vocabulary
 * (compared with tests/reference/internvl_ref.py in f32). Template, tokenizer, media,
 * session and model are all in the loop.
 *
 * Greedy tokens must agree exactly, except at a step where the reference's top two logits
 * lie within 2e-4 (the f32 tolerance test-model-golden justifies): there a tie may break
 * either way and the comparison stops.
 */
#include "golden-common.h"
#include "ivl.h"

#define TIE_TOL 2e-4

static void check_ids(const char *what, const int32_t *ids, int n, JsonArray *want, JsonArray *gaps)
{
  for (guint i = 0; i < json_array_get_length(want); i++) {
    int32_t w = json_array_get_int_element(want, i);
    if (gaps && i < (guint)n && ids[i] != w && json_array_get_double_element(gaps, i) <= TIE_TOL) {
      g_test_message("%s: near tie at %u, stopping the comparison", what, i);
      return;
    }
    if (i >= (guint)n || ids[i] != w)
      g_error("%s[%u]: %d, reference %d", what, i, i < (guint)n ? ids[i] : -1, w);
  }
  g_assert_cmpint(n, ==, json_array_get_length(want));
}

static void run_chat(JsonObject *g, const char *dir)
{
  g_autoptr(GError) error = NULL;
  ivl_model_params mp = ivl_model_default_params();
  mp.backend = IVL_BACKEND_CPU;
  mp.context_length = 2048;
  ivl_model *model = ivl_model_load(dir, &mp, NULL, &error);
  g_assert_no_error(error);
  ivl_session *s = ivl_session_new(model, NULL, &error);
  ivl_generation_params gp = ivl_generation_default_params();
  gp.max_new_tokens = json_object_get_int_member(g, "max_new_tokens");
  ivl_media *media = NULL;
  if (json_object_has_member(g, "image")) {
    g_autofree char *path = golden_source_path(json_object_get_string_member(g, "image"));
    ivl_image_params ip = ivl_image_default_params();
    ip.max_num = json_object_get_int_member(g, "max_num");
    media = ivl_media_from_image_file(path, &ip, &error);
    g_assert_no_error(error);
  }
  g_autofree char *answer =
      ivl_session_ask(s, json_object_get_string_member(g, "question"), &media, media ? 1 : 0,
                      IVL_IMAGES_COMBINED, &gp, NULL, NULL, NULL, &error);
  g_assert_no_error(error);
  ivl_media_free(media);
  int n;
  const int32_t *ids = ivl_session_get_prompt_ids(s, &n);
  check_ids("prompt", ids, n, json_object_get_array_member(g, "prompt_ids"), NULL);
  ids = ivl_session_get_generated_ids(s, &n);
  check_ids("generated", ids, n, json_object_get_array_member(g, "generated_ids"),
            json_object_get_array_member(g, "gaps"));
  if (n == (int)json_array_get_length(json_object_get_array_member(g, "generated_ids")))
    g_assert_cmpstr(answer, ==, json_object_get_string_member(g, "answer"));
  ivl_session_free(s);
  ivl_model_free(model);
}

static void run_golden(gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonParser) parser = json_parser_new();
  g_assert_true(json_parser_load_from_file(parser, data, &error));
  JsonObject *g = json_node_get_object(json_parser_get_root(parser));
  g_autofree char *dir = g_dir_make_tmp("ivl-chat-golden-XXXXXX", &error);
  g_assert_no_error(error);
  ivl_tiny_model_params tp = golden_tiny_params(json_object_get_object_member(g, "model"));
  const char *tok_rel = json_object_has_member(g, "tokenizer")
                            ? json_object_get_string_member(g, "tokenizer")
                            : "tests/data/tokenizer/qwen2.5";
  g_autofree char *tok = golden_source_path(tok_rel);
  tp.tokenizer_dir = tok;
  g_assert_true(ivl_tiny_model_write(dir, &tp, &error));
  golden_check_files(dir, json_object_get_object_member(g, "sha256"));
  run_chat(g, dir);
  golden_remove_tree(dir);
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  for (int i = 1; i < argc; i++) {
    g_autofree char *base = g_path_get_basename(argv[i]);
    g_autofree char *name = g_strdup_printf("/chat-golden/%s", base);
    g_test_add_data_func(name, argv[i], run_golden);
  }
  return g_test_run();
}
