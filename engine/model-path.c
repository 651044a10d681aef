/* model-path.c — the -m lookup: a directory, or a name in the three places ivl knows. */
#include "model-path.h"

#include "file-io.h"

#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>

#include "ivl.h"

static gboolean has_config(const char *dir)
{
  g_autofree char *path = g_build_filename(dir, "config.json", NULL);
  /* Any kind of file: loading it then says why a FIFO or a folder will not do. */
  return g_file_test(path, G_FILE_TEST_EXISTS);
}

char *ivl_model_path_user_models_dir(void)
{
  return g_build_filename(g_get_user_data_dir(), "ivl", "models", NULL);
}

/* huggingface_hub's constants: HF_HUB_CACHE, else HF_HOME/hub, else ~/.cache/huggingface/hub
 * (HF_HOME itself defaults to $XDG_CACHE_HOME/huggingface; ~/.cache when that is unset). */
char *ivl_model_path_hub_cache_dir(void)
{
  const char *cache = g_getenv("HF_HUB_CACHE");
  if (cache && *cache)
    return g_strdup(cache);
  const char *home = g_getenv("HF_HOME");
  if (home && *home)
    return g_build_filename(home, "hub", NULL);
  const char *xdg = g_getenv("XDG_CACHE_HOME");
  if (xdg && *xdg)
    return g_build_filename(xdg, "huggingface", "hub", NULL);
  return g_build_filename(g_get_home_dir(), ".cache", "huggingface", "hub", NULL);
}

char *ivl_model_path_repo_id(const char *name)
{
  if (strchr(name, '/'))
    return g_strdup(name);
  return g_strconcat(IVL_MODEL_DEFAULT_ORG, "/", name, NULL);
}

/* The newest snapshot by modification time; ties broken by name for a stable answer. */
static char *newest_snapshot(const char *snapshots)
{
  g_autoptr(GDir) d = g_dir_open(snapshots, 0, NULL);
  char *best = NULL;
  gint64 best_time = G_MININT64;
  for (const char *name; d && (name = g_dir_read_name(d));) {
    g_autofree char *path = g_build_filename(snapshots, name, NULL);
    GStatBuf sb;
    if (g_stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode))
      continue;
    gint64 t = (gint64)sb.st_mtime;
    if (!best || t > best_time || (t == best_time && strcmp(path, best) > 0)) {
      g_free(best);
      best = g_steal_pointer(&path);
      best_time = t;
    }
  }
  return best;
}

/* The hub's folder for a repo: "models--Org--Name". */
static char *hub_folder(const char *repo_id)
{
  g_auto(GStrv) parts = g_strsplit(repo_id, "/", -1);
  g_autofree char *joined = g_strjoinv("--", parts);
  return g_strconcat("models--", joined, NULL);
}

char *ivl_model_path_hub_snapshot(const char *hub_cache, const char *repo_id)
{
  g_autofree char *folder = hub_folder(repo_id);
  g_autofree char *repo = g_build_filename(hub_cache, folder, NULL);
  g_autofree char *ref = g_build_filename(repo, "refs", "main", NULL);
  g_autofree char *snapshots = g_build_filename(repo, "snapshots", NULL);
  g_autofree char *commit = NULL;
  /* A ref holds a 40-character commit; a FIFO or a huge file there is not one. */
  if (ivl_file_read(ref, 4096, &commit, NULL, NULL)) {
    g_strstrip(commit);
    if (*commit && !strchr(commit, '/') && strcmp(commit, "..") != 0) {
      char *dir = g_build_filename(snapshots, commit, NULL);
      if (g_file_test(dir, G_FILE_TEST_IS_DIR))
        return dir;
      g_free(dir);
    }
  }
  return newest_snapshot(snapshots);
}

static gboolean valid_name(const char *name)
{
  if (!*name)
    return FALSE;
  g_auto(GStrv) parts = g_strsplit(name, "/", -1);
  if (g_strv_length(parts) > 2)
    return FALSE;
  for (char **p = parts; *p; p++)
    if (!**p || strcmp(*p, ".") == 0 || strcmp(*p, "..") == 0)
      return FALSE;
  return TRUE;
}

char *ivl_model_path_resolve(const char *name_or_dir, GError **error)
{
  if (g_file_test(name_or_dir, G_FILE_TEST_IS_DIR)) {
    if (has_config(name_or_dir))
      return g_strdup(name_or_dir);
    g_set_error(error, IVL_ERROR, IVL_ERROR_NOT_FOUND, "%s has no config.json", name_or_dir);
    return NULL;
  }
  if (!valid_name(name_or_dir)) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_INVALID_ARGUMENT,
                "\"%s\" is neither a model directory nor a model name such as InternVL3-1B",
                name_or_dir);
    return NULL;
  }
  g_autofree char *base = g_path_get_basename(name_or_dir);
  g_autofree char *repo_id = ivl_model_path_repo_id(name_or_dir);
  g_autofree char *user = ivl_model_path_user_models_dir();
  g_autofree char *hub = ivl_model_path_hub_cache_dir();
  char *places[] = {g_build_filename("pretrained", base, NULL), g_build_filename(user, base, NULL),
                    ivl_model_path_hub_snapshot(hub, repo_id)};
  char *found = NULL;
  for (gsize i = 0; i < G_N_ELEMENTS(places); i++) {
    if (!found && places[i] && has_config(places[i]))
      found = g_strdup(places[i]);
  }
  if (!found) {
    g_autofree char *folder = hub_folder(repo_id);
    g_autofree char *hub_place = g_build_filename(hub, folder, "snapshots", NULL);
    g_set_error(error, IVL_ERROR, IVL_ERROR_NOT_FOUND,
                "model \"%s\" not found; looked in %s, %s and %s (a model directory holds "
                "config.json)",
                name_or_dir, places[0], places[1], hub_place);
  }
  for (gsize i = 0; i < G_N_ELEMENTS(places); i++)
    g_free(places[i]);
  return found;
}
