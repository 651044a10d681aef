/* ivl-preferences.c — the preferences window, bound to the GSettings of the app. */
#include "ivl-config.h"

#include "ivl-preferences.h"

#include <glib/gi18n.h>

#include "ivl-servers-page.h"

struct _IvlPreferences {
  AdwPreferencesWindow parent_instance;

  /* template widgets */
  AdwActionRow *folder_row;
  GtkButton *folder_button;
  GtkButton *folder_clear_button;
  AdwComboRow *backend_row;
  AdwComboRow *precision_row;
  GtkSpinButton *tiles_spin;
  GtkSpinButton *tokens_spin;
  GtkSpinButton *parallel_spin;
  GtkSwitch *sample_switch;
  AdwActionRow *temperature_row;
  AdwActionRow *top_p_row;
  AdwActionRow *top_k_row;
  GtkSpinButton *temperature_spin;
  GtkSpinButton *top_p_spin;
  GtkSpinButton *top_k_spin;
  AdwEntryRow *system_row;
  AdwComboRow *style_row;

  /* owned */
  GSettings *settings;
};

G_DEFINE_FINAL_TYPE(IvlPreferences, ivl_preferences, ADW_TYPE_PREFERENCES_WINDOW)

/* An enum key shown as a combo row: the row's position is the enum's value. */
static gboolean enum_to_position(GValue *value, GVariant *variant, gpointer nicks)
{
  const char *nick = g_variant_get_string(variant, NULL);
  const char *const *names = nicks;

  for (guint i = 0; names[i]; i++)
    if (g_str_equal(nick, names[i])) {
      g_value_set_uint(value, i);
      return TRUE;
    }
  return FALSE;
}

static GVariant *position_to_enum(const GValue *value, const GVariantType *type, gpointer nicks)
{
  const char *const *names = nicks;
  guint i = g_value_get_uint(value);

  (void)type;
  return i < g_strv_length((char **)names) ? g_variant_new_string(names[i]) : NULL;
}

static void bind_enum(GSettings *settings, const char *key, AdwComboRow *row,
                      const char *const *nicks)
{
  g_settings_bind_with_mapping(settings, key, row, "selected", G_SETTINGS_BIND_DEFAULT,
                               enum_to_position, position_to_enum, (gpointer)nicks, NULL);
}

static void show_folder(IvlPreferences *self)
{
  g_autofree char *folder = g_settings_get_string(self->settings, "models-folder");

  adw_action_row_set_subtitle(self->folder_row,
                              *folder ? folder : _("None: only the standard places"));
  gtk_widget_set_visible(GTK_WIDGET(self->folder_clear_button), *folder != '\0');
}

static void on_folder_response(GtkNativeDialog *chooser, int response, IvlPreferences *self)
{
  if (response == GTK_RESPONSE_ACCEPT) {
    g_autoptr(GFile) file = gtk_file_chooser_get_file(GTK_FILE_CHOOSER(chooser));
    g_autofree char *path = file ? g_file_get_path(file) : NULL;
    if (path)
      g_settings_set_string(self->settings, "models-folder", path);
  }
  g_object_unref(chooser);
}

static void choose_folder(IvlPreferences *self)
{
  GtkFileChooserNative *chooser = gtk_file_chooser_native_new(
      _("Extra Models Folder"), GTK_WINDOW(self), GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER,
      _("_Select"), _("_Cancel"));

  gtk_native_dialog_set_modal(GTK_NATIVE_DIALOG(chooser), TRUE);
  g_signal_connect(chooser, "response", G_CALLBACK(on_folder_response), self);
  gtk_native_dialog_show(GTK_NATIVE_DIALOG(chooser));
}

static void clear_folder(IvlPreferences *self)
{
  g_settings_set_string(self->settings, "models-folder", "");
}

static void on_system_apply(IvlPreferences *self)
{
  g_settings_set_string(self->settings, "system-message",
                        gtk_editable_get_text(GTK_EDITABLE(self->system_row)));
}

static void ivl_preferences_dispose(GObject *object)
{
  IvlPreferences *self = IVL_PREFERENCES(object);

  g_clear_object(&self->settings);
  gtk_widget_dispose_template(GTK_WIDGET(self), IVL_TYPE_PREFERENCES);
  G_OBJECT_CLASS(ivl_preferences_parent_class)->dispose(object);
}

static void ivl_preferences_class_init(IvlPreferencesClass *klass)
{
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS(klass);

  G_OBJECT_CLASS(klass)->dispose = ivl_preferences_dispose;
  gtk_widget_class_set_template_from_resource(widget_class,
                                              "/io/github/ivl/Chat/ui/ivl-preferences.ui");
#define BIND(name) gtk_widget_class_bind_template_child(widget_class, IvlPreferences, name)
  BIND(folder_row);
  BIND(folder_button);
  BIND(folder_clear_button);
  BIND(backend_row);
  BIND(precision_row);
  BIND(tiles_spin);
  BIND(tokens_spin);
  BIND(parallel_spin);
  BIND(sample_switch);
  BIND(temperature_row);
  BIND(top_p_row);
  BIND(top_k_row);
  BIND(temperature_spin);
  BIND(top_p_spin);
  BIND(top_k_spin);
  BIND(system_row);
  BIND(style_row);
#undef BIND
}

static void ivl_preferences_init(IvlPreferences *self)
{
  gtk_widget_init_template(GTK_WIDGET(self));
}

IvlPreferences *ivl_preferences_new(GtkWindow *parent, GSettings *settings)
{
  static const char *const backends[] = {"auto", "cpu", "cuda", NULL};
  static const char *const precisions[] = {"bf16", "int8", "4bit", NULL};
  static const char *const styles[] = {"default", "light", "dark", NULL};
  IvlPreferences *self = g_object_new(IVL_TYPE_PREFERENCES, "transient-for", parent, NULL);
  g_autofree char *system = g_settings_get_string(settings, "system-message");

  self->settings = g_object_ref(settings);
  bind_enum(settings, "backend", self->backend_row, backends);
  bind_enum(settings, "precision", self->precision_row, precisions);
  bind_enum(settings, "color-scheme", self->style_row, styles);
  g_settings_bind(settings, "max-tiles", self->tiles_spin, "value", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind(settings, "max-new-tokens", self->tokens_spin, "value", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind(settings, "parallel-answers", self->parallel_spin, "value",
                  G_SETTINGS_BIND_DEFAULT);
  g_settings_bind(settings, "do-sample", self->sample_switch, "active", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind(settings, "temperature", self->temperature_spin, "value",
                  G_SETTINGS_BIND_DEFAULT);
  g_settings_bind(settings, "top-p", self->top_p_spin, "value", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind(settings, "top-k", self->top_k_spin, "value", G_SETTINGS_BIND_DEFAULT);
  /* The sampling knobs only matter while sampling is on. */
  g_settings_bind(settings, "do-sample", self->temperature_row, "sensitive", G_SETTINGS_BIND_GET);
  g_settings_bind(settings, "do-sample", self->top_p_row, "sensitive", G_SETTINGS_BIND_GET);
  g_settings_bind(settings, "do-sample", self->top_k_row, "sensitive", G_SETTINGS_BIND_GET);
  gtk_editable_set_text(GTK_EDITABLE(self->system_row), system);
  g_signal_connect_swapped(self->system_row, "apply", G_CALLBACK(on_system_apply), self);
  g_signal_connect_object(settings, "changed::models-folder", G_CALLBACK(show_folder), self,
                          G_CONNECT_SWAPPED);
  g_signal_connect_swapped(self->folder_button, "clicked", G_CALLBACK(choose_folder), self);
  g_signal_connect_swapped(self->folder_clear_button, "clicked", G_CALLBACK(clear_folder), self);
  show_folder(self);
  adw_preferences_window_add(ADW_PREFERENCES_WINDOW(self),
                             ADW_PREFERENCES_PAGE(ivl_servers_page_new(settings)));
  return self;
}
