/* ivl-installed-row.c — an installed model's row: size on disk, delete. */
#include "ivl-config.h"

#include "ivl-installed-row.h"

#include <glib/gi18n.h>

#include "config.h"
#include "ivl-gpu-plan.h"
#include "ivl-model-folder.h"
#include "model-info.h"

struct _IvlInstalledRow {
  AdwActionRow parent_instance;

  /* template widgets */
  GtkLabel *size_label;
  GtkButton *delete_button;

  /* owned */
  char *name;
  char *path;
  guint64 bytes; /* 0 until measured */
  GCancellable *measuring;
};

G_DEFINE_FINAL_TYPE(IvlInstalledRow, ivl_installed_row, ADW_TYPE_ACTION_ROW)

enum { SIGNAL_DELETED, SIGNAL_MESSAGE, N_SIGNALS };
static guint signals[N_SIGNALS];

static void on_measured(GObject *source, GAsyncResult *result, gpointer data)
{
  (void)source;
  g_autoptr(IvlInstalledRow) self = data;
  guint64 bytes = ivl_model_folder_measure_finish(result);
  g_autofree char *size = g_format_size(bytes);

  if (g_task_had_error(G_TASK(result)) || self->measuring == NULL)
    return; /* the row went away first */
  g_clear_object(&self->measuring);
  self->bytes = bytes;
  gtk_label_set_text(self->size_label, size);
}

static void on_deleted(GObject *source, GAsyncResult *result, gpointer data)
{
  (void)source;
  g_autoptr(IvlInstalledRow) self = data;
  g_autoptr(GError) error = NULL;

  if (ivl_model_folder_delete_finish(result, &error)) {
    g_signal_emit(self, signals[SIGNAL_DELETED], 0);
    return;
  }
  g_autofree char *text = g_strdup_printf(_("Could not delete %s: %s"), self->path,
                                          error->message);
  gtk_widget_set_sensitive(GTK_WIDGET(self->delete_button), TRUE);
  g_signal_emit(self, signals[SIGNAL_MESSAGE], 0, text);
  /* Part of it may be gone: what is left is measured again. */
  g_set_object(&self->measuring, g_cancellable_new());
  ivl_model_folder_measure_async(self->path, self->measuring, on_measured, g_object_ref(self));
}

static void on_delete_response(AdwMessageDialog *dialog, const char *response, gpointer data)
{
  (void)dialog;
  IvlInstalledRow *self = data;

  if (!g_str_equal(response, "delete"))
    return;
  gtk_widget_set_sensitive(GTK_WIDGET(self->delete_button), FALSE);
  ivl_model_folder_delete_async(self->path, on_deleted, g_object_ref(self));
}

static void delete_action(GtkWidget *widget, const char *name, GVariant *param)
{
  (void)name;
  (void)param;
  IvlInstalledRow *self = IVL_INSTALLED_ROW(widget);
  guint64 bytes = self->bytes ? self->bytes : ivl_model_dir_disk_bytes(self->path);
  AdwMessageDialog *dialog = ivl_model_folder_confirm_delete(widget, self->name, self->path,
                                                             bytes);

  g_signal_connect_object(dialog, "response", G_CALLBACK(on_delete_response), self, 0);
}

static void ivl_installed_row_dispose(GObject *object)
{
  IvlInstalledRow *self = IVL_INSTALLED_ROW(object);

  if (self->measuring)
    g_cancellable_cancel(self->measuring);
  g_clear_object(&self->measuring);
  G_OBJECT_CLASS(ivl_installed_row_parent_class)->dispose(object);
}

static void ivl_installed_row_finalize(GObject *object)
{
  IvlInstalledRow *self = IVL_INSTALLED_ROW(object);

  g_free(self->name);
  g_free(self->path);
  G_OBJECT_CLASS(ivl_installed_row_parent_class)->finalize(object);
}

static void ivl_installed_row_class_init(IvlInstalledRowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS(klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS(klass);

  object_class->dispose = ivl_installed_row_dispose;
  object_class->finalize = ivl_installed_row_finalize;
  gtk_widget_class_set_template_from_resource(
      widget_class, "/io/github/ivl/Chat/model-manager/ui/ivl-installed-row.ui");
  gtk_widget_class_bind_template_child(widget_class, IvlInstalledRow, size_label);
  gtk_widget_class_bind_template_child(widget_class, IvlInstalledRow, delete_button);
  gtk_widget_class_install_action(widget_class, "row.delete", NULL, delete_action);
  signals[SIGNAL_DELETED] = g_signal_new("deleted", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST,
                                         0, NULL, NULL, NULL, G_TYPE_NONE, 0);
  signals[SIGNAL_MESSAGE] = g_signal_new("message", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST,
                                         0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_STRING);
}

static void ivl_installed_row_init(IvlInstalledRow *self)
{
  gtk_widget_init_template(GTK_WIDGET(self));
}

/* How the model in path would spread over this machine's GPUs (or what they lack), from its
 * config.json; NULL when it needs no split or its config does not load. */
static char *gpu_plan(const char *path)
{
  const IvlCatalogGpus *gpus = ivl_catalog_gpus();
  if (gpus->n_gpus < 2)
    return NULL;
  g_autoptr(ivl_config) config = ivl_config_load(path, NULL);
  if (!config)
    return NULL;
  ivl_split_costs costs[IVL_N_PRECISIONS];
  for (int p = 0; p < IVL_N_PRECISIONS; p++)
    costs[p] = ivl_model_split_costs(config, p, 0);
  int fits;
  return ivl_gpu_plan_text(costs, gpus, &fits);
}

IvlInstalledRow *ivl_installed_row_new(const char *name, const char *path, const char *hub_cache)
{
  IvlInstalledRow *self = g_object_new(IVL_TYPE_INSTALLED_ROW, NULL);
  gboolean in_cache = hub_cache && *hub_cache && g_str_has_prefix(path, hub_cache);
  g_autofree char *plan = gpu_plan(path);
  g_autofree char *where = NULL;

  self->name = g_strdup(name);
  self->path = g_strdup(path);
  adw_preferences_row_set_title(ADW_PREFERENCES_ROW(self), name);
  if (in_cache) {
    /* TRANSLATORS: the subtitle of a model found in the Hugging Face cache; %s: its folder */
    where = g_strdup_printf(_("%s (the Hugging Face cache: delete it with huggingface-cli)"), path);
  } else {
    where = g_strdup(path);
  }
  g_autofree char *subtitle = plan ? g_strconcat(where, "\n", plan, NULL) : g_strdup(where);
  adw_action_row_set_subtitle(ADW_ACTION_ROW(self), subtitle);
  gtk_widget_set_visible(GTK_WIDGET(self->delete_button), !in_cache);
  self->measuring = g_cancellable_new();
  ivl_model_folder_measure_async(path, self->measuring, on_measured, g_object_ref(self));
  return self;
}

guint64 ivl_installed_row_get_bytes(IvlInstalledRow *self)
{
  return self->bytes;
}
