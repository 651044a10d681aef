/* ivl info -m MODEL — what a model is, its size on disk and the memory it would need. */
#include "ivl-config.h"

#include <glib.h>
#include <glib/gi18n.h>
#include <json-glib/json-glib.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "checkpoint-layout.h"
#include "config.h"
#include "cmd-common.h"
#include "gpu-placement.h"
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
  char *weights_missing; /* the index names shards that are not here (a published config) */
  int context;
  ivl_memory_estimate memory[2][IVL_N_PRECISIONS]; /* [gpu][precision] */
  /* the per-device plan: on these devices (this machine's or --devices), or why none */
  ivl_precision precision;
  ivl_split_mode split;
  int n_devices;
  char *device_names[IVL_MAX_GPUS];
  guint64 device_free[IVL_MAX_GPUS], device_total[IVL_MAX_GPUS];
  char *no_devices;
  ivl_placement *placement;
  char *placement_error; /* the plan does not fit: why and what would */
} model_facts;

static void facts_clear(model_facts *f)
{
  for (int d = 0; d < f->n_devices; d++)
    g_free(f->device_names[d]);
  g_free(f->no_devices);
  g_free(f->placement_error);
  g_free(f->weights_missing);
  ivl_placement_free(f->placement);
  g_free(f->dir);
  g_free(f->tokenizer_kind);
  g_free(f->tokenizer_error);
  ivl_config_free(f->config);
  ivl_safetensors_free(f->weights);
}

/* "80GiB", "24 GB", "81559MiB": bytes; 0 when malformed. */
static guint64 parse_size(const char *text)
{
  char *end = NULL;
  const double v = g_ascii_strtod(text, &end);
  if (end == text || !(v > 0 && v < 1e6))
    return 0;
  while (*end == ' ')
    end++;
  static const struct {
    const char *unit;
    double bytes;
  } units[] = {{"TiB", 1099511627776.0},
               {"GiB", 1073741824.0},
               {"MiB", 1048576.0},
               {"TB", 1e12},
               {"GB", 1e9},
               {"MB", 1e6}};
  for (gsize i = 0; i < G_N_ELEMENTS(units); i++)
    if (g_ascii_strcasecmp(end, units[i].unit) == 0)
      return (guint64)(v * units[i].bytes);
  return 0;
}

/* --devices "8x80GiB" or "2x24GiB,80GiB": a machine that is not this one, all memory free. */
static gboolean describe_devices(const char *spec, model_facts *f, GError **error)
{
  g_auto(GStrv) items = g_strsplit(spec, ",", -1);
  for (int i = 0; items[i]; i++) {
    const char *item = g_strstrip(items[i]);
    guint64 count = 1;
    const char *x = strchr(item, 'x');
    g_autofree char *times = x ? g_strndup(item, x - item) : NULL;
    if (times && !g_ascii_string_to_unsigned(times, 10, 1, IVL_MAX_GPUS, &count, NULL))
      count = 0;
    const guint64 bytes = parse_size(x ? x + 1 : item);
    if (count == 0 || bytes == 0 || f->n_devices + (int)count > IVL_MAX_GPUS) {
      g_set_error(error, IVL_ERROR, IVL_ERROR_INVALID_ARGUMENT,
                  _("--devices takes sizes like 8x80GiB or 2x24GiB,80GiB (at most %d devices), "
                    "not '%s'"),
                  IVL_MAX_GPUS, spec);
      return FALSE;
    }
    for (guint64 c = 0; c < count; c++, f->n_devices++) {
      f->device_names[f->n_devices] =
          g_strdup_printf(_("GPU %d (%s)"), f->n_devices, item + (x ? x + 1 - item : 0));
      f->device_free[f->n_devices] = f->device_total[f->n_devices] = bytes;
    }
  }
  return TRUE;
}

/* This machine's devices (those --gpus names, else all). */
static void query_devices(const ivl_model_params *params, model_facts *f)
{
  g_autoptr(GError) error = NULL;
  const int count = ivl_gpu_count(&error);
  if (count <= 0) {
    f->no_devices = g_strdup(error ? error->message : "none");
    return;
  }
  const int n = params->n_gpus > 0 ? params->n_gpus : MIN(count, IVL_MAX_GPUS);
  for (int d = 0; d < n; d++) {
    const int device = params->n_gpus > 0 ? params->gpus[d] : d;
    if (!ivl_gpu_get_memory(device, &f->device_names[d], &f->device_free[d], &f->device_total[d],
                            &error)) {
      f->no_devices = g_strdup(error->message);
      return;
    }
    f->n_devices = d + 1;
  }
}

static void plan_placement(model_facts *f)
{
  if (f->n_devices == 0)
    return;
  const ivl_split_costs costs = ivl_model_split_costs(f->config, f->precision, f->context);
  g_autoptr(GError) error = NULL;
  f->placement = ivl_placement_new(&costs, f->split, f->n_devices, f->device_free, f->device_total,
                                   (const char *const *)f->device_names, &error);
  if (!f->placement) {
    f->placement_error = g_strdup(error->message);
    f->placement = ivl_placement_new_unchecked(&costs, f->n_devices);
  }
}

static gboolean gather(const char *model, int context, model_facts *f, GError **error)
{
  if (!(f->dir = ivl_model_path_resolve(model, error)) ||
      !(f->config = ivl_config_load(f->dir, error)))
    return FALSE;
  /* A published config with its index but without the shards still has sizes and a plan. */
  g_autoptr(GError) weights_error = NULL;
  f->weights = ivl_safetensors_open(f->dir, &weights_error);
  if (!f->weights && g_error_matches(weights_error, IVL_ERROR, IVL_ERROR_NOT_FOUND) &&
      strstr(weights_error->message, "names the shard"))
    f->weights_missing = g_strdup(weights_error->message);
  else if (!f->weights) {
    g_propagate_error(error, g_steal_pointer(&weights_error));
    return FALSE;
  }
  if (f->weights && !ivl_safetensors_check(f->weights, f->config, error))
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
  const ivl_st_tensor *t = f->weights ? ivl_safetensors_get_tensor(f->weights, 0) : NULL;
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

static JsonObject *placement_json(const model_facts *f)
{
  JsonObject *o = json_object_new();
  json_object_set_string_member(o, "split", ivl_split_mode_name(f->split));
  json_object_set_string_member(o, "precision", ivl_precision_name(f->precision));
  if (!f->placement) {
    json_object_set_string_member(o, "error", f->no_devices);
    return o;
  }
  json_object_set_boolean_member(o, "fits", f->placement_error == NULL);
  if (f->placement_error)
    json_object_set_string_member(o, "error", f->placement_error);
  JsonArray *devices = json_array_new();
  for (int d = 0; d < f->n_devices; d++) {
    const ivl_placement *p = f->placement;
    JsonObject *e = json_object_new();
    g_autofree char *layers = ivl_placement_layers_text(p, d);
    json_object_set_string_member(e, "name", f->device_names[d]);
    json_object_set_string_member(e, "layers", layers);
    SET_INT(e, "n_layers", p->n_layers_on[d]);
    SET_INT(e, "weights", p->weights[d]);
    SET_INT(e, "kv_cache", p->kv_cache[d]);
    SET_INT(e, "workspace", p->workspace[d]);
    SET_INT(e, "need", ivl_placement_need(p, d));
    SET_INT(e, "free", f->device_free[d]);
    json_array_add_object_element(devices, e);
  }
  json_object_set_array_member(o, "devices", devices);
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
  SET_INT(disk, "weights_bytes", f->weights ? ivl_safetensors_get_file_bytes(f->weights) : 0);
  SET_INT(disk, "weight_files", f->weights ? ivl_safetensors_get_n_files(f->weights) : 0);
  json_object_set_string_member(disk, "dtype", weights_dtype(f));
  if (f->weights_missing)
    json_object_set_string_member(disk, "weights_missing", f->weights_missing);
  json_object_set_object_member(top, "disk", disk);
  JsonObject *mem = json_object_new();
  SET_INT(mem, "context_length", f->context);
  json_object_set_object_member(mem, "gpu", memory_json(f, 1));
  json_object_set_object_member(mem, "cpu", memory_json(f, 0));
  json_object_set_object_member(top, "memory", mem);
  json_object_set_object_member(top, "placement", placement_json(f));
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

/* GiB, as --devices and GPU vendors' capacities are given */
static char *iec(guint64 bytes)
{
  return g_format_size_full(bytes, G_FORMAT_SIZE_IEC_UNITS);
}

static void print_placement(const model_facts *f)
{
  if (!f->placement) {
    printf(_("GPU plan:   no GPU here (%s); --devices 8x80GiB plans for another machine\n"),
           f->no_devices);
    return;
  }
  /* a refused auto placement has no layers to show: split_model's are */
  const gboolean by_memory = f->split == IVL_SPLIT_AUTO && !f->placement_error;
  printf(_("GPU plan:   %s weights over %d GPU(s), layers placed by %s:\n"),
         ivl_precision_name(f->precision), f->n_devices,
         by_memory ? _("free memory") : _("split_model"));
  for (int d = 0; d < f->n_devices; d++) {
    const ivl_placement *p = f->placement;
    g_autofree char *layers = ivl_placement_layers_text(p, d);
    g_autofree char *w = iec(p->weights[d]), *kv = iec(p->kv_cache[d]);
    g_autofree char *ws = iec(p->workspace[d]);
    g_autofree char *need = iec(ivl_placement_need(p, d));
    g_autofree char *free_b = iec(f->device_free[d]);
    printf(_("  %s: layers %s%s; weights %s, KV cache %s, workspace %s: needs %s of %s free\n"),
           f->device_names[d], layers,
           d == 0 ? _(" with vision, projector, embeddings, lm_head") : "", w, kv, ws, need,
           free_b);
  }
  if (f->placement_error)
    printf(_("  Does not fit: %s\n"), f->placement_error);
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
  if (f->weights)
    printf(_("On disk:    %s (%u weight files, %s)\n"), disk,
           ivl_safetensors_get_n_files(f->weights), weights_dtype(f));
  else
    printf(_("On disk:    %s, without the weights (%s)\n"), disk, f->weights_missing);
  printf(_("Memory for a %d-token context (weights + KV cache + workspace):\n"), f->context);
  printf("            %-12s %s\n", "GPU", "CPU");
  for (int p = 0; p < IVL_N_PRECISIONS; p++) {
    g_autofree char *g = g_format_size(f->memory[1][p].total);
    g_autofree char *h = g_format_size(f->memory[0][p].total);
    printf("  %-9s %-12s %s\n", ivl_precision_name(p), g, h);
  }
  print_placement(f);
}

int ivl_cmd_info(int argc, char **argv)
{
  char *model = NULL, *gpus = NULL, *split = NULL, *devices = NULL, *precision = NULL;
  gboolean json = FALSE;
  int context = 0;
  GOptionEntry entries[] = {
      {"precision", 0, 0, G_OPTION_ARG_STRING, &precision,
       N_("Weights for the GPU plan: bf16 (default), int8 or 4bit"), "NAME"},
      {"gpus", 0, 0, G_OPTION_ARG_STRING, &gpus,
       N_("This machine's GPUs to plan for (default all)"), "0,1,..."},
      {"split", 0, 0, G_OPTION_ARG_STRING, &split,
       N_("Layers over several GPUs: layers (split_model, default) or auto (by free memory)"),
       "MODE"},
      {"devices", 0, 0, G_OPTION_ARG_STRING, &devices,
       N_("Plan for another machine: its GPUs' free memory, e.g. 8x80GiB or 2x24GiB,80GiB"),
       "LIST"},
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
    fprintf(
        stderr, "ivl info: %s\n",
        error ? error->message
              : _("usage: ivl info -m MODEL [--json] [--context N] [--precision P] [--gpus LIST | "
                  "--devices LIST] [--split MODE]"));
    g_free(model);
    return 2;
  }
  model_facts f = {0};
  int status = 0;
  ivl_model_params params = ivl_model_default_params();
  if ((precision && !ivl_precision_from_name(precision, &f.precision)) ||
      !ivl_cli_parse_gpus(gpus, split, &params, &error) ||
      (devices && !describe_devices(devices, &f, &error))) {
    fprintf(stderr, "ivl info: %s\n",
            error ? error->message : _("unknown precision (expected bf16, int8 or 4bit)"));
    facts_clear(&f);
    g_free(model), g_free(gpus), g_free(split), g_free(devices), g_free(precision);
    return 2;
  }
  f.split = params.split;
  if (!gather(model, context, &f, &error)) {
    fprintf(stderr, "ivl info: %s\n", error->message);
    status = 1;
  } else {
    if (!devices)
      query_devices(&params, &f);
    plan_placement(&f);
    if (json)
      print_json(&f);
    else
      print_text(&f);
  }
  facts_clear(&f);
  g_free(model), g_free(gpus), g_free(split), g_free(devices), g_free(precision);
  return status;
}
