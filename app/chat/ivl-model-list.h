/* ivl-model-list.h — the model folders the app can offer: ./pretrained/<name>,
 * $XDG_DATA_HOME/ivl/models/<name>, the preferred models folder and Hugging Face cache
 * snapshots (used in place): the places engine/model-path.h resolves names in. A folder
 * counts when it holds a config.json. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
  char *name;         /* what the person sees: the folder name, or "owner/repo" from the HF cache */
  char *path;         /* a local folder, or for a remote model "BASE_URL#MODEL" */
  char *server_url;   /* remote models only (ivl-servers.h): the server's API root */
  char *remote_model; /* the name the server knows the model by */
  char *host;         /* the server's host for labels */
} IvlModelEntry;

void ivl_model_entry_free(IvlModelEntry *entry);

/* Sorted by name, each folder once. extra_folder may be NULL or "". */
GPtrArray *ivl_model_list_scan(const char *extra_folder);

/* Where a downloaded or generated model goes: $XDG_DATA_HOME/ivl/models. */
char *ivl_model_list_user_dir(void);

G_END_DECLS
