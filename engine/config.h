/* config.h — a model directory's config.json as typed fields, validated once at load.
 *
 * Field names follow the InternVL3 config.json (spec/INTERNVL3.md section 3); the comment
 * on each field names the JSON key it comes from. Everything the model code reads at
 * inference is here; keys that chat() ignores (dynamic_image_size, MoE leftovers, …) are not.
 */
#ifndef IVL_CONFIG_H
#define IVL_CONFIG_H

#include <glib.h>

G_BEGIN_DECLS

typedef enum {
  IVL_NORM_LAYER_NORM, /* "layer_norm": weight + bias (InternViT-300M) */
  IVL_NORM_RMS_NORM,   /* "rms_norm": weight only (InternViT-6B) */
} ivl_norm_type;

typedef enum {
  IVL_LLM_QWEN2,     /* Qwen2ForCausalLM: q/k/v/o_proj, gate/up/down_proj */
  IVL_LLM_INTERNLM2, /* InternLM2ForCausalLM: fused interleaved wqkv, w1/w3/w2 (9B) */
} ivl_llm_arch;

/* How a checkpoint names its tensors and keys (checkpoint-layout.h). */
typedef enum {
  IVL_LAYOUT_ORIGINAL, /* "remote code" InternVLChatModel: llm_config, vision_model.*, mlp1.* */
  IVL_LAYOUT_HF,       /* transformers' InternVLForConditionalGeneration ("-hf" repos):
                          text_config, vision_tower.*, multi_modal_projector.*, split q/k/v */
} ivl_layout;

typedef enum {
  IVL_ROPE_SCALING_NONE,    /* rope_scaling null or absent */
  IVL_ROPE_SCALING_DYNAMIC, /* dynamic NTK, only beyond max_position_embeddings */
  IVL_ROPE_SCALING_LINEAR,  /* positions divided by factor */
} ivl_rope_scaling;

/* Comments name the original keys; an "-hf" config's own names are in config.c. */
typedef struct {
  int hidden_size;           /* vision_config.hidden_size (Dv) */
  int num_layers;            /* vision_config.num_hidden_layers */
  int num_heads;             /* vision_config.num_attention_heads */
  int head_dim;              /* hidden_size / num_heads */
  int intermediate_size;     /* vision_config.intermediate_size (MLP fc1 rows) */
  int image_size;            /* vision_config.image_size (448) */
  int patch_size;            /* vision_config.patch_size (14) */
  int num_channels;          /* vision_config.num_channels (3; default 3 when absent) */
  int num_positions;         /* (image_size / patch_size)^2 + 1: rows of position_embedding */
  ivl_norm_type norm_type;   /* vision_config.norm_type */
  double layer_norm_eps;     /* vision_config.layer_norm_eps */
  gboolean qkv_bias;         /* vision_config.qkv_bias */
  gboolean qk_normalization; /* vision_config.qk_normalization */
} ivl_vision_config;

typedef struct {
  ivl_llm_arch arch;             /* from llm_config.architectures[0] */
  int hidden_size;               /* llm_config.hidden_size (Dl) */
  int num_layers;                /* llm_config.num_hidden_layers */
  int num_heads;                 /* llm_config.num_attention_heads (H) */
  int num_kv_heads;              /* llm_config.num_key_value_heads (KV; = H when absent) */
  int head_dim;                  /* llm_config.head_dim, else hidden_size / num_heads */
  int intermediate_size;         /* llm_config.intermediate_size (I) */
  int vocab_size;                /* llm_config.vocab_size (V) */
  int max_position_embeddings;   /* llm_config.max_position_embeddings */
  double rope_theta;             /* llm_config.rope_theta */
  ivl_rope_scaling rope_scaling; /* llm_config.rope_scaling.type (or rope_type) */
  double rope_scaling_factor;    /* llm_config.rope_scaling.factor; 1.0 when none */
  double rms_norm_eps;           /* llm_config.rms_norm_eps */
  gboolean tie_word_embeddings;  /* llm_config.tie_word_embeddings; InternVL3 forces false */
  gboolean bias;     /* InternLM2 llm_config.bias (wqkv, wo; default true); Qwen2: FALSE */
  int bos_token_id;  /* llm_config.bos_token_id; -1 when absent or null */
  int eos_token_id;  /* llm_config.eos_token_id (first if a list); -1 when absent */
  char *torch_dtype; /* llm_config.torch_dtype, e.g. "bfloat16"; never NULL */
} ivl_llm_config;

typedef struct {
  ivl_layout layout;       /* architectures[0]: InternVLChatModel or InternVLForConditional… */
  ivl_vision_config vision;
  ivl_llm_config llm;
  double downsample_ratio; /* downsample_ratio: 0.5 (pixel unshuffle) */
  char *ps_version;        /* ps_version: "v2" */
  int select_layer;        /* select_layer: -1 = last ViT layer; in [-layers, layers-1] */
  int force_image_size;    /* force_image_size, else vision image_size */
  char *template_name;     /* template, e.g. "internvl2_5"; NULL for "-hf", whose template is
                              the repo's chat_template (template.h) */
  char *torch_dtype;       /* torch_dtype, e.g. "bfloat16"; never NULL */
  int num_image_token;     /* derived: (image_size/patch_size)^2 * downsample_ratio^2 = 256 */
} ivl_config;

/* Reads and validates dir/config.json. Errors: NOT_FOUND (no file), IO, CORRUPT (not JSON,
 * a field missing or of the wrong type, a value out of range: the message names the field),
 * UNSUPPORTED (an architecture, norm, ps_version or image geometry ivl cannot run). */
ivl_config *ivl_config_load(const char *model_dir, GError **error);

/* The same from JSON text in memory (length -1 = NUL-terminated). */
ivl_config *ivl_config_parse(const char *json, gssize length, GError **error);

void ivl_config_free(ivl_config *config);

/* "qwen2" / "internlm2"; "layer_norm" / "rms_norm". Static strings. An "-hf" config's
 * Llama language model (the 9B's) is the InternLM2 arch under Llama's names. */
const char *ivl_llm_arch_name(ivl_llm_arch arch);
const char *ivl_norm_type_name(ivl_norm_type type);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(ivl_config, ivl_config_free)

G_END_DECLS

#endif /* IVL_CONFIG_H */
