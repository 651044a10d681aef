/* ivl-installed-row.h — one model folder found on this computer, in the model manager: where
 * it is, its size on disk, and its deletion (confirmed first). */
#pragma once

#include <adwaita.h>

G_BEGIN_DECLS

#define IVL_TYPE_INSTALLED_ROW (ivl_installed_row_get_type())
G_DECLARE_FINAL_TYPE(IvlInstalledRow, ivl_installed_row, IVL, INSTALLED_ROW, AdwActionRow)

/* name as the person sees it (ivl_model_list_scan), path its folder. A Hugging Face cache
 * snapshot (under hub_cache) is shown but not offered for deletion: it belongs to that cache
 * and its files are shared with other snapshots. Signals: "deleted" once the folder is gone,
 * "message" (const char *text) when it could not be deleted. */
IvlInstalledRow *ivl_installed_row_new(const char *name, const char *path, const char *hub_cache);

const char *ivl_installed_row_get_path(IvlInstalledRow *self);
/* The size on disk once measured; 0 before. */
guint64 ivl_installed_row_get_bytes(IvlInstalledRow *self);

G_END_DECLS
