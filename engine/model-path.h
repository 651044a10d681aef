/* model-path.h — where a model named on the command line (-m) lives.
 *
 * -m takes a directory, or a catalog name such as "InternVL3-1B" (or "Org/Name") looked up,
 * in this order, in
 *   1. pretrained/<name>                        (relative to the working directory, as the
 *                                                upstream quick start downloads)
 *   2. $XDG_DATA_HOME/ivl/models/<name>          (g_get_user_data_dir(); where ivl downloads)
 *   3. <hub cache>/models--<Org>--<name>/snapshots/<commit>/
 *      hub cache = $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub;
 *      Org defaults to OpenGVLab; <commit> is the one refs/main names, else the only or the
 *      most recently modified snapshot.
 * A candidate counts only if it holds config.json.
 */
#ifndef IVL_MODEL_PATH_H
#define IVL_MODEL_PATH_H

#include <glib.h>

G_BEGIN_DECLS

/* The organisation assumed for a bare catalog name. */
#define IVL_MODEL_DEFAULT_ORG "OpenGVLab"

/* The model directory for name_or_dir (newly allocated). An existing directory is returned
 * as given. Errors: NOT_FOUND (a directory without config.json, or a name found nowhere:
 * the message lists every place searched), INVALID_ARGUMENT (an empty name, or one with
 * "." / ".." components). */
char *ivl_model_path_resolve(const char *name_or_dir, GError **error);

/* $XDG_DATA_HOME/ivl/models: where downloads go. Caller frees. */
char *ivl_model_path_user_models_dir(void);

/* The Hugging Face hub cache directory (see above). Caller frees. */
char *ivl_model_path_hub_cache_dir(void);

/* The snapshot directory of repo_id ("Org/Name") in hub_cache, or NULL when the cache has
 * none. Caller frees. */
char *ivl_model_path_hub_snapshot(const char *hub_cache, const char *repo_id);

/* "Name" → "OpenGVLab/Name"; "Org/Name" unchanged. Caller frees. */
char *ivl_model_path_repo_id(const char *name);

G_END_DECLS

#endif /* IVL_MODEL_PATH_H */
