/* ivl-model-row.c — a catalog model's row: facts, download state, delete. */
#include "ivl-config.h"

#include "ivl-model-row.h"

#include <glib/gi18n.h>

#include "hub-download.h"
#include "ivl-model-manager-resources.h"
#include "ivl.h"
#include "model-path.h"

struct _IvlModelRow {
  AdwActionRow parent_instance;

  /* template widgets */
  GtkStack *stack;
  GtkProgressBar *progress_bar;
  GtkButton *delete_button;

  /* borrowed */
  const IvlCatalogModel *model;

  /* owned */
  char *facts;     /* size, memory, fit: the subtitle's first line */
  char *dir;       /* where a download goes */
  char *installed; /* the installed folder, or NULL */
  GCancellable *cancel; /* non-NULL while downloading */
  gboolean delete_when_stopped;
  gboolean disposed; /* the window closed while a download or delete ran */
};

G_DEFINE_FINAL_TYPE(IvlModelRow, ivl_model_row, ADW_TYPE_ACTION_ROW)

enum { SIGNAL_INSTALLED, SIGNAL_MESSAGE, N_SIGNALS };
static guint signals[N_SIGNALS];

static void set_status(IvlModelRow *self, const char *status)
{
  g_autofree char *text = status ? g_strdup_printf("%s\n%s", self->facts, status)
                                 : g_strdup(self->facts);
  adw_action_row_set_subtitle(ADW_ACTION_ROW(self), text);
}

static char *facts_text(const IvlCatalogModel *m, guint64 ram)
{
  g_autofree char *size = g_format_size(m->download_bytes);
  g_autofree char *bf16 = g_format_size(m->memory[IVL_PRECISION_BF16]);
  int best = ivl_catalog_best_precision(m->memory, ram);
  const char *fit = best < 0                        ? _("too large for this computer's memory")
                    : best == IVL_PRECISION_BF16 ? _("fits this computer")
                    : best == IVL_PRECISION_INT8 ? _("fits this computer with 8-bit weights")
                                                 : _("fits this computer with 4-bit weights");
  /* TRANSLATORS: "1.8 GB download · needs 2.7 GB of memory · fits this computer" */
  g_autofree char *text = g_strdup_printf(_("%s download · needs %s of memory · %s"), size, bf16,
                                          fit);
  g_autofree char *gpu_name = NULL;
  guint64 gpu_memory;
  if (!ivl_catalog_gpu(&gpu_name, &gpu_memory))
    return g_steal_pointer(&text);
  int gpu = ivl_catalog_best_precision(m->gpu_memory, gpu_memory);
  const char *gpu_fit = gpu < 0                        ? _("too large for the GPU")
                        : gpu == IVL_PRECISION_BF16 ? _("fits the GPU")
                        : gpu == IVL_PRECISION_INT8 ? _("fits the GPU with 8-bit weights")
                                                    : _("fits the GPU with 4-bit weights");
  return g_strdup_printf("%s · %s", text, gpu_fit);
}

/* The whole folder, depth first; on a worker thread. */
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

static void show_state(IvlModelRow *self)
{
  if (self->installed) {
    gtk_stack_set_visible_child_name(self->stack, "installed");
    /* A Hugging Face cache snapshot is used in place and belongs to that cache. */
    g_autofree char *cache = ivl_model_path_hub_cache_dir();
    gtk_widget_set_visible(GTK_WIDGET(self->delete_button),
                           !g_str_has_prefix(self->installed, cache));
    gtk_widget_set_tooltip_text(GTK_WIDGET(self), self->installed);
    set_status(self, NULL);
  } else if (g_file_test(self->dir, G_FILE_TEST_IS_DIR)) {
    gtk_stack_set_visible_child_name(self->stack, "paused");
    set_status(self, _("Partly downloaded: resume to finish."));
  } else {
    gtk_stack_set_visible_child_name(self->stack, "get");
    set_status(self, NULL);
  }
}

static void on_deleted(GObject *source, GAsyncResult *result, gpointer data)
{
  (void)source;
  g_autoptr(IvlModelRow) self = data;
  g_autoptr(GError) error = NULL;
  if (self->disposed)
    return;
  if (!g_task_propagate_boolean(G_TASK(result), &error)) {
    g_autofree char *text = g_strdup_printf(_("Could not delete %s: %s"),
                                            (char *)g_task_get_task_data(G_TASK(result)),
                                            error->message);
    g_signal_emit(self, signals[SIGNAL_MESSAGE], 0, text);
  }
  g_clear_pointer(&self->installed, g_free);
  self->installed = ivl_catalog_installed_path(self->model->name);
  show_state(self);
}

static void delete_folder(IvlModelRow *self, const char *path)
{
  g_autoptr(GTask) task = g_task_new(NULL, NULL, on_deleted, g_object_ref(self));
  g_task_set_task_data(task, g_strdup(path), g_free);
  g_task_run_in_thread(task, delete_thread);
}

static void on_progress(const IvlHubProgress *p, gpointer data)
{
  IvlModelRow *self = data;
  if (self->disposed)
    return;
  if (p->phase == IVL_HUB_PHASE_LISTING || p->total == 0) {
    gtk_progress_bar_pulse(self->progress_bar);
    set_status(self, _("Reading the list of files…"));
    return;
  }
  gtk_progress_bar_set_fraction(self->progress_bar, (double)p->done / (double)p->total);
  g_autofree char *done = g_format_size(p->done);
  g_autofree char *total = g_format_size(p->total);
  g_autofree char *text = NULL;
  if (p->rate > 0 && p->eta_s >= 0) {
    g_autofree char *rate = g_format_size((guint64)p->rate);
    guint minutes = (guint)(p->eta_s / 60 + 0.999);
    if (p->eta_s < 60)
      text = g_strdup_printf(_("%s of %s · %s/s · less than a minute left"), done, total, rate);
    else
      text = g_strdup_printf(_("%s of %s · %s/s · about %u min left"), done, total, rate,
                             minutes);
  } else {
    text = g_strdup_printf(_("%s of %s"), done, total);
  }
  set_status(self, text);
}

static void on_download_done(GObject *source, GAsyncResult *result, gpointer data)
{
  (void)source;
  g_autoptr(IvlModelRow) self = data;
  g_autoptr(GError) error = NULL;
  g_autofree char *commit = ivl_hub_download_finish(result, &error);
  g_clear_object(&self->cancel);
  if (self->disposed)
    return;
  if (commit) {
    g_free(self->installed);
    self->installed = g_strdup(self->dir);
    show_state(self);
    g_signal_emit(self, signals[SIGNAL_INSTALLED], 0, self->installed);
    g_autofree char *text = g_strdup_printf(_("%s is ready to use."), self->model->name);
    g_signal_emit(self, signals[SIGNAL_MESSAGE], 0, text);
    return;
  }
  if (self->delete_when_stopped) {
    self->delete_when_stopped = FALSE;
    delete_folder(self, self->dir);
    return;
  }
  show_state(self);
  if (g_error_matches(error, IVL_ERROR, IVL_ERROR_CANCELLED)) {
    set_status(self, _("Paused: the downloaded part is kept. Resume to continue."));
    return;
  }
  set_status(self, error->message);
  gtk_widget_add_css_class(GTK_WIDGET(self), "error");
  g_signal_emit(self, signals[SIGNAL_MESSAGE], 0, error->message);
}

static void download_action(GtkWidget *widget, const char *name, GVariant *param)
{
  (void)name;
  (void)param;
  IvlModelRow *self = IVL_MODEL_ROW(widget);
  if (self->cancel)
    return;
  self->cancel = g_cancellable_new();
  gtk_widget_remove_css_class(widget, "error");
  gtk_progress_bar_set_fraction(self->progress_bar, 0);
  gtk_stack_set_visible_child_name(self->stack, "running");
  IvlHubDownloadOptions options = {.repo_id = self->model->repo_id, .dir = self->dir};
  ivl_hub_download_async(&options, on_progress, self, self->cancel, on_download_done,
                         g_object_ref(self));
}

static void pause_action(GtkWidget *widget, const char *name, GVariant *param)
{
  (void)name;
  (void)param;
  IvlModelRow *self = IVL_MODEL_ROW(widget);
  if (self->cancel)
    g_cancellable_cancel(self->cancel);
}

static GtkWindow *parent_window(IvlModelRow *self)
{
  GtkRoot *root = gtk_widget_get_root(GTK_WIDGET(self));
  return GTK_IS_WINDOW(root) ? GTK_WINDOW(root) : NULL;
}

static void on_cancel_response(AdwMessageDialog *dialog, const char *response, gpointer data)
{
  (void)dialog;
  IvlModelRow *self = data;
  gboolean delete = g_str_equal(response, "delete");
  if (!g_str_equal(response, "keep") && !delete)
    return; /* "continue" or closed */
  if (self->cancel) {
    self->delete_when_stopped = delete;
    g_cancellable_cancel(self->cancel);
  } else if (delete) {
    delete_folder(self, self->dir);
  }
}

static void cancel_action(GtkWidget *widget, const char *name, GVariant *param)
{
  (void)name;
  (void)param;
  IvlModelRow *self = IVL_MODEL_ROW(widget);
  AdwMessageDialog *dialog = ADW_MESSAGE_DIALOG(adw_message_dialog_new(
      parent_window(self), _("Stop the download?"), NULL));
  adw_message_dialog_format_body(
      dialog, _("Keep the part of %s downloaded so far to resume later, or delete it?"),
      self->model->name);
  adw_message_dialog_add_responses(dialog, "continue",
                                   self->cancel ? _("Continue Downloading") : _("Back"), "keep",
                                   _("Keep for Later"), "delete", _("Delete"), NULL);
  adw_message_dialog_set_response_appearance(dialog, "delete", ADW_RESPONSE_DESTRUCTIVE);
  adw_message_dialog_set_default_response(dialog, "continue");
  adw_message_dialog_set_close_response(dialog, "continue");
  g_signal_connect_object(dialog, "response", G_CALLBACK(on_cancel_response), self, 0);
  gtk_window_present(GTK_WINDOW(dialog));
}

static void on_delete_response(AdwMessageDialog *dialog, const char *response, gpointer data)
{
  (void)dialog;
  IvlModelRow *self = data;
  if (g_str_equal(response, "delete") && self->installed)
    delete_folder(self, self->installed);
}

static void delete_action(GtkWidget *widget, const char *name, GVariant *param)
{
  (void)name;
  (void)param;
  IvlModelRow *self = IVL_MODEL_ROW(widget);
  if (!self->installed)
    return;
  g_autofree char *size = g_format_size(ivl_model_dir_disk_bytes(self->installed));
  AdwMessageDialog *dialog = ADW_MESSAGE_DIALOG(
      adw_message_dialog_new(parent_window(self), _("Delete the model?"), NULL));
  adw_message_dialog_format_body(dialog, _("%s will be removed from %s, freeing %s."),
                                 self->model->name, self->installed, size);
  adw_message_dialog_add_responses(dialog, "cancel", _("Cancel"), "delete", _("Delete"), NULL);
  adw_message_dialog_set_response_appearance(dialog, "delete", ADW_RESPONSE_DESTRUCTIVE);
  adw_message_dialog_set_default_response(dialog, "cancel");
  adw_message_dialog_set_close_response(dialog, "cancel");
  g_signal_connect_object(dialog, "response", G_CALLBACK(on_delete_response), self, 0);
  gtk_window_present(GTK_WINDOW(dialog));
}

void ivl_model_row_register_resources(void)
{
  static gsize done = 0;
  if (g_once_init_enter(&done)) {
    ivl_model_manager_register_resource();
    g_once_init_leave(&done, 1);
  }
}

static void ivl_model_row_dispose(GObject *object)
{
  IvlModelRow *self = IVL_MODEL_ROW(object);
  self->disposed = TRUE;
  /* A download outlives no window: closing pauses it, keeping the partial files. */
  if (self->cancel)
    g_cancellable_cancel(self->cancel);
  G_OBJECT_CLASS(ivl_model_row_parent_class)->dispose(object);
}

static void ivl_model_row_finalize(GObject *object)
{
  IvlModelRow *self = IVL_MODEL_ROW(object);
  g_free(self->facts);
  g_free(self->dir);
  g_free(self->installed);
  g_clear_object(&self->cancel);
  G_OBJECT_CLASS(ivl_model_row_parent_class)->finalize(object);
}

static void ivl_model_row_class_init(IvlModelRowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS(klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS(klass);
  object_class->dispose = ivl_model_row_dispose;
  object_class->finalize = ivl_model_row_finalize;

  ivl_model_row_register_resources();
  gtk_widget_class_set_template_from_resource(
      widget_class, "/io/github/ivl/Chat/model-manager/ui/ivl-model-row.ui");
  gtk_widget_class_bind_template_child(widget_class, IvlModelRow, stack);
  gtk_widget_class_bind_template_child(widget_class, IvlModelRow, progress_bar);
  gtk_widget_class_bind_template_child(widget_class, IvlModelRow, delete_button);
  gtk_widget_class_install_action(widget_class, "row.download", NULL, download_action);
  gtk_widget_class_install_action(widget_class, "row.pause", NULL, pause_action);
  gtk_widget_class_install_action(widget_class, "row.cancel", NULL, cancel_action);
  gtk_widget_class_install_action(widget_class, "row.delete", NULL, delete_action);

  signals[SIGNAL_INSTALLED] = g_signal_new("installed", G_TYPE_FROM_CLASS(klass),
                                           G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE,
                                           1, G_TYPE_STRING);
  signals[SIGNAL_MESSAGE] = g_signal_new("message", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST,
                                         0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_STRING);
}

static void ivl_model_row_init(IvlModelRow *self)
{
  gtk_widget_init_template(GTK_WIDGET(self));
}

IvlModelRow *ivl_model_row_new(const IvlCatalogModel *model, guint64 ram)
{
  IvlModelRow *self = g_object_new(IVL_TYPE_MODEL_ROW, NULL);
  self->model = model;
  self->facts = facts_text(model, ram);
  self->dir = ivl_catalog_download_dir(model->repo_id);
  self->installed = ivl_catalog_installed_path(model->name);
  adw_preferences_row_set_title(ADW_PREFERENCES_ROW(self), model->name);
  show_state(self);
  return self;
}
