/* tiny-model.c — deterministic random weights for the tensors model-tensors.c lists,
 * written as one safetensors file or N shards plus the index, next to config.json. */
#include "tiny-model.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "file-io.h"
#include "host-memory.h"
#include "ivl.h"
#include "json-write.h"
#include "checkpoint-layout.h"
#include "model-tensors.h"
#include "safetensors-write.h"
#include "tiny-model-hf.h"
#include "splitmix.h"

ivl_tiny_model_params ivl_tiny_model_default_params(void)
{
  return (ivl_tiny_model_params){
      .seed = 0,
      .dtype = IVL_DTYPE_BF16,
      .n_shards = 0,
      .vision_6b = FALSE,
      .vision_hidden = 64,
      .vision_layers = 2,
      .vision_heads = 4,
      .vision_ffn = 128,
      .llm_arch = IVL_LLM_QWEN2,
      .llm_hidden = 16,
      .llm_layers = 2,
      .llm_heads = 4,
      .llm_kv_heads = 2,
      .llm_ffn = 32,
      .llm_vocab = 151674,
      .max_position_embeddings = 32768,
      .tokenizer_dir = NULL,
      .layout = IVL_LAYOUT_ORIGINAL,
  };
}

ivl_tiny_model_params ivl_tiny_model_params_for_size(const ivl_model_size *s)
{
  ivl_tiny_model_params p = ivl_tiny_model_default_params();
  p.vision_6b = s->vision_6b;
  p.vision_hidden = s->vision_6b ? 3200 : 1024;
  p.vision_layers = s->vision_6b ? 45 : 24;
  p.vision_heads = s->vision_6b ? 25 : 16;
  p.vision_ffn = s->vision_6b ? 12800 : 4096;
  p.llm_arch = s->llm_arch;
  p.llm_hidden = s->llm_hidden;
  p.llm_layers = s->llm_layers;
  p.llm_heads = s->llm_heads;
  p.llm_kv_heads = s->llm_kv_heads;
  p.llm_ffn = s->llm_ffn;
  p.llm_vocab = s->llm_arch == IVL_LLM_INTERNLM2 ? 128512 : 151674;
  p.max_position_embeddings = 32768;
  return p;
}

/* Uniform in (0, 1): the top 53 bits, offset by half a step so log() never sees 0. */
static double uniform01(guint64 *state)
{
  return ((double)(ivl_splitmix64(state) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

/* Standard normal by Box–Muller (one value per pair of uniforms; simplicity over speed). */
static double normal(guint64 *state)
{
  double u1 = uniform01(state), u2 = uniform01(state);
  return sqrt(-2.0 * log(u1)) * cos(2.0 * G_PI * u2);
}

/* FNV-1a of the name, so a tensor's values do not depend on the order or the sharding. */
static guint64 name_hash(const char *s)
{
  guint64 h = G_GUINT64_CONSTANT(0xcbf29ce484222325);
  for (; *s; s++)
    h = (h ^ (guint8)*s) * G_GUINT64_CONSTANT(0x100000001b3);
  return h;
}

/* Init-like scales keep activations finite through a forward pass: norm weights near 1,
 * layer scales 0.1 (InternViT's initializer_factor), everything else N(0, 0.02). */
static void value_law(const char *name, double *mean, double *std)
{
  *mean = 0.0;
  *std = 0.02;
  gboolean is_weight = g_str_has_suffix(name, ".weight");
  if (g_str_has_suffix(name, ".ls1") || g_str_has_suffix(name, ".ls2")) {
    *mean = 0.1;
    *std = 0.0;
  } else if (is_weight && (strstr(name, "norm") || g_str_equal(name, "mlp1.0.weight"))) {
    *mean = 1.0;
    *std = 0.02;
  }
}

/* bf16 = the high half of the f32, rounded to nearest even (finite inputs only). */
static guint16 to_bf16(float f)
{
  guint32 u;
  memcpy(&u, &f, 4);
  u += 0x7fffu + ((u >> 16) & 1u);
  return (guint16)(u >> 16);
}

static gpointer make_values(const ivl_tensor_spec *s, const ivl_tiny_model_params *p)
{
  int64_t n = ivl_tensor_spec_n_elements(s);
  guint64 state = p->seed ^ name_hash(s->name);
  double mean, std;
  value_law(s->name, &mean, &std);
  if (p->dtype == IVL_DTYPE_F32) {
    float *v = g_new(float, n);
    for (int64_t i = 0; i < n; i++)
      v[i] = (float)(mean + std * normal(&state));
    return v;
  }
  guint16 *v = g_new(guint16, n);
  for (int64_t i = 0; i < n; i++)
    v[i] = to_bf16((float)(mean + std * normal(&state)));
  return v;
}

/* Splits n tensors of the given sizes into `shards` contiguous runs of about equal bytes:
 * run k ends where the running total first reaches (k+1)/shards of the whole. */
static void shard_bounds(const ivl_st_write_tensor *t, guint n, int shards, guint *ends)
{
  guint64 total = 0, run = 0;
  for (guint i = 0; i < n; i++)
    total += ivl_st_write_tensor_nbytes(&t[i]);
  guint i = 0;
  for (int k = 0; k < shards; k++) {
    guint64 goal = total * (guint64)(k + 1) / (guint64)shards;
    while (i < n && (run < goal || k == shards - 1)) {
      run += ivl_st_write_tensor_nbytes(&t[i]);
      i++;
    }
    ends[k] = i;
  }
}

static gboolean write_text(const char *dir, const char *name, const char *text, GError **error)
{
  g_autofree char *path = g_build_filename(dir, name, NULL);
  return ivl_file_write(path, text, strlen(text), error);
}

static char *index_json(const ivl_st_write_tensor *t, guint n, const guint *ends, int shards)
{
  g_autoptr(JsonBuilder) b = json_builder_new();
  guint64 total = 0;
  for (guint i = 0; i < n; i++)
    total += ivl_st_write_tensor_nbytes(&t[i]);
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "metadata");
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "total_size");
  json_builder_add_int_value(b, (gint64)total);
  json_builder_end_object(b);
  json_builder_set_member_name(b, "weight_map");
  json_builder_begin_object(b);
  guint i = 0;
  for (int k = 0; k < shards; k++) {
    g_autofree char *file = g_strdup_printf("model-%05d-of-%05d.safetensors", k + 1, shards);
    for (; i < ends[k]; i++) {
      json_builder_set_member_name(b, t[i].name);
      json_builder_add_string_value(b, file);
    }
  }
  json_builder_end_object(b);
  json_builder_end_object(b);
  g_autoptr(JsonNode) root = json_builder_get_root(b);
  return ivl_json_write_pretty(root, TRUE);
}

static gboolean write_weights(const char *dir, const ivl_st_write_tensor *t, guint n, int shards,
                              GError **error)
{
  if (shards == 0) {
    g_autofree char *path = g_build_filename(dir, "model.safetensors", NULL);
    return ivl_safetensors_write(path, t, n, error);
  }
  g_autofree guint *ends = g_new(guint, shards);
  shard_bounds(t, n, shards, ends);
  guint start = 0;
  for (int k = 0; k < shards; k++) {
    g_autofree char *name = g_strdup_printf("model-%05d-of-%05d.safetensors", k + 1, shards);
    g_autofree char *path = g_build_filename(dir, name, NULL);
    if (!ivl_safetensors_write(path, t + start, ends[k] - start, error))
      return FALSE;
    start = ends[k];
  }
  g_autofree char *index = index_json(t, n, ends, shards);
  return write_text(dir, "model.safetensors.index.json", index, error);
}

/* Weight files of an earlier model in dir would shadow or mix with the new ones. */
static gboolean remove_old_weights(const char *dir, GError **error)
{
  g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
  for (const char *name; d && (name = g_dir_read_name(d));) {
    if (!g_str_equal(name, "model.safetensors") &&
        !g_str_equal(name, "model.safetensors.index.json") &&
        !(g_str_has_prefix(name, "model-") && g_str_has_suffix(name, ".safetensors")))
      continue;
    g_autofree char *path = g_build_filename(dir, name, NULL);
    if (g_unlink(path) != 0) {
      g_set_error(error, IVL_ERROR, IVL_ERROR_IO, "cannot remove %s: %s", path, g_strerror(errno));
      return FALSE;
    }
  }
  return TRUE;
}

/* Values are drawn per original tensor (so both layouts hold the same numbers) and laid into
 * the layout's tensors by checkpoint-layout.c's pieces; returns them by stored name. */
static GHashTable *layout_values(const ivl_config *config, const ivl_tiny_model_params *p)
{
  GHashTable *values = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  g_autoptr(GPtrArray) original = ivl_model_tensor_specs_in(config, IVL_LAYOUT_ORIGINAL);
  gsize esize = ivl_dtype_size(p->dtype);
  for (guint i = 0; i < original->len; i++) {
    const ivl_tensor_spec *s = g_ptr_array_index(original, i);
    g_autofree char *v = make_values(s, p);
    gsize row_bytes = (gsize)(ivl_tensor_spec_n_elements(s) / s->shape[0]) * esize;
    g_autoptr(GArray) pieces = ivl_layout_pieces(config, s->name, s->shape[0]);
    for (guint k = 0; k < pieces->len; k++) {
      const ivl_layout_piece *pc = &g_array_index(pieces, ivl_layout_piece, k);
      char *dst = g_hash_table_lookup(values, pc->name);
      if (!dst) {
        dst = g_malloc((gsize)pc->total_rows * row_bytes);
        g_hash_table_insert(values, g_strdup(pc->name), dst);
      }
      memcpy(dst + (gsize)pc->row0 * row_bytes, v + (gsize)pc->orig_row0 * row_bytes,
             (gsize)pc->n_rows * row_bytes);
    }
  }
  return values;
}

static gboolean write_all_weights(const char *dir, const ivl_config *config,
                                  const ivl_tiny_model_params *p, GError **error)
{
  g_autoptr(GPtrArray) specs = ivl_model_tensor_specs(config);
  /* All values are held at once, and a shard's file is assembled in memory beside them. */
  double bytes = 0;
  for (guint i = 0; i < specs->len; i++)
    bytes += (double)ivl_tensor_spec_n_elements(g_ptr_array_index(specs, i)) *
             (double)ivl_dtype_size(p->dtype);
  double memory = (double)ivl_host_memory_bytes();
  if (2 * bytes > memory) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_OUT_OF_MEMORY,
                "tiny model: %.1f GiB of weights need twice that in memory; %.1f GiB here",
                bytes / (1 << 30), memory / (1 << 30));
    return FALSE;
  }
  g_autofree ivl_st_write_tensor *t = g_new0(ivl_st_write_tensor, specs->len);
  g_autoptr(GHashTable) values = layout_values(config, p);
  for (guint i = 0; i < specs->len; i++) {
    const ivl_tensor_spec *s = g_ptr_array_index(specs, i);
    t[i].name = s->name;
    t[i].dtype = p->dtype;
    t[i].ndim = s->ndim;
    memcpy(t[i].shape, s->shape, sizeof s->shape);
    t[i].data = g_hash_table_lookup(values, s->name);
  }
  return write_weights(dir, t, specs->len, p->n_shards, error);
}

/* hf: the -hf repos have tokenizer.json (written by tiny-model-hf.c) in place of these (and
 * of the 9B's SentencePiece files, so that a tiny 9B-hf runs its tokenizer.json). */
static gboolean copy_tokenizer(const char *from, const char *dir, gboolean hf, GError **error)
{
  GError *local = NULL;
  g_autoptr(GDir) d = g_dir_open(from, 0, &local);
  if (!d) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_NOT_FOUND, "tokenizer directory: %s", local->message);
    g_error_free(local);
    return FALSE;
  }
  for (const char *name; (name = g_dir_read_name(d));) {
    g_autofree char *src = g_build_filename(from, name, NULL);
    if (!g_file_test(src, G_FILE_TEST_IS_REGULAR) ||
        (hf && (g_str_equal(name, "vocab.json") || g_str_equal(name, "merges.txt") ||
                g_str_equal(name, "tokenizer.model"))))
      continue;
    g_autofree char *dst = g_build_filename(dir, name, NULL);
    g_autoptr(GFile) fs = g_file_new_for_path(src);
    g_autoptr(GFile) fd = g_file_new_for_path(dst);
    if (!g_file_copy(fs, fd, G_FILE_COPY_OVERWRITE, NULL, NULL, NULL, &local)) {
      g_set_error(error, IVL_ERROR, IVL_ERROR_IO, "copying %s: %s", src, local->message);
      g_error_free(local);
      return FALSE;
    }
  }
  return TRUE;
}

/* generation_config.json of the hub repos is UNCONFIRMED (spec 9); this carries the ids the
 * inner LM's config has, which is what transformers writes by default. */
static char *generation_config_json(const ivl_config *c)
{
  return g_strdup_printf("{\n  \"_from_model_config\": true,\n  \"bos_token_id\": %d,\n"
                         "  \"eos_token_id\": %d,\n  \"transformers_version\": \"4.37.2\"\n}\n",
                         c->llm.bos_token_id, c->llm.eos_token_id);
}

gboolean ivl_tiny_model_write(const char *dir, const ivl_tiny_model_params *p, GError **error)
{
  if ((p->dtype != IVL_DTYPE_BF16 && p->dtype != IVL_DTYPE_F32) || p->n_shards < 0 ||
      p->n_shards > 999) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_INVALID_ARGUMENT,
                "tiny model: dtype must be bf16 or f32 and shards in [0, 999]");
    return FALSE;
  }
  g_autofree char *config_text = ivl_tiny_model_config_json(p);
  GError *local = NULL;
  g_autoptr(ivl_config) config = ivl_config_parse(config_text, -1, &local);
  if (!config) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_INVALID_ARGUMENT, "tiny model: %s", local->message);
    g_error_free(local);
    return FALSE;
  }
  if (g_mkdir_with_parents(dir, 0755) != 0) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_IO, "cannot create %s: %s", dir, g_strerror(errno));
    return FALSE;
  }
  g_autofree char *gen = generation_config_json(config);
  if (!write_text(dir, "config.json", config_text, error) ||
      !write_text(dir, "generation_config.json", gen, error) || !remove_old_weights(dir, error) ||
      !write_all_weights(dir, config, p, error))
    return FALSE;
  gboolean hf = p->layout == IVL_LAYOUT_HF;
  return !p->tokenizer_dir ||
         (copy_tokenizer(p->tokenizer_dir, dir, hf, error) &&
          (!hf || ivl_tiny_model_write_hf_files(p->tokenizer_dir, dir, error)));
}
