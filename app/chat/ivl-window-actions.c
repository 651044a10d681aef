/* ivl-window-actions.c — the window's commands, as actions with keyboard shortcuts. */
#include "ivl-config.h"

#include "ivl-model-manager.h"
#include "ivl-window-private.h"

static void send_action(GtkWidget *widget, const char *name, GVariant *param)
{
  (void)name;
  (void)param;
  ivl_window_send(IVL_WINDOW(widget));
}

static void stop_action(GtkWidget *widget, const char *name, GVariant *param)
{
  (void)name;
  (void)param;
  ivl_window_stop(IVL_WINDOW(widget));
}

static void regenerate_action(GtkWidget *widget, const char *name, GVariant *param)
{
  (void)name;
  (void)param;
  ivl_window_regenerate(IVL_WINDOW(widget));
}

static void continue_action(GtkWidget *widget, const char *name, GVariant *param)
{
  (void)name;
  (void)param;
  ivl_window_continue(IVL_WINDOW(widget));
}

static void find_objects_action(GtkWidget *widget, const char *name, GVariant *param)
{
  (void)name;
  (void)param;
  ivl_window_find_objects(IVL_WINDOW(widget));
}

static void cancel_edit_action(GtkWidget *widget, const char *name, GVariant *param)
{
  (void)name;
  (void)param;
  ivl_window_cancel_edit(IVL_WINDOW(widget));
}

static void rename_conversation_action(GtkWidget *widget, const char *name, GVariant *param)
{
  (void)name;
  ivl_window_rename_conversation(IVL_WINDOW(widget), g_variant_get_string(param, NULL));
}

static void delete_conversation_action(GtkWidget *widget, const char *name, GVariant *param)
{
  (void)name;
  ivl_window_delete_conversation(IVL_WINDOW(widget), g_variant_get_string(param, NULL));
}

static void conversation_settings_action(GtkWidget *widget, const char *name, GVariant *param)
{
  (void)name;
  ivl_window_conversation_settings(IVL_WINDOW(widget), g_variant_get_string(param, NULL));
}

static void export_action(GtkWidget *widget, const char *name, GVariant *param)
{
  ivl_window_export_conversation(IVL_WINDOW(widget), g_variant_get_string(param, NULL),
                                 g_str_equal(name, "win.export-json") ? IVL_EXPORT_JSON
                                                                      : IVL_EXPORT_MARKDOWN);
}

static void undo_delete_action(GtkWidget *widget, const char *name, GVariant *param)
{
  (void)name;
  (void)param;
  ivl_window_undo_delete(IVL_WINDOW(widget));
}

static void new_conversation_action(GtkWidget *widget, const char *name, GVariant *param)
{
  (void)name;
  (void)param;
  ivl_window_new_conversation(IVL_WINDOW(widget));
}

static void attach_action(GtkWidget *widget, const char *name, GVariant *param)
{
  (void)name;
  (void)param;
  ivl_window_attach_dialog(IVL_WINDOW(widget));
}

static void demo_model_action(GtkWidget *widget, const char *name, GVariant *param)
{
  (void)name;
  (void)param;
  ivl_window_make_demo_model(IVL_WINDOW(widget));
}

static void manage_models_action(GtkWidget *widget, const char *name, GVariant *param)
{
  IvlWindow *self = IVL_WINDOW(widget);
  g_autofree char *folder = g_settings_get_string(self->settings, "models-folder");
  IvlModelManager *manager = ivl_model_manager_new(GTK_WINDOW(widget), folder);

  (void)name;
  (void)param;
  g_signal_connect_object(manager, "model-installed", G_CALLBACK(ivl_window_refresh_models),
                          widget, G_CONNECT_SWAPPED);
  g_signal_connect_object(manager, "model-deleted", G_CALLBACK(ivl_window_refresh_models),
                          widget, G_CONNECT_SWAPPED);
  gtk_window_present(GTK_WINDOW(manager));
}

static void dismiss_error_action(GtkWidget *widget, const char *name, GVariant *param)
{
  (void)name;
  (void)param;
  ivl_window_dismiss_error(IVL_WINDOW(widget));
}

static void search_action(GtkWidget *widget, const char *name, GVariant *param)
{
  (void)name;
  (void)param;
  ivl_window_toggle_search(IVL_WINDOW(widget));
}

static void toggle_sidebar_action(GtkWidget *widget, const char *name, GVariant *param)
{
  IvlWindow *self = IVL_WINDOW(widget);

  (void)name;
  (void)param;
  adw_flap_set_reveal_flap(self->flap, !adw_flap_get_reveal_flap(self->flap));
}

void ivl_window_install_actions(IvlWindowClass *klass)
{
  GtkWidgetClass *w = GTK_WIDGET_CLASS(klass);

  gtk_widget_class_install_action(w, "win.send", NULL, send_action);
  gtk_widget_class_install_action(w, "win.stop", NULL, stop_action);
  gtk_widget_class_install_action(w, "win.regenerate", NULL, regenerate_action);
  gtk_widget_class_install_action(w, "win.continue", NULL, continue_action);
  gtk_widget_class_install_action(w, "win.find-objects", NULL, find_objects_action);
  gtk_widget_class_install_action(w, "win.cancel-edit", NULL, cancel_edit_action);
  gtk_widget_class_install_action(w, "win.rename-conversation", "s", rename_conversation_action);
  gtk_widget_class_install_action(w, "win.delete-conversation", "s", delete_conversation_action);
  gtk_widget_class_install_action(w, "win.undo-delete", NULL, undo_delete_action);
  gtk_widget_class_install_action(w, "win.conversation-settings", "s",
                                  conversation_settings_action);
  gtk_widget_class_install_action(w, "win.export-markdown", "s", export_action);
  gtk_widget_class_install_action(w, "win.export-json", "s", export_action);
  gtk_widget_class_install_action(w, "win.new-conversation", NULL, new_conversation_action);
  gtk_widget_class_install_action(w, "win.attach", NULL, attach_action);
  gtk_widget_class_install_action(w, "win.make-demo-model", NULL, demo_model_action);
  gtk_widget_class_install_action(w, "win.manage-models", NULL, manage_models_action);
  gtk_widget_class_install_action(w, "win.toggle-sidebar", NULL, toggle_sidebar_action);
  gtk_widget_class_install_action(w, "win.search", NULL, search_action);
  gtk_widget_class_install_action(w, "win.dismiss-error", NULL, dismiss_error_action);

  gtk_widget_class_add_binding_action(w, GDK_KEY_Escape, 0, "win.stop", NULL);
  gtk_widget_class_add_binding_action(w, GDK_KEY_n, GDK_CONTROL_MASK, "win.new-conversation",
                                      NULL);
  gtk_widget_class_add_binding_action(w, GDK_KEY_o, GDK_CONTROL_MASK, "win.attach", NULL);
  gtk_widget_class_add_binding_action(w, GDK_KEY_r, GDK_CONTROL_MASK, "win.regenerate", NULL);
  gtk_widget_class_add_binding_action(w, GDK_KEY_F9, 0, "win.toggle-sidebar", NULL);
  gtk_widget_class_add_binding_action(w, GDK_KEY_f, GDK_CONTROL_MASK, "win.search", NULL);
}
