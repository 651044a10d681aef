/* tiny-model-config.c — config.json of a tiny model, key for key as InternVL3-1B's
 * (spec/INTERNVL3.md section 3), written as transformers does (indent 2, keys sorted). */
#include "tiny-model.h"

#include <json-glib/json-glib.h>

#include "json-write.h"

static void set_int(JsonObject *o, const char *key, gint64 v)
{
  json_object_set_int_member(o, key, v);
}

static void set_str(JsonObject *o, const char *key, const char *v)
{
  json_object_set_string_member(o, key, v);
}

static void set_null(JsonObject *o, const char *key)
{
  json_object_set_null_member(o, key);
}

static void set_strings(JsonObject *o, const char *key, const char *first)
{
  JsonArray *a = json_array_new();
  json_array_add_string_element(a, first);
  json_object_set_array_member(o, key, a);
}

static JsonObject *vision_config(const ivl_tiny_model_params *p)
{
  JsonObject *v = json_object_new();
  set_strings(v, "architectures", "InternVisionModel");
  json_object_set_double_member(v, "attention_dropout", 0.0);
  json_object_set_double_member(v, "drop_path_rate", 0.1);
  json_object_set_double_member(v, "dropout", 0.0);
  set_str(v, "hidden_act", "gelu");
  set_int(v, "hidden_size", p->vision_hidden);
  set_int(v, "image_size", 448);
  json_object_set_double_member(v, "initializer_factor", 0.1);
  json_object_set_double_member(v, "initializer_range", 1e-10);
  set_int(v, "intermediate_size", p->vision_ffn);
  json_object_set_double_member(v, "layer_norm_eps", 1e-6);
  set_str(v, "model_type", "intern_vit_6b");
  set_str(v, "norm_type", p->vision_6b ? "rms_norm" : "layer_norm");
  set_int(v, "num_attention_heads", p->vision_heads);
  set_int(v, "num_channels", 3);
  set_int(v, "num_experts", 8);
  set_int(v, "num_hidden_layers", p->vision_layers);
  set_int(v, "num_routed_experts", 4);
  set_int(v, "num_shared_experts", 4);
  set_int(v, "patch_size", 14);
  json_object_set_boolean_member(v, "qk_normalization", p->vision_6b);
  json_object_set_boolean_member(v, "qkv_bias", !p->vision_6b);
  set_str(v, "torch_dtype", "bfloat16");
  json_object_set_boolean_member(v, "use_bfloat16", TRUE);
  json_object_set_boolean_member(v, "use_flash_attn", TRUE);
  json_object_set_boolean_member(v, "use_moe", FALSE);
  return v;
}

/* Keys both LLM layouts share. */
static void llm_common(JsonObject *l, const ivl_tiny_model_params *p)
{
  json_object_set_double_member(l, "attention_dropout", 0.0);
  set_str(l, "hidden_act", "silu");
  set_int(l, "hidden_size", p->llm_hidden);
  json_object_set_double_member(l, "initializer_range", 0.02);
  set_int(l, "intermediate_size", p->llm_ffn);
  set_int(l, "max_position_embeddings", p->max_position_embeddings);
  set_int(l, "num_attention_heads", p->llm_heads);
  set_int(l, "num_hidden_layers", p->llm_layers);
  set_int(l, "num_key_value_heads", p->llm_kv_heads);
  json_object_set_boolean_member(l, "tie_word_embeddings", FALSE);
  set_str(l, "torch_dtype", "bfloat16");
  json_object_set_boolean_member(l, "use_bfloat16", TRUE);
  json_object_set_boolean_member(l, "use_cache", FALSE);
  set_int(l, "vocab_size", p->llm_vocab);
}

static JsonObject *rope_scaling(double factor, gboolean with_rope_type)
{
  JsonObject *r = json_object_new();
  json_object_set_double_member(r, "factor", factor);
  if (with_rope_type)
    set_str(r, "rope_type", "dynamic");
  set_str(r, "type", "dynamic");
  return r;
}

static JsonObject *llm_config(const ivl_tiny_model_params *p)
{
  JsonObject *l = json_object_new();
  llm_common(l, p);
  if (p->llm_arch == IVL_LLM_INTERNLM2) {
    /* internlm3-8b-instruct's values (spec 1b); InternVL3-9B's own file is UNCONFIRMED. */
    set_str(l, "_name_or_path", "internlm/internlm3-8b-instruct");
    set_strings(l, "architectures", "InternLM2ForCausalLM");
    json_object_set_boolean_member(l, "bias", FALSE);
    set_int(l, "bos_token_id", 1);
    set_int(l, "eos_token_id", 2);
    set_str(l, "model_type", "internlm2");
    set_int(l, "pad_token_id", 2);
    json_object_set_double_member(l, "rms_norm_eps", 1e-5);
    json_object_set_object_member(l, "rope_scaling", rope_scaling(6.0, FALSE));
    json_object_set_double_member(l, "rope_theta", 50000000.0);
    return l;
  }
  set_str(l, "_name_or_path", "./pretrained/Qwen2.5-32B-Instruct");
  set_strings(l, "architectures", "Qwen2ForCausalLM");
  set_int(l, "bos_token_id", 151643);
  set_int(l, "eos_token_id", 151643);
  set_int(l, "max_window_layers", 70);
  set_str(l, "model_type", "qwen2");
  set_null(l, "moe_config");
  json_object_set_double_member(l, "rms_norm_eps", 1e-6);
  json_object_set_object_member(l, "rope_scaling", rope_scaling(2.0, TRUE));
  json_object_set_double_member(l, "rope_theta", 1000000.0);
  set_null(l, "sliding_window");
  json_object_set_boolean_member(l, "use_sliding_window", FALSE);
  return l;
}

static JsonObject *auto_map(void)
{
  JsonObject *m = json_object_new();
  set_str(m, "AutoConfig", "configuration_internvl_chat.InternVLChatConfig");
  set_str(m, "AutoModel", "modeling_internvl_chat.InternVLChatModel");
  set_str(m, "AutoModelForCausalLM", "modeling_internvl_chat.InternVLChatModel");
  return m;
}

static void set_pair(JsonObject *o, const char *key, gint64 v)
{
  JsonArray *a = json_array_new();
  json_array_add_int_element(a, v);
  json_array_add_int_element(a, v);
  json_object_set_array_member(o, key, a);
}

/* InternVLVisionConfig as convert_internvl_weights_to_hf.py makes it from vision_config:
 * qkv_bias -> attention_bias, qk_normalization -> use_qk_norm, sizes as [h, w]. */
static JsonObject *hf_vision_config(const ivl_tiny_model_params *p)
{
  JsonObject *v = json_object_new();
  json_object_set_boolean_member(v, "attention_bias", !p->vision_6b);
  json_object_set_double_member(v, "attention_dropout", 0.0);
  set_str(v, "hidden_act", "gelu");
  json_object_set_double_member(v, "hidden_dropout_prob", 0.0);
  set_int(v, "hidden_size", p->vision_hidden);
  set_pair(v, "image_size", 448);
  json_object_set_double_member(v, "initializer_factor", 0.1);
  json_object_set_double_member(v, "initializer_range", 1e-10);
  set_int(v, "intermediate_size", p->vision_ffn);
  json_object_set_double_member(v, "layer_norm_eps", 1e-6);
  json_object_set_double_member(v, "layer_scale_init_value", 0.1);
  set_str(v, "model_type", "internvl_vision");
  set_str(v, "norm_type", p->vision_6b ? "rms_norm" : "layer_norm");
  set_int(v, "num_attention_heads", p->vision_heads);
  set_int(v, "num_channels", 3);
  set_int(v, "num_hidden_layers", p->vision_layers);
  set_pair(v, "patch_size", 14);
  json_object_set_double_member(v, "projection_dropout", 0.0);
  json_object_set_boolean_member(v, "use_absolute_position_embeddings", TRUE);
  json_object_set_boolean_member(v, "use_mask_token", FALSE);
  json_object_set_boolean_member(v, "use_mean_pooling", TRUE);
  json_object_set_boolean_member(v, "use_qk_norm", p->vision_6b);
  return v;
}

/* The text_config: llm_config less the conversion's UNNECESSARY_CONFIG_KEYS, as Qwen2Config
 * (eos forced to <|im_end|> 151645) or, for InternLM2, LlamaConfig. */
static JsonObject *hf_text_config(const ivl_tiny_model_params *p)
{
  JsonObject *l = llm_config(p);
  static const char *const dropped[] = {"_name_or_path", "use_bfloat16", "bias", "moe_config"};
  for (gsize i = 0; i < G_N_ELEMENTS(dropped); i++)
    if (json_object_has_member(l, dropped[i]))
      json_object_remove_member(l, dropped[i]);
  json_object_set_boolean_member(l, "use_cache", TRUE);
  if (p->llm_arch == IVL_LLM_INTERNLM2) {
    set_str(l, "model_type", "llama");
    json_object_set_boolean_member(l, "attention_bias", FALSE);
    json_object_set_boolean_member(l, "mlp_bias", FALSE);
    set_int(l, "head_dim", p->llm_hidden / p->llm_heads);
    set_int(l, "pretraining_tp", 1);
  } else {
    set_int(l, "eos_token_id", 151645);
  }
  return l;
}

/* OpenGVLab/InternVL3-*-hf's config.json: transformers' InternVLConfig. */
static char *hf_config_json(const ivl_tiny_model_params *p)
{
  JsonObject *top = json_object_new();
  set_strings(top, "architectures", "InternVLForConditionalGeneration");
  json_object_set_double_member(top, "downsample_ratio", 0.5);
  set_int(top, "image_seq_length", 256);
  /* The conversion's ids: <IMG_CONTEXT> of Qwen2.5, and 92546 for the "llama" kind (InternLM2's,
   * which ivl does not read: the tokenizer's <IMG_CONTEXT> is used). */
  set_int(top, "image_token_id", p->llm_arch == IVL_LLM_INTERNLM2 ? 92546 : 151667);
  set_str(top, "model_type", "internvl");
  set_str(top, "projector_hidden_act", "gelu");
  json_object_set_object_member(top, "text_config", hf_text_config(p));
  set_str(top, "torch_dtype", "bfloat16");
  set_str(top, "transformers_version", "4.52.0.dev0");
  json_object_set_object_member(top, "vision_config", hf_vision_config(p));
  set_int(top, "vision_feature_layer", -1);
  set_str(top, "vision_feature_select_strategy", "default");
  g_autoptr(JsonNode) root = json_node_init_object(json_node_alloc(), top);
  json_object_unref(top);
  return ivl_json_write_pretty(root, TRUE);
}

char *ivl_tiny_model_config_json(const ivl_tiny_model_params *p)
{
  if (p->layout == IVL_LAYOUT_HF)
    return hf_config_json(p);
  JsonObject *top = json_object_new();
  set_strings(top, "architectures", "InternVLChatModel");
  json_object_set_object_member(top, "auto_map", auto_map());
  json_object_set_double_member(top, "downsample_ratio", 0.5);
  json_object_set_boolean_member(top, "dynamic_image_size", TRUE);
  set_int(top, "force_image_size", 448);
  set_int(top, "hidden_size", p->llm_hidden);
  set_null(top, "image_fold");
  json_object_set_object_member(top, "llm_config", llm_config(p));
  set_int(top, "max_dynamic_patch", 12);
  set_int(top, "min_dynamic_patch", 1);
  set_str(top, "model_type", "internvl_chat");
  json_object_set_boolean_member(top, "pad2square", FALSE);
  set_str(top, "ps_version", "v2");
  set_int(top, "select_layer", -1);
  set_null(top, "system_message");
  set_str(top, "template", "internvl2_5");
  json_object_set_boolean_member(top, "tie_word_embeddings", FALSE);
  set_str(top, "torch_dtype", "bfloat16");
  set_int(top, "use_backbone_lora", 0);
  set_int(top, "use_llm_lora", 0);
  json_object_set_boolean_member(top, "use_thumbnail", TRUE);
  json_object_set_object_member(top, "vision_config", vision_config(p));

  g_autoptr(JsonNode) root = json_node_init_object(json_node_alloc(), top);
  json_object_unref(top);
  return ivl_json_write_pretty(root, TRUE);
}
