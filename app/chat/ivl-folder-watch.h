/* ivl-folder-watch.h — notices model folders copied in or removed while the app runs.
 *
 * Watches some folders and their subfolders one level down (a model folder copied in appears
 * first empty, its config.json later) and emits "changed" once things have been quiet for a
 * moment, so a copy in progress gives one rescan, not hundreds. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define IVL_TYPE_FOLDER_WATCH (ivl_folder_watch_get_type())
G_DECLARE_FINAL_TYPE(IvlFolderWatch, ivl_folder_watch, IVL, FOLDER_WATCH, GObject)

IvlFolderWatch *ivl_folder_watch_new(void);
/* Watches folder (missing ones are skipped) and what is in it; NULL or "" does nothing. */
void ivl_folder_watch_add(IvlFolderWatch *self, const char *folder);
/* Stops watching everything. */
void ivl_folder_watch_clear(IvlFolderWatch *self);

G_END_DECLS
