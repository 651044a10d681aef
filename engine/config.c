/* config.c — config.json → ivl_config, every field checked before anyone uses it. */
#include "config.h"

#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#include "file-io.h"
#include "ivl.h"
#include "json-check.h"

/* Bounds that keep every size product the model code forms (e.g. vocab × hidden × 2 bytes)
 * far from 64-bit overflow, and reject nonsense early. Real models are well inside. */
#define MAX_DIM (1 << 20)
#define MAX_LAYERS 1024
#define MAX_VOCAB (1 << 24)

/* A JSON object and the dotted path that names it in messages ("llm_config"). */
typedef struct {
  JsonObject *obj;
  const char *path;
} section;

static void missing(const section *s, const char *key, const char *what, GError **error)
{
  g_set_error(error, IVL_ERROR, IVL_ERROR_CORRUPT, "config.json: %s%s%s %s", s->path,
              *s->path ? "." : "", key, what);
}

static JsonNode *member(const section *s, const char *key)
{
  JsonNode *n = json_object_get_member(s->obj, key);
  return (n && !JSON_NODE_HOLDS_NULL(n)) ? n : NULL;
}

/* Integer field: required unless has_default. Range [lo, hi] checked. */
static gboolean get_int(const section *s, const char *key, gboolean has_default, int dflt,
                        gint64 lo, gint64 hi, int *out, GError **error)
{
  JsonNode *n = member(s, key);
  if (!n) {
    if (has_default) {
      *out = dflt;
      return TRUE;
    }
    missing(s, key, "is missing", error);
    return FALSE;
  }
  if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_INT64) {
    missing(s, key, "must be an integer", error);
    return FALSE;
  }
  gint64 v = json_node_get_int(n);
  if (v < lo || v > hi) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_CORRUPT,
                "config.json: %s%s%s (%" G_GINT64_FORMAT ") must be in [%" G_GINT64_FORMAT
                ", %" G_GINT64_FORMAT "]",
                s->path, *s->path ? "." : "", key, v, lo, hi);
    return FALSE;
  }
  *out = (int)v;
  return TRUE;
}

static gboolean get_size(const section *s, const char *key, gint64 hi, int *out, GError **error)
{
  return get_int(s, key, FALSE, 0, 1, hi, out, error);
}

/* Number field (int or float), finite and > 0. */
static gboolean get_double(const section *s, const char *key, gboolean has_default, double dflt,
                           double *out, GError **error)
{
  JsonNode *n = member(s, key);
  if (!n) {
    if (has_default) {
      *out = dflt;
      return TRUE;
    }
    missing(s, key, "is missing", error);
    return FALSE;
  }
  GType t = JSON_NODE_HOLDS_VALUE(n) ? json_node_get_value_type(n) : G_TYPE_INVALID;
  if (t != G_TYPE_INT64 && t != G_TYPE_DOUBLE) {
    missing(s, key, "must be a number", error);
    return FALSE;
  }
  double v = json_node_get_double(n);
  if (!isfinite(v) || v <= 0) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_CORRUPT, "config.json: %s%s%s (%g) must be > 0",
                s->path, *s->path ? "." : "", key, v);
    return FALSE;
  }
  *out = v;
  return TRUE;
}

static gboolean get_bool(const section *s, const char *key, gboolean dflt, gboolean *out,
                         GError **error)
{
  JsonNode *n = member(s, key);
  if (!n) {
    *out = dflt;
    return TRUE;
  }
  if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_BOOLEAN) {
    missing(s, key, "must be true or false", error);
    return FALSE;
  }
  *out = json_node_get_boolean(n);
  return TRUE;
}

/* String field; dflt NULL = required. Result newly allocated. */
static char *get_string(const section *s, const char *key, const char *dflt, GError **error)
{
  JsonNode *n = member(s, key);
  if (!n) {
    if (dflt)
      return g_strdup(dflt);
    missing(s, key, "is missing", error);
    return NULL;
  }
  if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING) {
    missing(s, key, "must be a string", error);
    return NULL;
  }
  return g_strdup(json_node_get_string(n));
}

static gboolean get_section(const section *parent, const char *key, char *path_buf, gsize buf_len,
                            section *out, GError **error)
{
  JsonNode *n = member(parent, key);
  if (!n) {
    missing(parent, key, "is missing", error);
    return FALSE;
  }
  if (!JSON_NODE_HOLDS_OBJECT(n)) {
    missing(parent, key, "must be an object", error);
    return FALSE;
  }
  g_strlcpy(path_buf, key, buf_len);
  out->obj = json_node_get_object(n);
  out->path = path_buf;
  return TRUE;
}

static gboolean must_divide(const section *s, const char *key_a, int a, const char *key_b, int b,
                            GError **error)
{
  if (b % a == 0)
    return TRUE;
  g_set_error(error, IVL_ERROR, IVL_ERROR_CORRUPT, "config.json: %s.%s (%d) must divide %s (%d)",
              s->path, key_a, a, key_b, b);
  return FALSE;
}

/* InternVLVisionConfig stores image_size and patch_size as [height, width]; ivl takes a
 * square one as the single number of the original config. */
static gboolean get_square(const section *s, const char *key, int *out, GError **error)
{
  JsonNode *n = member(s, key);
  if (n && JSON_NODE_HOLDS_ARRAY(n)) {
    JsonArray *a = json_node_get_array(n);
    JsonNode *h = json_array_get_length(a) == 2 ? json_array_get_element(a, 0) : NULL;
    JsonNode *w = h ? json_array_get_element(a, 1) : NULL;
    if (!h || !JSON_NODE_HOLDS_VALUE(h) || !JSON_NODE_HOLDS_VALUE(w) ||
        json_node_get_value_type(h) != G_TYPE_INT64 ||
        json_node_get_value_type(w) != G_TYPE_INT64 ||
        json_node_get_int(h) != json_node_get_int(w) || json_node_get_int(h) < 1 ||
        json_node_get_int(h) > MAX_DIM) {
      missing(s, key, "must be a size or [size, size]", error);
      return FALSE;
    }
    *out = (int)json_node_get_int(h);
    return TRUE;
  }
  return get_size(s, key, MAX_DIM, out, error);
}

/* The -hf vision config renames two keys (the conversion script's qkv_bias ->
 * attention_bias, qk_normalization -> use_qk_norm). */
static gboolean parse_vision(const section *s, ivl_layout layout, ivl_vision_config *v,
                             GError **error)
{
  gboolean hf = layout == IVL_LAYOUT_HF;
  g_autofree char *norm = NULL;
  if (!get_size(s, "hidden_size", MAX_DIM, &v->hidden_size, error) ||
      !get_size(s, "num_hidden_layers", MAX_LAYERS, &v->num_layers, error) ||
      !get_size(s, "num_attention_heads", MAX_DIM, &v->num_heads, error) ||
      !get_size(s, "intermediate_size", MAX_DIM, &v->intermediate_size, error) ||
      !get_square(s, "image_size", &v->image_size, error) ||
      !get_square(s, "patch_size", &v->patch_size, error) ||
      !get_int(s, "num_channels", TRUE, 3, 1, 3, &v->num_channels, error) ||
      !get_double(s, "layer_norm_eps", TRUE, 1e-6, &v->layer_norm_eps, error) ||
      !get_bool(s, hf ? "attention_bias" : "qkv_bias", FALSE, &v->qkv_bias, error) ||
      !get_bool(s, hf ? "use_qk_norm" : "qk_normalization", FALSE, &v->qk_normalization,
                error) ||
      !(norm = get_string(s, "norm_type", "rms_norm", error)))
    return FALSE;
  if (!must_divide(s, "num_attention_heads", v->num_heads, "hidden_size", v->hidden_size, error))
    return FALSE;
  v->head_dim = v->hidden_size / v->num_heads;
  if (strcmp(norm, "layer_norm") == 0) {
    v->norm_type = IVL_NORM_LAYER_NORM;
  } else if (strcmp(norm, "rms_norm") == 0) {
    v->norm_type = IVL_NORM_RMS_NORM;
  } else {
    g_set_error(error, IVL_ERROR, IVL_ERROR_UNSUPPORTED,
                "config.json: vision_config.norm_type \"%s\" is not layer_norm or rms_norm", norm);
    return FALSE;
  }
  /* Preprocessing always makes 448x448 tiles cut in 14x14 patches (spec section 8). */
  if (v->image_size != 448 || v->patch_size != 14) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_UNSUPPORTED,
                "config.json: vision_config.image_size/patch_size (%d/%d) must be 448/14",
                v->image_size, v->patch_size);
    return FALSE;
  }
  if (v->num_channels != 3) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_UNSUPPORTED,
                "config.json: vision_config.num_channels (%d) must be 3", v->num_channels);
    return FALSE;
  }
  int grid = v->image_size / v->patch_size;
  v->num_positions = grid * grid + 1;
  return TRUE;
}

static gboolean parse_arch(const section *s, ivl_llm_arch *arch, GError **error)
{
  JsonNode *n = member(s, "architectures");
  if (!n || !JSON_NODE_HOLDS_ARRAY(n) || json_array_get_length(json_node_get_array(n)) == 0) {
    missing(s, "architectures", "must be a non-empty array", error);
    return FALSE;
  }
  JsonNode *first = json_array_get_element(json_node_get_array(n), 0);
  const char *name =
      JSON_NODE_HOLDS_VALUE(first) && json_node_get_value_type(first) == G_TYPE_STRING
          ? json_node_get_string(first)
          : "";
  if (strcmp(name, "Qwen2ForCausalLM") == 0) {
    *arch = IVL_LLM_QWEN2;
  } else if (strcmp(name, "InternLM2ForCausalLM") == 0 ||
             strcmp(name, "InternLM3ForCausalLM") == 0) {
    /* InternVL3-9B ships its InternLM3 LM in the InternLM2 layout (spec 2d). */
    *arch = IVL_LLM_INTERNLM2;
  } else {
    g_set_error(error, IVL_ERROR, IVL_ERROR_UNSUPPORTED,
                "config.json: llm_config.architectures[0] \"%s\" is not Qwen2ForCausalLM or "
                "InternLM2ForCausalLM",
                name);
    return FALSE;
  }
  return TRUE;
}

/* An -hf text_config names its class by model_type: Qwen2Config, or LlamaConfig for the 9B
 * (InternLM2's weights under Llama's names, de-interleaved q/k/v). */
static gboolean parse_hf_arch(const section *s, ivl_llm_arch *arch, GError **error)
{
  g_autofree char *type = get_string(s, "model_type", NULL, error);
  if (!type)
    return FALSE;
  if (strcmp(type, "qwen2") == 0) {
    *arch = IVL_LLM_QWEN2;
  } else if (strcmp(type, "llama") == 0) {
    *arch = IVL_LLM_INTERNLM2;
  } else {
    g_set_error(error, IVL_ERROR, IVL_ERROR_UNSUPPORTED,
                "config.json: text_config.model_type \"%s\" is not qwen2 or llama", type);
    return FALSE;
  }
  return TRUE;
}

static gboolean parse_rope_scaling(const section *s, ivl_llm_config *l, GError **error)
{
  l->rope_scaling = IVL_ROPE_SCALING_NONE;
  l->rope_scaling_factor = 1.0;
  JsonNode *n = member(s, "rope_scaling");
  if (!n)
    return TRUE;
  if (!JSON_NODE_HOLDS_OBJECT(n)) {
    missing(s, "rope_scaling", "must be an object or null", error);
    return FALSE;
  }
  section rs = {json_node_get_object(n), "llm_config.rope_scaling"};
  /* transformers reads "rope_type" and falls back to the older "type". */
  const char *key = member(&rs, "rope_type") ? "rope_type" : "type";
  g_autofree char *type = get_string(&rs, key, NULL, error);
  if (!type || !get_double(&rs, "factor", FALSE, 0, &l->rope_scaling_factor, error))
    return FALSE;
  if (strcmp(type, "dynamic") == 0) {
    l->rope_scaling = IVL_ROPE_SCALING_DYNAMIC;
  } else if (strcmp(type, "linear") == 0) {
    l->rope_scaling = IVL_ROPE_SCALING_LINEAR;
  } else if (strcmp(type, "default") == 0) {
    l->rope_scaling_factor = 1.0;
  } else {
    g_set_error(error, IVL_ERROR, IVL_ERROR_UNSUPPORTED,
                "config.json: llm_config.rope_scaling.%s \"%s\" is not dynamic or linear", key,
                type);
    return FALSE;
  }
  return TRUE;
}

/* bos/eos ids may be an integer, a list of integers (first wins) or null. */
static gboolean get_token_id(const section *s, const char *key, int *out, GError **error)
{
  JsonNode *n = member(s, key);
  if (n && JSON_NODE_HOLDS_ARRAY(n) && json_array_get_length(json_node_get_array(n)) > 0)
    n = json_array_get_element(json_node_get_array(n), 0);
  if (n && JSON_NODE_HOLDS_ARRAY(n))
    n = NULL;
  if (!n) {
    *out = -1;
    return TRUE;
  }
  if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_INT64 ||
      json_node_get_int(n) < 0 || json_node_get_int(n) >= MAX_VOCAB) {
    missing(s, key, "must be a token id", error);
    return FALSE;
  }
  *out = (int)json_node_get_int(n);
  return TRUE;
}

static gboolean parse_llm(const section *s, ivl_layout layout, ivl_llm_config *l, GError **error)
{
  gboolean hf = layout == IVL_LAYOUT_HF;
  if (!(hf ? parse_hf_arch(s, &l->arch, error) : parse_arch(s, &l->arch, error)) ||
      !get_size(s, "hidden_size", MAX_DIM, &l->hidden_size, error) ||
      !get_size(s, "num_hidden_layers", MAX_LAYERS, &l->num_layers, error) ||
      !get_size(s, "num_attention_heads", MAX_DIM, &l->num_heads, error) ||
      !get_int(s, "num_key_value_heads", TRUE, l->num_heads, 1, MAX_DIM, &l->num_kv_heads, error) ||
      !get_size(s, "intermediate_size", MAX_DIM, &l->intermediate_size, error) ||
      !get_size(s, "vocab_size", MAX_VOCAB, &l->vocab_size, error) ||
      !get_size(s, "max_position_embeddings", 1 << 24, &l->max_position_embeddings, error) ||
      !get_double(s, "rope_theta", TRUE, 10000.0, &l->rope_theta, error) ||
      !get_double(s, "rms_norm_eps", TRUE, 1e-6, &l->rms_norm_eps, error) ||
      !get_bool(s, "tie_word_embeddings", FALSE, &l->tie_word_embeddings, error) ||
      /* InternLM2Config defaults bias to true; InternLM3's file sets it false. LlamaConfig
       * calls it attention_bias, false by default. */
      !get_bool(s, hf ? "attention_bias" : "bias", !hf && l->arch == IVL_LLM_INTERNLM2, &l->bias,
                error) ||
      !get_token_id(s, "bos_token_id", &l->bos_token_id, error) ||
      !get_token_id(s, "eos_token_id", &l->eos_token_id, error) ||
      !parse_rope_scaling(s, l, error) ||
      !(l->torch_dtype = get_string(s, "torch_dtype", "bfloat16", error)))
    return FALSE;
  if (l->arch == IVL_LLM_QWEN2)
    l->bias = FALSE; /* Qwen2's q/k/v biases are implied by the architecture, not this key. */
  gboolean mlp_bias = FALSE;
  if (hf && !get_bool(s, "mlp_bias", FALSE, &mlp_bias, error))
    return FALSE;
  if (mlp_bias) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_UNSUPPORTED,
                "config.json: text_config.mlp_bias is true (InternLM2's MLP has no biases)");
    return FALSE;
  }
  if (!must_divide(s, "num_key_value_heads", l->num_kv_heads, "num_attention_heads", l->num_heads,
                   error))
    return FALSE;
  if (member(s, "head_dim")) {
    if (!get_size(s, "head_dim", MAX_DIM, &l->head_dim, error))
      return FALSE;
  } else {
    if (!must_divide(s, "num_attention_heads", l->num_heads, "hidden_size", l->hidden_size, error))
      return FALSE;
    l->head_dim = l->hidden_size / l->num_heads;
  }
  if (l->head_dim % 2 != 0) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_CORRUPT,
                "config.json: llm_config head_dim (%d) must be even for rotary embeddings",
                l->head_dim);
    return FALSE;
  }
  return TRUE;
}

static gboolean parse_top(const section *top, ivl_config *c, GError **error)
{
  if (!(c->torch_dtype = get_string(top, "torch_dtype", "bfloat16", error)) ||
      !(c->template_name = get_string(top, "template", NULL, error)) ||
      !(c->ps_version = get_string(top, "ps_version", NULL, error)) ||
      !get_double(top, "downsample_ratio", FALSE, 0, &c->downsample_ratio, error) ||
      !get_int(top, "select_layer", TRUE, -1, -c->vision.num_layers, c->vision.num_layers - 1,
               &c->select_layer, error) ||
      !get_int(top, "force_image_size", TRUE, c->vision.image_size, 1, MAX_DIM,
               &c->force_image_size, error))
    return FALSE;
  if (strcmp(c->ps_version, "v2") != 0) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_UNSUPPORTED, "config.json: ps_version \"%s\" is not v2",
                c->ps_version);
    return FALSE;
  }
  if (c->downsample_ratio != 0.5) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_UNSUPPORTED,
                "config.json: downsample_ratio (%g) is not 0.5", c->downsample_ratio);
    return FALSE;
  }
  if (c->force_image_size != c->vision.image_size) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_UNSUPPORTED,
                "config.json: force_image_size (%d) differs from vision_config.image_size (%d)",
                c->force_image_size, c->vision.image_size);
    return FALSE;
  }
  int grid = c->vision.image_size / c->vision.patch_size;
  int side = (int)(grid * c->downsample_ratio);
  c->num_image_token = side * side;
  return TRUE;
}

/* The -hf top level (transformers' InternVLConfig): no template, ps_version or
 * force_image_size; the projector's activation, the vision layer taken and whether the CLS
 * token is dropped are keys, which ivl checks are the original model's. */
static gboolean parse_hf_top(const section *top, ivl_config *c, GError **error)
{
  g_autofree char *act = NULL, *strategy = NULL;
  int seq_length = 0;
  if (!(c->torch_dtype = get_string(top, "torch_dtype", c->llm.torch_dtype, error)) ||
      !get_double(top, "downsample_ratio", TRUE, 0.5, &c->downsample_ratio, error) ||
      !get_int(top, "vision_feature_layer", TRUE, -1, -c->vision.num_layers,
               c->vision.num_layers - 1, &c->select_layer, error) ||
      !(act = get_string(top, "projector_hidden_act", "gelu", error)) ||
      !(strategy = get_string(top, "vision_feature_select_strategy", "default", error)) ||
      !get_int(top, "image_seq_length", TRUE, 256, 1, MAX_DIM, &seq_length, error))
    return FALSE;
  c->ps_version = g_strdup("v2");
  c->force_image_size = c->vision.image_size;
  if (strcmp(act, "gelu") != 0 || strcmp(strategy, "default") != 0) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_UNSUPPORTED,
                "config.json: projector_hidden_act \"%s\" / vision_feature_select_strategy "
                "\"%s\" are not InternVL3's gelu / default",
                act, strategy);
    return FALSE;
  }
  if (c->downsample_ratio != 0.5) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_UNSUPPORTED,
                "config.json: downsample_ratio (%g) is not 0.5", c->downsample_ratio);
    return FALSE;
  }
  int side = c->vision.image_size / c->vision.patch_size / 2;
  c->num_image_token = side * side;
  if (seq_length != c->num_image_token) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_CORRUPT,
                "config.json: image_seq_length (%d) differs from the %d tokens a tile gives",
                seq_length, c->num_image_token);
    return FALSE;
  }
  return TRUE;
}

/* InternVLForConditionalGeneration (or model_type "internvl") is the -hf layout; anything
 * else is read as the original InternVLChatModel. */
static ivl_layout detect_layout(const section *top)
{
  JsonNode *n = member(top, "model_type");
  if (n && JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING &&
      strcmp(json_node_get_string(n), "internvl") == 0)
    return IVL_LAYOUT_HF;
  n = member(top, "architectures");
  if (n && JSON_NODE_HOLDS_ARRAY(n) && json_array_get_length(json_node_get_array(n)) > 0) {
    JsonNode *first = json_array_get_element(json_node_get_array(n), 0);
    if (JSON_NODE_HOLDS_VALUE(first) && json_node_get_value_type(first) == G_TYPE_STRING &&
        strcmp(json_node_get_string(first), "InternVLForConditionalGeneration") == 0)
      return IVL_LAYOUT_HF;
  }
  return IVL_LAYOUT_ORIGINAL;
}

ivl_config *ivl_config_parse(const char *json, gssize length, GError **error)
{
  gsize len = length < 0 ? strlen(json) : (gsize)length;
  g_autoptr(JsonParser) parser = ivl_json_parse_checked(json, len, "config.json", error);
  if (!parser)
    return NULL;
  JsonNode *root = json_parser_get_root(parser);
  if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_CORRUPT, "config.json: not a JSON object");
    return NULL;
  }
  section top = {json_node_get_object(root), ""};
  char vpath[32], lpath[32];
  section vs, ls;
  g_autoptr(ivl_config) c = g_new0(ivl_config, 1);
  c->layout = detect_layout(&top);
  gboolean hf = c->layout == IVL_LAYOUT_HF;
  if (!get_section(&top, "vision_config", vpath, sizeof vpath, &vs, error) ||
      !get_section(&top, hf ? "text_config" : "llm_config", lpath, sizeof lpath, &ls, error) ||
      !parse_vision(&vs, c->layout, &c->vision, error) ||
      !parse_llm(&ls, c->layout, &c->llm, error) ||
      !(hf ? parse_hf_top(&top, c, error) : parse_top(&top, c, error)))
    return NULL;
  return g_steal_pointer(&c);
}

ivl_config *ivl_config_load(const char *model_dir, GError **error)
{
  g_autofree char *path = g_build_filename(model_dir, "config.json", NULL);
  g_autofree char *text = NULL;
  gsize len = 0;
  /* config.json is a few KB; the bound keeps a huge file from being read whole. */
  if (!ivl_file_read(path, (gsize)16 << 20, &text, &len, error))
    return NULL;
  return ivl_config_parse(text, (gssize)len, error);
}

void ivl_config_free(ivl_config *config)
{
  if (!config)
    return;
  g_free(config->llm.torch_dtype);
  g_free(config->ps_version);
  g_free(config->template_name);
  g_free(config->torch_dtype);
  g_free(config);
}

const char *ivl_llm_arch_name(ivl_llm_arch arch)
{
  return arch == IVL_LLM_INTERNLM2 ? "internlm2" : "qwen2";
}

const char *ivl_norm_type_name(ivl_norm_type type)
{
  return type == IVL_NORM_RMS_NORM ? "rms_norm" : "layer_norm";
}
