/* ivl-model-row.c — a catalog model's row: facts, download state, delete. */
#include "ivl-config.h"

#include "ivl-model-row.h"

#include <glib/gi18n.h>

#include "hub-download.h"
#include "ivl-gpu-plan.h"
#include "ivl-model-folder.h"
#include "model-info.h"
#include "ivl-model-manager-resources.h"
#include "ivl.h"
#include "model-path.h"

struct _IvlModelRow {
  AdwPreferencesRow parent_instance;

  /* template widgets */
  GtkLabel *title_label;
  GtkLabel *facts_label;
  GtkLabel *gpus_label; /* a split over several GPUs, or what they lack */
  GtkLabel *status_label;
  GtkStack *stack;
  GtkButton *download_button;
  GtkProgressBar *progress_bar;
  GtkButton *delete_button;
  GtkLabel *remote_label; /* says when a server would run it better */

  /* borrowed */
  const IvlCatalogModel *model;

  /* owned */
  char *dir;       /* where a download goes */
  char *installed; /* the installed folder, or NULL */
  char *error;     /* why the last download failed, until the next one starts */
  guint64 ram;
  gboolean too_large; /* fits neither this computer's memory nor its GPU */
  GCancellable *cancel; /* non-NULL while downloading */
  gboolean delete_when_stopped;
  gboolean disposed; /* the window closed while a download or delete ran */
};

G_DEFINE_FINAL_TYPE(IvlModelRow, ivl_model_row, ADW_TYPE_PREFERENCES_ROW)

enum { SIGNAL_INSTALLED, SIGNAL_DELETED, SIGNAL_MESSAGE, N_SIGNALS };
static guint signals[N_SIGNALS];

/* The line under the facts: progress or a note, or an error in full (red, that line only). */
static void set_status(IvlModelRow *self, const char *status, gboolean error)
{
  gtk_label_set_text(self->status_label, status ? status : "");
  gtk_widget_set_visible(GTK_WIDGET(self->status_label), status != NULL);
  if (error)
    gtk_widget_add_css_class(GTK_WIDGET(self->status_label), "error");
  else
    gtk_widget_remove_css_class(GTK_WIDGET(self->status_label), "error");
}

static const char *fit_text(int best, gboolean gpu)
{
  if (gpu)
    return best < 0                        ? _("too large for the GPU")
           : best == IVL_PRECISION_BF16 ? _("fits the GPU")
           : best == IVL_PRECISION_INT8 ? _("fits the GPU with 8-bit weights")
                                        : _("fits the GPU with 4-bit weights");
  return best < 0                        ? _("too large for this computer's memory")
         : best == IVL_PRECISION_BF16 ? _("fits this computer")
         : best == IVL_PRECISION_INT8 ? _("fits this computer with 8-bit weights")
                                      : _("fits this computer with 4-bit weights");
}

/* Where the model is better run on a server (issue 18): nowhere here (too_large), or only
 * with 4-bit weights, which answer less well than a server's full precision. NULL: it runs
 * well here. */
static const char *remote_text(int best, int gpu)
{
  int here = MIN(best < 0 ? IVL_N_PRECISIONS : best, gpu < 0 ? IVL_N_PRECISIONS : gpu);

  if (here == IVL_N_PRECISIONS)
    return _("Better run on a server: serve it with vLLM or LMDeploy on a machine with more "
             "memory and add that server in Preferences → Servers.");
  if (here == IVL_PRECISION_Q4)
    return _("Runs here only with 4-bit weights: better run on a server with more memory "
             "(Preferences → Servers).");
  return NULL;
}

/* Size, memory, fit; too_large is set when neither the memory nor the GPUs can hold it,
 * *remote to what remote_text says and *gpus to how it would spread over several GPUs (or
 * NULL, caller frees). */
static char *facts_text(const IvlCatalogModel *m, guint64 ram, gboolean *too_large,
                        const char **remote, char **gpus)
{
  g_autofree char *size = g_format_size(m->download_bytes);
  g_autofree char *bf16 = g_format_size(m->memory[IVL_PRECISION_BF16]);
  int best = ivl_catalog_best_precision(m->memory, ram);
  /* TRANSLATORS: "1.8 GB download · needs 2.7 GB of memory · fits this computer" */
  g_autofree char *text = g_strdup_printf(_("%s download · needs %s of memory · %s"), size, bf16,
                                          fit_text(best, FALSE));
  g_autofree char *gpu_name = NULL;
  guint64 gpu_memory;
  *too_large = best < 0;
  *remote = remote_text(best, -1);
  *gpus = NULL;
  if (!ivl_catalog_gpu(&gpu_name, &gpu_memory))
    return g_steal_pointer(&text);
  int gpu = ivl_catalog_best_precision(m->gpu_memory, gpu_memory);
  int split;
  *gpus = ivl_gpu_plan_text(m->split, ivl_catalog_gpus(), &split);
  /* a split in a more precise precision than one GPU takes is what the engine loads */
  const int on_gpus = split >= 0 && (gpu < 0 || split < gpu) ? split : gpu;
  *too_large = best < 0 && on_gpus < 0;
  *remote = remote_text(best, on_gpus);
  return g_strdup_printf("%s · %s", text, fit_text(gpu, TRUE));
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
    set_status(self, NULL, FALSE);
    return;
  }
  gtk_widget_set_tooltip_text(GTK_WIDGET(self), NULL);
  if (g_file_test(self->dir, G_FILE_TEST_IS_DIR)) {
    gtk_stack_set_visible_child_name(self->stack, "paused");
    if (self->error)
      set_status(self, self->error, TRUE);
    else
      set_status(self, _("Partly downloaded: resume to finish."), FALSE);
  } else if (self->error) {
    gtk_stack_set_visible_child_name(self->stack, "failed");
    set_status(self, self->error, TRUE);
  } else {
    gtk_stack_set_visible_child_name(self->stack, "get");
    set_status(self, NULL, FALSE);
  }
}

void ivl_model_row_refresh(IvlModelRow *self)
{
  if (self->cancel)
    return; /* a download in progress says where it is */
  g_clear_pointer(&self->installed, g_free);
  self->installed = ivl_catalog_installed_path(self->model->name);
  show_state(self);
}

static void on_deleted(GObject *source, GAsyncResult *result, gpointer data)
{
  (void)source;
  g_autoptr(IvlModelRow) self = data;
  g_autoptr(GError) error = NULL;
  if (self->disposed)
    return;
  if (!ivl_model_folder_delete_finish(result, &error)) {
    g_autofree char *text = g_strdup_printf(_("Could not delete %s: %s"),
                                            (char *)g_task_get_task_data(G_TASK(result)),
                                            error->message);
    g_signal_emit(self, signals[SIGNAL_MESSAGE], 0, text);
  }
  ivl_model_row_refresh(self);
  g_signal_emit(self, signals[SIGNAL_DELETED], 0);
}

static void delete_folder(IvlModelRow *self, const char *path)
{
  ivl_model_folder_delete_async(path, on_deleted, g_object_ref(self));
}

static void on_progress(const IvlHubProgress *p, gpointer data)
{
  IvlModelRow *self = data;
  if (self->disposed)
    return;
  if (p->phase == IVL_HUB_PHASE_LISTING || p->total == 0) {
    gtk_progress_bar_pulse(self->progress_bar);
    set_status(self, _("Reading the list of files…"), FALSE);
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
  set_status(self, text, FALSE);
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
  if (g_error_matches(error, IVL_ERROR, IVL_ERROR_CANCELLED)) {
    show_state(self);
    set_status(self, _("Paused: the downloaded part is kept. Resume to continue."), FALSE);
    return;
  }
  /* The hub's messages say what went wrong and what to do; shown whole under the facts. */
  self->error = g_strdup(error->message);
  show_state(self);
}

static void start_download(IvlModelRow *self)
{
  if (self->cancel)
    return;
  self->cancel = g_cancellable_new();
  g_clear_pointer(&self->error, g_free);
  gtk_progress_bar_set_fraction(self->progress_bar, 0);
  gtk_stack_set_visible_child_name(self->stack, "running");
  set_status(self, _("Reading the list of files…"), FALSE);
  IvlHubDownloadOptions options = {.repo_id = self->model->repo_id, .dir = self->dir};
  ivl_hub_download_async(&options, on_progress, self, self->cancel, on_download_done,
                         g_object_ref(self));
}

static void on_too_large_response(AdwMessageDialog *dialog, const char *response, gpointer data)
{
  (void)dialog;
  if (g_str_equal(response, "download"))
    start_download(data);
}

/* A model that cannot run here is only downloaded once the person has read so. */
static void confirm_too_large(IvlModelRow *self)
{
  g_autofree char *need = g_format_size(self->model->memory[IVL_PRECISION_Q4]);
  g_autofree char *have = g_format_size(self->ram);
  g_autofree char *size = g_format_size(self->model->download_bytes);
  GtkRoot *root = gtk_widget_get_root(GTK_WIDGET(self));
  AdwMessageDialog *dialog = ADW_MESSAGE_DIALOG(adw_message_dialog_new(
      GTK_IS_WINDOW(root) ? GTK_WINDOW(root) : NULL, NULL, NULL));
  adw_message_dialog_format_heading(dialog, _("%s is too large for this computer"),
                                    self->model->name);
  adw_message_dialog_format_body(
      dialog,
      _("It needs at least %s of memory (with 4-bit weights), and this computer has %s: it "
        "will not run here. Download the %s anyway only to copy it to a larger machine or "
        "to serve it from one."),
      need, have, size);
  adw_message_dialog_add_responses(dialog, "cancel", _("Cancel"), "download",
                                   _("Download Anyway"), NULL);
  adw_message_dialog_set_default_response(dialog, "cancel");
  adw_message_dialog_set_close_response(dialog, "cancel");
  g_signal_connect_object(dialog, "response", G_CALLBACK(on_too_large_response), self, 0);
  gtk_window_present(GTK_WINDOW(dialog));
}

static void download_action(GtkWidget *widget, const char *name, GVariant *param)
{
  (void)name;
  (void)param;
  IvlModelRow *self = IVL_MODEL_ROW(widget);
  /* Resuming or retrying one already begun asks no more. */
  if (self->too_large && !g_file_test(self->dir, G_FILE_TEST_IS_DIR) && self->error == NULL)
    confirm_too_large(self);
  else
    start_download(self);
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
  AdwMessageDialog *dialog = ivl_model_folder_confirm_delete(
      widget, self->model->name, self->installed, ivl_model_dir_disk_bytes(self->installed));
  g_signal_connect_object(dialog, "response", G_CALLBACK(on_delete_response), self, 0);
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
  g_free(self->dir);
  g_free(self->error);
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
  gtk_widget_class_bind_template_child(widget_class, IvlModelRow, title_label);
  gtk_widget_class_bind_template_child(widget_class, IvlModelRow, facts_label);
  gtk_widget_class_bind_template_child(widget_class, IvlModelRow, gpus_label);
  gtk_widget_class_bind_template_child(widget_class, IvlModelRow, status_label);
  gtk_widget_class_bind_template_child(widget_class, IvlModelRow, remote_label);
  gtk_widget_class_bind_template_child(widget_class, IvlModelRow, stack);
  gtk_widget_class_bind_template_child(widget_class, IvlModelRow, download_button);
  gtk_widget_class_bind_template_child(widget_class, IvlModelRow, progress_bar);
  gtk_widget_class_bind_template_child(widget_class, IvlModelRow, delete_button);
  gtk_widget_class_install_action(widget_class, "row.download", NULL, download_action);
  gtk_widget_class_install_action(widget_class, "row.pause", NULL, pause_action);
  gtk_widget_class_install_action(widget_class, "row.cancel", NULL, cancel_action);
  gtk_widget_class_install_action(widget_class, "row.delete", NULL, delete_action);

  signals[SIGNAL_INSTALLED] = g_signal_new("installed", G_TYPE_FROM_CLASS(klass),
                                           G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE,
                                           1, G_TYPE_STRING);
  signals[SIGNAL_DELETED] = g_signal_new("deleted", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST,
                                         0, NULL, NULL, NULL, G_TYPE_NONE, 0);
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
  const char *remote = NULL;
  g_autofree char *gpus = NULL;
  g_autofree char *facts = facts_text(model, ram, &self->too_large, &remote, &gpus);
  self->model = model;
  self->ram = ram;
  self->dir = ivl_catalog_download_dir(model->repo_id);
  self->installed = ivl_catalog_installed_path(model->name);
  adw_preferences_row_set_title(ADW_PREFERENCES_ROW(self), model->name);
  gtk_label_set_text(self->title_label, model->name);
  gtk_label_set_text(self->facts_label, facts);
  gtk_label_set_text(self->gpus_label, gpus ? gpus : "");
  gtk_widget_set_visible(GTK_WIDGET(self->gpus_label), gpus != NULL);
  gtk_label_set_text(self->remote_label, remote ? remote : "");
  gtk_widget_set_visible(GTK_WIDGET(self->remote_label), remote != NULL);
  /* The ellipsis says a question comes first: the model will not run here. */
  if (self->too_large)
    gtk_button_set_label(self->download_button, _("Download…"));
  show_state(self);
  return self;
}
