/* checkpoint-layout.c — original tensor names to the "-hf" layout's (checkpoint-layout.h). */
#include "checkpoint-layout.h"

#include <string.h>

/* convert_internvl_weights_to_hf.py's key mappings, applied in its order to the part of the
 * name they cover (vision, projector, and for the InternLM2 language model, Llama names). */
static const char *const vision_renames[][2] = {
    {"vision_model.", "vision_tower."},
    {".layers.", ".layer."},
    {"class_embedding", "cls_token"},
    {"position_embedding", "position_embeddings"},
    {"patch_embedding", "patch_embeddings.projection"},
    {".ls1", ".lambda_1"},
    {".ls2", ".lambda_2"},
    {"attn.proj", "attention.projection_layer"},
    {"attn.", "attention."},
    {"norm1", "layernorm_before"},
    {"norm2", "layernorm_after"},
};
static const char *const projector_renames[][2] = {
    {"mlp1.0.", "multi_modal_projector.layer_norm."},
    {"mlp1.1.", "multi_modal_projector.linear_1."},
    {"mlp1.3.", "multi_modal_projector.linear_2."},
};
static const char *const llama_renames[][2] = {
    {"tok_embeddings", "embed_tokens"},
    {"attention.wo", "self_attn.o_proj"},
    {"feed_forward.w1", "mlp.gate_proj"},
    {"feed_forward.w2", "mlp.down_proj"},
    {"feed_forward.w3", "mlp.up_proj"},
    {"attention_norm", "input_layernorm"},
    {"ffn_norm", "post_attention_layernorm"},
    {"language_model.output.", "language_model.lm_head."},
};

static char *rename(const char *name, const char *const (*rules)[2], gsize n_rules)
{
  GString *s = g_string_new(name);
  for (gsize i = 0; i < n_rules; i++)
    g_string_replace(s, rules[i][0], rules[i][1], 0);
  return g_string_free(s, FALSE);
}

static char *hf_name(const ivl_config *c, const char *name)
{
  if (g_str_has_prefix(name, "vision_model."))
    return rename(name, vision_renames, G_N_ELEMENTS(vision_renames));
  if (g_str_has_prefix(name, "mlp1."))
    return rename(name, projector_renames, G_N_ELEMENTS(projector_renames));
  if (c->llm.arch == IVL_LLM_INTERNLM2)
    return rename(name, llama_renames, G_N_ELEMENTS(llama_renames));
  return g_strdup(name); /* Qwen2 keeps its names */
}

static void add_piece(GArray *out, char *name, int64_t total, int64_t row0, int64_t orig_row0,
                      int64_t n)
{
  ivl_layout_piece p = {name, total, row0, orig_row0, n};
  g_array_append_val(out, p);
}

static void piece_clear(gpointer p)
{
  g_free(((ivl_layout_piece *)p)->name);
}

/* name with "from" (which it holds) replaced by "to". */
static char *replaced(const char *name, const char *from, const char *to)
{
  GString *s = g_string_new(name);
  g_string_replace(s, from, to, 1);
  return g_string_free(s, FALSE);
}

/* The vision attention's qkv rows are q | k | v, each hidden_size rows. */
static void split_vision_qkv(GArray *out, const char *renamed, int64_t total)
{
  int64_t d = total / 3;
  static const char *const parts[] = {"attention.q_proj", "attention.k_proj", "attention.v_proj"};
  for (int i = 0; i < 3; i++)
    add_piece(out, replaced(renamed, "attention.qkv", parts[i]), d, 0, i * d, d);
}

/* InternLM2's wqkv rows are [KV][G+2][head_dim] (spec 2d): in kv group j, blocks g < G are
 * query head j*G+g, block G key head j, block G+1 value head j; Llama's q_proj holds the
 * query heads in order, k_proj and v_proj the kv heads (the conversion's rearrange). */
static void split_internlm2_wqkv(GArray *out, const ivl_llm_config *l, const char *renamed)
{
  int64_t hd = l->head_dim, kv = l->num_kv_heads, g = l->num_heads / l->num_kv_heads;
  g_autofree char *q = replaced(renamed, "attention.wqkv", "self_attn.q_proj");
  g_autofree char *k = replaced(renamed, "attention.wqkv", "self_attn.k_proj");
  g_autofree char *v = replaced(renamed, "attention.wqkv", "self_attn.v_proj");
  for (int64_t j = 0; j < kv; j++) {
    int64_t base = j * (g + 2) * hd;
    for (int64_t h = 0; h < g; h++)
      add_piece(out, g_strdup(q), l->num_heads * hd, (j * g + h) * hd, base + h * hd, hd);
    add_piece(out, g_strdup(k), kv * hd, j * hd, base + g * hd, hd);
    add_piece(out, g_strdup(v), kv * hd, j * hd, base + (g + 1) * hd, hd);
  }
}

GArray *ivl_layout_pieces(const ivl_config *config, const char *name, int64_t total_rows)
{
  GArray *out = g_array_new(FALSE, FALSE, sizeof(ivl_layout_piece));
  g_array_set_clear_func(out, piece_clear);
  if (config->layout == IVL_LAYOUT_ORIGINAL) {
    add_piece(out, g_strdup(name), total_rows, 0, 0, total_rows);
    return out;
  }
  g_autofree char *renamed = hf_name(config, name);
  if (strstr(renamed, ".attention.qkv."))
    split_vision_qkv(out, renamed, total_rows);
  else if (strstr(renamed, ".attention.wqkv."))
    split_internlm2_wqkv(out, &config->llm, renamed);
  else
    add_piece(out, g_steal_pointer(&renamed), total_rows, 0, 0, total_rows);
  return out;
}

/* transformers 4.52 moved the parts under "model." and the output head to the top level;
 * files saved since carry those names (which the Hub's "-hf" files use is UNCONFIRMED). */
static const char *const prefixed_forms[][2] = {
    {"vision_tower.", "model.vision_tower."},
    {"multi_modal_projector.", "model.multi_modal_projector."},
    {"language_model.model.", "model.language_model."},
    {"language_model.lm_head.", "lm_head."},
};

const ivl_st_tensor *ivl_layout_find(const ivl_safetensors *st, const char *name)
{
  const ivl_st_tensor *t = ivl_safetensors_find(st, name);
  for (gsize i = 0; !t && i < G_N_ELEMENTS(prefixed_forms); i++) {
    if (g_str_has_prefix(name, prefixed_forms[i][0])) {
      g_autofree char *alt =
          g_strconcat(prefixed_forms[i][1], name + strlen(prefixed_forms[i][0]), NULL);
      t = ivl_safetensors_find(st, alt);
    }
  }
  return t;
}

const char *ivl_layout_name(ivl_layout layout)
{
  return layout == IVL_LAYOUT_HF ? "hf" : "original";
}
