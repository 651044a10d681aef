/* ivl-window-dnd.c — getting images and videos in: drop, paste, the attach dialog, and the
 * attachments waiting above the input. */
#include "ivl-config.h"

#include "ivl-window-private.h"

#include <glib/gi18n.h>
#include <glib/gstdio.h>

#include "ivl-attachment-tile.h"
#include "ivl-video-dialog.h"

static void update_attachments_bar(IvlWindow *self)
{
  guint n = g_list_model_get_n_items(G_LIST_MODEL(self->attachments));
  guint images = 0;

  for (guint i = 0; i < n; i++) {
    g_autoptr(IvlAttachment) a = g_list_model_get_item(G_LIST_MODEL(self->attachments), i);
    images += !ivl_attachment_is_video(a);
  }
  gtk_revealer_set_reveal_child(self->attachments_revealer, n > 0);
  /* Combining only means something with several images. */
  gtk_widget_set_visible(GTK_WIDGET(self->combine_button), images >= 2);
}

/* An attachment removed unsent: its encoding ahead stops, or what it made is dropped. */
static void stop_encoding_ahead(IvlWindow *self, IvlAttachmentTile *tile)
{
  GCancellable *encoding = g_object_get_data(G_OBJECT(tile), "encoding-ahead");

  if (encoding == NULL)
    return;
  g_cancellable_cancel(encoding);
  ivl_worker_forget_ahead(self->worker, ivl_attachment_tile_get_attachment(tile),
                          GPOINTER_TO_INT(g_object_get_data(G_OBJECT(tile), "encoded-tiles")));
}

static void remove_tile(IvlWindow *self, IvlAttachmentTile *tile)
{
  guint pos;

  stop_encoding_ahead(self, tile);
  if (g_list_store_find(self->attachments, ivl_attachment_tile_get_attachment(tile), &pos))
    g_list_store_remove(self->attachments, pos);
  gtk_box_remove(self->attachments_box, GTK_WIDGET(tile));
  update_attachments_bar(self);
}

static IvlAttachmentTile *find_tile(IvlWindow *self, IvlAttachment *attachment)
{
  for (GtkWidget *c = gtk_widget_get_first_child(GTK_WIDGET(self->attachments_box)); c;
       c = gtk_widget_get_next_sibling(c))
    if (ivl_attachment_tile_get_attachment(IVL_ATTACHMENT_TILE(c)) == attachment)
      return IVL_ATTACHMENT_TILE(c);
  return NULL;
}

/* Whether a saved question or a waiting attachment uses the stored file at path: files are
 * stored once by content, so two conversations may share one. */
static gboolean stored_file_in_use(IvlWindow *self, const char *path)
{
  GListModel *conversations = ivl_store_get_conversations(self->store);
  GListModel *waiting = G_LIST_MODEL(self->attachments);

  for (guint i = 0; i < g_list_model_get_n_items(waiting); i++) {
    g_autoptr(IvlAttachment) a = g_list_model_get_item(waiting, i);
    if (g_str_equal(ivl_attachment_get_path(a), path))
      return TRUE;
  }
  for (guint c = 0; c < g_list_model_get_n_items(conversations); c++) {
    g_autoptr(IvlConversation) conversation = g_list_model_get_item(conversations, c);
    GListModel *messages = ivl_conversation_get_messages(conversation);
    for (guint m = 0; m < g_list_model_get_n_items(messages); m++) {
      g_autoptr(IvlMessage) message = g_list_model_get_item(messages, m);
      GPtrArray *media = ivl_message_get_attachments(message);
      for (guint k = 0; k < media->len; k++)
        if (g_str_equal(ivl_attachment_get_path(media->pdata[k]), path))
          return TRUE;
    }
  }
  return FALSE;
}

static void on_inspected(GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(IvlWindow) self = user_data;
  g_autoptr(GError) error = NULL;
  IvlAttachment *attachment = g_task_get_task_data(G_TASK(result));
  IvlAttachmentTile *tile;

  if (ivl_worker_inspect_finish(IVL_WORKER(source), result, NULL, &error))
    return;
  /* The file cannot be used: it goes away again, from the store too, and the person is
   * told why. */
  tile = find_tile(self, attachment);
  if (tile)
    remove_tile(self, tile);
  if (!stored_file_in_use(self, ivl_attachment_get_path(attachment)))
    g_unlink(ivl_attachment_get_path(attachment));
  ivl_window_show_media_error(self, attachment, error);
}

static void edit_clip(IvlWindow *self, IvlAttachmentTile *tile);

static void on_encoded_ahead(GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GError) error = NULL;

  (void)user_data;
  /* A failure costs only the head start: the ask encodes the attachment again and tells
   * the person what went wrong. */
  if (!ivl_worker_encode_ahead_finish(IVL_WORKER(source), result, &error))
    g_debug("encoding an attachment ahead: %s", error->message);
}

/* The vision encoder runs on the attachment while the question is typed (the worker queues
 * it behind the inspection), so Send waits only for the prefill. */
static void start_encoding_ahead(IvlWindow *self, IvlAttachment *attachment, GtkWidget *tile)
{
  GCancellable *encoding = g_cancellable_new();
  int max_tiles = g_settings_get_int(self->settings, "max-tiles");

  g_object_set_data_full(G_OBJECT(tile), "encoding-ahead", encoding, g_object_unref);
  g_object_set_data(G_OBJECT(tile), "encoded-tiles", GINT_TO_POINTER(max_tiles));
  ivl_worker_encode_ahead_async(self->worker, attachment, max_tiles, encoding, on_encoded_ahead,
                                NULL);
}

/* A new tile after `after` (NULL: at the end), its attachment at the same place in the list. */
static void insert_attachment(IvlWindow *self, IvlAttachment *attachment, GtkWidget *after)
{
  GtkWidget *tile = ivl_attachment_tile_new(attachment);
  guint pos = g_list_model_get_n_items(G_LIST_MODEL(self->attachments));

  if (after)
    g_list_store_find(self->attachments,
                      ivl_attachment_tile_get_attachment(IVL_ATTACHMENT_TILE(after)), &pos);
  g_signal_connect_swapped(tile, "remove", G_CALLBACK(remove_tile), self);
  g_signal_connect_swapped(tile, "edit", G_CALLBACK(edit_clip), self);
  g_list_store_insert(self->attachments, after ? pos + 1 : pos, attachment);
  if (after)
    gtk_box_insert_child_after(self->attachments_box, tile, after);
  else
    gtk_box_append(self->attachments_box, tile);
  update_attachments_bar(self);
  if (ivl_attachment_get_n_tiles(attachment) == 0)
    ivl_worker_inspect_async(self->worker, attachment,
                             g_settings_get_int(self->settings, "max-tiles"), NULL, on_inspected,
                             g_object_ref(self));
  start_encoding_ahead(self, attachment, tile);
}

static void add_attachment(IvlWindow *self, IvlAttachment *attachment)
{
  insert_attachment(self, attachment, NULL);
}

void ivl_window_clear_attachments(IvlWindow *self)
{
  GtkWidget *child;

  g_list_store_remove_all(self->attachments);
  while ((child = gtk_widget_get_first_child(GTK_WIDGET(self->attachments_box))))
    gtk_box_remove(self->attachments_box, child);
  gtk_toggle_button_set_active(self->combine_button, FALSE);
  update_attachments_bar(self);
}

void ivl_window_restore_attachments(IvlWindow *self, IvlMessage *question)
{
  GPtrArray *media = ivl_message_get_attachments(question);

  ivl_window_clear_attachments(self);
  for (guint i = 0; i < media->len; i++)
    add_attachment(self, media->pdata[i]);
  gtk_toggle_button_set_active(self->combine_button, ivl_message_get_combined(question));
}

static IvlAttachment *chosen_clip(const char *stored_path, double start, double end,
                                  int n_frames, int n_tiles, GdkPaintable *first_frame)
{
  IvlAttachment *a = ivl_attachment_new_video(stored_path, start, end, n_frames);

  ivl_attachment_set_preview(a, first_frame);
  ivl_attachment_set_grid(a, 1, 1, n_tiles);
  return a;
}

static void on_clip_chosen(IvlVideoDialog *dialog, const char *stored_path, double start,
                           double end, int n_frames, int n_tiles, GdkPaintable *first_frame,
                           IvlWindow *self)
{
  g_autoptr(IvlAttachment) a =
      chosen_clip(stored_path, start, end, n_frames, n_tiles, first_frame);

  /* Named after the file the person chose, as images are. */
  ivl_attachment_set_name(a, g_object_get_data(G_OBJECT(dialog), "chosen"));
  add_attachment(self, a);
}

/* The clip chosen again replaces the one it was opened from, in its place. */
static void on_clip_changed(IvlVideoDialog *dialog, const char *stored_path, double start,
                            double end, int n_frames, int n_tiles, GdkPaintable *first_frame,
                            IvlWindow *self)
{
  IvlAttachment *old = g_object_get_data(G_OBJECT(dialog), "attachment");
  IvlAttachmentTile *tile = find_tile(self, old);
  g_autoptr(IvlAttachment) a =
      chosen_clip(stored_path, start, end, n_frames, n_tiles, first_frame);

  ivl_attachment_set_name(a, ivl_attachment_get_name(old));
  if (tile == NULL) {
    add_attachment(self, a); /* removed meanwhile: the new choice still counts */
    return;
  }
  insert_attachment(self, a, GTK_WIDGET(tile));
  remove_tile(self, tile);
}

static void edit_clip(IvlWindow *self, IvlAttachmentTile *tile)
{
  IvlAttachment *a = ivl_attachment_tile_get_attachment(tile);
  IvlVideoDialog *dialog =
      ivl_video_dialog_new(GTK_WINDOW(self), self->worker, self->store, ivl_attachment_get_path(a));
  double start, end;

  if (!ivl_attachment_get_bounds(a, &start, &end))
    start = end = 0;
  ivl_video_dialog_set_clip(dialog, start, end, ivl_attachment_get_n_frames(a));
  g_object_set_data_full(G_OBJECT(dialog), "attachment", g_object_ref(a), g_object_unref);
  g_signal_connect_object(dialog, "clip-chosen", G_CALLBACK(on_clip_changed), self, 0);
  gtk_window_present(GTK_WINDOW(dialog));
}

static void on_image_imported(GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(IvlWindow) self = user_data;
  const char *chosen = g_task_get_task_data(G_TASK(result)); /* the path given to import */
  g_autoptr(GError) error = NULL;
  g_autofree char *stored = ivl_store_import_file_finish(IVL_STORE(source), result, &error);
  g_autoptr(IvlAttachment) a = NULL;

  if (stored == NULL) {
    ivl_window_show_error(self, error);
    return;
  }
  a = ivl_attachment_new_image(stored);
  ivl_attachment_set_name(a, chosen);
  add_attachment(self, a);
}

void ivl_window_attach_files(IvlWindow *self, GFile *const *files, guint n_files)
{
  for (guint i = 0; i < n_files; i++) {
    g_autofree char *path = g_file_get_path(files[i]);
    g_autofree char *type = path ? g_content_type_guess(path, NULL, 0, NULL) : NULL;

    if (path == NULL)
      continue;
    if (g_content_type_is_a(type, "video/*") || g_str_has_prefix(type, "video/")) {
      IvlVideoDialog *dialog =
          ivl_video_dialog_new(GTK_WINDOW(self), self->worker, self->store, path);
      g_object_set_data_full(G_OBJECT(dialog), "chosen", g_strdup(path), g_free);
      g_signal_connect(dialog, "clip-chosen", G_CALLBACK(on_clip_chosen), self);
      gtk_window_present(GTK_WINDOW(dialog));
    } else {
      ivl_store_import_file_async(self->store, path, NULL, on_image_imported, g_object_ref(self));
    }
  }
}

void ivl_window_attach_texture(IvlWindow *self, GdkTexture *texture)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *stored = ivl_store_import_texture(self->store, texture, &error);
  g_autoptr(IvlAttachment) a = NULL;

  if (stored == NULL) {
    ivl_window_show_error(self, error);
    return;
  }
  a = ivl_attachment_new_image(stored);
  ivl_attachment_set_name(a, _("Pasted image"));
  add_attachment(self, a);
}

static void attach_file_list(IvlWindow *self, GSList *list)
{
  g_autoptr(GPtrArray) files = g_ptr_array_new();

  for (GSList *l = list; l; l = l->next)
    g_ptr_array_add(files, l->data);
  ivl_window_attach_files(self, (GFile *const *)files->pdata, files->len);
}

/* ---- drop ------------------------------------------------------------------------------ */

static gboolean on_drop(GtkDropTarget *target, const GValue *value, double x, double y,
                        IvlWindow *self)
{
  (void)target;
  (void)x;
  (void)y;
  gtk_widget_set_visible(GTK_WIDGET(self->drop_zone), FALSE);
  if (G_VALUE_HOLDS(value, GDK_TYPE_FILE_LIST)) {
    attach_file_list(self, g_value_get_boxed(value));
    return TRUE;
  }
  if (G_VALUE_HOLDS(value, GDK_TYPE_TEXTURE)) {
    ivl_window_attach_texture(self, g_value_get_object(value));
    return TRUE;
  }
  return FALSE;
}

/* ---- paste ----------------------------------------------------------------------------- */

static void on_files_pasted(GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(IvlWindow) self = user_data;
  g_autoptr(GError) error = NULL;
  const GValue *value = gdk_clipboard_read_value_finish(GDK_CLIPBOARD(source), result, &error);

  if (value == NULL)
    ivl_window_show_error(self, error);
  else
    attach_file_list(self, g_value_get_boxed(value));
}

static void on_texture_pasted(GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(IvlWindow) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GdkTexture) texture =
      gdk_clipboard_read_texture_finish(GDK_CLIPBOARD(source), result, &error);

  if (texture == NULL)
    ivl_window_show_error(self, error);
  else
    ivl_window_attach_texture(self, texture);
}

/* Ctrl+V in the input: files and images become attachments, text is pasted as text. */
static void on_paste(GtkTextView *view, IvlWindow *self)
{
  GdkClipboard *clipboard = gtk_widget_get_clipboard(GTK_WIDGET(view));
  GdkContentFormats *formats = gdk_clipboard_get_formats(clipboard);

  if (gdk_content_formats_contain_gtype(formats, GDK_TYPE_FILE_LIST)) {
    gdk_clipboard_read_value_async(clipboard, GDK_TYPE_FILE_LIST, G_PRIORITY_DEFAULT, NULL,
                                   on_files_pasted, g_object_ref(self));
  } else if (gdk_content_formats_contain_gtype(formats, GDK_TYPE_TEXTURE)) {
    gdk_clipboard_read_texture_async(clipboard, NULL, on_texture_pasted, g_object_ref(self));
  } else {
    return;
  }
  g_signal_stop_emission_by_name(view, "paste-clipboard");
}

/* ---- the attach dialog ----------------------------------------------------------------- */

static void on_chooser_response(GtkNativeDialog *chooser, int response, IvlWindow *self)
{
  if (response == GTK_RESPONSE_ACCEPT) {
    g_autoptr(GListModel) files = gtk_file_chooser_get_files(GTK_FILE_CHOOSER(chooser));
    g_autoptr(GPtrArray) array = g_ptr_array_new_with_free_func(g_object_unref);
    for (guint i = 0; i < g_list_model_get_n_items(files); i++)
      g_ptr_array_add(array, g_list_model_get_item(files, i));
    ivl_window_attach_files(self, (GFile *const *)array->pdata, array->len);
  }
  g_object_unref(chooser);
}

void ivl_window_attach_dialog(IvlWindow *self)
{
  GtkFileChooserNative *chooser = gtk_file_chooser_native_new(
      _("Attach Images or a Video"), GTK_WINDOW(self), GTK_FILE_CHOOSER_ACTION_OPEN,
      _("_Attach"), _("_Cancel"));
  GtkFileFilter *media = gtk_file_filter_new();

  gtk_file_filter_set_name(media, _("Images and videos"));
  gtk_file_filter_add_mime_type(media, "image/*");
  gtk_file_filter_add_mime_type(media, "video/*");
  gtk_file_chooser_add_filter(GTK_FILE_CHOOSER(chooser), media);
  g_object_unref(media);
  gtk_file_chooser_set_select_multiple(GTK_FILE_CHOOSER(chooser), TRUE);
  gtk_native_dialog_set_modal(GTK_NATIVE_DIALOG(chooser), TRUE);
  g_signal_connect(chooser, "response", G_CALLBACK(on_chooser_response), self);
  gtk_native_dialog_show(GTK_NATIVE_DIALOG(chooser));
}

static GdkDragAction on_drag_enter(GtkDropTarget *target, double x, double y, IvlWindow *self)
{
  (void)target;
  (void)x;
  (void)y;
  gtk_widget_set_visible(GTK_WIDGET(self->drop_zone), TRUE);
  return GDK_ACTION_COPY;
}

static void on_drag_leave(GtkDropTarget *target, IvlWindow *self)
{
  (void)target;
  gtk_widget_set_visible(GTK_WIDGET(self->drop_zone), FALSE);
}

void ivl_window_setup_dnd(IvlWindow *self)
{
  GType types[] = {GDK_TYPE_FILE_LIST, GDK_TYPE_TEXTURE};
  GtkDropTarget *target = gtk_drop_target_new(G_TYPE_INVALID, GDK_ACTION_COPY);

  gtk_drop_target_set_gtypes(target, types, G_N_ELEMENTS(types));
  g_signal_connect(target, "drop", G_CALLBACK(on_drop), self);
  g_signal_connect(target, "enter", G_CALLBACK(on_drag_enter), self);
  g_signal_connect(target, "leave", G_CALLBACK(on_drag_leave), self);
  gtk_widget_add_controller(GTK_WIDGET(self), GTK_EVENT_CONTROLLER(target));
  g_signal_connect(self->input, "paste-clipboard", G_CALLBACK(on_paste), self);
}
