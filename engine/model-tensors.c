/* model-tensors.c — names and shapes of an InternVL3 checkpoint's tensors (spec section 2). */
#include "model-tensors.h"

#include <stdarg.h>
#include <string.h>

#include "checkpoint-layout.h"
#include "ivl.h"

static void spec_free(gpointer p)
{
  ivl_tensor_spec *s = p;
  g_free(s->name);
  g_free(s);
}

/* Appends one tensor; shape given as ndim int64 arguments. */
static void add(GPtrArray *out, ivl_model_part part, gboolean is_linear, int ndim, const char *name,
                ...)
{
  ivl_tensor_spec *s = g_new0(ivl_tensor_spec, 1);
  s->name = g_strdup(name);
  s->part = part;
  s->is_linear = is_linear;
  s->ndim = ndim;
  va_list ap;
  va_start(ap, name);
  for (int i = 0; i < ndim; i++)
    s->shape[i] = va_arg(ap, int64_t);
  va_end(ap);
  g_ptr_array_add(out, s);
}

#define VEC(out, part, n, name) add(out, part, FALSE, 1, name, (int64_t)(n))
#define MAT(out, part, rows, cols, name)                                                           \
  add(out, part, TRUE, 2, name, (int64_t)(rows), (int64_t)(cols))

static void add_vision_layer(GPtrArray *out, const ivl_vision_config *v, int L)
{
  const ivl_model_part P = IVL_PART_VISION;
  char n[128];
#define NAME(suffix) (g_snprintf(n, sizeof n, "vision_model.encoder.layers.%d." suffix, L), n)
  gboolean ln = v->norm_type == IVL_NORM_LAYER_NORM;
  VEC(out, P, v->hidden_size, NAME("ls1"));
  VEC(out, P, v->hidden_size, NAME("ls2"));
  VEC(out, P, v->hidden_size, NAME("norm1.weight"));
  if (ln)
    VEC(out, P, v->hidden_size, NAME("norm1.bias"));
  VEC(out, P, v->hidden_size, NAME("norm2.weight"));
  if (ln)
    VEC(out, P, v->hidden_size, NAME("norm2.bias"));
  MAT(out, P, 3 * v->hidden_size, v->hidden_size, NAME("attn.qkv.weight"));
  if (v->qkv_bias)
    VEC(out, P, 3 * v->hidden_size, NAME("attn.qkv.bias"));
  if (v->qk_normalization) {
    VEC(out, P, v->hidden_size, NAME("attn.q_norm.weight"));
    VEC(out, P, v->hidden_size, NAME("attn.k_norm.weight"));
  }
  MAT(out, P, v->hidden_size, v->hidden_size, NAME("attn.proj.weight"));
  VEC(out, P, v->hidden_size, NAME("attn.proj.bias"));
  MAT(out, P, v->intermediate_size, v->hidden_size, NAME("mlp.fc1.weight"));
  VEC(out, P, v->intermediate_size, NAME("mlp.fc1.bias"));
  MAT(out, P, v->hidden_size, v->intermediate_size, NAME("mlp.fc2.weight"));
  VEC(out, P, v->hidden_size, NAME("mlp.fc2.bias"));
#undef NAME
}

static void add_vision(GPtrArray *out, const ivl_vision_config *v)
{
  const ivl_model_part P = IVL_PART_VISION;
  int64_t d = v->hidden_size;
  add(out, P, FALSE, 3, "vision_model.embeddings.class_embedding", (int64_t)1, (int64_t)1, d);
  add(out, P, FALSE, 4, "vision_model.embeddings.patch_embedding.weight", d,
      (int64_t)v->num_channels, (int64_t)v->patch_size, (int64_t)v->patch_size);
  VEC(out, P, d, "vision_model.embeddings.patch_embedding.bias");
  add(out, P, FALSE, 3, "vision_model.embeddings.position_embedding", (int64_t)1,
      (int64_t)v->num_positions, d);
  for (int L = 0; L < v->num_layers; L++)
    add_vision_layer(out, v, L);
}

static void add_projector(GPtrArray *out, const ivl_config *c)
{
  const ivl_model_part P = IVL_PART_PROJECTOR;
  /* Pixel unshuffle by 0.5 folds 2x2 patches: 4 * Dv features in. */
  int64_t in = (int64_t)c->vision.hidden_size * 4, dl = c->llm.hidden_size;
  VEC(out, P, in, "mlp1.0.weight");
  VEC(out, P, in, "mlp1.0.bias");
  MAT(out, P, dl, in, "mlp1.1.weight");
  VEC(out, P, dl, "mlp1.1.bias");
  MAT(out, P, dl, dl, "mlp1.3.weight");
  VEC(out, P, dl, "mlp1.3.bias");
}

static void add_qwen2_layer(GPtrArray *out, const ivl_llm_config *l, int L)
{
  const ivl_model_part P = IVL_PART_LLM;
  char n[128];
#define NAME(suffix) (g_snprintf(n, sizeof n, "language_model.model.layers.%d." suffix, L), n)
  int64_t d = l->hidden_size, q = (int64_t)l->num_heads * l->head_dim,
          kv = (int64_t)l->num_kv_heads * l->head_dim, i = l->intermediate_size;
  VEC(out, P, d, NAME("input_layernorm.weight"));
  MAT(out, P, q, d, NAME("self_attn.q_proj.weight"));
  VEC(out, P, q, NAME("self_attn.q_proj.bias"));
  MAT(out, P, kv, d, NAME("self_attn.k_proj.weight"));
  VEC(out, P, kv, NAME("self_attn.k_proj.bias"));
  MAT(out, P, kv, d, NAME("self_attn.v_proj.weight"));
  VEC(out, P, kv, NAME("self_attn.v_proj.bias"));
  MAT(out, P, d, q, NAME("self_attn.o_proj.weight"));
  VEC(out, P, d, NAME("post_attention_layernorm.weight"));
  MAT(out, P, i, d, NAME("mlp.gate_proj.weight"));
  MAT(out, P, i, d, NAME("mlp.up_proj.weight"));
  MAT(out, P, d, i, NAME("mlp.down_proj.weight"));
#undef NAME
}

static void add_internlm2_layer(GPtrArray *out, const ivl_llm_config *l, int L)
{
  const ivl_model_part P = IVL_PART_LLM;
  char n[128];
#define NAME(suffix) (g_snprintf(n, sizeof n, "language_model.model.layers.%d." suffix, L), n)
  int64_t d = l->hidden_size, q = (int64_t)l->num_heads * l->head_dim,
          qkv = (int64_t)(l->num_heads + 2 * l->num_kv_heads) * l->head_dim,
          i = l->intermediate_size;
  VEC(out, P, d, NAME("attention_norm.weight"));
  MAT(out, P, qkv, d, NAME("attention.wqkv.weight"));
  if (l->bias)
    VEC(out, P, qkv, NAME("attention.wqkv.bias"));
  MAT(out, P, d, q, NAME("attention.wo.weight"));
  if (l->bias)
    VEC(out, P, d, NAME("attention.wo.bias"));
  VEC(out, P, d, NAME("ffn_norm.weight"));
  MAT(out, P, i, d, NAME("feed_forward.w1.weight"));
  MAT(out, P, i, d, NAME("feed_forward.w3.weight"));
  MAT(out, P, d, i, NAME("feed_forward.w2.weight"));
#undef NAME
}

static void add_llm(GPtrArray *out, const ivl_llm_config *l)
{
  const ivl_model_part P = IVL_PART_LLM;
  gboolean qwen = l->arch == IVL_LLM_QWEN2;
  int64_t v = l->vocab_size, d = l->hidden_size;
  add(out, P, FALSE, 2,
      qwen ? "language_model.model.embed_tokens.weight"
           : "language_model.model.tok_embeddings.weight",
      v, d);
  for (int L = 0; L < l->num_layers; L++) {
    if (qwen)
      add_qwen2_layer(out, l, L);
    else
      add_internlm2_layer(out, l, L);
  }
  VEC(out, P, d, "language_model.model.norm.weight");
  if (!l->tie_word_embeddings)
    MAT(out, P, v, d, qwen ? "language_model.lm_head.weight" : "language_model.output.weight");
}

/* Each original spec becomes the tensors that store it in layout (checkpoint-layout.h): the
 * same shape renamed, or for a fused matrix stored split, one spec per part (rows of the
 * part, the other dimensions kept), listed where its first rows come. */
static GPtrArray *in_layout(const ivl_config *config, GPtrArray *original)
{
  GPtrArray *out = g_ptr_array_new_with_free_func(spec_free);
  g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);
  for (guint i = 0; i < original->len; i++) {
    const ivl_tensor_spec *s = g_ptr_array_index(original, i);
    g_autoptr(GArray) pieces = ivl_layout_pieces(config, s->name, s->shape[0]);
    for (guint k = 0; k < pieces->len; k++) {
      const ivl_layout_piece *p = &g_array_index(pieces, ivl_layout_piece, k);
      if (g_hash_table_contains(seen, p->name))
        continue;
      ivl_tensor_spec *t = g_new(ivl_tensor_spec, 1);
      *t = *s;
      t->name = g_strdup(p->name);
      t->shape[0] = p->total_rows;
      g_ptr_array_add(out, t);
      g_hash_table_add(seen, t->name);
    }
  }
  return out;
}

GPtrArray *ivl_model_tensor_specs_in(const ivl_config *config, ivl_layout layout)
{
  GPtrArray *out = g_ptr_array_new_with_free_func(spec_free);
  add_vision(out, &config->vision);
  add_projector(out, config);
  add_llm(out, &config->llm);
  if (layout == IVL_LAYOUT_ORIGINAL)
    return out;
  g_autoptr(GPtrArray) original = out;
  return in_layout(config, original);
}

GPtrArray *ivl_model_tensor_specs(const ivl_config *config)
{
  return ivl_model_tensor_specs_in(config, config->layout);
}

int64_t ivl_tensor_spec_n_elements(const ivl_tensor_spec *spec)
{
  int64_t n = 1;
  for (int i = 0; i < spec->ndim; i++)
    n *= spec->shape[i];
  return n;
}

static char *shape_string(int ndim, const int64_t *shape)
{
  GString *s = g_string_new("[");
  for (int i = 0; i < ndim; i++)
    g_string_append_printf(s, "%s%" G_GINT64_FORMAT, i ? ", " : "", (gint64)shape[i]);
  g_string_append_c(s, ']');
  return g_string_free(s, FALSE);
}

gboolean ivl_safetensors_check(const ivl_safetensors *st, const ivl_config *config, GError **error)
{
  g_autoptr(GPtrArray) specs = ivl_model_tensor_specs(config);
  for (guint k = 0; k < specs->len; k++) {
    const ivl_tensor_spec *s = g_ptr_array_index(specs, k);
    const ivl_st_tensor *t = ivl_layout_find(st, s->name);
    if (!t) {
      g_set_error(error, IVL_ERROR, IVL_ERROR_NOT_FOUND, "the weights lack tensor \"%s\"", s->name);
      return FALSE;
    }
    if (t->ndim != s->ndim || memcmp(t->shape, s->shape, sizeof(int64_t) * s->ndim) != 0) {
      g_autofree char *want = shape_string(s->ndim, s->shape);
      g_autofree char *have = shape_string(t->ndim, t->shape);
      g_set_error(error, IVL_ERROR, IVL_ERROR_CORRUPT,
                  "tensor \"%s\" (in %s) has shape %s; config.json implies %s", s->name, t->file,
                  have, want);
      return FALSE;
    }
  }
  return TRUE;
}
