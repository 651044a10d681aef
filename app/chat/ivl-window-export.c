/* ivl-window-export.c — saving a conversation as Markdown or JSON where the person chooses. */
#include "ivl-config.h"

#include "ivl-window-private.h"

#include <glib/gi18n.h>

typedef struct {
  IvlWindow *window;
  char *path;
} Exporting;

static void on_exported(GObject *source, GAsyncResult *result, gpointer user_data)
{
  Exporting *x = user_data;
  g_autoptr(GError) error = NULL;

  (void)source;
  if (ivl_export_finish(result, &error)) {
    g_autofree char *name = g_path_get_basename(x->path);
    g_autofree char *text = g_strdup_printf(_("Exported to “%s”"), name);
    g_autofree char *markup = g_markup_escape_text(text, -1); /* a toast's title is markup */
    adw_toast_overlay_add_toast(x->window->toast_overlay, adw_toast_new(markup));
  } else {
    ivl_window_show_error(x->window, error);
  }
  g_object_unref(x->window);
  g_free(x->path);
  g_free(x);
}

void ivl_window_export_to(IvlWindow *self, IvlConversation *conversation, IvlExportFormat format,
                          const char *path)
{
  Exporting *x = g_new0(Exporting, 1);

  x->window = g_object_ref(self);
  x->path = g_strdup(path);
  ivl_export_async(conversation, ivl_store_get_images_dir(self->store), format, path, NULL,
                   on_exported, x);
}

static void on_chooser_response(GtkNativeDialog *chooser, int response, IvlWindow *self)
{
  IvlConversation *c = g_object_get_data(G_OBJECT(chooser), "conversation");
  IvlExportFormat format = GPOINTER_TO_INT(g_object_get_data(G_OBJECT(chooser), "format"));

  if (response == GTK_RESPONSE_ACCEPT) {
    g_autoptr(GFile) file = gtk_file_chooser_get_file(GTK_FILE_CHOOSER(chooser));
    g_autofree char *path = file ? g_file_get_path(file) : NULL;
    if (path)
      ivl_window_export_to(self, c, format, path);
  }
  g_object_unref(chooser);
}

/* The title as a file name: no folder separators, and not hidden. */
static char *file_name_for(IvlConversation *c, IvlExportFormat format)
{
  g_autofree char *title = g_strdup(ivl_conversation_get_title(c));

  g_strdelimit(title, "/\\:", '-');
  if (title[0] == '.')
    title[0] = '_';
  return g_strconcat(title, format == IVL_EXPORT_JSON ? ".json" : ".md", NULL);
}

void ivl_window_export_conversation(IvlWindow *self, const char *id, IvlExportFormat format)
{
  IvlConversation *c = ivl_window_find_conversation(self, id);
  GtkFileChooserNative *chooser;
  GtkFileFilter *filter;
  g_autofree char *name = NULL;

  if (c == NULL)
    return;
  chooser = gtk_file_chooser_native_new(
      format == IVL_EXPORT_JSON ? _("Export as JSON") : _("Export as Markdown"), GTK_WINDOW(self),
      GTK_FILE_CHOOSER_ACTION_SAVE, _("_Export"), _("_Cancel"));
  filter = gtk_file_filter_new();
  if (format == IVL_EXPORT_JSON) {
    gtk_file_filter_set_name(filter, _("JSON"));
    gtk_file_filter_add_suffix(filter, "json");
  } else {
    gtk_file_filter_set_name(filter, _("Markdown"));
    gtk_file_filter_add_suffix(filter, "md");
  }
  gtk_file_chooser_add_filter(GTK_FILE_CHOOSER(chooser), filter);
  g_object_unref(filter);
  name = file_name_for(c, format);
  gtk_file_chooser_set_current_name(GTK_FILE_CHOOSER(chooser), name);
  g_object_set_data_full(G_OBJECT(chooser), "conversation", g_object_ref(c), g_object_unref);
  g_object_set_data(G_OBJECT(chooser), "format", GINT_TO_POINTER(format));
  g_signal_connect_object(chooser, "response", G_CALLBACK(on_chooser_response), self, 0);
  gtk_native_dialog_show(GTK_NATIVE_DIALOG(chooser));
}
