/* safetensors.c — maps a model's weight files (single or sharded) and indexes tensors by name. */
#include "safetensors.h"

#include <string.h>

#include "file-io.h"
#include "ivl.h"
#include "json-check.h"
#include "safetensors-header.h"

#define INDEX_NAME "model.safetensors.index.json"
#define SINGLE_NAME "model.safetensors"
/* A 78B model's index is about 100 KB. */
#define MAX_INDEX_BYTES ((gsize)64 << 20)

struct ivl_safetensors {
  GPtrArray *maps;     /* GMappedFile*, one per file */
  GPtrArray *tensors;  /* ivl_st_tensor*, owned */
  GHashTable *by_name; /* name → ivl_st_tensor*, borrowed from tensors */
  guint64 file_bytes;
  guint64 tensor_bytes;
};

const char *ivl_dtype_name(ivl_dtype dtype)
{
  switch (dtype) {
  case IVL_DTYPE_F32:
    return "F32";
  case IVL_DTYPE_F16:
    return "F16";
  case IVL_DTYPE_BF16:
    return "BF16";
  case IVL_DTYPE_I32:
    return "I32";
  case IVL_DTYPE_Q8: /* ivl's own, never in a file */
  case IVL_DTYPE_Q4:
    break;
  }
  return "?";
}

static ivl_safetensors *st_new(void)
{
  ivl_safetensors *st = g_new0(ivl_safetensors, 1);
  st->maps = g_ptr_array_new_with_free_func((GDestroyNotify)g_mapped_file_unref);
  st->tensors = g_ptr_array_new_with_free_func(ivl_st_tensor_free);
  st->by_name = g_hash_table_new(g_str_hash, g_str_equal);
  return st;
}

void ivl_safetensors_free(ivl_safetensors *st)
{
  if (!st)
    return;
  g_ptr_array_unref(st->tensors);
  g_hash_table_unref(st->by_name);
  g_ptr_array_unref(st->maps);
  g_free(st);
}

/* Maps path and adds its tensors to st; a name already present is a CORRUPT duplicate. */
static gboolean add_file(ivl_safetensors *st, const char *path, GError **error)
{
  GMappedFile *map = ivl_file_map(path, error);
  if (!map)
    return FALSE;
  g_ptr_array_add(st->maps, map);
  g_autofree char *label = g_path_get_basename(path);
  const guint8 *data = (const guint8 *)g_mapped_file_get_contents(map);
  gsize size = g_mapped_file_get_length(map);
  static const guint8 empty[1];
  g_autoptr(GPtrArray) tensors = ivl_st_parse(size ? data : empty, size, label, error);
  if (!tensors)
    return FALSE;
  st->file_bytes += size;
  /* Ownership moves to st->tensors one by one, so a failure midway frees what is left. */
  g_ptr_array_set_free_func(tensors, NULL);
  for (guint i = 0; i < tensors->len; i++) {
    ivl_st_tensor *t = g_ptr_array_index(tensors, i);
    g_ptr_array_add(st->tensors, t);
    if (!g_hash_table_insert(st->by_name, (gpointer)t->name, t)) {
      for (guint j = i + 1; j < tensors->len; j++)
        g_ptr_array_add(st->tensors, g_ptr_array_index(tensors, j));
      g_set_error(error, IVL_ERROR, IVL_ERROR_CORRUPT, "%s: tensor \"%s\" is also in another shard",
                  label, t->name);
      return FALSE;
    }
    st->tensor_bytes += t->nbytes;
  }
  return TRUE;
}

ivl_safetensors *ivl_safetensors_open_file(const char *path, GError **error)
{
  g_autoptr(ivl_safetensors) st = st_new();
  if (!add_file(st, path, error))
    return NULL;
  return g_steal_pointer(&st);
}

/* A shard name from the index must be a plain file name inside the model directory. */
static gboolean is_plain_name(const char *s)
{
  return *s && !strchr(s, '/') && strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

/* Reads the index's weight_map into a table name → shard file name (borrowed from parser). */
static JsonObject *read_weight_map(const char *index_path, JsonParser **parser_out, GError **error)
{
  g_autofree char *text = NULL;
  gsize len = 0;
  if (!ivl_file_read(index_path, MAX_INDEX_BYTES, &text, &len, error))
    return NULL;
  g_autoptr(JsonParser) parser = ivl_json_parse_checked(text, len, INDEX_NAME, error);
  if (!parser)
    return NULL;
  JsonNode *root = json_parser_get_root(parser);
  JsonNode *wm = JSON_NODE_HOLDS_OBJECT(root)
                     ? json_object_get_member(json_node_get_object(root), "weight_map")
                     : NULL;
  if (!wm || !JSON_NODE_HOLDS_OBJECT(wm)) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_CORRUPT, "%s: no \"weight_map\" object", INDEX_NAME);
    return NULL;
  }
  JsonObject *map = json_node_get_object(wm);
  g_autoptr(GList) names = json_object_get_members(map);
  for (GList *l = names; l; l = l->next) {
    JsonNode *v = json_object_get_member(map, l->data);
    if (!JSON_NODE_HOLDS_VALUE(v) || json_node_get_value_type(v) != G_TYPE_STRING ||
        !is_plain_name(json_node_get_string(v))) {
      g_set_error(error, IVL_ERROR, IVL_ERROR_CORRUPT,
                  "%s: weight_map[\"%s\"] is not a file name in the model directory", INDEX_NAME,
                  (const char *)l->data);
      return NULL;
    }
  }
  *parser_out = g_steal_pointer(&parser);
  return map;
}

static gint compare_names(gconstpointer a, gconstpointer b)
{
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static gboolean open_shards(ivl_safetensors *st, const char *dir, JsonObject *map, GError **error)
{
  g_autoptr(GList) names = json_object_get_members(map);
  g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);
  g_autoptr(GPtrArray) shards = g_ptr_array_new();
  for (GList *l = names; l; l = l->next) {
    const char *shard = json_object_get_string_member(map, l->data);
    if (g_hash_table_add(seen, (gpointer)shard))
      g_ptr_array_add(shards, (gpointer)shard);
  }
  g_ptr_array_sort(shards, compare_names);
  for (guint i = 0; i < shards->len; i++) {
    const char *shard = g_ptr_array_index(shards, i);
    g_autofree char *path = g_build_filename(dir, shard, NULL);
    if (!g_file_test(path, G_FILE_TEST_IS_REGULAR)) {
      g_set_error(error, IVL_ERROR, IVL_ERROR_NOT_FOUND,
                  "%s names the shard %s, which is not in %s", INDEX_NAME, shard, dir);
      return FALSE;
    }
    if (!add_file(st, path, error))
      return FALSE;
  }
  for (GList *l = names; l; l = l->next) {
    const char *shard = json_object_get_string_member(map, l->data);
    const ivl_st_tensor *t = g_hash_table_lookup(st->by_name, l->data);
    if (!t || strcmp(t->file, shard) != 0) {
      g_set_error(error, IVL_ERROR, IVL_ERROR_CORRUPT,
                  "%s maps tensor \"%s\" to %s, which lacks it", INDEX_NAME, (const char *)l->data,
                  shard);
      return FALSE;
    }
  }
  return TRUE;
}

ivl_safetensors *ivl_safetensors_open(const char *dir, GError **error)
{
  g_autofree char *index_path = g_build_filename(dir, INDEX_NAME, NULL);
  if (!g_file_test(index_path, G_FILE_TEST_EXISTS)) {
    g_autofree char *single = g_build_filename(dir, SINGLE_NAME, NULL);
    if (!g_file_test(single, G_FILE_TEST_EXISTS)) {
      g_set_error(error, IVL_ERROR, IVL_ERROR_NOT_FOUND, "no %s or %s in %s", SINGLE_NAME,
                  INDEX_NAME, dir);
      return NULL;
    }
    return ivl_safetensors_open_file(single, error);
  }
  g_autoptr(JsonParser) parser = NULL;
  JsonObject *map = read_weight_map(index_path, &parser, error);
  if (!map)
    return NULL;
  g_autoptr(ivl_safetensors) st = st_new();
  if (!open_shards(st, dir, map, error))
    return NULL;
  return g_steal_pointer(&st);
}

const ivl_st_tensor *ivl_safetensors_find(const ivl_safetensors *st, const char *name)
{
  return g_hash_table_lookup(st->by_name, name);
}

guint ivl_safetensors_get_n_tensors(const ivl_safetensors *st)
{
  return st->tensors->len;
}

const ivl_st_tensor *ivl_safetensors_get_tensor(const ivl_safetensors *st, guint i)
{
  return i < st->tensors->len ? g_ptr_array_index(st->tensors, i) : NULL;
}

guint64 ivl_safetensors_get_tensor_bytes(const ivl_safetensors *st)
{
  return st->tensor_bytes;
}

guint64 ivl_safetensors_get_file_bytes(const ivl_safetensors *st)
{
  return st->file_bytes;
}

guint ivl_safetensors_get_n_files(const ivl_safetensors *st)
{
  return st->maps->len;
}
