/* ivl-model-folder.c — measuring and deleting an installed model's folder. */
#include "ivl-config.h"

#include "ivl-model-folder.h"

#include <glib/gi18n.h>

#include "model-info.h"

static void measure_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  (void)source;
  (void)cancellable;
  g_task_return_int(task, (gssize)ivl_model_dir_disk_bytes(data));
}

void ivl_model_folder_measure_async(const char *path, GCancellable *cancellable,
                                    GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr(GTask) task = g_task_new(NULL, cancellable, callback, user_data);
  g_task_set_task_data(task, g_strdup(path), g_free);
  g_task_run_in_thread(task, measure_thread);
}

guint64 ivl_model_folder_measure_finish(GAsyncResult *result)
{
  gssize bytes = g_task_propagate_int(G_TASK(result), NULL);
  return bytes > 0 ? (guint64)bytes : 0;
}

/* Depth first; symbolic links are removed, never followed. */
static gboolean delete_tree(GFile *file, GCancellable *cancellable, GError **error)
{
  g_autoptr(GFileEnumerator) children =
      g_file_enumerate_children(file, G_FILE_ATTRIBUTE_STANDARD_NAME,
                                G_FILE_QUERY_INFO_NOFOLLOW_SYMLINKS, cancellable, NULL);
  if (children) {
    GFileInfo *info;
    GFile *child;
    while (g_file_enumerator_iterate(children, &info, &child, cancellable, error) && info) {
      if (!delete_tree(child, cancellable, error))
        return FALSE;
    }
  }
  return g_file_delete(file, cancellable, error);
}

static void delete_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  (void)source;
  GError *error = NULL;
  g_autoptr(GFile) file = g_file_new_for_path(data);
  if (delete_tree(file, cancellable, &error))
    g_task_return_boolean(task, TRUE);
  else
    g_task_return_error(task, error);
}

void ivl_model_folder_delete_async(const char *path, GAsyncReadyCallback callback,
                                   gpointer user_data)
{
  g_autoptr(GTask) task = g_task_new(NULL, NULL, callback, user_data);
  g_task_set_task_data(task, g_strdup(path), g_free);
  g_task_run_in_thread(task, delete_thread);
}

gboolean ivl_model_folder_delete_finish(GAsyncResult *result, GError **error)
{
  return g_task_propagate_boolean(G_TASK(result), error);
}

AdwMessageDialog *ivl_model_folder_confirm_delete(GtkWidget *from, const char *name,
                                                  const char *path, guint64 bytes)
{
  GtkRoot *root = gtk_widget_get_root(from);
  g_autofree char *size = g_format_size(bytes);
  AdwMessageDialog *dialog = ADW_MESSAGE_DIALOG(adw_message_dialog_new(
      GTK_IS_WINDOW(root) ? GTK_WINDOW(root) : NULL, _("Delete the model?"), NULL));
  adw_message_dialog_format_body(dialog, _("%s will be removed from %s, freeing %s."), name,
                                 path, size);
  adw_message_dialog_add_responses(dialog, "cancel", _("Cancel"), "delete", _("Delete"), NULL);
  adw_message_dialog_set_response_appearance(dialog, "delete", ADW_RESPONSE_DESTRUCTIVE);
  adw_message_dialog_set_default_response(dialog, "cancel");
  adw_message_dialog_set_close_response(dialog, "cancel");
  gtk_window_present(GTK_WINDOW(dialog));
  return dialog;
}
