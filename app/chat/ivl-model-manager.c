/* ivl-model-manager.c — the model manager window: the models on this computer (size on disk,
 * delete), the catalog as rows, toasts for notes. */
#include "ivl-config.h"

#include "ivl-model-manager.h"

#include <glib/gi18n.h>

#include "catalog.h"
#include "ivl-installed-row.h"
#include "ivl-model-list.h"
#include "ivl-model-row.h"
#include "model-path.h"

struct _IvlModelManager {
  AdwWindow parent_instance;

  /* template widgets */
  AdwToastOverlay *toasts;
  GtkLabel *intro_label;
  GtkListBox *installed_list;
  GtkListBox *list;

  /* owned */
  char *models_folder; /* the preferred models folder, or NULL */
};

G_DEFINE_FINAL_TYPE(IvlModelManager, ivl_model_manager, ADW_TYPE_WINDOW)

enum { SIGNAL_MODEL_INSTALLED, SIGNAL_MODEL_DELETED, N_SIGNALS };
static guint signals[N_SIGNALS];

static void on_message(GtkWidget *row, const char *text, gpointer data)
{
  (void)row;
  IvlModelManager *self = data;
  AdwToast *toast = adw_toast_new(text);
  adw_toast_set_timeout(toast, 8);
  adw_toast_overlay_add_toast(self->toasts, toast);
}

static void refresh_installed(IvlModelManager *self);

static void refresh_catalog(IvlModelManager *self)
{
  for (GtkWidget *c = gtk_widget_get_first_child(GTK_WIDGET(self->list)); c;
       c = gtk_widget_get_next_sibling(c))
    if (IVL_IS_MODEL_ROW(c))
      ivl_model_row_refresh(IVL_MODEL_ROW(c));
}

static void on_installed_deleted(IvlInstalledRow *row, gpointer data)
{
  IvlModelManager *self = data;
  g_autofree char *text = g_strdup_printf(_("%s was deleted."),
                                          adw_preferences_row_get_title(ADW_PREFERENCES_ROW(row)));
  on_message(GTK_WIDGET(row), text, self);
  refresh_installed(self);
  refresh_catalog(self);
  g_signal_emit(self, signals[SIGNAL_MODEL_DELETED], 0);
}

static void refresh_installed(IvlModelManager *self)
{
  g_autoptr(GPtrArray) models = ivl_model_list_scan(self->models_folder);
  g_autofree char *hub_cache = ivl_model_path_hub_cache_dir();
  GtkListBoxRow *old;

  /* Row by row: the list's placeholder is a child too, and stays. */
  while ((old = gtk_list_box_get_row_at_index(self->installed_list, 0)))
    gtk_list_box_remove(self->installed_list, GTK_WIDGET(old));
  for (guint i = 0; i < models->len; i++) {
    IvlModelEntry *e = models->pdata[i];
    IvlInstalledRow *row = ivl_installed_row_new(e->name, e->path, hub_cache);
    g_signal_connect_object(row, "deleted", G_CALLBACK(on_installed_deleted), self, 0);
    g_signal_connect_object(row, "message", G_CALLBACK(on_message), self, 0);
    gtk_list_box_append(self->installed_list, GTK_WIDGET(row));
  }
}

static void on_row_installed(IvlModelRow *row, const char *path, gpointer data)
{
  (void)row;
  refresh_installed(data);
  g_signal_emit(data, signals[SIGNAL_MODEL_INSTALLED], 0, path);
}

static void on_row_deleted(IvlModelRow *row, gpointer data)
{
  (void)row;
  refresh_installed(data);
  g_signal_emit(data, signals[SIGNAL_MODEL_DELETED], 0);
}

static void ivl_model_manager_finalize(GObject *object)
{
  g_free(IVL_MODEL_MANAGER(object)->models_folder);
  G_OBJECT_CLASS(ivl_model_manager_parent_class)->finalize(object);
}

static void ivl_model_manager_class_init(IvlModelManagerClass *klass)
{
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS(klass);

  G_OBJECT_CLASS(klass)->finalize = ivl_model_manager_finalize;
  ivl_model_row_register_resources();
  gtk_widget_class_set_template_from_resource(
      widget_class, "/io/github/ivl/Chat/model-manager/ui/ivl-model-manager.ui");
  gtk_widget_class_bind_template_child(widget_class, IvlModelManager, toasts);
  gtk_widget_class_bind_template_child(widget_class, IvlModelManager, intro_label);
  gtk_widget_class_bind_template_child(widget_class, IvlModelManager, installed_list);
  gtk_widget_class_bind_template_child(widget_class, IvlModelManager, list);
  gtk_widget_class_add_binding_action(widget_class, GDK_KEY_Escape, 0, "window.close", NULL);

  signals[SIGNAL_MODEL_INSTALLED] =
      g_signal_new("model-installed", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL,
                   NULL, NULL, G_TYPE_NONE, 1, G_TYPE_STRING);
  signals[SIGNAL_MODEL_DELETED] =
      g_signal_new("model-deleted", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                   NULL, G_TYPE_NONE, 0);
}

static void ivl_model_manager_init(IvlModelManager *self)
{
  gtk_widget_init_template(GTK_WIDGET(self));
  guint64 ram = ivl_catalog_host_memory();
  g_autofree char *ram_text = g_format_size(ram);
  g_autofree char *intro = g_strdup_printf(
      _("InternVL3 models to run on this computer, which has %s of memory."), ram_text);
  gtk_label_set_label(self->intro_label, intro);
  guint n;
  const IvlCatalogModel *models = ivl_catalog_models(&n);
  for (guint i = 0; i < n; i++) {
    IvlModelRow *row = ivl_model_row_new(&models[i], ram);
    g_signal_connect_object(row, "installed", G_CALLBACK(on_row_installed), self, 0);
    g_signal_connect_object(row, "deleted", G_CALLBACK(on_row_deleted), self, 0);
    g_signal_connect_object(row, "message", G_CALLBACK(on_message), self, 0);
    gtk_list_box_append(self->list, GTK_WIDGET(row));
  }
  refresh_installed(self);
}

IvlModelManager *ivl_model_manager_new(GtkWindow *parent, const char *models_folder)
{
  IvlModelManager *self = g_object_new(IVL_TYPE_MODEL_MANAGER, "transient-for", parent, NULL);

  if (models_folder && *models_folder) {
    self->models_folder = g_strdup(models_folder);
    refresh_installed(self);
  }
  return self;
}
