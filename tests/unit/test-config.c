/* Unit tests of engine/config.c: the reconstructed InternVL3-1B config.json, generated configs
 * of every published size, and malformed configs that must name the offending field. */
#include <json-glib/json-glib.h>
#include <string.h>

#include "config.h"
#include "ivl.h"
#include "json-write.h"
#include "model-info.h"
#include "tiny-model.h"

static char *read_1b(void)
{
  g_autofree char *path = g_build_filename(g_getenv("IVL_SOURCE_ROOT"), "tests", "data", "config",
                                           "internvl3-1b.json", NULL);
  char *text = NULL;
  g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
  return text;
}

static void test_internvl3_1b(void)
{
  g_autofree char *text = read_1b();
  g_autoptr(GError) error = NULL;
  g_autoptr(ivl_config) c = ivl_config_parse(text, -1, &error);
  g_assert_no_error(error);
  const ivl_vision_config *v = &c->vision;
  g_assert_cmpint(v->hidden_size, ==, 1024);
  g_assert_cmpint(v->num_layers, ==, 24);
  g_assert_cmpint(v->num_heads, ==, 16);
  g_assert_cmpint(v->head_dim, ==, 64);
  g_assert_cmpint(v->intermediate_size, ==, 4096);
  g_assert_cmpint(v->image_size, ==, 448);
  g_assert_cmpint(v->patch_size, ==, 14);
  g_assert_cmpint(v->num_positions, ==, 1025);
  g_assert_cmpint(v->norm_type, ==, IVL_NORM_LAYER_NORM);
  g_assert_cmpfloat(v->layer_norm_eps, ==, 1e-6);
  g_assert_true(v->qkv_bias);
  g_assert_false(v->qk_normalization);
  const ivl_llm_config *l = &c->llm;
  g_assert_cmpint(l->arch, ==, IVL_LLM_QWEN2);
  g_assert_cmpint(l->hidden_size, ==, 896);
  g_assert_cmpint(l->num_layers, ==, 24);
  g_assert_cmpint(l->num_heads, ==, 14);
  g_assert_cmpint(l->num_kv_heads, ==, 2);
  g_assert_cmpint(l->head_dim, ==, 64);
  g_assert_cmpint(l->intermediate_size, ==, 4864);
  g_assert_cmpint(l->vocab_size, ==, 151674);
  g_assert_cmpint(l->max_position_embeddings, ==, 32768);
  g_assert_cmpfloat(l->rope_theta, ==, 1e6);
  g_assert_cmpint(l->rope_scaling, ==, IVL_ROPE_SCALING_DYNAMIC);
  g_assert_cmpfloat(l->rope_scaling_factor, ==, 2.0);
  g_assert_cmpfloat(l->rms_norm_eps, ==, 1e-6);
  g_assert_false(l->tie_word_embeddings);
  g_assert_cmpint(l->bos_token_id, ==, 151643);
  g_assert_cmpint(l->eos_token_id, ==, 151643);
  g_assert_cmpstr(l->torch_dtype, ==, "bfloat16");
  g_assert_cmpfloat(c->downsample_ratio, ==, 0.5);
  g_assert_cmpstr(c->ps_version, ==, "v2");
  g_assert_cmpint(c->select_layer, ==, -1);
  g_assert_cmpint(c->force_image_size, ==, 448);
  g_assert_cmpstr(c->template_name, ==, "internvl2_5");
  g_assert_cmpint(c->num_image_token, ==, 256);
  g_assert_cmpstr(ivl_model_size_name(c), ==, "InternVL3-1B");
  /* mlp1 4096->896 and the whole 1B: about 0.94 billion parameters. */
  ivl_param_counts n = ivl_model_count_params(c);
  g_assert_cmpuint(n.projector, ==, 4096 * 2 + 4096 * 896 + 896 + 896 * 896 + 896);
  g_assert_cmpuint(n.total, >, 900000000);
  g_assert_cmpuint(n.total, <, 1000000000);
}

/* Every published size, generated with its dimensions, parses back to them. */
static void test_sizes(void)
{
  guint n_sizes;
  const ivl_model_size *sizes = ivl_model_sizes(&n_sizes);
  g_assert_cmpuint(n_sizes, ==, 7);
  /* Nominal sizes in billions; the counts must land within 20% of the name. */
  static const double nominal[] = {1, 2, 8, 9, 14, 38, 78};
  for (guint i = 0; i < n_sizes; i++) {
    const ivl_model_size *s = &sizes[i];
    ivl_tiny_model_params p = ivl_tiny_model_params_for_size(s);
    g_autofree char *json = ivl_tiny_model_config_json(&p);
    g_autoptr(GError) error = NULL;
    g_autoptr(ivl_config) c = ivl_config_parse(json, -1, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(ivl_model_size_name(c), ==, s->name);
    g_assert_cmpint(c->vision.norm_type, ==,
                    s->vision_6b ? IVL_NORM_RMS_NORM : IVL_NORM_LAYER_NORM);
    g_assert_cmpint(c->vision.qk_normalization, ==, s->vision_6b);
    g_assert_cmpint(c->vision.qkv_bias, ==, !s->vision_6b);
    g_assert_cmpint(c->vision.head_dim, ==, s->vision_6b ? 128 : 64);
    g_assert_cmpint(c->llm.arch, ==, s->llm_arch);
    g_assert_cmpint(c->llm.hidden_size, ==, s->llm_hidden);
    g_assert_cmpint(c->llm.intermediate_size, ==, s->llm_ffn);
    g_assert_cmpint(c->llm.head_dim, ==, i == 0 ? 64 : 128);
    g_assert_cmpint(c->num_image_token, ==, 256);
    if (s->llm_arch == IVL_LLM_INTERNLM2) {
      g_assert_cmpfloat(c->llm.rope_theta, ==, 5e7);
      g_assert_cmpfloat(c->llm.rope_scaling_factor, ==, 6.0);
      g_assert_false(c->llm.bias);
    }
    double billions = (double)ivl_model_count_params(c).total / 1e9;
    g_test_message("%s: %.2f billion parameters", s->name, billions);
    g_assert_cmpfloat(billions, >, nominal[i] * 0.8);
    g_assert_cmpfloat(billions, <, nominal[i] * 1.2);
    /* every Linear matrix of a published size is whole 32-groups wide, so each precision
     * is strictly smaller than the one before */
    guint64 w[IVL_N_PRECISIONS];
    for (int p = 0; p < IVL_N_PRECISIONS; p++)
      w[p] = ivl_model_estimate_memory(c, p, TRUE, 0).weights;
    g_assert_cmpuint(w[IVL_PRECISION_BF16], >, w[IVL_PRECISION_INT8]);
    g_assert_cmpuint(w[IVL_PRECISION_INT8], >, w[IVL_PRECISION_Q4]);
  }
}

/* Each size's -hf config (InternVLConfig, as the conversion script writes it) reads to the
 * same fields as the original one, with the layout said; and the -hf keys ivl checks refuse
 * what is not InternVL3's. */
static void test_hf_sizes(void)
{
  guint n_sizes;
  const ivl_model_size *sizes = ivl_model_sizes(&n_sizes);
  for (guint i = 0; i < n_sizes; i++) {
    ivl_tiny_model_params p = ivl_tiny_model_params_for_size(&sizes[i]);
    g_autofree char *orig_json = ivl_tiny_model_config_json(&p);
    p.layout = IVL_LAYOUT_HF;
    g_autofree char *hf_json = ivl_tiny_model_config_json(&p);
    g_autoptr(GError) error = NULL;
    g_autoptr(ivl_config) o = ivl_config_parse(orig_json, -1, &error);
    g_autoptr(ivl_config) h = ivl_config_parse(hf_json, -1, &error);
    g_assert_no_error(error);
    g_assert_cmpint(o->layout, ==, IVL_LAYOUT_ORIGINAL);
    g_assert_cmpint(h->layout, ==, IVL_LAYOUT_HF);
    g_assert_true(memcmp(&o->vision, &h->vision, sizeof o->vision) == 0);
    g_assert_cmpint(h->llm.arch, ==, o->llm.arch);
    g_assert_cmpint(h->llm.hidden_size, ==, o->llm.hidden_size);
    g_assert_cmpint(h->llm.num_layers, ==, o->llm.num_layers);
    g_assert_cmpint(h->llm.num_kv_heads, ==, o->llm.num_kv_heads);
    g_assert_cmpint(h->llm.head_dim, ==, o->llm.head_dim);
    g_assert_cmpint(h->llm.vocab_size, ==, o->llm.vocab_size);
    g_assert_cmpint(h->llm.bias, ==, o->llm.bias);
    g_assert_cmpfloat(h->llm.rope_theta, ==, o->llm.rope_theta);
    g_assert_cmpint(h->select_layer, ==, o->select_layer);
    g_assert_cmpint(h->num_image_token, ==, o->num_image_token);
    g_assert_null(h->template_name); /* the repo's chat template instead */
    g_assert_cmpstr(ivl_model_size_name(h), ==, sizes[i].name);
    g_assert_cmpuint(ivl_model_count_params(h).total, ==, ivl_model_count_params(o).total);
  }

  ivl_tiny_model_params p = ivl_tiny_model_default_params();
  p.layout = IVL_LAYOUT_HF;
  g_autofree char *json = ivl_tiny_model_config_json(&p);
  static const char *const swaps[][3] = {
      {"\"vision_feature_select_strategy\": \"default\"",
       "\"vision_feature_select_strategy\": \"full\"", "InternVL3's gelu / default"},
      {"\"image_seq_length\": 256", "\"image_seq_length\": 64", "image_seq_length (64)"},
      {"\"model_type\": \"qwen2\"", "\"model_type\": \"mistral\"", "is not qwen2 or llama"},
  };
  for (gsize i = 0; i < G_N_ELEMENTS(swaps); i++) {
    g_assert_nonnull(strstr(json, swaps[i][0]));
    GString *bad = g_string_new(json);
    g_string_replace(bad, swaps[i][0], swaps[i][1], 1);
    g_autoptr(GError) error = NULL;
    g_autoptr(ivl_config) c = ivl_config_parse(bad->str, -1, &error);
    g_string_free(bad, TRUE);
    g_assert_null(c);
    if (!strstr(error->message, swaps[i][2]))
      g_error("message \"%s\" lacks \"%s\"", error->message, swaps[i][2]);
  }
}

/* The 1B config with one change: section "" (top), "llm_config" or "vision_config";
 * value NULL removes the key; value "RAW:…" parses the rest as JSON. */
static char *mutate(const char *sect, const char *key, const char *value)
{
  g_autofree char *text = read_1b();
  g_autoptr(JsonParser) parser = json_parser_new();
  g_assert_true(json_parser_load_from_data(parser, text, -1, NULL));
  JsonObject *o = json_node_get_object(json_parser_get_root(parser));
  if (*sect)
    o = json_object_get_object_member(o, sect);
  if (!value) {
    json_object_remove_member(o, key);
  } else {
    g_autoptr(JsonParser) vp = json_parser_new();
    g_assert_true(json_parser_load_from_data(vp, value, -1, NULL));
    json_object_set_member(o, key, json_node_copy(json_parser_get_root(vp)));
  }
  return ivl_json_write_pretty(json_parser_get_root(parser), TRUE);
}

typedef struct {
  const char *sect, *key, *value; /* the change */
  int code;                       /* expected IvlErrorCode */
  const char *message;            /* expected substring of the message */
} bad_case;

static const bad_case bad_cases[] = {
    {"llm_config", "hidden_size", NULL, IVL_ERROR_CORRUPT, "llm_config.hidden_size is missing"},
    {"vision_config", "num_hidden_layers", NULL, IVL_ERROR_CORRUPT,
     "vision_config.num_hidden_layers is missing"},
    {"", "vision_config", NULL, IVL_ERROR_CORRUPT, "vision_config is missing"},
    {"", "llm_config", "[1]", IVL_ERROR_CORRUPT, "llm_config must be an object"},
    {"llm_config", "architectures", "[\"LlamaForCausalLM\"]", IVL_ERROR_UNSUPPORTED,
     "llm_config.architectures[0] \"LlamaForCausalLM\""},
    {"llm_config", "architectures", "[]", IVL_ERROR_CORRUPT, "llm_config.architectures"},
    {"llm_config", "num_key_value_heads", "3", IVL_ERROR_CORRUPT,
     "llm_config.num_key_value_heads (3) must divide num_attention_heads (14)"},
    {"llm_config", "num_attention_heads", "15", IVL_ERROR_CORRUPT,
     "llm_config.num_key_value_heads (2) must divide num_attention_heads (15)"},
    {"llm_config", "num_attention_heads", "12", IVL_ERROR_CORRUPT,
     "llm_config.num_attention_heads (12) must divide hidden_size (896)"},
    {"vision_config", "num_attention_heads", "15", IVL_ERROR_CORRUPT,
     "vision_config.num_attention_heads (15) must divide hidden_size (1024)"},
    {"llm_config", "hidden_size", "0", IVL_ERROR_CORRUPT, "llm_config.hidden_size (0) must be in"},
    {"llm_config", "num_hidden_layers", "-3", IVL_ERROR_CORRUPT,
     "llm_config.num_hidden_layers (-3) must be in"},
    {"llm_config", "vocab_size", "\"151674\"", IVL_ERROR_CORRUPT,
     "llm_config.vocab_size must be an integer"},
    {"llm_config", "intermediate_size", "4864.5", IVL_ERROR_CORRUPT,
     "llm_config.intermediate_size must be an integer"},
    {"vision_config", "intermediate_size", "99999999999", IVL_ERROR_CORRUPT,
     "vision_config.intermediate_size (99999999999) must be in"},
    {"llm_config", "rms_norm_eps", "-1e-6", IVL_ERROR_CORRUPT, "llm_config.rms_norm_eps"},
    {"llm_config", "rope_theta", "\"big\"", IVL_ERROR_CORRUPT,
     "llm_config.rope_theta must be a number"},
    {"llm_config", "rope_scaling", "{\"type\": \"yarn\", \"factor\": 4.0}", IVL_ERROR_UNSUPPORTED,
     "llm_config.rope_scaling.type \"yarn\""},
    {"llm_config", "rope_scaling", "{\"type\": \"dynamic\"}", IVL_ERROR_CORRUPT,
     "llm_config.rope_scaling.factor is missing"},
    {"llm_config", "eos_token_id", "-5", IVL_ERROR_CORRUPT, "llm_config.eos_token_id"},
    {"vision_config", "norm_type", "\"batch_norm\"", IVL_ERROR_UNSUPPORTED,
     "vision_config.norm_type \"batch_norm\""},
    {"vision_config", "qkv_bias", "1", IVL_ERROR_CORRUPT,
     "vision_config.qkv_bias must be true or false"},
    {"vision_config", "image_size", "224", IVL_ERROR_UNSUPPORTED, "vision_config.image_size"},
    {"", "force_image_size", "224", IVL_ERROR_UNSUPPORTED, "force_image_size (224)"},
    {"", "ps_version", "\"v1\"", IVL_ERROR_UNSUPPORTED, "ps_version \"v1\" is not v2"},
    {"", "ps_version", NULL, IVL_ERROR_CORRUPT, "ps_version is missing"},
    {"", "downsample_ratio", "0.25", IVL_ERROR_UNSUPPORTED, "downsample_ratio (0.25) is not 0.5"},
    {"", "select_layer", "24", IVL_ERROR_CORRUPT, "select_layer (24) must be in [-24, 23]"},
    {"", "template", NULL, IVL_ERROR_CORRUPT, "template is missing"},
};

static void test_bad(gconstpointer data)
{
  const bad_case *b = data;
  g_autofree char *json = mutate(b->sect, b->key, b->value);
  g_autoptr(GError) error = NULL;
  g_autoptr(ivl_config) c = ivl_config_parse(json, -1, &error);
  g_assert_null(c);
  g_assert_error(error, IVL_ERROR, b->code);
  g_test_message("%s", error->message);
  if (!strstr(error->message, b->message))
    g_error("message \"%s\" lacks \"%s\"", error->message, b->message);
}

static void test_bad_text(void)
{
  static const char *const texts[] = {"",        "not json",
                                      "[1, 2]",  "{\"a\": 1",
                                      "\"str\"", "{\"vision_config\": {}, \"vision_config\": {}}"};
  static const char *const messages[] = {"empty",          "not valid JSON",    "not a JSON object",
                                         "not valid JSON", "not a JSON object", "appears twice"};
  for (gsize i = 0; i < G_N_ELEMENTS(texts); i++) {
    g_autoptr(GError) error = NULL;
    g_autoptr(ivl_config) c = ivl_config_parse(texts[i], -1, &error);
    g_assert_null(c);
    g_assert_error(error, IVL_ERROR, IVL_ERROR_CORRUPT);
    if (!strstr(error->message, messages[i]))
      g_error("\"%s\": message \"%s\" lacks \"%s\"", texts[i], error->message, messages[i]);
  }
}

static void test_load_missing(void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(ivl_config) c = ivl_config_load("/nonexistent/ivl-model", &error);
  g_assert_null(c);
  g_assert_error(error, IVL_ERROR, IVL_ERROR_NOT_FOUND);
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/config/internvl3-1b", test_internvl3_1b);
  g_test_add_func("/config/sizes", test_sizes);
  g_test_add_func("/config/hf-sizes", test_hf_sizes);
  g_test_add_func("/config/bad-text", test_bad_text);
  g_test_add_func("/config/load-missing", test_load_missing);
  for (gsize i = 0; i < G_N_ELEMENTS(bad_cases); i++) {
    g_autofree char *path =
        g_strdup_printf("/config/bad/%s%s%s=%s", bad_cases[i].sect, *bad_cases[i].sect ? "." : "",
                        bad_cases[i].key, bad_cases[i].value ? bad_cases[i].value : "(removed)");
    g_strdelimit(path + 1, " \"{}[]:,", '_');
    g_test_add_data_func(path, &bad_cases[i], test_bad);
  }
  return g_test_run();
}
