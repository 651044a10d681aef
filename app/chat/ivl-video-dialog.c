/* ivl-video-dialog.c — picking the clip of a video and the frames the model will see. */
#include "ivl-config.h"

#include "ivl-video-dialog.h"

#include <glib/gi18n.h>
#include <string.h>

#include "ivl-oriented-paintable.h"

#define FRAME_SIZE 80
/* Dragging a scale asks for frames once it rests, not at every step. */
#define RESAMPLE_DELAY_MS 300
/* The shortest clip the two ends may make, in seconds: a tenth keeps them apart at the
 * scales' finest step. */
#define MIN_CLIP_S 0.1
/* The dialog's width on a wide screen; narrower parents get their own width, down to 360. */
#define WIDE_WIDTH 720
#define NARROWEST 360

struct _IvlVideoDialog {
  AdwWindow parent_instance;

  /* template widgets */
  GtkButton *cancel_button;
  GtkButton *add_button;
  GtkPicture *preview;
  GtkMediaControls *media_controls;
  GtkScale *start_scale;
  GtkScale *end_scale;
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
  GtkMediaStream *stream;
  IvlOrientedPaintable *oriented; /* the stream, drawn upright */
  GCancellable *probing;          /* reading the orientation tag */
  double duration;                /* seconds; 0 until the player knows it */
  gboolean has_preset;            /* reopened: the bounds below come first */
  double preset_start, preset_end;
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

  if (self->duration <= 0 && self->has_preset) {
    start = self->preset_start;
    end = self->preset_end;
  } else if (self->duration <= 0 || (start <= 0 && end >= self->duration)) {
    start = end = 0;
  }
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

static void schedule_resample(IvlVideoDialog *self)
{
  g_clear_handle_id(&self->resample_source, g_source_remove);
  self->resample_source = g_timeout_add(RESAMPLE_DELAY_MS, resample, self);
}

static void seek_to(IvlVideoDialog *self, double seconds)
{
  if (gtk_media_stream_is_seekable(self->stream))
    gtk_media_stream_seek(self->stream, (gint64)(seconds * G_USEC_PER_SEC));
}

/* The two ends never cross: the one that moves stops a tenth short of the other. */
static void on_start_changed(IvlVideoDialog *self)
{
  double start = gtk_adjustment_get_value(self->start_adjustment);
  double limit = gtk_adjustment_get_value(self->end_adjustment) - MIN(MIN_CLIP_S, self->duration);

  if (start > limit) {
    gtk_adjustment_set_value(self->start_adjustment, MAX(limit, 0));
    return; /* the call above came back here with the clamped value */
  }
  seek_to(self, start);
  schedule_resample(self);
}

static void on_end_changed(IvlVideoDialog *self)
{
  double end = gtk_adjustment_get_value(self->end_adjustment);
  double limit =
      gtk_adjustment_get_value(self->start_adjustment) + MIN(MIN_CLIP_S, self->duration);

  if (end < limit) {
    gtk_adjustment_set_value(self->end_adjustment, limit);
    return;
  }
  /* Where the clip ends is what a person moving the end wants to see. */
  seek_to(self, end);
  schedule_resample(self);
}

/* Playing keeps to the clip: it starts at the clip's start and stops at its end. */
static void on_playback(IvlVideoDialog *self)
{
  gint64 now = gtk_media_stream_get_timestamp(self->stream);
  gint64 start = (gint64)(gtk_adjustment_get_value(self->start_adjustment) * G_USEC_PER_SEC);
  gint64 end = (gint64)(gtk_adjustment_get_value(self->end_adjustment) * G_USEC_PER_SEC);

  if (self->duration <= 0 || !gtk_media_stream_get_playing(self->stream) ||
      gtk_media_stream_is_seeking(self->stream))
    return;
  if (now >= end) {
    gtk_media_stream_pause(self->stream);
    seek_to(self, gtk_adjustment_get_value(self->start_adjustment));
  } else if (now < start) {
    seek_to(self, gtk_adjustment_get_value(self->start_adjustment));
  }
}

/* m:ss, with tenths for a video under ten seconds, where whole seconds say too little. */
static char *format_time(GtkScale *scale, double value, gpointer data)
{
  IvlVideoDialog *self = data;

  (void)scale;
  return ivl_attachment_format_time(value, self->duration > 0 && self->duration < 10);
}

static void on_duration_known(IvlVideoDialog *self)
{
  double start = 0, end = self->duration;
  double step = self->duration < 10 ? 0.1 : 1;

  if (self->has_preset) {
    start = CLAMP(self->preset_start, 0, self->duration);
    if (self->preset_end > self->preset_start)
      end = CLAMP(self->preset_end, start, self->duration);
  }
  g_signal_handlers_block_by_func(self->start_adjustment, on_start_changed, self);
  g_signal_handlers_block_by_func(self->end_adjustment, on_end_changed, self);
  gtk_adjustment_configure(self->start_adjustment, start, 0, self->duration, step,
                           MAX(step, self->duration / 10), 0);
  gtk_adjustment_configure(self->end_adjustment, end, 0, self->duration, step,
                           MAX(step, self->duration / 10), 0);
  g_signal_handlers_unblock_by_func(self->start_adjustment, on_start_changed, self);
  g_signal_handlers_unblock_by_func(self->end_adjustment, on_end_changed, self);
  /* The values are drawn again in the format the duration calls for. */
  gtk_widget_queue_resize(GTK_WIDGET(self->start_scale));
  gtk_widget_queue_resize(GTK_WIDGET(self->end_scale));
  self->has_preset = FALSE;
}

static void on_stream_changed(IvlVideoDialog *self)
{
  const GError *error = gtk_media_stream_get_error(self->stream);
  gint64 duration = gtk_media_stream_get_duration(self->stream);

  if (error) {
    /* GStreamer's message is "Error from element <path>: <reason>\n<debug details>":
     * the reason is what a person can read. */
    g_autofree char *line = g_strndup(error->message, strcspn(error->message, "\n"));
    const char *reason = g_strrstr(line, ": ");
    g_autofree char *text =
        g_strdup_printf(_("This video cannot be played: %s"), reason ? reason + 2 : line);
    set_status(self, text, TRUE);
    gtk_widget_set_sensitive(GTK_WIDGET(self->controls), FALSE);
    gtk_widget_set_sensitive(GTK_WIDGET(self->media_controls), FALSE);
    gtk_widget_set_sensitive(GTK_WIDGET(self->add_button), FALSE);
    return;
  }
  if (duration <= 0 || self->duration > 0)
    return;
  self->duration = (double)duration / G_USEC_PER_SEC;
  on_duration_known(self);
  seek_to(self, gtk_adjustment_get_value(self->start_adjustment));
}

static void on_orientation(GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(IvlVideoDialog) self = user_data;
  IvlOrientation o = ivl_video_orientation_probe_finish(result, NULL);

  (void)source;
  if (self->probing == NULL)
    return; /* the dialog closed first */
  g_clear_object(&self->probing);
  /* Without a readable tag the preview stays as stored; the player reports broken files. */
  ivl_oriented_paintable_set_orientation(self->oriented, o);
}

static void emit_chosen(IvlVideoDialog *self, const char *stored)
{
  double start, end;

  if (!ivl_attachment_get_bounds(self->sampled, &start, &end))
    start = end = 0;
  g_signal_emit(self, signals[SIGNAL_CLIP_CHOSEN], 0, stored, start, end,
                ivl_attachment_get_n_frames(self->sampled),
                ivl_attachment_get_n_tiles(self->sampled), self->first_frame);
  gtk_window_destroy(GTK_WINDOW(self));
}

static void on_imported(GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(IvlVideoDialog) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *stored = ivl_store_import_file_finish(IVL_STORE(source), result, &error);

  if (self->path == NULL)
    return; /* cancelled while copying: the dialog is gone */
  if (stored == NULL) {
    set_status(self, error->message, TRUE);
    gtk_widget_set_sensitive(GTK_WIDGET(self->add_button), TRUE);
    return;
  }
  emit_chosen(self, stored);
}

static void on_add(IvlVideoDialog *self)
{
  const char *images = ivl_store_get_images_dir(self->store);
  g_autofree char *folder = g_path_get_dirname(self->path);

  if (self->sampled == NULL)
    return;
  gtk_media_stream_pause(self->stream);
  /* A clip reopened from the attachments is stored already. */
  if (g_strcmp0(folder, images) == 0) {
    emit_chosen(self, self->path);
    return;
  }
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
  if (self->probing)
    g_cancellable_cancel(self->probing);
  g_clear_object(&self->probing);
  if (self->stream) {
    g_signal_handlers_disconnect_by_data(self->stream, self);
    gtk_media_stream_pause(self->stream);
  }
  gtk_widget_dispose_template(GTK_WIDGET(self), IVL_TYPE_VIDEO_DIALOG);
  g_clear_object(&self->oriented);
  g_clear_object(&self->stream);
  g_clear_object(&self->sampled);
  g_clear_object(&self->first_frame);
  g_clear_object(&self->worker);
  g_clear_object(&self->store);
  g_clear_pointer(&self->path, g_free);
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
  gtk_widget_class_bind_template_child(widget_class, IvlVideoDialog, preview);
  gtk_widget_class_bind_template_child(widget_class, IvlVideoDialog, media_controls);
  gtk_widget_class_bind_template_child(widget_class, IvlVideoDialog, start_scale);
  gtk_widget_class_bind_template_child(widget_class, IvlVideoDialog, end_scale);
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
  gtk_scale_set_format_value_func(self->start_scale, format_time, self, NULL);
  gtk_scale_set_format_value_func(self->end_scale, format_time, self, NULL);
  g_signal_connect_swapped(self->cancel_button, "clicked", G_CALLBACK(gtk_window_destroy), self);
  g_signal_connect_swapped(self->add_button, "clicked", G_CALLBACK(on_add), self);
  g_signal_connect_swapped(self->start_adjustment, "value-changed", G_CALLBACK(on_start_changed),
                           self);
  g_signal_connect_swapped(self->end_adjustment, "value-changed", G_CALLBACK(on_end_changed),
                           self);
  g_signal_connect_swapped(self->frames_spin, "value-changed", G_CALLBACK(schedule_resample),
                           self);
}

/* As wide as a narrow parent (a phone), never wider than on a desktop. */
static void fit_parent(IvlVideoDialog *self, GtkWindow *parent)
{
  int width = parent ? gtk_widget_get_width(GTK_WIDGET(parent)) : 0;
  int height = parent ? gtk_widget_get_height(GTK_WIDGET(parent)) : 0;
  int default_width, default_height;

  gtk_window_get_default_size(GTK_WINDOW(self), &default_width, &default_height);
  if (width > 0 && width < WIDE_WIDTH)
    default_width = MAX(width, NARROWEST);
  if (height > 0 && height < default_height)
    default_height = height;
  gtk_window_set_default_size(GTK_WINDOW(self), default_width, default_height);
}

IvlVideoDialog *ivl_video_dialog_new(GtkWindow *parent, IvlWorker *worker, IvlStore *store,
                                     const char *path)
{
  IvlVideoDialog *self = g_object_new(IVL_TYPE_VIDEO_DIALOG, "transient-for", parent, NULL);

  self->worker = g_object_ref(worker);
  self->store = g_object_ref(store);
  self->path = g_strdup(path);
  fit_parent(self, parent);
  self->stream = gtk_media_file_new_for_filename(path);
  self->oriented = ivl_oriented_paintable_new(GDK_PAINTABLE(self->stream));
  gtk_picture_set_paintable(self->preview, GDK_PAINTABLE(self->oriented));
  gtk_media_controls_set_media_stream(self->media_controls, self->stream);
  g_signal_connect_swapped(self->stream, "notify::duration", G_CALLBACK(on_stream_changed), self);
  g_signal_connect_swapped(self->stream, "notify::error", G_CALLBACK(on_stream_changed), self);
  g_signal_connect_swapped(self->stream, "notify::timestamp", G_CALLBACK(on_playback), self);
  g_signal_connect_swapped(self->stream, "notify::playing", G_CALLBACK(on_playback), self);
  self->probing = g_cancellable_new();
  ivl_video_orientation_probe_async(path, self->probing, on_orientation, g_object_ref(self));
  resample(self);
  return self;
}

void ivl_video_dialog_set_clip(IvlVideoDialog *self, double start, double end, int n_frames)
{
  self->has_preset = TRUE;
  self->preset_start = start;
  self->preset_end = end;
  g_signal_handlers_block_by_func(self->frames_spin, schedule_resample, self);
  gtk_spin_button_set_value(self->frames_spin, n_frames);
  g_signal_handlers_unblock_by_func(self->frames_spin, schedule_resample, self);
  if (self->duration > 0)
    on_duration_known(self);
  schedule_resample(self);
}
