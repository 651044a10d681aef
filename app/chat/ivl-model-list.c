/* ivl-model-list.c — finding model folders. */
#include "ivl-model-list.h"

#include <string.h>

#include "model-path.h"

void ivl_model_entry_free(IvlModelEntry *entry)
{
  if (entry == NULL)
    return;
  g_free(entry->name);
  g_free(entry->path);
  g_free(entry->server_url);
  g_free(entry->remote_model);
  g_free(entry->host);
  g_free(entry);
}

char *ivl_model_list_user_dir(void)
{
  return ivl_model_path_user_models_dir();
}

static gboolean is_model_dir(const char *path)
{
  g_autofree char *config = g_build_filename(path, "config.json", NULL);

  return g_file_test(config, G_FILE_TEST_IS_REGULAR);
}

static void add_entry(GPtrArray *out, const char *name, const char *path)
{
  g_autofree char *canonical = g_canonicalize_filename(path, NULL);
  IvlModelEntry *e;

  for (guint i = 0; i < out->len; i++)
    if (g_str_equal(((IvlModelEntry *)out->pdata[i])->path, canonical))
      return;
  e = g_new0(IvlModelEntry, 1);
  e->name = g_strdup(name);
  e->path = g_steal_pointer(&canonical);
  g_ptr_array_add(out, e);
}

static void scan_folder(GPtrArray *out, const char *folder)
{
  g_autoptr(GDir) dir = folder && *folder ? g_dir_open(folder, 0, NULL) : NULL;
  const char *name;

  while (dir && (name = g_dir_read_name(dir)) != NULL) {
    g_autofree char *path = g_build_filename(folder, name, NULL);
    if (name[0] != '.' && is_model_dir(path))
      add_entry(out, name, path);
  }
}

/* Each cached repo models--<Org>--<Name>, at the snapshot the engine would pick. */
static void scan_hf_cache(GPtrArray *out, const char *hub)
{
  g_autoptr(GDir) dir = g_dir_open(hub, 0, NULL);
  const char *name;

  while (dir && (name = g_dir_read_name(dir)) != NULL) {
    if (!g_str_has_prefix(name, "models--"))
      continue;
    g_auto(GStrv) parts = g_strsplit(name + strlen("models--"), "--", 2);
    if (parts[0] == NULL || parts[1] == NULL)
      continue;
    g_autofree char *repo_id = g_strconcat(parts[0], "/", parts[1], NULL);
    g_autofree char *snapshot = ivl_model_path_hub_snapshot(hub, repo_id);
    if (snapshot && is_model_dir(snapshot))
      add_entry(out, repo_id, snapshot);
  }
}

static int by_name(gconstpointer a, gconstpointer b)
{
  const IvlModelEntry *ea = *(IvlModelEntry *const *)a, *eb = *(IvlModelEntry *const *)b;

  return g_utf8_collate(ea->name, eb->name);
}

GPtrArray *ivl_model_list_scan(const char *extra_folder)
{
  GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)ivl_model_entry_free);
  g_autofree char *user = ivl_model_list_user_dir();
  g_autofree char *hub = ivl_model_path_hub_cache_dir();

  scan_folder(out, "pretrained");
  scan_folder(out, user);
  scan_folder(out, extra_folder);
  scan_hf_cache(out, hub);
  g_ptr_array_sort(out, by_name);
  return out;
}
