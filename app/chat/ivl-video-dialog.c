/* ivl-video-dialog.c — picking the clip of a video and the frames the model will see. */
#include "ivl-config.h"

#include "ivl-video-dialog.h"

#include <glib/gi18n.h>
#include <string.h>

#define FRAME_SIZE 80
/* Dragging a scale asks for frames once it rests, not at every step. */
#define RESAMPLE_DELAY_MS 300

struct _IvlVideoDialog {
  AdwWindow parent_instance;

  /* template widgets */
  GtkButton *cancel_button;
  GtkButton *add_button;
  GtkVideo *video;
  GtkAdjustment *start_adjustment;
  GtkAdjustment *end_adjustment;
  GtkSpinButton *frames_spin;
  GtkWidget *controls;
  GtkBox *strip;
  GtkLabel *status_label;

  /* borrowed */
  IvlWorker *worker;
  IvlStore *store;

  /* owned */
  char *path;
  double duration; /* seconds; 0 until the player knows it */
  guint resample_source;
  GCancellable *sampling;
  IvlAttachment *sampled; /* the clip the strip shows */
  GdkPaintable *first_frame;
};

G_DEFINE_FINAL_TYPE(IvlVideoDialog, ivl_video_dialog, ADW_TYPE_WINDOW)

enum { SIGNAL_CLIP_CHOSEN, N_SIGNALS };
static guint signals[N_SIGNALS];

static void set_status(IvlVideoDialog *self, const char *text, gboolean error)
{
  gtk_label_set_text(self->status_label, text);
  if (error)
    gtk_widget_add_css_class(GTK_WIDGET(self->status_label), "error");
  else
    gtk_widget_remove_css_class(GTK_WIDGET(self->status_label), "error");
}

static void show_frames(IvlVideoDialog *self, GPtrArray *frames)
{
  GtkWidget *child;

  while ((child = gtk_widget_get_first_child(GTK_WIDGET(self->strip))))
    gtk_box_remove(self->strip, child);
  for (guint i = 0; frames && i < frames->len; i++) {
    GtkWidget *picture = gtk_picture_new_for_paintable(frames->pdata[i]);
    gtk_widget_set_size_request(picture, FRAME_SIZE, FRAME_SIZE);
    gtk_widget_add_css_class(picture, "thumbnail");
    gtk_widget_set_overflow(picture, GTK_OVERFLOW_HIDDEN);
    gtk_box_append(self->strip, picture);
  }
}

static void on_sampled(GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(IvlVideoDialog) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) frames = NULL;
  IvlAttachment *clip = g_task_get_task_data(G_TASK(result));

  if (g_cancellable_is_cancelled(g_task_get_cancellable(G_TASK(result))))
    return; /* a newer request replaced it */
  g_clear_object(&self->sampling);
  if (!ivl_worker_inspect_finish(IVL_WORKER(source), result, &frames, &error)) {
    g_autofree char *text = g_strdup_printf(_("This video cannot be used: %s"), error->message);
    show_frames(self, NULL);
    set_status(self, text, TRUE);
    gtk_widget_set_sensitive(GTK_WIDGET(self->add_button), FALSE);
    return;
  }
  show_frames(self, frames);
  g_set_object(&self->sampled, clip);
  g_clear_object(&self->first_frame);
  if (frames && frames->len > 0)
    self->first_frame = g_object_ref(frames->pdata[0]);
  g_autofree char *text = ivl_attachment_describe(clip);
  set_status(self, text, FALSE);
  gtk_widget_set_sensitive(GTK_WIDGET(self->add_button), TRUE);
}

/* The clip the controls describe; the whole video is asked for as such. */
static IvlAttachment *current_clip(IvlVideoDialog *self)
{
  double start = gtk_adjustment_get_value(self->start_adjustment);
  double end = gtk_adjustment_get_value(self->end_adjustment);
  int n = gtk_spin_button_get_value_as_int(self->frames_spin);

  if (self->duration <= 0 || (start <= 0 && end >= self->duration))
    start = end = 0;
  return ivl_attachment_new_video(self->path, start, end, n);
}

static gboolean resample(gpointer data)
{
  IvlVideoDialog *self = data;
  g_autoptr(IvlAttachment) clip = current_clip(self);

  self->resample_source = 0;
  if (self->sampling)
    g_cancellable_cancel(self->sampling);
  g_clear_object(&self->sampling);
  self->sampling = g_cancellable_new();
  gtk_widget_set_sensitive(GTK_WIDGET(self->add_button), FALSE);
  set_status(self, _("Sampling frames…"), FALSE);
  ivl_worker_inspect_async(self->worker, clip, 1, self->sampling, on_sampled,
                           g_object_ref(self));
  return G_SOURCE_REMOVE;
}

static void on_controls_changed(IvlVideoDialog *self)
{
  /* Start stays before end, whichever one moved. */
  if (gtk_adjustment_get_value(self->start_adjustment) >
      gtk_adjustment_get_value(self->end_adjustment))
    gtk_adjustment_set_value(self->end_adjustment,
                             gtk_adjustment_get_value(self->start_adjustment));
  g_clear_handle_id(&self->resample_source, g_source_remove);
  self->resample_source = g_timeout_add(RESAMPLE_DELAY_MS, resample, self);
}

static void on_stream_changed(IvlVideoDialog *self)
{
  GtkMediaStream *stream = gtk_video_get_media_stream(self->video);
  const GError *error = stream ? gtk_media_stream_get_error(stream) : NULL;
  gint64 duration = stream ? gtk_media_stream_get_duration(stream) : 0;

  if (error) {
    /* GStreamer's message is "Error from element <path>: <reason>\n<debug details>":
     * the reason is what a person can read. */
    g_autofree char *line = g_strndup(error->message, strcspn(error->message, "\n"));
    const char *reason = g_strrstr(line, ": ");
    g_autofree char *text =
        g_strdup_printf(_("This video cannot be played: %s"), reason ? reason + 2 : line);
    set_status(self, text, TRUE);
    gtk_widget_set_sensitive(GTK_WIDGET(self->controls), FALSE);
    gtk_widget_set_sensitive(GTK_WIDGET(self->add_button), FALSE);
    return;
  }
  if (duration <= 0 || self->duration > 0)
    return;
  self->duration = (double)duration / G_USEC_PER_SEC;
  g_signal_handlers_block_by_func(self->start_adjustment, on_controls_changed, self);
  g_signal_handlers_block_by_func(self->end_adjustment, on_controls_changed, self);
  gtk_adjustment_set_upper(self->start_adjustment, self->duration);
  gtk_adjustment_set_upper(self->end_adjustment, self->duration);
  gtk_adjustment_set_value(self->end_adjustment, self->duration);
  g_signal_handlers_unblock_by_func(self->start_adjustment, on_controls_changed, self);
  g_signal_handlers_unblock_by_func(self->end_adjustment, on_controls_changed, self);
}

static void on_imported(GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(IvlVideoDialog) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *stored = ivl_store_import_file_finish(IVL_STORE(source), result, &error);
  double start, end;

  if (self->path == NULL)
    return; /* cancelled while copying: the dialog is gone */
  if (stored == NULL) {
    set_status(self, error->message, TRUE);
    gtk_widget_set_sensitive(GTK_WIDGET(self->add_button), TRUE);
    return;
  }
  if (!ivl_attachment_get_bounds(self->sampled, &start, &end))
    start = end = 0;
  g_signal_emit(self, signals[SIGNAL_CLIP_CHOSEN], 0, stored, start, end,
                ivl_attachment_get_n_frames(self->sampled),
                ivl_attachment_get_n_tiles(self->sampled), self->first_frame);
  gtk_window_destroy(GTK_WINDOW(self));
}

static void on_add(IvlVideoDialog *self)
{
  if (self->sampled == NULL)
    return;
  gtk_widget_set_sensitive(GTK_WIDGET(self->add_button), FALSE);
  set_status(self, _("Copying the video…"), FALSE);
  ivl_store_import_file_async(self->store, self->path, NULL, on_imported, g_object_ref(self));
}

static void ivl_video_dialog_dispose(GObject *object)
{
  IvlVideoDialog *self = IVL_VIDEO_DIALOG(object);

  g_clear_handle_id(&self->resample_source, g_source_remove);
  if (self->sampling)
    g_cancellable_cancel(self->sampling);
  g_clear_object(&self->sampling);
  g_clear_object(&self->sampled);
  g_clear_object(&self->first_frame);
  g_clear_object(&self->worker);
  g_clear_object(&self->store);
  g_clear_pointer(&self->path, g_free);
  gtk_widget_dispose_template(GTK_WIDGET(self), IVL_TYPE_VIDEO_DIALOG);
  G_OBJECT_CLASS(ivl_video_dialog_parent_class)->dispose(object);
}

static void ivl_video_dialog_class_init(IvlVideoDialogClass *klass)
{
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS(klass);

  G_OBJECT_CLASS(klass)->dispose = ivl_video_dialog_dispose;
  gtk_widget_class_set_template_from_resource(widget_class,
                                              "/io/github/ivl/Chat/ui/ivl-video-dialog.ui");
  gtk_widget_class_bind_template_child(widget_class, IvlVideoDialog, cancel_button);
  gtk_widget_class_bind_template_child(widget_class, IvlVideoDialog, add_button);
  gtk_widget_class_bind_template_child(widget_class, IvlVideoDialog, video);
  gtk_widget_class_bind_template_child(widget_class, IvlVideoDialog, start_adjustment);
  gtk_widget_class_bind_template_child(widget_class, IvlVideoDialog, end_adjustment);
  gtk_widget_class_bind_template_child(widget_class, IvlVideoDialog, frames_spin);
  gtk_widget_class_bind_template_child(widget_class, IvlVideoDialog, controls);
  gtk_widget_class_bind_template_child(widget_class, IvlVideoDialog, strip);
  gtk_widget_class_bind_template_child(widget_class, IvlVideoDialog, status_label);
  gtk_widget_class_add_binding_action(widget_class, GDK_KEY_Escape, 0, "window.close", NULL);
  signals[SIGNAL_CLIP_CHOSEN] = g_signal_new(
      "clip-chosen", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
      G_TYPE_NONE, 6, G_TYPE_STRING, G_TYPE_DOUBLE, G_TYPE_DOUBLE, G_TYPE_INT, G_TYPE_INT,
      GDK_TYPE_PAINTABLE);
}

static void ivl_video_dialog_init(IvlVideoDialog *self)
{
  gtk_widget_init_template(GTK_WIDGET(self));
  g_signal_connect_swapped(self->cancel_button, "clicked", G_CALLBACK(gtk_window_destroy), self);
  g_signal_connect_swapped(self->add_button, "clicked", G_CALLBACK(on_add), self);
  g_signal_connect_swapped(self->start_adjustment, "value-changed",
                           G_CALLBACK(on_controls_changed), self);
  g_signal_connect_swapped(self->end_adjustment, "value-changed",
                           G_CALLBACK(on_controls_changed), self);
  g_signal_connect_swapped(self->frames_spin, "value-changed", G_CALLBACK(on_controls_changed),
                           self);
}

IvlVideoDialog *ivl_video_dialog_new(GtkWindow *parent, IvlWorker *worker, IvlStore *store,
                                     const char *path)
{
  IvlVideoDialog *self = g_object_new(IVL_TYPE_VIDEO_DIALOG, "transient-for", parent, NULL);
  GtkMediaStream *stream;

  self->worker = g_object_ref(worker);
  self->store = g_object_ref(store);
  self->path = g_strdup(path);
  gtk_video_set_filename(self->video, path);
  stream = gtk_video_get_media_stream(self->video);
  if (stream) {
    g_signal_connect_object(stream, "notify::duration", G_CALLBACK(on_stream_changed), self,
                            G_CONNECT_SWAPPED);
    g_signal_connect_object(stream, "notify::error", G_CALLBACK(on_stream_changed), self,
                            G_CONNECT_SWAPPED);
  }
  resample(self);
  return self;
}
