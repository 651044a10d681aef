/* ivl-model-manager.c — the model manager window: the catalog as rows, toasts for notes. */
#include "ivl-config.h"

#include "ivl-model-manager.h"

#include <glib/gi18n.h>

#include "catalog.h"
#include "ivl-model-row.h"

struct _IvlModelManager {
  AdwWindow parent_instance;

  /* template widgets */
  AdwToastOverlay *toasts;
  GtkLabel *intro_label;
  GtkListBox *list;
};

G_DEFINE_FINAL_TYPE(IvlModelManager, ivl_model_manager, ADW_TYPE_WINDOW)

enum { SIGNAL_MODEL_INSTALLED, N_SIGNALS };
static guint signals[N_SIGNALS];

static void on_row_installed(IvlModelRow *row, const char *path, gpointer data)
{
  (void)row;
  g_signal_emit(data, signals[SIGNAL_MODEL_INSTALLED], 0, path);
}

static void on_row_message(IvlModelRow *row, const char *text, gpointer data)
{
  (void)row;
  IvlModelManager *self = data;
  AdwToast *toast = adw_toast_new(text);
  adw_toast_set_timeout(toast, 8);
  adw_toast_overlay_add_toast(self->toasts, toast);
}

static void ivl_model_manager_class_init(IvlModelManagerClass *klass)
{
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS(klass);

  ivl_model_row_register_resources();
  gtk_widget_class_set_template_from_resource(
      widget_class, "/io/github/ivl/Chat/model-manager/ui/ivl-model-manager.ui");
  gtk_widget_class_bind_template_child(widget_class, IvlModelManager, toasts);
  gtk_widget_class_bind_template_child(widget_class, IvlModelManager, intro_label);
  gtk_widget_class_bind_template_child(widget_class, IvlModelManager, list);
  gtk_widget_class_add_binding_action(widget_class, GDK_KEY_Escape, 0, "window.close", NULL);

  signals[SIGNAL_MODEL_INSTALLED] =
      g_signal_new("model-installed", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL,
                   NULL, NULL, G_TYPE_NONE, 1, G_TYPE_STRING);
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
    g_signal_connect_object(row, "message", G_CALLBACK(on_row_message), self, 0);
    gtk_list_box_append(self->list, GTK_WIDGET(row));
  }
}

IvlModelManager *ivl_model_manager_new(GtkWindow *parent)
{
  return g_object_new(IVL_TYPE_MODEL_MANAGER, "transient-for", parent, NULL);
}
