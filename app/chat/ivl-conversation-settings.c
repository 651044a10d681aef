/* ivl-conversation-settings.c — the settings of one conversation. */
#include "ivl-config.h"

#include "ivl-conversation-settings.h"

#include "ivl-model-list.h"

struct _IvlConversationSettings {
  AdwWindow parent_instance;

  /* template widgets */
  GtkButton *cancel_button;
  GtkButton *save_button;
  AdwEntryRow *title_row;
  AdwComboRow *model_row;
  GtkTextView *system_view;

  /* owned */
  IvlConversation *conversation;
  GPtrArray *model_paths; /* char*, in the order of model_row's items */
};

G_DEFINE_FINAL_TYPE(IvlConversationSettings, ivl_conversation_settings, ADW_TYPE_WINDOW)

enum { SIGNAL_SAVED, N_SIGNALS };
static guint signals[N_SIGNALS];

static void save(IvlConversationSettings *self)
{
  GtkTextBuffer *buffer = gtk_text_view_get_buffer(self->system_view);
  guint model = adw_combo_row_get_selected(self->model_row);
  GtkTextIter start, end;
  g_autofree char *system = NULL;

  gtk_text_buffer_get_bounds(buffer, &start, &end);
  system = gtk_text_buffer_get_text(buffer, &start, &end, FALSE);
  ivl_conversation_set_title(self->conversation,
                             gtk_editable_get_text(GTK_EDITABLE(self->title_row)));
  ivl_conversation_set_system_message(self->conversation, system);
  if (model < self->model_paths->len)
    ivl_conversation_set_model(self->conversation, self->model_paths->pdata[model]);
  g_signal_emit(self, signals[SIGNAL_SAVED], 0);
  gtk_window_destroy(GTK_WINDOW(self));
}

static void ivl_conversation_settings_dispose(GObject *object)
{
  IvlConversationSettings *self = IVL_CONVERSATION_SETTINGS(object);

  g_clear_object(&self->conversation);
  g_clear_pointer(&self->model_paths, g_ptr_array_unref);
  gtk_widget_dispose_template(GTK_WIDGET(self), IVL_TYPE_CONVERSATION_SETTINGS);
  G_OBJECT_CLASS(ivl_conversation_settings_parent_class)->dispose(object);
}

static void ivl_conversation_settings_class_init(IvlConversationSettingsClass *klass)
{
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS(klass);

  G_OBJECT_CLASS(klass)->dispose = ivl_conversation_settings_dispose;
  gtk_widget_class_set_template_from_resource(
      widget_class, "/io/github/ivl/Chat/ui/ivl-conversation-settings.ui");
  gtk_widget_class_bind_template_child(widget_class, IvlConversationSettings, cancel_button);
  gtk_widget_class_bind_template_child(widget_class, IvlConversationSettings, save_button);
  gtk_widget_class_bind_template_child(widget_class, IvlConversationSettings, title_row);
  gtk_widget_class_bind_template_child(widget_class, IvlConversationSettings, model_row);
  gtk_widget_class_bind_template_child(widget_class, IvlConversationSettings, system_view);
  gtk_widget_class_add_binding_action(widget_class, GDK_KEY_Escape, 0, "window.close", NULL);
  signals[SIGNAL_SAVED] = g_signal_new("saved", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0,
                                       NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void ivl_conversation_settings_init(IvlConversationSettings *self)
{
  gtk_widget_init_template(GTK_WIDGET(self));
  self->model_paths = g_ptr_array_new_with_free_func(g_free);
  g_signal_connect_swapped(self->cancel_button, "clicked", G_CALLBACK(gtk_window_destroy), self);
  g_signal_connect_swapped(self->save_button, "clicked", G_CALLBACK(save), self);
}

IvlConversationSettings *ivl_conversation_settings_new(GtkWindow *parent,
                                                       IvlConversation *conversation,
                                                       GPtrArray *models, const char *current_model)
{
  IvlConversationSettings *self =
      g_object_new(IVL_TYPE_CONVERSATION_SETTINGS, "transient-for", parent, NULL);
  const char *model = ivl_conversation_get_model(conversation);
  const char *system = ivl_conversation_get_system_message(conversation);
  g_autoptr(GtkStringList) names = gtk_string_list_new(NULL);
  guint selected = 0;

  self->conversation = g_object_ref(conversation);
  gtk_editable_set_text(GTK_EDITABLE(self->title_row), ivl_conversation_get_title(conversation));
  if (model == NULL)
    model = current_model;
  for (guint i = 0; models && i < models->len; i++) {
    IvlModelEntry *e = models->pdata[i];
    gtk_string_list_append(names, e->name);
    g_ptr_array_add(self->model_paths, g_strdup(e->path));
    if (g_strcmp0(e->path, model) == 0)
      selected = i;
  }
  adw_combo_row_set_model(self->model_row, G_LIST_MODEL(names));
  adw_combo_row_set_selected(self->model_row, selected);
  gtk_widget_set_visible(GTK_WIDGET(self->model_row), self->model_paths->len > 0);
  gtk_text_buffer_set_text(gtk_text_view_get_buffer(self->system_view), system ? system : "", -1);
  return self;
}
