/* ivl-model-folder.h — an installed model's folder as the model manager handles it: its size
 * on disk and its deletion (confirmed first), both off the UI thread. */
#pragma once

#include <adwaita.h>

G_BEGIN_DECLS

/* ivl_model_dir_disk_bytes (model-info.h), measured on a worker thread. */
void ivl_model_folder_measure_async(const char *path, GCancellable *cancellable,
                                    GAsyncReadyCallback callback, gpointer user_data);
guint64 ivl_model_folder_measure_finish(GAsyncResult *result);

/* Removes the folder and all it holds, on a worker thread; the path is the task data. */
void ivl_model_folder_delete_async(const char *path, GAsyncReadyCallback callback,
                                   gpointer user_data);
gboolean ivl_model_folder_delete_finish(GAsyncResult *result, GError **error);

/* "Delete the model?" naming what goes and the space it frees; responses "cancel" and
 * "delete". Presented; the caller connects "response". */
AdwMessageDialog *ivl_model_folder_confirm_delete(GtkWidget *from, const char *name,
                                                  const char *path, guint64 bytes);

G_END_DECLS
