/* ivl-application.c — ivl-chat: settings, store and worker, shared by its window. */
#include "ivl-config.h"

#include "ivl-application.h"

#include <glib/gi18n.h>

#include "ivl-preferences.h"
#include "ivl-window.h"

struct _IvlApplication {
  AdwApplication parent_instance;

  GSettings *settings;
  IvlStore *store;
  IvlWorker *worker;
  GError *load_error; /* saved conversations that could not be read, told once */
};

G_DEFINE_FINAL_TYPE(IvlApplication, ivl_application, ADW_TYPE_APPLICATION)

static void apply_color_scheme(IvlApplication *self)
{
  static const AdwColorScheme schemes[] = {ADW_COLOR_SCHEME_DEFAULT, ADW_COLOR_SCHEME_FORCE_LIGHT,
                                           ADW_COLOR_SCHEME_FORCE_DARK};
  int i = g_settings_get_enum(self->settings, "color-scheme");

  adw_style_manager_set_color_scheme(adw_style_manager_get_default(),
                                     schemes[CLAMP(i, 0, (int)G_N_ELEMENTS(schemes) - 1)]);
}

static void quit_action(GSimpleAction *action, GVariant *param, gpointer app)
{
  (void)action;
  (void)param;
  for (GList *w = gtk_application_get_windows(app); w; w = gtk_application_get_windows(app))
    gtk_window_destroy(w->data);
  g_application_quit(app);
}

static void preferences_action(GSimpleAction *action, GVariant *param, gpointer app)
{
  IvlApplication *self = app;
  IvlPreferences *prefs = ivl_preferences_new(gtk_application_get_active_window(app),
                                              self->settings);

  (void)action;
  (void)param;
  gtk_window_present(GTK_WINDOW(prefs));
}

static void about_action(GSimpleAction *action, GVariant *param, gpointer app)
{
  static const char *developers[] = {"The ivl authors", NULL};
  GtkWidget *about = adw_about_window_new();

  (void)action;
  (void)param;
  g_object_set(about, "transient-for", gtk_application_get_active_window(app), "application-name",
               _("ivl-chat"), "application-icon", "io.github.ivl.Chat", "version", IVL_VERSION,
               "developer-name", _("The ivl authors"), "developers", developers,
               "license-type", GTK_LICENSE_MIT_X11, "comments",
               _("Ask InternVL3 vision-language models about images and videos, on your own "
                 "computer."),
               "website", "https://github.com/ivl/ivl", "translator-credits",
               _("translator-credits"), NULL);
  gtk_window_present(GTK_WINDOW(about));
}

static void on_models_folder_changed(IvlApplication *self)
{
  for (GList *w = gtk_application_get_windows(GTK_APPLICATION(self)); w; w = w->next)
    if (IVL_IS_WINDOW(w->data))
      ivl_window_refresh_models(w->data);
}

static void ivl_application_startup(GApplication *app)
{
  static const GActionEntry actions[] = {
      {"quit", quit_action, NULL, NULL, NULL, {0}},
      {"preferences", preferences_action, NULL, NULL, NULL, {0}},
      {"about", about_action, NULL, NULL, NULL, {0}},
  };
  IvlApplication *self = IVL_APPLICATION(app);
  g_autofree char *base = g_build_filename(g_get_user_data_dir(), "ivl", NULL);

  G_APPLICATION_CLASS(ivl_application_parent_class)->startup(app);
  g_action_map_add_action_entries(G_ACTION_MAP(app), actions, G_N_ELEMENTS(actions), app);
  gtk_application_set_accels_for_action(GTK_APPLICATION(app), "app.quit",
                                        (const char *[]){"<Control>q", NULL});
  gtk_application_set_accels_for_action(GTK_APPLICATION(app), "app.preferences",
                                        (const char *[]){"<Control>comma", NULL});
  self->settings = g_settings_new("io.github.ivl.Chat");
  g_signal_connect_swapped(self->settings, "changed::color-scheme",
                           G_CALLBACK(apply_color_scheme), self);
  g_signal_connect_swapped(self->settings, "changed::models-folder",
                           G_CALLBACK(on_models_folder_changed), self);
  apply_color_scheme(self);
  self->store = ivl_store_new(base);
  ivl_store_load(self->store, &self->load_error);
  self->worker = ivl_worker_new();
}

static void ivl_application_activate(GApplication *app)
{
  IvlApplication *self = IVL_APPLICATION(app);
  GtkWindow *window = gtk_application_get_active_window(GTK_APPLICATION(app));

  if (window == NULL) {
    window = GTK_WINDOW(ivl_window_new(GTK_APPLICATION(app), self->settings, self->store,
                                       self->worker));
    if (self->load_error) {
      ivl_window_show_error(IVL_WINDOW(window), self->load_error);
      g_clear_error(&self->load_error);
    }
  }
  gtk_window_present(window);
}

static void ivl_application_shutdown(GApplication *app)
{
  IvlApplication *self = IVL_APPLICATION(app);

  G_APPLICATION_CLASS(ivl_application_parent_class)->shutdown(app);
  g_clear_object(&self->worker);
  g_clear_object(&self->store);
  g_clear_object(&self->settings);
  g_clear_error(&self->load_error);
}

static void ivl_application_class_init(IvlApplicationClass *klass)
{
  GApplicationClass *app_class = G_APPLICATION_CLASS(klass);

  app_class->startup = ivl_application_startup;
  app_class->activate = ivl_application_activate;
  app_class->shutdown = ivl_application_shutdown;
}

static void ivl_application_init(IvlApplication *self)
{
  (void)self;
}

IvlApplication *ivl_application_new(void)
{
  return g_object_new(IVL_TYPE_APPLICATION, "application-id", "io.github.ivl.Chat",
                      "flags", G_APPLICATION_DEFAULT_FLAGS, "resource-base-path",
                      "/io/github/ivl/Chat", NULL);
}
