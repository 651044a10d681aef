/* ivl info -m MODEL — what a model is, its size on disk and the memory it would need. */
#include "ivl-config.h"

#include <glib.h>
#include <glib/gi18n.h>
#include <json-glib/json-glib.h>
#include <stdio.h>

#include "commands.h"
#include "checkpoint-layout.h"
#include "config.h"
#include "json-write.h"
#include "model-info.h"
#include "model-path.h"
#include "model-tensors.h"
#include "safetensors.h"
#include "tokenizer.h"

/* Everything info reports, gathered once for both output forms. */
typedef struct {
  char *dir;
  ivl_config *config;
  ivl_safetensors *weights;
  ivl_param_counts params;
  guint64 disk_bytes;
  char *tokenizer_kind; /* NULL when the folder's tokenizer does not load */
  gint32 tokenizer_ids;
  char *tokenizer_error;
  int context;
  ivl_memory_estimate memory[2][IVL_N_PRECISIONS]; /* [gpu][precision] */
} model_facts;

static void facts_clear(model_facts *f)
{
  g_free(f->dir);
  g_free(f->tokenizer_kind);
  g_free(f->tokenizer_error);
  ivl_config_free(f->config);
  ivl_safetensors_free(f->weights);
}

static gboolean gather(const char *model, int context, model_facts *f, GError **error)
{
  if (!(f->dir = ivl_model_path_resolve(model, error)) ||
      !(f->config = ivl_config_load(f->dir, error)) ||
      !(f->weights = ivl_safetensors_open(f->dir, error)) ||
      !ivl_safetensors_check(f->weights, f->config, error))
    return FALSE;
  /* A folder without a usable tokenizer still has sizes worth telling; say why instead. */
  g_autoptr(GError) tok_error = NULL;
  g_autoptr(ivl_tokenizer) tok = ivl_tokenizer_load(f->dir, &tok_error);
  if (tok) {
    f->tokenizer_kind = g_strdup(ivl_tokenizer_get_kind(tok));
    f->tokenizer_ids = ivl_tokenizer_get_vocab_size(tok);
  } else {
    f->tokenizer_error = g_strdup(tok_error->message);
  }
  f->params = ivl_model_count_params(f->config);
  f->disk_bytes = ivl_model_dir_disk_bytes(f->dir);
  f->context = context > 0 ? context : IVL_DEFAULT_CONTEXT_LENGTH;
  for (int gpu = 0; gpu < 2; gpu++)
    for (int p = 0; p < IVL_N_PRECISIONS; p++)
      f->memory[gpu][p] = ivl_model_estimate_memory(f->config, p, gpu, f->context);
  return TRUE;
}

static const char *vision_layout(const ivl_config *c)
{
  return c->vision.norm_type == IVL_NORM_RMS_NORM ? "6b" : "300m";
}

static const char *weights_dtype(const model_facts *f)
{
  const ivl_st_tensor *t = ivl_safetensors_get_tensor(f->weights, 0);
  return t ? ivl_dtype_name(t->dtype) : "none";
}

static const char *rope_scaling_name(ivl_rope_scaling r)
{
  return r == IVL_ROPE_SCALING_DYNAMIC  ? "dynamic"
         : r == IVL_ROPE_SCALING_LINEAR ? "linear"
                                        : "none";
}

#define SET_INT(o, k, v) json_object_set_int_member(o, k, (gint64)(v))

static JsonObject *vision_json(const ivl_vision_config *v, const char *layout)
{
  JsonObject *o = json_object_new();
  json_object_set_string_member(o, "layout", layout);
  SET_INT(o, "hidden_size", v->hidden_size);
  SET_INT(o, "num_layers", v->num_layers);
  SET_INT(o, "num_heads", v->num_heads);
  SET_INT(o, "head_dim", v->head_dim);
  SET_INT(o, "intermediate_size", v->intermediate_size);
  json_object_set_string_member(o, "norm_type", ivl_norm_type_name(v->norm_type));
  json_object_set_boolean_member(o, "qkv_bias", v->qkv_bias);
  json_object_set_boolean_member(o, "qk_normalization", v->qk_normalization);
  SET_INT(o, "image_size", v->image_size);
  SET_INT(o, "patch_size", v->patch_size);
  return o;
}

static JsonObject *llm_json(const ivl_llm_config *l)
{
  JsonObject *o = json_object_new();
  json_object_set_string_member(o, "arch", ivl_llm_arch_name(l->arch));
  SET_INT(o, "hidden_size", l->hidden_size);
  SET_INT(o, "num_layers", l->num_layers);
  SET_INT(o, "num_heads", l->num_heads);
  SET_INT(o, "num_kv_heads", l->num_kv_heads);
  SET_INT(o, "head_dim", l->head_dim);
  SET_INT(o, "intermediate_size", l->intermediate_size);
  SET_INT(o, "vocab_size", l->vocab_size);
  SET_INT(o, "max_position_embeddings", l->max_position_embeddings);
  json_object_set_double_member(o, "rope_theta", l->rope_theta);
  json_object_set_string_member(o, "rope_scaling", rope_scaling_name(l->rope_scaling));
  json_object_set_double_member(o, "rope_scaling_factor", l->rope_scaling_factor);
  return o;
}

static JsonObject *memory_json(const model_facts *f, int gpu)
{
  JsonObject *o = json_object_new();
  for (int p = 0; p < IVL_N_PRECISIONS; p++) {
    const ivl_memory_estimate *m = &f->memory[gpu][p];
    JsonObject *e = json_object_new();
    SET_INT(e, "weights", m->weights);
    SET_INT(e, "kv_cache", m->kv_cache);
    SET_INT(e, "workspace", m->workspace);
    SET_INT(e, "overhead", m->overhead);
    SET_INT(e, "total", m->total);
    json_object_set_object_member(o, ivl_precision_name(p), e);
  }
  return o;
}

static void print_json(const model_facts *f)
{
  const ivl_config *c = f->config;
  const char *size = ivl_model_size_name(c);
  JsonObject *top = json_object_new();
  json_object_set_string_member(top, "path", f->dir);
  json_object_set_string_member(top, "family",
                                g_str_equal(size, "custom") ? "InternVL" : "InternVL3");
  json_object_set_string_member(top, "size", size);
  json_object_set_string_member(top, "layout", ivl_layout_name(c->layout));
  json_object_set_object_member(top, "vision", vision_json(&c->vision, vision_layout(c)));
  JsonObject *proj = json_object_new();
  SET_INT(proj, "in", 4 * c->vision.hidden_size);
  SET_INT(proj, "out", c->llm.hidden_size);
  json_object_set_object_member(top, "projector", proj);
  json_object_set_object_member(top, "llm", llm_json(&c->llm));
  SET_INT(top, "num_image_token", c->num_image_token);
  JsonObject *tokenizer = json_object_new();
  if (f->tokenizer_kind) {
    json_object_set_string_member(tokenizer, "kind", f->tokenizer_kind);
    SET_INT(tokenizer, "ids", f->tokenizer_ids);
  } else {
    json_object_set_string_member(tokenizer, "error", f->tokenizer_error);
  }
  json_object_set_object_member(top, "tokenizer", tokenizer);
  JsonObject *params = json_object_new();
  SET_INT(params, "vision", f->params.vision);
  SET_INT(params, "projector", f->params.projector);
  SET_INT(params, "llm", f->params.llm);
  SET_INT(params, "total", f->params.total);
  json_object_set_object_member(top, "parameters", params);
  JsonObject *disk = json_object_new();
  SET_INT(disk, "bytes", f->disk_bytes);
  SET_INT(disk, "weights_bytes", ivl_safetensors_get_file_bytes(f->weights));
  SET_INT(disk, "weight_files", ivl_safetensors_get_n_files(f->weights));
  json_object_set_string_member(disk, "dtype", weights_dtype(f));
  json_object_set_object_member(top, "disk", disk);
  JsonObject *mem = json_object_new();
  SET_INT(mem, "context_length", f->context);
  json_object_set_object_member(mem, "gpu", memory_json(f, 1));
  json_object_set_object_member(mem, "cpu", memory_json(f, 0));
  json_object_set_object_member(top, "memory", mem);
  g_autoptr(JsonNode) root = json_node_init_object(json_node_alloc(), top);
  json_object_unref(top);
  g_autofree char *text = ivl_json_write_pretty(root, FALSE);
  fputs(text, stdout);
}

static char *format_count(guint64 n)
{
  if (n >= 1000000000)
    return g_strdup_printf("%.2fB", n / 1e9);
  if (n >= 1000000)
    return g_strdup_printf("%.1fM", n / 1e6);
  return g_strdup_printf("%.1fK", n / 1e3);
}

static void print_text(const model_facts *f)
{
  const ivl_config *c = f->config;
  const ivl_vision_config *v = &c->vision;
  const ivl_llm_config *l = &c->llm;
  printf(_("Model:      %s (%s)\n"), f->dir, ivl_model_size_name(c));
  if (c->layout == IVL_LAYOUT_HF)
    printf(_("Layout:     hf (InternVLForConditionalGeneration, transformers-native)\n"));
  else
    printf(_("Layout:     original (InternVLChatModel, remote code)\n"));
  printf(
      _("Vision:     InternViT %s layout: hidden %d, %d layers, %d heads of %d, MLP %d, %s%s%s\n"),
      vision_layout(c), v->hidden_size, v->num_layers, v->num_heads, v->head_dim,
      v->intermediate_size, ivl_norm_type_name(v->norm_type), v->qkv_bias ? ", qkv bias" : "",
      v->qk_normalization ? ", q/k norm" : "");
  printf(_("Projector:  mlp1 %d -> %d, %d tokens per %dpx tile\n"), 4 * v->hidden_size,
         l->hidden_size, c->num_image_token, v->image_size);
  printf(_("Language:   %s: hidden %d, %d layers, %d heads / %d KV heads of %d, MLP %d, "
           "vocabulary %d, context %d\n"),
         ivl_llm_arch_name(l->arch), l->hidden_size, l->num_layers, l->num_heads, l->num_kv_heads,
         l->head_dim, l->intermediate_size, l->vocab_size, l->max_position_embeddings);
  if (f->tokenizer_kind)
    printf(_("Tokenizer:  %s, %d ids\n"), f->tokenizer_kind, f->tokenizer_ids);
  else
    printf(_("Tokenizer:  none (%s)\n"), f->tokenizer_error);
  g_autofree char *pv = format_count(f->params.vision), *pp = format_count(f->params.projector),
                  *pl = format_count(f->params.llm), *pt = format_count(f->params.total);
  printf(_("Parameters: vision %s, projector %s, language %s, total %s\n"), pv, pp, pl, pt);
  g_autofree char *disk = g_format_size(f->disk_bytes);
  printf(_("On disk:    %s (%u weight files, %s)\n"), disk, ivl_safetensors_get_n_files(f->weights),
         weights_dtype(f));
  printf(_("Memory for a %d-token context (weights + KV cache + workspace):\n"), f->context);
  printf("            %-12s %s\n", "GPU", "CPU");
  for (int p = 0; p < IVL_N_PRECISIONS; p++) {
    g_autofree char *g = g_format_size(f->memory[1][p].total);
    g_autofree char *h = g_format_size(f->memory[0][p].total);
    printf("  %-9s %-12s %s\n", ivl_precision_name(p), g, h);
  }
}

int ivl_cmd_info(int argc, char **argv)
{
  char *model = NULL;
  gboolean json = FALSE;
  int context = 0;
  GOptionEntry entries[] = {
      {"model", 'm', 0, G_OPTION_ARG_FILENAME, &model,
       N_("Model directory or name (e.g. InternVL3-1B)"), "MODEL"},
      {"json", 0, 0, G_OPTION_ARG_NONE, &json, N_("Print JSON"), NULL},
      {"context", 0, 0, G_OPTION_ARG_INT, &context,
       N_("Context length for the memory estimate (8192)"), "N"},
      G_OPTION_ENTRY_NULL,
  };
  g_autoptr(GOptionContext) ctx = g_option_context_new(_("— describe a model"));
  g_option_context_add_main_entries(ctx, entries, GETTEXT_PACKAGE);
  g_autoptr(GError) error = NULL;
  if (!g_option_context_parse(ctx, &argc, &argv, &error) || !model || argc != 1 || context < 0) {
    fprintf(stderr, "ivl info: %s\n",
            error ? error->message : _("usage: ivl info -m MODEL [--json] [--context N]"));
    g_free(model);
    return 2;
  }
  model_facts f = {0};
  int status = 0;
  if (!gather(model, context, &f, &error)) {
    fprintf(stderr, "ivl info: %s\n", error->message);
    status = 1;
  } else if (json) {
    print_json(&f);
  } else {
    print_text(&f);
  }
  facts_clear(&f);
  g_free(model);
  return status;
}
