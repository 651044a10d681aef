/* The ivl-chat window, driven in-process as a person would use it: no model page, demo
 * model, preferences, attachments, streamed answers, follow-up, stop, regenerate, broken
 * media, video clips, a restart that finds the conversation again, answer alternatives,
 * edit-and-resend, search, export, per-conversation settings and (over the stand-in) a model
 * split over two GPUs. Each state is saved as a PNG, light and dark, in $IVL_SCREENSHOT_DIR.
 *
 * Built twice: over a scripted stand-in for the engine's inference (fake-ivl.c), whose
 * answers say which turn they are and how much history the session held, so the test checks
 * the words; and with IVL_TEST_REAL_ENGINE over libivl and the demo model (random weights),
 * where only the flow can be checked, not what the answers say. */
#include "gui-test-util.h"
#include "ivl-config.h"

#include <adwaita.h>
#include <glib/gstdio.h>
#include <gtksourceview/gtksource.h>
#include <unistd.h>

#include "ivl-application.h"
#include "ivl-boxed-image.h"
#include "ivl-attachment-tile.h"
#include "ivl-code-block.h"
#include "ivl-conversation-settings.h"
#include "ivl-image-viewer.h"
#include "ivl-markdown-view.h"
#include "ivl-message-row.h"
#include "ivl-oriented-paintable.h"
#include "ivl-preferences.h"
#include "ivl-video-dialog.h"
#include "ivl-window-private.h"

#define WAIT_MS 10000

#ifdef IVL_TEST_REAL_ENGINE
static const gboolean real_engine = TRUE;
#else
static const gboolean real_engine = FALSE;
#endif

static IvlApplication *app;
static IvlWindow *window;
static char *data_home;

/* ---- helpers --------------------------------------------------------------------------- */

static void print_window_labels(void)
{
  gui_print_labels(GTK_WIDGET(window));
}

static void wait_until(GuiCondition cond, gpointer data, const char *what)
{
  gui_wait_until(cond, data, what, WAIT_MS, print_window_labels);
}

static void screenshot(GtkWidget *widget, const char *name)
{
  const char *dir = g_getenv("IVL_SCREENSHOT_DIR");
  AdwStyleManager *style = adw_style_manager_get_default();
  static const struct {
    AdwColorScheme scheme;
    const char *suffix;
  } looks[] = {{ADW_COLOR_SCHEME_FORCE_LIGHT, "light"}, {ADW_COLOR_SCHEME_FORCE_DARK, "dark"}};

  if (dir == NULL)
    return;
  g_mkdir_with_parents(dir, 0755);
  for (guint i = 0; i < G_N_ELEMENTS(looks); i++) {
    g_autofree char *file = g_strdup_printf("%s-%s.png", name, looks[i].suffix);
    g_autofree char *path = g_build_filename(dir, file, NULL);
    adw_style_manager_set_color_scheme(style, looks[i].scheme);
    gui_settle(250);
    gui_save_png(widget, path);
  }
  adw_style_manager_set_color_scheme(style, ADW_COLOR_SCHEME_FORCE_LIGHT);
}

static void wait_for_text(GtkWidget *widget, const char *text)
{
  GuiTextWait w = {widget, text};
  wait_until(gui_text_shown, &w, text);
}

static gboolean page_is(gpointer name)
{
  return g_strcmp0(gtk_stack_get_visible_child_name(window->main_stack), name) == 0;
}

static gboolean model_ready(gpointer data)
{
  (void)data;
  return window->loaded_model != NULL && window->load_cancellable == NULL;
}

static gboolean model_ready_or_failed(gpointer data)
{
  (void)data;
  return window->load_cancellable == NULL;
}

static gboolean models_are(gpointer n)
{
  return window->models && window->models->len == GPOINTER_TO_UINT(n);
}

static IvlMessage *last_message(void);

/* No conversation is answering. */
static gboolean answer_done(gpointer data)
{
  (void)data;
  return g_hash_table_size(window->answering) == 0;
}

static gboolean answer_has_text(gpointer data)
{
  g_autoptr(IvlMessage) last = last_message();

  (void)data;
  return last && ivl_message_get_state(last) == IVL_MESSAGE_STREAMING &&
         *ivl_message_get_text(last) != '\0';
}

static gboolean attachments_ready(gpointer data)
{
  GListModel *list = G_LIST_MODEL(window->attachments);
  guint n = g_list_model_get_n_items(list);

  for (guint i = 0; i < n; i++) {
    g_autoptr(IvlAttachment) a = g_list_model_get_item(list, i);
    if (ivl_attachment_get_n_tiles(a) == 0)
      return FALSE;
  }
  return n == GPOINTER_TO_UINT(data);
}

static IvlMessage *last_message(void)
{
  GListModel *messages = ivl_conversation_get_messages(window->conversation);
  guint n = g_list_model_get_n_items(messages);

  return n ? g_list_model_get_item(messages, n - 1) : NULL;
}

/* A finished answer; the demo model's are cut at its short length limit. */
static void assert_answered(IvlMessage *answer)
{
  IvlMessageState state = ivl_message_get_state(answer);

  if (!(state == IVL_MESSAGE_DONE || (real_engine && state == IVL_MESSAGE_LENGTH)))
    g_error("answer in state %d", state);
}

static void type_and_send(const char *question)
{
  gtk_text_buffer_set_text(gtk_text_view_get_buffer(window->input), question, -1);
  g_assert_true(gtk_widget_activate_action(GTK_WIDGET(window), "win.send", NULL));
}

static void attach_test_file(const char *name)
{
  g_autofree char *path = g_build_filename(g_getenv("IVL_TEST_DATA"), name, NULL);
  g_autoptr(GFile) file = g_file_new_for_path(path);

  ivl_window_attach_files(window, &file, 1);
}

static GtkWindow *wait_for_toplevel(GType type)
{
  wait_until(gui_toplevel_shown, GSIZE_TO_POINTER(type), g_type_name(type));
  gui_settle(200);
  return gui_find_toplevel(type);
}

/* ---- the flows, in the order a first session goes -------------------------------------- */

static void test_no_model(void)
{
  g_assert_true(page_is("no-model"));
  g_assert_true(gtk_widget_get_visible(GTK_WIDGET(window->demo_button)));
  gui_settle(300);
  screenshot(GTK_WIDGET(window), "01-no-model");
}

/* The combo row titled title, anywhere under widget. */
static AdwComboRow *find_combo_row(GtkWidget *widget, const char *title)
{
  if (ADW_IS_COMBO_ROW(widget) &&
      g_strcmp0(adw_preferences_row_get_title(ADW_PREFERENCES_ROW(widget)), title) == 0)
    return ADW_COMBO_ROW(widget);
  for (GtkWidget *c = gtk_widget_get_first_child(widget); c; c = gtk_widget_get_next_sibling(c)) {
    AdwComboRow *row = find_combo_row(c, title);
    if (row)
      return row;
  }
  return NULL;
}

/* Also picks 8-bit weights, as a person short of memory would: the demo model then loads
 * quantized for the rest of the session (the line under the model selector says so). */
static void test_preferences(void)
{
  GtkWindow *prefs;
  AdwComboRow *precision;

  g_action_group_activate_action(G_ACTION_GROUP(app), "preferences", NULL);
  prefs = wait_for_toplevel(IVL_TYPE_PREFERENCES);
  screenshot(GTK_WIDGET(prefs), "02-preferences");
  precision = find_combo_row(GTK_WIDGET(prefs), "Weight Precision");
  g_assert_nonnull(precision);
  adw_combo_row_set_selected(precision, 1);
  {
    g_autoptr(GSettings) settings = g_settings_new("io.github.ivl.Chat");
    g_autofree char *nick = g_settings_get_string(settings, "precision");
    g_assert_cmpstr(nick, ==, "int8");
  }
  gtk_window_destroy(prefs);
}

static void test_demo_model(void)
{
  g_assert_true(gtk_widget_activate_action(GTK_WIDGET(window), "win.make-demo-model", NULL));
  wait_until(model_ready, NULL, "the demo model");
  g_assert_true(page_is("chat"));
  g_assert_true(g_str_has_suffix(window->loaded_model, "ivl-demo-tiny"));
  g_assert_cmpstr(gtk_label_get_text(window->model_status), ==, "CPU · 8-bit weights");
  gui_settle(300);
  screenshot(GTK_WIDGET(window), "03-empty-chat");
}

static void test_attach_and_ask(void)
{
  g_autoptr(IvlMessage) answer = NULL;

  attach_test_file("wide.png");
  attach_test_file("photo.jpg");
  wait_until(attachments_ready, GUINT_TO_POINTER(2), "two attachments cut into tiles");
  /* 896x448 is exactly a 2x1 grid, plus the thumbnail. */
  wait_for_text(GTK_WIDGET(window->attachments_box), "Large image, split into 2 parts");
  g_assert_true(gtk_widget_get_visible(GTK_WIDGET(window->combine_button)));
  gtk_text_buffer_set_text(gtk_text_view_get_buffer(window->input),
                           "What is in these pictures?", -1);
  gui_settle(400);
  screenshot(GTK_WIDGET(window), "04-attachments");

  g_assert_true(gtk_widget_activate_action(GTK_WIDGET(window), "win.send", NULL));
  wait_until(answer_done, NULL, "the answer");
  answer = last_message();
  assert_answered(answer);
  if (!real_engine) {
    g_assert_nonnull(strstr(ivl_message_get_text(answer), "**Turn 1** (history: 0 turns)"));
    g_assert_nonnull(strstr(ivl_message_get_text(answer), "with 2 media, separate"));
  }
  g_assert_cmpuint(g_list_model_get_n_items(G_LIST_MODEL(window->attachments)), ==, 0);
}

static void test_follow_up(void)
{
  g_autoptr(IvlMessage) answer = NULL;

  type_and_send("And the colours?");
  wait_until(answer_done, NULL, "the follow-up answer");
  answer = last_message();
  assert_answered(answer);
  /* The session kept the first turn: the follow-up sees it. */
  if (!real_engine)
    g_assert_nonnull(strstr(ivl_message_get_text(answer), "**Turn 2** (history: 1 turns)"));
  gui_settle(400);
  screenshot(GTK_WIDGET(window), "05-answers");
}

static void test_stop(void)
{
  g_autoptr(IvlMessage) answer = NULL;

  /* The scripted engine is slowed down so the stop lands mid-answer; the demo model is too
   * quick for that, so there the stop comes right after sending. */
  g_setenv("IVL_FAKE_TOKEN_US", "200000", TRUE);
  type_and_send("Describe it slowly");
  if (!real_engine)
    wait_until(answer_has_text, NULL, "the first words");
  g_assert_true(gtk_widget_activate_action(GTK_WIDGET(window), "win.stop", NULL));
  wait_until(answer_done, NULL, "the stop");
  g_setenv("IVL_FAKE_TOKEN_US", "2000", TRUE);
  answer = last_message();
  g_assert_cmpint(ivl_message_get_state(answer), ==, IVL_MESSAGE_STOPPED);
  if (!real_engine)
    g_assert_null(strstr(ivl_message_get_text(answer), "Done."));
  gui_settle(300);
  screenshot(GTK_WIDGET(window), "06-stopped");
}

static void test_regenerate(void)
{
  g_autoptr(IvlMessage) answer = NULL;
  GListModel *messages = ivl_conversation_get_messages(window->conversation);
  guint n = g_list_model_get_n_items(messages);

  g_assert_true(gtk_widget_activate_action(GTK_WIDGET(window), "win.regenerate", NULL));
  wait_until(answer_done, NULL, "the regenerated answer");
  g_assert_cmpuint(g_list_model_get_n_items(messages), ==, n);
  answer = last_message();
  assert_answered(answer);
  /* Rebuilt from the two finished turns, since the stopped one was dropped. */
  if (!real_engine) {
    g_assert_nonnull(strstr(ivl_message_get_text(answer), "**Turn 3** (history: 2 turns)"));
    /* Greedy decoding would give the same answer again: regenerate samples. */
    g_assert_nonnull(strstr(ivl_message_get_text(answer), ", sampled."));
  }
}

static gboolean no_attachments(gpointer data)
{
  (void)data;
  return g_list_model_get_n_items(G_LIST_MODEL(window->attachments)) == 0;
}

static guint count_stored_files(void)
{
  g_autoptr(GDir) dir = g_dir_open(ivl_store_get_images_dir(window->store), 0, NULL);
  guint n = 0;

  while (dir && g_dir_read_name(dir))
    n++;
  return n;
}

/* The file is named as the person knows it, the reason is whole, and the rejected copy does
 * not stay among the stored images. */
static void test_broken_image(void)
{
  guint stored = count_stored_files();

  attach_test_file("broken.png");
  wait_for_text(GTK_WIDGET(window->error_revealer), "“broken.png” cannot be used");
  g_assert_true(gtk_revealer_get_reveal_child(window->error_revealer));
  g_assert_null(strstr(gtk_label_get_text(window->error_label), "…"));
  wait_until(no_attachments, NULL, "the broken image to go");
  g_assert_cmpuint(count_stored_files(), ==, stored);
  gui_settle(300);
  screenshot(GTK_WIDGET(window), "07-broken-image");
  g_assert_true(gtk_widget_activate_action(GTK_WIDGET(window), "win.dismiss-error", NULL));
}

/* Files dragged over the window show where they will land. The drag is played by emitting
 * the window's drop target signals: Xvfb has no pointer to drag with. */
static void test_drop_zone(void)
{
  GtkDropTarget *target = NULL;
  GdkDragAction action = 0;

  for (guint i = 0;; i++) {
    g_autoptr(GtkEventController) c =
        g_list_model_get_item(gtk_widget_observe_controllers(GTK_WIDGET(window)), i);
    g_assert_nonnull(c);
    if (GTK_IS_DROP_TARGET(c)) {
      target = GTK_DROP_TARGET(c);
      break;
    }
  }
  g_assert_false(gtk_widget_get_visible(window->drop_zone));
  g_signal_emit_by_name(target, "enter", 200.0, 200.0, &action);
  g_assert_cmpint(action, ==, GDK_ACTION_COPY);
  g_assert_true(gtk_widget_get_visible(window->drop_zone));
  gui_settle(300);
  screenshot(GTK_WIDGET(window), "07a-drop-zone");
  g_signal_emit_by_name(target, "leave");
  g_assert_false(gtk_widget_get_visible(window->drop_zone));
}

/* An answer cut by the token limit says so and goes on with Continue. */
static void test_length_limit(void)
{
  g_autoptr(GSettings) settings = g_settings_new("io.github.ivl.Chat");
  g_autoptr(IvlMessage) answer = NULL;
  g_autofree char *cut = NULL;

  g_settings_set_int(settings, "max-new-tokens", 6);
  type_and_send("Tell me everything");
  wait_until(answer_done, NULL, "the cut answer");
  answer = last_message();
  if (real_engine && ivl_message_get_state(answer) != IVL_MESSAGE_LENGTH) {
    g_settings_set_int(settings, "max-new-tokens", 48);
    return; /* random weights may stop first */
  }
  g_assert_cmpint(ivl_message_get_state(answer), ==, IVL_MESSAGE_LENGTH);
  wait_for_text(GTK_WIDGET(window->message_view), "Stopped at the length limit");
  gui_settle(300);
  screenshot(GTK_WIDGET(window), "07b-length-limit");
  cut = g_strdup(ivl_message_get_text(answer));
  g_settings_set_int(settings, "max-new-tokens", real_engine ? 48 : 1024);
  g_assert_true(gtk_widget_activate_action(GTK_WIDGET(window), "win.continue", NULL));
  wait_until(answer_done, NULL, "the continued answer");
  g_assert_true(g_str_has_prefix(ivl_message_get_text(answer), cut));
  if (!real_engine) {
    g_assert_cmpint(ivl_message_get_state(answer), ==, IVL_MESSAGE_DONE);
    g_assert_cmpuint(strlen(ivl_message_get_text(answer)), >, strlen(cut) + 20);
  }
  /* The turn the model was asked to go on in is not shown. */
  g_assert_cmpuint(
      g_list_model_get_n_items(ivl_conversation_get_messages(window->conversation)) % 2, ==, 0);
}

/* A turn that fails is not kept: the question goes back to the composer, said once. */
static void test_failed_answer(void)
{
  GListModel *messages = ivl_conversation_get_messages(window->conversation);
  guint n = g_list_model_get_n_items(messages);
  GtkTextBuffer *buffer = gtk_text_view_get_buffer(window->input);
  GtkTextIter start, end;
  g_autofree char *back = NULL;

  if (real_engine)
    return; /* the demo model does not fail on demand */
  type_and_send("[fail] this one breaks");
  wait_until(answer_done, NULL, "the failed answer");
  g_assert_cmpuint(g_list_model_get_n_items(messages), ==, n);
  gtk_text_buffer_get_bounds(buffer, &start, &end);
  back = gtk_text_buffer_get_text(buffer, &start, &end, FALSE);
  g_assert_cmpstr(back, ==, "[fail] this one breaks");
  g_assert_true(gtk_revealer_get_reveal_child(window->error_revealer));
  g_assert_nonnull(strstr(gtk_label_get_text(window->error_label), "compute device failed"));
  gui_settle(300);
  screenshot(GTK_WIDGET(window), "07c-failed-answer");
  gtk_text_buffer_set_text(buffer, "", 0);
  g_assert_true(gtk_widget_activate_action(GTK_WIDGET(window), "win.dismiss-error", NULL));
}

/* A model that cannot load: Send is off, the line under the selector says why, and the
 * header keeps its height. */
static void test_broken_model(void)
{
  g_autofree char *dir = g_build_filename(data_home, "ivl", "models", "broken-model", NULL);
  g_autofree char *config = g_build_filename(dir, "config.json", NULL);
  g_autofree char *good = g_strdup(window->loaded_model);
  GListModel *messages = ivl_conversation_get_messages(window->conversation);
  guint n = g_list_model_get_n_items(messages), broken = G_MAXUINT, demo = G_MAXUINT;
  GtkWidget *header = gtk_widget_get_ancestor(GTK_WIDGET(window->model_status),
                                              ADW_TYPE_HEADER_BAR);
  int height = gtk_widget_get_height(header);

  /* Copied in while the app runs, as the empty page suggests: it appears without a restart. */
  g_assert_cmpint(g_mkdir_with_parents(dir, 0700), ==, 0);
  gui_settle(100);
  g_assert_true(g_file_set_contents(config, "{ not json", -1, NULL));
  wait_until(models_are, GUINT_TO_POINTER(2), "the copied model folder to appear");
  for (guint i = 0; i < window->models->len; i++) {
    IvlModelEntry *e = window->models->pdata[i];
    if (g_str_has_suffix(e->path, "broken-model"))
      broken = i;
    else if (g_strcmp0(e->path, good) == 0)
      demo = i;
  }
  g_assert_cmpuint(broken, !=, G_MAXUINT);
  gtk_drop_down_set_selected(window->model_dropdown, broken);
  wait_until(model_ready_or_failed, NULL, "the broken model to fail");
  g_assert_null(window->loaded_model);
  g_assert_cmpstr(gtk_label_get_text(window->model_status), ==, "Could not load this model");
  g_assert_true(gtk_revealer_get_reveal_child(window->error_revealer));
  type_and_send("Is anyone there?");
  gui_settle(200);
  g_assert_cmpuint(g_list_model_get_n_items(messages), ==, n);
  gui_settle(300);
  g_assert_cmpint(gtk_widget_get_height(header), ==, height);
  screenshot(GTK_WIDGET(window), "07d-broken-model");
  gtk_text_buffer_set_text(gtk_text_view_get_buffer(window->input), "", 0);

  /* Back to the demo model: the error goes, Send comes back. */
  gtk_drop_down_set_selected(window->model_dropdown, demo);
  wait_until(model_ready, NULL, "the demo model again");
  g_assert_false(gtk_revealer_get_reveal_child(window->error_revealer));
  g_assert_cmpint(g_unlink(config), ==, 0);
  g_assert_cmpint(g_rmdir(dir), ==, 0);
  wait_until(models_are, GUINT_TO_POINTER(1), "the removed model folder to go");
  wait_until(model_ready, NULL, "the demo model after the rescan");
}

/* Ctrl+V of an image: it becomes an attachment, saved as PNG among the stored images. */
static void test_paste(void)
{
  g_autofree char *path = g_build_filename(g_getenv("IVL_TEST_DATA"), "wide.png", NULL);
  g_autoptr(GdkTexture) texture = gdk_texture_new_from_filename(path, NULL);
  g_autoptr(IvlAttachment) pasted = NULL;

  g_assert_nonnull(texture);
  gdk_clipboard_set_texture(gtk_widget_get_clipboard(GTK_WIDGET(window->input)), texture);
  g_signal_emit_by_name(window->input, "paste-clipboard");
  wait_until(attachments_ready, GUINT_TO_POINTER(1), "the pasted image");
  pasted = g_list_model_get_item(G_LIST_MODEL(window->attachments), 0);
  g_assert_true(g_str_has_prefix(ivl_attachment_get_path(pasted),
                                 ivl_store_get_images_dir(window->store)));
  g_assert_true(g_str_has_suffix(ivl_attachment_get_path(pasted), ".png"));
  g_assert_cmpint(ivl_attachment_get_n_tiles(pasted), ==, 3);
  ivl_window_clear_attachments(window);
}

static void test_video(void)
{
  GtkWindow *dialog;

  attach_test_file("clip.mov");
  dialog = wait_for_toplevel(IVL_TYPE_VIDEO_DIALOG);
  wait_for_text(GTK_WIDGET(dialog), "8 frames");
  gui_settle(500);
  screenshot(GTK_WIDGET(dialog), "08-video-clip");
  /* Add: the clip becomes an attachment with its sampled frames. */
  g_signal_emit_by_name(gui_find_button(GTK_WIDGET(dialog), "_Add"), "clicked");
  wait_until(attachments_ready, GUINT_TO_POINTER(1), "the video attachment");
  wait_for_text(GTK_WIDGET(window->attachments_box), "8 frames");
  ivl_window_clear_attachments(window);
}

static void test_broken_video(void)
{
  GtkWindow *dialog;

  attach_test_file("broken.mp4");
  dialog = wait_for_toplevel(IVL_TYPE_VIDEO_DIALOG);
  wait_for_text(GTK_WIDGET(dialog), "This video cannot be");
  screenshot(GTK_WIDGET(dialog), "09-broken-video");
  gtk_window_destroy(dialog);
}

/* ---- the clip dialog (issue 14) ---------------------------------------------------------- */

static GtkWidget *find_widget(GtkWidget *widget, GType type, int nth)
{
  static int seen;
  if (nth >= 0)
    seen = nth;
  if (G_TYPE_CHECK_INSTANCE_TYPE(widget, type) && seen-- == 0)
    return widget;
  for (GtkWidget *c = gtk_widget_get_first_child(widget); c; c = gtk_widget_get_next_sibling(c)) {
    GtkWidget *found = find_widget(c, type, -1);
    if (found)
      return found;
  }
  return NULL;
}

/* The nth (from 0) widget of type under widget, depth first. */
static GtkWidget *nth_widget(GtkWidget *widget, GType type, int nth)
{
  return find_widget(widget, type, nth);
}

static IvlOrientedPaintable *clip_preview(GtkWindow *dialog)
{
  for (int i = 0;; i++) {
    GtkWidget *picture = nth_widget(GTK_WIDGET(dialog), GTK_TYPE_PICTURE, i);
    g_assert_nonnull(picture);
    GdkPaintable *p = gtk_picture_get_paintable(GTK_PICTURE(picture));
    if (IVL_IS_ORIENTED_PAINTABLE(p))
      return IVL_ORIENTED_PAINTABLE(p);
  }
}

static gboolean turned_upright(gpointer data)
{
  IvlOrientedPaintable *p = data;
  return ivl_oriented_paintable_get_orientation(p) == IVL_ORIENTATION_90R &&
         gdk_paintable_get_intrinsic_width(GDK_PAINTABLE(p)) > 0;
}

/* The start (0) or end (1) of the clip: the scales in the list of controls, not the
 * player's. */
static GtkAdjustment *clip_end(GtkWindow *dialog, int which)
{
  GtkWidget *controls = nth_widget(GTK_WIDGET(dialog), GTK_TYPE_LIST_BOX, 0);
  return gtk_range_get_adjustment(GTK_RANGE(nth_widget(controls, GTK_TYPE_SCALE, which)));
}

static GtkMediaStream *clip_stream(GtkWindow *dialog)
{
  GtkWidget *controls = nth_widget(GTK_WIDGET(dialog), GTK_TYPE_MEDIA_CONTROLS, 0);
  return gtk_media_controls_get_media_stream(GTK_MEDIA_CONTROLS(controls));
}

static gboolean duration_known(gpointer data)
{
  return gtk_adjustment_get_upper(clip_end(data, 1)) > 10;
}

typedef struct {
  GtkMediaStream *stream;
  gint64 at;
} SeekWait;

static gboolean seeked(gpointer data)
{
  SeekWait *w = data;
  return !gtk_media_stream_is_seeking(w->stream) &&
         llabs(gtk_media_stream_get_timestamp(w->stream) - w->at) < G_USEC_PER_SEC / 2;
}

static GtkWindow *clip_dialog; /* for the log of a failed wait */

static void print_dialog_labels(void)
{
  gui_print_labels(GTK_WIDGET(clip_dialog));
}

static void wait_for_dialog_text(GtkWindow *dialog, const char *text)
{
  GuiTextWait w = {GTK_WIDGET(dialog), text};
  clip_dialog = dialog;
  gui_wait_until(gui_text_shown, &w, text, WAIT_MS, print_dialog_labels);
}

static void wait_seeked(GtkWindow *dialog, double seconds)
{
  SeekWait w = {clip_stream(dialog), (gint64)(seconds * G_USEC_PER_SEC)};
  wait_until(seeked, &w, "the preview at the clip's start");
}

/* A phone video (a display matrix turning it a quarter clockwise) shows upright, as the model
 * gets its frames; the two ends of the clip, in m:ss, cannot cross; moving the start shows
 * the frame there; the dialog fits a 360 px window. */
static void test_clip_dialog(void)
{
  GtkWindow *dialog;
  IvlOrientedPaintable *preview;
  GtkAdjustment *start, *end;

  attach_test_file("rotated.mov");
  dialog = wait_for_toplevel(IVL_TYPE_VIDEO_DIALOG);
  preview = clip_preview(dialog);
  wait_until(turned_upright, preview, "the preview turned upright");
  /* Stored 160x96: shown 96 wide, 160 high. */
  g_assert_cmpint(gdk_paintable_get_intrinsic_width(GDK_PAINTABLE(preview)), ==, 96);
  g_assert_cmpint(gdk_paintable_get_intrinsic_height(GDK_PAINTABLE(preview)), ==, 160);
  wait_until(duration_known, dialog, "the video's duration");
  start = clip_end(dialog, 0);
  end = clip_end(dialog, 1);
  g_assert_cmpfloat(gtk_adjustment_get_value(end), ==, gtk_adjustment_get_upper(end));
  wait_for_dialog_text(dialog, "0:12");

  gtk_adjustment_set_value(start, 5);
  wait_seeked(dialog, 5);
  wait_for_dialog_text(dialog, "0:05");
  /* The end cannot pass the start, nor the start the end. */
  gtk_adjustment_set_value(end, 2);
  g_assert_cmpfloat(gtk_adjustment_get_value(end), >, gtk_adjustment_get_value(start));
  gtk_adjustment_set_value(end, 9);
  gtk_adjustment_set_value(start, 11);
  g_assert_cmpfloat(gtk_adjustment_get_value(start), <, gtk_adjustment_get_value(end));
  gtk_adjustment_set_value(start, 5);
  wait_seeked(dialog, 5);
  wait_for_dialog_text(dialog, "8 frames, 0:05–0:09");
  gui_settle(500);
  screenshot(GTK_WIDGET(dialog), "19-clip-upright");

  gtk_window_set_default_size(dialog, 360, 640);
  gui_settle(800);
  g_assert_cmpint(gtk_widget_get_width(GTK_WIDGET(dialog)), <=, 360);
  screenshot(GTK_WIDGET(dialog), "20-clip-narrow");

  g_signal_emit_by_name(gui_find_button(GTK_WIDGET(dialog), "_Add"), "clicked");
  wait_until(attachments_ready, GUINT_TO_POINTER(1), "the clip attachment");
  wait_for_text(GTK_WIDGET(window->attachments_box), "8 frames, 0:05–0:09");
  /* Named after the file chosen, not the stored copy; a click changes the clip. */
  g_assert_cmpstr(gtk_widget_get_tooltip_text(
                      gtk_widget_get_first_child(GTK_WIDGET(window->attachments_box))),
                  ==, "rotated.mov — click to change the clip");
}

/* Each of the eight orientation tags turns a 3x2 picture as GStreamer's videoflip turns the
 * frames the model gets (gstvideoflip.c: out(x, y) = in(...) below); drawn by the window's
 * renderer, pixel for pixel. */
static void test_orientations(void)
{
  static const char *const tags[] = {"rotate-0",      "rotate-90",       "rotate-180",
                                     "rotate-270",    "flip-rotate-0",   "flip-rotate-180",
                                     "flip-rotate-90", "flip-rotate-270"};
  const int W = 3, H = 2;
  guint32 in[2][3];

  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++)
      in[y][x] = 0xff000000u | (guint32)(40 + 60 * x) << 16 | (guint32)(50 + 100 * y) << 8 | 7;
  g_autoptr(GBytes) bytes = g_bytes_new(in, sizeof in);
  g_autoptr(GdkTexture) texture =
      gdk_memory_texture_new(W, H, GDK_MEMORY_DEFAULT, bytes, W * 4);

  for (guint t = 0; t < G_N_ELEMENTS(tags); t++) {
    IvlOrientation o = ivl_orientation_from_tag(tags[t]);
    gboolean swap = o == IVL_ORIENTATION_90R || o == IVL_ORIENTATION_90L ||
                    o == IVL_ORIENTATION_UL_LR || o == IVL_ORIENTATION_UR_LL;
    int w = swap ? H : W, h = swap ? W : H;
    g_autoptr(IvlOrientedPaintable) p = ivl_oriented_paintable_new(GDK_PAINTABLE(texture));
    GtkSnapshot *snapshot = gtk_snapshot_new();
    guint32 out[3][3];

    ivl_oriented_paintable_set_orientation(p, o);
    g_assert_cmpint(gdk_paintable_get_intrinsic_width(GDK_PAINTABLE(p)), ==, w);
    g_assert_cmpint(gdk_paintable_get_intrinsic_height(GDK_PAINTABLE(p)), ==, h);
    gdk_paintable_snapshot(GDK_PAINTABLE(p), snapshot, w, h);
    g_autoptr(GskRenderNode) node = gtk_snapshot_free_to_node(snapshot);
    g_autoptr(GdkTexture) drawn =
        gsk_renderer_render_texture(gtk_native_get_renderer(GTK_NATIVE(window)), node,
                                    &GRAPHENE_RECT_INIT(0, 0, w, h));
    gdk_texture_download(drawn, (guchar *)out, sizeof out[0]);
    for (int y = 0; y < h; y++)
      for (int x = 0; x < w; x++) {
        int sx, sy; /* the source pixel videoflip puts at (x, y) */
        switch (o) {
        case IVL_ORIENTATION_IDENTITY: sx = x; sy = y; break;
        case IVL_ORIENTATION_90R: sx = y; sy = H - 1 - x; break;
        case IVL_ORIENTATION_180: sx = W - 1 - x; sy = H - 1 - y; break;
        case IVL_ORIENTATION_90L: sx = W - 1 - y; sy = x; break;
        case IVL_ORIENTATION_HORIZ: sx = W - 1 - x; sy = y; break;
        case IVL_ORIENTATION_VERT: sx = x; sy = H - 1 - y; break;
        case IVL_ORIENTATION_UL_LR: sx = y; sy = x; break;
        default: sx = W - 1 - y; sy = H - 1 - x; break; /* UR_LL */
        }
        if (out[y][x] != in[sy][sx])
          g_error("%s: pixel (%d, %d) is %08x, videoflip gives %08x", tags[t], x, y, out[y][x],
                  in[sy][sx]);
      }
  }
  g_assert_true(ivl_orientation_from_tag(NULL) == IVL_ORIENTATION_IDENTITY);
  g_assert_true(ivl_orientation_from_tag("sideways") == IVL_ORIENTATION_IDENTITY);
}

static IvlAttachment *first_attachment(void)
{
  IvlAttachment *a = g_list_model_get_item(G_LIST_MODEL(window->attachments), 0);
  g_object_unref(a); /* the list keeps it */
  return a;
}

/* Clicking the waiting clip opens the dialog on it; what is chosen there replaces it. */
static void test_clip_reopen(void)
{
  GtkWidget *tile = gtk_widget_get_first_child(GTK_WIDGET(window->attachments_box));
  GtkWindow *dialog;
  double start, end;

  g_assert_true(IVL_IS_ATTACHMENT_TILE(tile));
  /* From a phone-sized window the dialog opens as wide as the window. */
  gtk_window_set_default_size(GTK_WINDOW(window), 360, 720);
  gui_settle(800);
  g_signal_emit_by_name(tile, "edit");
  dialog = wait_for_toplevel(IVL_TYPE_VIDEO_DIALOG);
  wait_until(duration_known, dialog, "the video's duration");
  gui_settle(300);
  g_assert_cmpint(gtk_widget_get_width(GTK_WIDGET(dialog)), <=, 360);
  g_assert_cmpfloat(gtk_adjustment_get_value(clip_end(dialog, 0)), ==, 5);
  g_assert_cmpfloat(gtk_adjustment_get_value(clip_end(dialog, 1)), ==, 9);
  wait_seeked(dialog, 5);
  gtk_spin_button_set_value(GTK_SPIN_BUTTON(nth_widget(GTK_WIDGET(dialog), GTK_TYPE_SPIN_BUTTON, 0)), 4);
  wait_for_dialog_text(dialog, "4 frames, 0:05–0:09");
  g_signal_emit_by_name(gui_find_button(GTK_WIDGET(dialog), "_Add"), "clicked");
  wait_for_text(GTK_WIDGET(window->attachments_box), "4 frames, 0:05–0:09");
  gtk_window_set_default_size(GTK_WINDOW(window), 960, 720);
  gui_settle(500);
  g_assert_cmpuint(g_list_model_get_n_items(G_LIST_MODEL(window->attachments)), ==, 1);
  g_assert_true(ivl_attachment_get_bounds(first_attachment(), &start, &end));
  g_assert_cmpfloat(start, ==, 5);
  g_assert_cmpfloat(end, ==, 9);
  g_assert_cmpint(ivl_attachment_get_n_frames(first_attachment()), ==, 4);
}

/* Sent, the clip shows as a video in the question: badge, frames and range. */
static void test_sent_video(void)
{
  GtkWidget *tile;

  type_and_send("What happens in this clip?");
  wait_until(answer_done, NULL, "the answer about the clip");
  wait_for_text(GTK_WIDGET(window->message_view), "4 frames, 0:05–0:09");
  tile = nth_widget(GTK_WIDGET(window->message_view), IVL_TYPE_ATTACHMENT_TILE, 0);
  g_assert_nonnull(tile);
  g_assert_true(gtk_widget_get_visible(nth_widget(tile, GTK_TYPE_IMAGE, 0)));
  g_assert_false(gtk_widget_get_visible(nth_widget(tile, GTK_TYPE_BUTTON, 0)));
  gui_settle(400);
  screenshot(GTK_WIDGET(window), "21-sent-video");
}

/* ---- a clean log (issue 14) ---------------------------------------------------------------- */

static void switch_to_conversation(int index)
{
  GtkListBoxRow *row = gtk_list_box_get_row_at_index(window->conversation_list, index);

  g_signal_emit_by_name(window->conversation_list, "row-activated", row);
  gui_settle(300);
}

/* The message list is scrolled, refilled and resized in the ways that can make GtkListView log
 * "failed to scroll to given position": following a streamed answer while the conversation
 * changes under it, a new conversation and back, a regenerated answer, the model list popped
 * up, a narrow window. Any warning ends the test (gui_fail_on_warnings). */
static void test_log_clean(void)
{
  GtkAdjustment *adj = gtk_scrolled_window_get_vadjustment(window->message_scroller);

  g_signal_emit_by_name(window->model_dropdown, "activate");
  gui_settle(400);
  gtk_widget_activate_action(GTK_WIDGET(window->model_dropdown), "popover.close", NULL);
  for (int i = 0; i < 3; i++) {
    type_and_send("One more question, to make the list longer than the window");
    wait_until(answer_done, NULL, "an answer");
  }
  gtk_adjustment_set_value(adj, 0);
  gui_settle(200);
  g_assert_true(gtk_widget_activate_action(GTK_WIDGET(window), "win.new-conversation", NULL));
  gui_settle(300);
  type_and_send("A first question");
  wait_until(answer_done, NULL, "an answer");
  switch_to_conversation(1);
  switch_to_conversation(0);
  g_assert_true(gtk_widget_activate_action(GTK_WIDGET(window), "win.regenerate", NULL));
  wait_until(answer_done, NULL, "the regenerated answer");

  /* Streaming while the person leaves for another conversation, or scrolls up. */
  g_setenv("IVL_FAKE_TOKEN_US", "100000", TRUE);
  switch_to_conversation(1);
  type_and_send("A slow answer");
  gui_settle(700);
  g_assert_true(gtk_widget_activate_action(GTK_WIDGET(window), "win.new-conversation", NULL));
  gui_settle(800);
  wait_until(answer_done, NULL, "the slow answer");
  switch_to_conversation(1);
  type_and_send("Another slow answer");
  gui_settle(700);
  gtk_adjustment_set_value(adj, 0);
  wait_until(answer_done, NULL, "the other slow answer");
  g_unsetenv("IVL_FAKE_TOKEN_US");

  gtk_window_set_default_size(GTK_WINDOW(window), 360, 720);
  gui_settle(600);
  gtk_window_set_default_size(GTK_WINDOW(window), 960, 720);
  gui_settle(600);
}

static void test_shortcuts(void)
{
  GtkWindow *help;

  g_assert_true(gtk_widget_activate_action(GTK_WIDGET(window), "win.show-help-overlay", NULL));
  help = wait_for_toplevel(GTK_TYPE_SHORTCUTS_WINDOW);
  screenshot(GTK_WIDGET(help), "10-shortcuts");
  gtk_window_destroy(help);
}

/* A new store, worker and window over the same data folder: what a restart reads back. */
static void test_restart(void)
{
  g_autofree char *id = g_strdup(ivl_conversation_get_id(window->conversation));
  g_autofree char *base = g_build_filename(data_home, "ivl", NULL);
  g_autoptr(GSettings) settings = g_settings_new("io.github.ivl.Chat");
  g_autoptr(IvlStore) store = ivl_store_new(base);
  g_autoptr(IvlWorker) worker = ivl_worker_new();
  g_autoptr(IvlMessage) first = NULL;
  g_autoptr(IvlMessage) answer = NULL;
  GListModel *messages;

  gtk_window_destroy(GTK_WINDOW(window));
  g_assert_true(ivl_store_load(store, NULL));
  window = ivl_window_new(GTK_APPLICATION(app), settings, store, worker);
  gtk_window_present(GTK_WINDOW(window));
  wait_until(model_ready, NULL, "the model after restart");
  g_assert_cmpstr(ivl_conversation_get_id(window->conversation), ==, id);
  messages = ivl_conversation_get_messages(window->conversation);
  /* Three turns, and the one cut at the length limit and continued. */
  g_assert_cmpuint(g_list_model_get_n_items(messages), ==, 8);
  first = g_list_model_get_item(messages, 0);
  g_assert_cmpuint(ivl_message_get_attachments(first)->len, ==, 2);
  g_assert_true(g_file_test(
      ivl_attachment_get_path(ivl_message_get_attachments(first)->pdata[0]), G_FILE_TEST_EXISTS));
  gui_settle(400);
  screenshot(GTK_WIDGET(window), "11-restored");

  /* The session is rebuilt from the saved turns: a follow-up sees all four. */
  type_and_send("One more question");
  wait_until(answer_done, NULL, "the answer after restart");
  answer = last_message();
  assert_answered(answer);
  if (!real_engine)
    g_assert_nonnull(strstr(ivl_message_get_text(answer), "(history: 4 turns)"));
}

static GtkWidget *last_of_type(GtkWidget *widget, GType type)
{
  GtkWidget *found = G_TYPE_CHECK_INSTANCE_TYPE(widget, type) && gtk_widget_get_mapped(widget)
                         ? widget
                         : NULL;

  for (GtkWidget *c = gtk_widget_get_first_child(widget); c; c = gtk_widget_get_next_sibling(c)) {
    GtkWidget *f = last_of_type(c, type);
    if (f)
      found = f;
  }
  return found;
}

/* The colour at (x, y) of widget as drawn, 0xRRGGBB. */
static guint32 pixel_at(GtkWidget *widget, int x, int y)
{
  int w = gtk_widget_get_width(widget), h = gtk_widget_get_height(widget);
  g_autoptr(GdkPaintable) paintable = gtk_widget_paintable_new(widget);
  GtkSnapshot *snapshot = gtk_snapshot_new();
  g_autoptr(GskRenderNode) node = NULL;
  g_autoptr(GdkTexture) texture = NULL;
  g_autofree guchar *pixels = g_malloc((gsize)w * h * 4);
  const guchar *p;

  gdk_paintable_snapshot(paintable, snapshot, w, h);
  node = gtk_snapshot_free_to_node(snapshot);
  texture = gsk_renderer_render_texture(gtk_native_get_renderer(gtk_widget_get_native(widget)),
                                        node, &GRAPHENE_RECT_INIT(0, 0, w, h));
  gdk_texture_download(texture, pixels, (gsize)w * 4);
  p = pixels + ((gsize)y * w + x) * 4; /* B, G, R, A in memory */
  return (guint32)p[2] << 16 | (guint32)p[1] << 8 | p[0];
}

static gboolean near_color(guint32 a, guint32 b)
{
  for (int shift = 0; shift <= 16; shift += 8)
    if (ABS((int)((a >> shift) & 0xff) - (int)((b >> shift) & 0xff)) > 24)
      return FALSE;
  return TRUE;
}

/* The last mapped widget under widget that has the CSS class name. */
static GtkWidget *last_with_class(GtkWidget *widget, const char *name)
{
  GtkWidget *found =
      gtk_widget_has_css_class(widget, name) && gtk_widget_get_mapped(widget) ? widget : NULL;

  for (GtkWidget *c = gtk_widget_get_first_child(widget); c; c = gtk_widget_get_next_sibling(c)) {
    GtkWidget *f = last_with_class(c, name);
    if (f)
      found = f;
  }
  return found;
}

/* The last mapped label under widget whose markup holds needle. */
static GtkLabel *label_with_markup(GtkWidget *widget, const char *needle)
{
  GtkLabel *found = GTK_IS_LABEL(widget) && gtk_widget_get_mapped(widget) &&
                            strstr(gtk_label_get_label(GTK_LABEL(widget)), needle)
                        ? GTK_LABEL(widget)
                        : NULL;

  for (GtkWidget *c = gtk_widget_get_first_child(widget); c; c = gtk_widget_get_next_sibling(c)) {
    GtkLabel *f = label_with_markup(c, needle);
    if (f)
      found = f;
  }
  return found;
}

/* What this process put on widget's clipboard, as text. */
static char *clipboard_text(GtkWidget *widget)
{
  GdkContentProvider *content = gdk_clipboard_get_content(gtk_widget_get_clipboard(widget));
  GValue value = G_VALUE_INIT;
  char *text;

  g_assert_nonnull(content);
  g_value_init(&value, G_TYPE_STRING);
  g_assert_true(gdk_content_provider_get_value(content, &value, NULL));
  text = g_value_dup_string(&value);
  g_value_unset(&value);
  return text;
}

static GtkEventController *find_controller(GtkWidget *widget, GType type)
{
  GListModel *controllers = gtk_widget_observe_controllers(widget);

  for (guint i = 0; i < g_list_model_get_n_items(controllers); i++) {
    g_autoptr(GtkEventController) c = g_list_model_get_item(controllers, i);
    if (G_TYPE_CHECK_INSTANCE_TYPE(c, type)) {
      g_object_unref(controllers);
      return c; /* the widget keeps it */
    }
  }
  g_object_unref(controllers);
  return NULL;
}

/* The answer's Markdown as widgets (issue 14, item 9): intra-word underscores kept, a link
 * that a click opens, a GFM table as a grid with a header row, a ```python block highlighted
 * with its language and a Copy button; a right-click on the message offers Copy Message. */
static void test_markdown(void)
{
  g_autoptr(IvlMessage) answer = last_message();
  g_autofree char *copied = NULL, *copied_message = NULL;
  GtkWidget *view = GTK_WIDGET(window->message_view), *code, *table, *row, *bubble, *cell;
  GtkSourceBuffer *buffer;
  GtkTextIter start, end;
  g_autofree char *shown_code = NULL;
  GtkLabel *link;
  GtkEventController *click;
  GtkWidget *popover;

  if (real_engine)
    return; /* random weights write no Markdown */
  gui_settle(300);
  code = last_of_type(view, IVL_TYPE_CODE_BLOCK);
  g_assert_nonnull(code);
  g_assert_true(gui_shows_text(code, "python"));
  buffer = GTK_SOURCE_BUFFER(
      gtk_text_view_get_buffer(GTK_TEXT_VIEW(last_of_type(code, GTK_SOURCE_TYPE_VIEW))));
  gtk_text_buffer_get_bounds(GTK_TEXT_BUFFER(buffer), &start, &end);
  shown_code = gtk_text_buffer_get_text(GTK_TEXT_BUFFER(buffer), &start, &end, FALSE);
  g_assert_cmpstr(shown_code, ==, "print(\"hello\")");
  g_assert_cmpstr(gtk_source_language_get_id(gtk_source_buffer_get_language(buffer)), ==,
                  "python3");
  g_assert_true(gtk_source_buffer_get_highlight_syntax(buffer));
  g_assert_cmpstr(gtk_source_style_scheme_get_id(gtk_source_buffer_get_style_scheme(buffer)), ==,
                  "Adwaita");
  adw_style_manager_set_color_scheme(adw_style_manager_get_default(),
                                     ADW_COLOR_SCHEME_FORCE_DARK);
  g_assert_cmpstr(gtk_source_style_scheme_get_id(gtk_source_buffer_get_style_scheme(buffer)), ==,
                  "Adwaita-dark");
  adw_style_manager_set_color_scheme(adw_style_manager_get_default(),
                                     ADW_COLOR_SCHEME_FORCE_LIGHT);

  screenshot(GTK_WIDGET(window), "05a-markdown");
  gtk_window_set_default_size(GTK_WINDOW(window), 360, 720);
  gui_settle(800);
  screenshot(GTK_WIDGET(window), "05b-markdown-narrow");
  gtk_window_set_default_size(GTK_WINDOW(window), 960, 720);
  gui_settle(800);

  g_signal_emit_by_name(last_of_type(code, GTK_TYPE_BUTTON), "clicked");
  copied = clipboard_text(code);
  g_assert_cmpstr(copied, ==, "print(\"hello\")");

  table = last_with_class(view, "md-table");
  g_assert_nonnull(table);
  g_assert_true(GTK_IS_GRID(table));
  cell = gtk_grid_get_child_at(GTK_GRID(table), 0, 0);
  g_assert_cmpstr(gtk_label_get_text(GTK_LABEL(cell)), ==, "Part");
  g_assert_true(gtk_widget_has_css_class(cell, "md-header"));
  cell = gtk_grid_get_child_at(GTK_GRID(table), 0, 2);
  g_assert_cmpstr(gtk_label_get_text(GTK_LABEL(cell)), ==, "photo_small");
  g_assert_true(gtk_widget_has_css_class(cell, "md-cell"));
  cell = gtk_grid_get_child_at(GTK_GRID(table), 1, 2);
  g_assert_cmpstr(gtk_label_get_text(GTK_LABEL(cell)), ==, "1");
  g_assert_cmpfloat(gtk_label_get_xalign(GTK_LABEL(cell)), ==, 1.0);

  link = label_with_markup(view, "<a href=\"https://internvl.github.io/\">the guide</a>");
  g_assert_nonnull(link);
  g_assert_true(gtk_label_get_use_markup(link));
  g_assert_true(gui_shows_text(GTK_WIDGET(link), "see tile 1 and the guide"));
  g_assert_nonnull(gtk_label_get_extra_menu(link));

  /* Where no text is, a right-click opens the message's own menu; Copy Message copies the
   * Markdown as written. */
  row = last_of_type(view, IVL_TYPE_MESSAGE_ROW);
  bubble = last_with_class(row, "message");
  click = find_controller(bubble, GTK_TYPE_GESTURE_CLICK);
  g_assert_nonnull(click);
  g_signal_emit_by_name(click, "pressed", 1, 3.0, 3.0);
  gui_settle(200);
  popover = last_of_type(row, GTK_TYPE_POPOVER_MENU);
  g_assert_nonnull(popover);
  g_assert_true(gtk_widget_get_visible(popover));
  screenshot(popover, "05c-message-menu");
  g_assert_true(gtk_widget_activate_action(popover, "message.copy", NULL));
  gtk_popover_popdown(GTK_POPOVER(popover));
  copied_message = clipboard_text(row);
  g_assert_cmpstr(copied_message, ==, ivl_message_get_text(answer));
  g_assert_nonnull(strstr(copied_message, "```python"));

  /* The Copy button under the answer still copies it whole. */
  gdk_clipboard_set_text(gtk_widget_get_clipboard(row), "something else");
  g_signal_emit_by_name(last_of_type(row, GTK_TYPE_BUTTON), "clicked");
  g_free(copied_message);
  copied_message = clipboard_text(row);
  g_assert_cmpstr(copied_message, ==, ivl_message_get_text(answer));
}

/* The child of a markdown view of this type, or NULL. */
static GtkWidget *child_of_type(GtkWidget *view, GType type)
{
  for (GtkWidget *c = gtk_widget_get_first_child(view); c; c = gtk_widget_get_next_sibling(c))
    if (G_TYPE_CHECK_INSTANCE_TYPE(c, type))
      return c;
  return NULL;
}

/* An answer streamed in character by character: once a block has its widget, that widget
 * grows (the code block's buffer, the table's grid once its delimiter row is whole) instead of
 * being made again; an open fence already shows as code. */
static void test_markdown_streaming(void)
{
  static const char answer[] = "Intro with a_b_c\n\n```c\nint a = 1 << 2;\nreturn a;\n```\n\n"
                               "| x | y |\n|---|---|\n| 1 | 2 |\n| 3 | 4 |\n\nEnd.";
  GtkWidget *view = g_object_ref_sink(ivl_markdown_view_new());
  GtkWidget *intro = NULL, *code = NULL, *grid = NULL;
  GtkTextBuffer *buffer;
  GtkTextIter start, end;
  g_autofree char *shown = NULL;

  for (gsize i = 1; i < sizeof answer; i++) {
    g_autofree char *prefix = g_strndup(answer, i);
    GtkWidget *first, *now_code, *now_grid;

    ivl_markdown_view_set_markdown(IVL_MARKDOWN_VIEW(view), prefix);
    first = gtk_widget_get_first_child(view);
    now_code = child_of_type(view, IVL_TYPE_CODE_BLOCK);
    now_grid = child_of_type(view, GTK_TYPE_GRID);
    g_assert_true(intro == NULL || first == intro);
    g_assert_true(code == NULL || now_code == code);
    intro = first;
    code = now_code;
    /* Before its delimiter row ends, a table comes and goes as md4c reads the row. */
    if (strstr(prefix, "|---|---|\n")) {
      g_assert_true(grid == NULL || now_grid == grid);
      grid = now_grid;
    }
    if (g_str_has_suffix(prefix, "\nint")) {
      /* The fence is still open. */
      GtkWidget *source = child_of_type(gtk_widget_get_last_child(code), GTK_SOURCE_TYPE_VIEW);
      GtkSourceBuffer *b = GTK_SOURCE_BUFFER(gtk_text_view_get_buffer(GTK_TEXT_VIEW(source)));
      g_assert_cmpstr(gtk_source_language_get_id(gtk_source_buffer_get_language(b)), ==, "c");
    }
  }
  g_assert_cmpstr(gtk_label_get_text(GTK_LABEL(intro)), ==, "Intro with a_b_c");
  buffer = gtk_text_view_get_buffer(
      GTK_TEXT_VIEW(child_of_type(gtk_widget_get_last_child(code), GTK_SOURCE_TYPE_VIEW)));
  gtk_text_buffer_get_bounds(buffer, &start, &end);
  shown = gtk_text_buffer_get_text(buffer, &start, &end, FALSE);
  g_assert_cmpstr(shown, ==, "int a = 1 << 2;\nreturn a;");
  g_assert_cmpstr(gtk_label_get_text(GTK_LABEL(gtk_grid_get_child_at(GTK_GRID(grid), 1, 2))), ==,
                  "4");
  g_assert_cmpstr(gtk_label_get_text(GTK_LABEL(gtk_widget_get_last_child(view))), ==, "End.");
  ivl_markdown_view_set_markdown(IVL_MARKDOWN_VIEW(view), "");
  g_assert_null(gtk_widget_get_first_child(view));
  g_object_unref(view);
}

/* Every kind of block at once, for the eye: headings, lists (nested, numbered, tasks), a
 * quote, a rule, a long code line that wraps, a table with an inline code cell. */
static void test_markdown_blocks(void)
{
  static const char markdown[] =
      "# Heading one\n## Heading two\n### Heading three\n\n"
      "A paragraph with **bold**, *italic*, ~~struck~~, `code`, a_snake_name and a link to "
      "<https://example.org/a_b>.\n\n"
      "- first item\n- second item\n  - nested item\n    1. numbered inside\n"
      "- [ ] a task\n- [x] a done task\n\n"
      "3. three\n4. four\n\n"
      "> A quote that runs long enough to wrap onto a second line in a narrow message.\n\n"
      "---\n\n"
      "```sh\nfor f in *.png; do convert \"$f\" -resize 50% \"small-$f\"; done  # a long line "
      "that wraps\n```\n\n"
      "| Model | Params | Note |\n|:--|--:|:-:|\n| InternVL3-1B | 0.9 B | `int8` fits |\n"
      "| InternVL3-78B | 78 B | needs a large GPU |";
  GtkWidget *win = gtk_window_new();
  GtkWidget *view = ivl_markdown_view_new();
  GtkWidget *code;
  int min_height;

  gtk_widget_add_css_class(view, "message");
  ivl_markdown_view_set_markdown(IVL_MARKDOWN_VIEW(view), markdown);
  gtk_window_set_child(GTK_WINDOW(win), view);
  gtk_window_set_default_size(GTK_WINDOW(win), 480, -1);
  gtk_window_present(GTK_WINDOW(win));
  gui_settle(500);
  g_assert_nonnull(last_with_class(view, "title-2"));
  g_assert_nonnull(last_with_class(view, "md-quote"));
  g_assert_nonnull(last_of_type(view, GTK_TYPE_SEPARATOR));
  g_assert_true(gui_shows_text(view, "☑"));
  g_assert_true(gui_shows_text(view, "a_snake_name"));
  /* The code is as high as its wrapped lines, also when it was set before it was shown. */
  code = last_of_type(view, GTK_SOURCE_TYPE_VIEW);
  gtk_widget_measure(code, GTK_ORIENTATION_VERTICAL, gtk_widget_get_width(code), &min_height, NULL,
                     NULL, NULL);
  g_assert_cmpint(min_height, >, 40); /* two lines */
  g_assert_cmpint(gtk_widget_get_height(code), >=, min_height);
  /* The label the window focused first has all its text selected: not for the picture. */
  if (GTK_IS_LABEL(gtk_root_get_focus(GTK_ROOT(win))))
    gtk_label_select_region(GTK_LABEL(gtk_root_get_focus(GTK_ROOT(win))), 0, 0);
  screenshot(win, "05d-markdown-blocks");
  gtk_window_destroy(GTK_WINDOW(win));
}

/* Find Objects asks InternVL's grounding question; the answer's boxes are drawn on the image
 * at the coordinates it gives (0-1000 of the image), and the text shows the label. */
static void test_grounding(void)
{
  GtkTextBuffer *buffer = gtk_text_view_get_buffer(window->input);
  GtkTextIter start, end;
  g_autofree char *asked = NULL;
  g_autoptr(IvlMessage) answer = NULL;
  GtkWidget *boxed;
  GtkWindow *viewer;
  graphene_rect_t r;

  attach_test_file("wide.png");
  wait_until(attachments_ready, GUINT_TO_POINTER(1), "the image to find objects in");
  g_assert_true(gtk_widget_activate_action(GTK_WIDGET(window), "win.find-objects", NULL));
  gtk_text_buffer_insert_at_cursor(buffer, "the red square", -1);
  gtk_text_buffer_get_bounds(buffer, &start, &end);
  asked = gtk_text_buffer_get_text(buffer, &start, &end, FALSE);
  g_assert_cmpstr(asked, ==,
                  "Please provide the bounding box coordinate of the region this sentence "
                  "describes: <ref>the red square</ref>");
  g_assert_true(gtk_widget_activate_action(GTK_WIDGET(window), "win.send", NULL));
  wait_until(answer_done, NULL, "the grounding answer");
  if (real_engine)
    return; /* random weights give no boxes */
  answer = last_message();
  g_assert_nonnull(strstr(ivl_message_get_text(answer), "<box>"));
  gui_settle(500);
  /* The label replaces the tags in the text. */
  wait_for_text(GTK_WIDGET(window->message_view), "Image-1: the red square");
  g_assert_false(gui_shows_text(GTK_WIDGET(window->message_view), "<box>"));

  boxed = last_of_type(GTK_WIDGET(window->message_view), IVL_TYPE_BOXED_IMAGE);
  g_assert_nonnull(boxed);
  ivl_boxed_image_get_image_rect(IVL_BOXED_IMAGE(boxed), &r);
  /* wide.png is 896x448, drawn 420 wide. Box [[100, 200, 400, 800]]: its left edge at x 42,
   * from y 42 to 168; its inside keeps the image with a light tint. */
  g_assert_cmpfloat_with_epsilon(r.size.width, 420, 0.5);
  g_assert_cmpfloat_with_epsilon(r.size.height, 210, 0.5);
  g_assert_true(near_color(pixel_at(boxed, (int)(r.origin.x + 43), (int)(r.origin.y + 105)),
                           0xe01b24));
  g_assert_true(near_color(pixel_at(boxed, (int)(r.origin.x + 105), (int)(r.origin.y + 167)),
                           0xe01b24));
  /* Second box of the same ref [[600, 100, 900, 500]]: right edge at x 378, same colour. */
  g_assert_true(near_color(pixel_at(boxed, (int)(r.origin.x + 377), (int)(r.origin.y + 60)),
                           0xe01b24));
  /* Outside every box the image is untouched. */
  g_assert_false(near_color(pixel_at(boxed, (int)(r.origin.x + 200), (int)(r.origin.y + 190)),
                            0xe01b24));
  screenshot(GTK_WIDGET(window), "12-grounding");

  /* A click opens it large, boxes included. */
  for (guint i = 0;; i++) {
    g_autoptr(GtkEventController) c =
        g_list_model_get_item(gtk_widget_observe_controllers(boxed), i);
    g_assert_nonnull(c);
    if (GTK_IS_GESTURE_CLICK(c)) {
      g_signal_emit_by_name(c, "released", 1, 10.0, 10.0);
      break;
    }
  }
  viewer = wait_for_toplevel(IVL_TYPE_IMAGE_VIEWER);
  gtk_window_set_default_size(viewer, 900, 600);
  gui_settle(400);
  g_assert_nonnull(last_of_type(GTK_WIDGET(viewer), IVL_TYPE_BOXED_IMAGE));
  screenshot(GTK_WIDGET(viewer), "13-image-viewer");
  g_assert_true(gtk_widget_activate_action(GTK_WIDGET(viewer), "viewer.zoom-in", NULL));
  gui_settle(200);
  gtk_window_destroy(viewer);
}

static guint n_conversations(void)
{
  return g_list_model_get_n_items(ivl_store_get_conversations(window->store));
}

static gboolean saved_file_exists(const char *id)
{
  g_autofree char *name = g_strconcat(id, ".json", NULL);
  g_autofree char *path = g_build_filename(data_home, "ivl", "conversations", name, NULL);

  return g_file_test(path, G_FILE_TEST_EXISTS);
}

/* New conversations reuse an empty one; one is renamed, deleted, brought back with Undo, and
 * deleted for good when the toast goes. */
static void test_conversations(void)
{
  guint n = n_conversations();
  g_autofree char *id = NULL;
  g_autofree char *path = NULL;
  g_autofree char *saved = NULL;
  GtkWindow *dialog;

  g_assert_true(gtk_widget_activate_action(GTK_WIDGET(window), "win.new-conversation", NULL));
  g_assert_cmpuint(n_conversations(), ==, n + 1);
  g_assert_true(gtk_widget_activate_action(GTK_WIDGET(window), "win.new-conversation", NULL));
  g_assert_cmpuint(n_conversations(), ==, n + 1);
  /* Elsewhere and back: still the same empty one. */
  gtk_list_box_select_row(window->conversation_list,
                          gtk_list_box_get_row_at_index(window->conversation_list, 1));
  g_assert_true(gtk_widget_activate_action(GTK_WIDGET(window), "win.new-conversation", NULL));
  g_assert_cmpuint(n_conversations(), ==, n + 1);
  g_assert_cmpuint(
      g_list_model_get_n_items(ivl_conversation_get_messages(window->conversation)), ==, 0);

  type_and_send("A second conversation");
  wait_until(answer_done, NULL, "the answer in the second conversation");
  id = g_strdup(ivl_conversation_get_id(window->conversation));

  g_assert_true(gtk_widget_activate_action(GTK_WIDGET(window), "win.rename-conversation", "s",
                                           id));
  dialog = wait_for_toplevel(ADW_TYPE_MESSAGE_DIALOG);
  gtk_editable_set_text(GTK_EDITABLE(adw_message_dialog_get_extra_child(
                            ADW_MESSAGE_DIALOG(dialog))),
                        "Holiday photos");
  screenshot(GTK_WIDGET(dialog), "14-rename");
  adw_message_dialog_response(ADW_MESSAGE_DIALOG(dialog), "rename");
  gui_settle(200);
  g_assert_cmpstr(ivl_conversation_get_title(window->conversation), ==, "Holiday photos");
  {
    g_autofree char *name = g_strconcat(id, ".json", NULL);
    path = g_build_filename(data_home, "ivl", "conversations", name, NULL);
  }
  g_assert_true(g_file_get_contents(path, &saved, NULL, NULL));
  g_assert_nonnull(strstr(saved, "\"title\" : \"Holiday photos\""));
  gui_settle(200);
  screenshot(GTK_WIDGET(window), "15-conversations");

  g_assert_true(gtk_widget_activate_action(GTK_WIDGET(window), "win.delete-conversation", "s",
                                           id));
  g_assert_cmpuint(n_conversations(), ==, n);
  g_assert_cmpstr(ivl_conversation_get_id(window->conversation), !=, id);
  wait_for_text(GTK_WIDGET(window->toast_overlay), "Conversation deleted");
  /* Undo at once, while the toast still slides in: libadwaita 1.2 would crash if it were
   * dismissed then (the window waits for the end of its show animation). */
  g_assert_true(gtk_widget_activate_action(GTK_WIDGET(window), "win.undo-delete", NULL));
  g_assert_cmpuint(n_conversations(), ==, n + 1);
  g_assert_cmpstr(ivl_conversation_get_id(window->conversation), ==, id);
  g_assert_cmpstr(ivl_conversation_get_title(window->conversation), ==, "Holiday photos");
  g_assert_true(saved_file_exists(id));

  /* Deleting right after an undo (the first toast still going away). */
  g_assert_true(gtk_widget_activate_action(GTK_WIDGET(window), "win.delete-conversation", "s",
                                           id));
  gui_settle(300);
  screenshot(GTK_WIDGET(window), "16-deleted");
  /* Its time runs out (libadwaita itself dismisses it, once shown). */
  gui_settle(700);
  adw_toast_dismiss(window->undo_toast);
  gui_settle(200);
  g_assert_false(saved_file_exists(id));
  g_assert_cmpuint(n_conversations(), ==, n);
}

/* At 360 px the sidebar folds over the conversation and a chosen conversation closes it. */
static void test_narrow(void)
{
  GtkListBoxRow *row;

  gtk_window_set_default_size(GTK_WINDOW(window), 360, 720);
  gui_settle(800);
  g_assert_cmpint(gtk_widget_get_width(GTK_WIDGET(window)), <=, 360);
  g_assert_true(adw_flap_get_folded(window->flap));
  adw_flap_set_reveal_flap(window->flap, FALSE);
  gui_settle(500);
  screenshot(GTK_WIDGET(window), "17-narrow");
  adw_flap_set_reveal_flap(window->flap, TRUE);
  gui_settle(500);
  screenshot(GTK_WIDGET(window), "18-narrow-sidebar");
  row = gtk_list_box_get_row_at_index(window->conversation_list, 0);
  g_signal_emit_by_name(window->conversation_list, "row-activated", row);
  g_assert_false(adw_flap_get_reveal_flap(window->flap));
  gtk_window_set_default_size(GTK_WINDOW(window), 960, 720);
  gui_settle(500);
}

#ifndef IVL_TEST_REAL_ENGINE
extern int fake_ivl_turns_added; /* fake-ivl.c: turns put back into a session */
#define TURNS_ADDED fake_ivl_turns_added
#else
#define TURNS_ADDED 0 /* not counted by libivl */
#endif

/* The row showing message, while it is on screen. */
static IvlMessageRow *find_row(GtkWidget *widget, IvlMessage *message)
{
  if (IVL_IS_MESSAGE_ROW(widget) &&
      ivl_message_row_get_message(IVL_MESSAGE_ROW(widget)) == message)
    return IVL_MESSAGE_ROW(widget);
  for (GtkWidget *c = gtk_widget_get_first_child(widget); c; c = gtk_widget_get_next_sibling(c)) {
    IvlMessageRow *row = find_row(c, message);
    if (row)
      return row;
  }
  return NULL;
}

static IvlMessage *message_at(guint i)
{
  return g_list_model_get_item(ivl_conversation_get_messages(window->conversation), i);
}

static char *saved_conversation(void)
{
  g_autofree char *name = g_strconcat(ivl_conversation_get_id(window->conversation), ".json",
                                      NULL);
  g_autofree char *path = g_build_filename(data_home, "ivl", "conversations", name, NULL);
  char *saved = NULL;

  g_assert_true(g_file_get_contents(path, &saved, NULL, NULL));
  return saved;
}

/* Regenerate keeps the earlier answer: a pager ‹ 2/2 › pages back to it, the choice is saved
 * (a store read afresh, as after a restart, has both and the choice), and the next question
 * continues from the answer chosen. The session is cut back, not rebuilt. */
static void test_alternatives(void)
{
  g_autoptr(IvlMessage) answer = NULL;
  g_autofree char *first = NULL;
  g_autofree char *second = NULL;
  g_autofree char *saved = NULL;
  IvlMessageRow *row;
  int added;

  g_assert_true(gtk_widget_activate_action(GTK_WIDGET(window), "win.new-conversation", NULL));
  type_and_send("Which colour is the sky?");
  wait_until(answer_done, NULL, "the first answer");
  type_and_send("Why?");
  wait_until(answer_done, NULL, "the second answer");
  answer = last_message();
  first = g_strdup(ivl_message_get_text(answer));
  g_assert_cmpuint(ivl_message_get_n_alternatives(answer), ==, 1);
  added = TURNS_ADDED;

  g_assert_true(gtk_widget_activate_action(GTK_WIDGET(window), "win.regenerate", NULL));
  wait_until(answer_done, NULL, "the regenerated answer");
  assert_answered(answer);
  g_assert_cmpuint(g_list_model_get_n_items(ivl_conversation_get_messages(window->conversation)),
                   ==, 4);
  g_assert_cmpuint(ivl_message_get_n_alternatives(answer), ==, 2);
  g_assert_cmpuint(ivl_message_get_alternative(answer), ==, 1);
  second = g_strdup(ivl_message_get_text(answer));
  if (!real_engine) {
    g_assert_nonnull(strstr(second, "**Turn 2** (history: 1 turns)"));
    g_assert_nonnull(strstr(second, ", sampled."));
    g_assert_cmpint(TURNS_ADDED, ==, added); /* the first turn stayed in the session */
  }
  gui_settle(400);
  row = find_row(GTK_WIDGET(window->message_view), answer);
  g_assert_nonnull(row);
  wait_for_text(GTK_WIDGET(row), "2/2");
  screenshot(GTK_WIDGET(window), "19-alternatives");

  g_assert_true(gtk_widget_activate_action(GTK_WIDGET(row), "message.previous-answer", NULL));
  g_assert_cmpuint(ivl_message_get_alternative(answer), ==, 0);
  g_assert_cmpstr(ivl_message_get_text(answer), ==, first);
  wait_for_text(GTK_WIDGET(row), "1/2");
  /* The first has no previous one. */
  gtk_widget_activate_action(GTK_WIDGET(row), "message.previous-answer", NULL);
  g_assert_cmpuint(ivl_message_get_alternative(answer), ==, 0);
  saved = saved_conversation();
  g_assert_nonnull(strstr(saved, "\"chosen\" : 0"));
  {
    g_autofree char *base = g_build_filename(data_home, "ivl", NULL);
    g_autoptr(IvlStore) store = ivl_store_new(base);
    GListModel *list = ivl_store_get_conversations(store);
    g_autoptr(IvlConversation) c = NULL;
    g_autoptr(IvlMessage) restored = NULL;

    ivl_store_load(store, NULL);
    for (guint i = 0; i < g_list_model_get_n_items(list) && c == NULL; i++) {
      g_autoptr(IvlConversation) other = g_list_model_get_item(list, i);
      if (g_str_equal(ivl_conversation_get_id(other),
                      ivl_conversation_get_id(window->conversation)))
        c = g_steal_pointer(&other);
    }
    g_assert_nonnull(c);
    restored = g_list_model_get_item(ivl_conversation_get_messages(c), 3);
    g_assert_cmpuint(ivl_message_get_n_alternatives(restored), ==, 2);
    g_assert_cmpuint(ivl_message_get_alternative(restored), ==, 0);
    g_assert_cmpstr(ivl_message_get_text(restored), ==, first);
    ivl_message_choose_alternative(restored, 1);
    g_assert_cmpstr(ivl_message_get_text(restored), ==, second);
  }

  /* The follow-up's history holds the first answer again: that turn is put back. */
  added = TURNS_ADDED;
  type_and_send("And at night?");
  wait_until(answer_done, NULL, "the answer after paging");
  if (!real_engine) {
    g_autoptr(IvlMessage) third = last_message();
    g_assert_nonnull(strstr(ivl_message_get_text(third), "**Turn 3** (history: 2 turns)"));
    g_assert_cmpint(TURNS_ADDED, ==, added + 1);
  }
}

/* Edit on an earlier question puts it back in the composer; sending replaces it and all
 * after it, and the session keeps the turns before it. Cancel leaves everything as it was. */
static void test_edit_resend(void)
{
  g_autoptr(IvlMessage) first = message_at(0);
  g_autoptr(IvlMessage) question = message_at(2);
  g_autoptr(IvlMessage) answer = NULL;
  GtkTextBuffer *buffer = gtk_text_view_get_buffer(window->input);
  GtkTextIter start, end;
  g_autofree char *text = NULL;
  IvlMessageRow *row;
  int added;

  gui_settle(300);
  row = find_row(GTK_WIDGET(window->message_view), first);
  g_assert_nonnull(row);
  g_assert_true(gtk_widget_activate_action(GTK_WIDGET(row), "message.edit", NULL));
  g_assert_true(gtk_revealer_get_reveal_child(window->edit_revealer));
  g_assert_true(gtk_widget_activate_action(GTK_WIDGET(window), "win.cancel-edit", NULL));
  g_assert_false(gtk_revealer_get_reveal_child(window->edit_revealer));
  g_assert_cmpint(gtk_text_buffer_get_char_count(buffer), ==, 0);
  g_assert_cmpuint(g_list_model_get_n_items(ivl_conversation_get_messages(window->conversation)),
                   ==, 6);

  row = find_row(GTK_WIDGET(window->message_view), question);
  g_assert_nonnull(row);
  g_assert_true(gtk_widget_activate_action(GTK_WIDGET(row), "message.edit", NULL));
  gtk_text_buffer_get_bounds(buffer, &start, &end);
  text = gtk_text_buffer_get_text(buffer, &start, &end, FALSE);
  g_assert_cmpstr(text, ==, "Why?");
  gtk_text_buffer_insert(buffer, &end, " Tell me in one line.", -1);
  gui_settle(400);
  screenshot(GTK_WIDGET(window), "20-editing");

  added = TURNS_ADDED;
  g_assert_true(gtk_widget_activate_action(GTK_WIDGET(window), "win.send", NULL));
  g_assert_false(gtk_revealer_get_reveal_child(window->edit_revealer));
  wait_until(answer_done, NULL, "the answer to the edited question");
  g_assert_cmpuint(g_list_model_get_n_items(ivl_conversation_get_messages(window->conversation)),
                   ==, 4);
  g_clear_object(&question);
  question = message_at(2);
  g_assert_cmpstr(ivl_message_get_text(question), ==, "Why? Tell me in one line.");
  answer = last_message();
  assert_answered(answer);
  g_assert_cmpuint(ivl_message_get_n_alternatives(answer), ==, 1);
  if (!real_engine) {
    g_assert_nonnull(strstr(ivl_message_get_text(answer), "**Turn 2** (history: 1 turns)"));
    g_assert_cmpint(TURNS_ADDED, ==, added); /* the first turn was kept, not rebuilt */
  }
  gui_settle(400);
  screenshot(GTK_WIDGET(window), "21-edited");
}

static guint n_rows_shown(void)
{
  guint n = 0;

  for (int i = 0;; i++) {
    GtkListBoxRow *row = gtk_list_box_get_row_at_index(window->conversation_list, i);
    if (row == NULL)
      return n;
    n += gtk_widget_get_visible(GTK_WIDGET(row));
  }
}

static void search_for(const char *text)
{
  gtk_editable_set_text(GTK_EDITABLE(window->search_entry), text);
  /* A search entry tells of a change after a short pause. */
  gui_settle(400);
}

/* Ctrl+F opens a search over the conversation list: titles and message text, any case, all
 * words; closing it shows every conversation again. */
static void test_search(void)
{
  guint n = n_conversations();

  g_assert_cmpuint(n, >=, 2);
  g_assert_true(gtk_widget_activate_action(GTK_WIDGET(window), "win.search", NULL));
  g_assert_true(gtk_search_bar_get_search_mode(window->search_bar));
  /* The demo model's random answers may hold any word too: with it, at least these rows. */
  search_for("COLOUR");
  g_assert_cmpuint(n_rows_shown(), >=, 2); /* a title, and a question */
  g_assert_true(real_engine || n_rows_shown() == 2);
  search_for("one line");
  g_assert_cmpuint(n_rows_shown(), >=, 1); /* only the edited question has both */
  g_assert_true(real_engine || n_rows_shown() == 1);
  gui_settle(200);
  screenshot(GTK_WIDGET(window), "22-search");
  search_for("xyzzy");
  g_assert_cmpuint(n_rows_shown(), ==, 0);
  wait_for_text(GTK_WIDGET(window->conversation_list), "No conversation matches");
  g_assert_true(gtk_widget_activate_action(GTK_WIDGET(window), "win.search", NULL));
  g_assert_false(gtk_search_bar_get_search_mode(window->search_bar));
  g_assert_cmpstr(gtk_editable_get_text(GTK_EDITABLE(window->search_entry)), ==, "");
  g_assert_cmpuint(n_rows_shown(), ==, n);
  /* The sidebar keeps its width: the entry fills it but does not widen it. */
  g_assert_cmpint(gtk_widget_get_width(GTK_WIDGET(window->search_bar)), <, 300);
}

/* The conversation whose first question has images. */
static IvlConversation *conversation_with_images(void)
{
  GListModel *list = ivl_store_get_conversations(window->store);

  for (guint i = 0; i < g_list_model_get_n_items(list); i++) {
    g_autoptr(IvlConversation) c = g_list_model_get_item(list, i);
    g_autoptr(IvlMessage) first = g_list_model_get_item(ivl_conversation_get_messages(c), 0);
    if (first && ivl_message_get_attachments(first)->len > 0)
      return g_steal_pointer(&c);
  }
  return NULL;
}

static void assert_same_file(const char *a, const char *b)
{
  g_autofree char *da = NULL;
  g_autofree char *db = NULL;
  gsize la, lb;

  g_assert_true(g_file_get_contents(a, &da, &la, NULL));
  g_assert_true(g_file_get_contents(b, &db, &lb, NULL));
  g_assert_cmpmem(da, la, db, lb);
}

static void wait_for_export(const char *path)
{
  g_autofree char *name = g_path_get_basename(path);
  g_autofree char *toast = g_strdup_printf("Exported to “%s”", name);

  wait_for_text(GTK_WIDGET(window->toast_overlay), toast);
  g_assert_true(g_file_test(path, G_FILE_TEST_IS_REGULAR));
}

/* Export from the conversation's menu asks where (a file chooser named after the title);
 * Markdown gets its images copied into a folder beside it, JSON (OpenAI chat format) has
 * them embedded, byte for byte. */
static void test_export(void)
{
  g_autoptr(IvlConversation) c = conversation_with_images();
  g_autoptr(IvlMessage) first = NULL;
  g_autofree char *dir = g_build_filename(data_home, "exports", NULL);
  g_autofree char *md = g_build_filename(dir, "Pictures & more.md", NULL);
  g_autofree char *json = g_build_filename(dir, "pictures.json", NULL);
  g_autofree char *text = NULL;
  g_autoptr(JsonParser) parser = json_parser_new();
  IvlAttachment *image;
  GtkWindow *chooser;

  g_assert_nonnull(c);
  first = g_list_model_get_item(ivl_conversation_get_messages(c), 0);
  image = ivl_message_get_attachments(first)->pdata[0];
  g_assert_true(gtk_widget_activate_action(GTK_WIDGET(window), "win.export-markdown", "s",
                                           ivl_conversation_get_id(c)));
  chooser = wait_for_toplevel(GTK_TYPE_FILE_CHOOSER_DIALOG);
  g_assert_cmpstr(gtk_file_chooser_get_current_name(GTK_FILE_CHOOSER(chooser)), ==,
                  "What is in these pictures?.md");
  screenshot(GTK_WIDGET(chooser), "23-export-chooser");
  gtk_dialog_response(GTK_DIALOG(chooser), GTK_RESPONSE_CANCEL);
  gui_settle(200);

  g_mkdir_with_parents(dir, 0700);
  ivl_window_export_to(window, c, IVL_EXPORT_MARKDOWN, md);
  wait_for_export(md);
  g_assert_true(g_file_get_contents(md, &text, NULL, NULL));
  g_assert_true(g_str_has_prefix(
      text, "# What is in these pictures?\n\n## You\n\n![Image](<Pictures & more-files/"));
  g_assert_nonnull(strstr(text, "What is in these pictures?\n\n## Assistant\n\n"));
  {
    g_autofree char *name = g_path_get_basename(ivl_attachment_get_path(image));
    g_autofree char *copy = g_build_filename(dir, "Pictures & more-files", name, NULL);
    assert_same_file(ivl_attachment_get_path(image), copy);
  }

  ivl_window_export_to(window, c, IVL_EXPORT_JSON, json);
  wait_for_export(json);
  g_assert_true(json_parser_load_from_file(parser, json, NULL));
  {
    JsonObject *root = json_node_get_object(json_parser_get_root(parser));
    JsonArray *messages = json_object_get_array_member(root, "messages");
    JsonObject *q = json_array_get_object_element(messages, 0);
    JsonObject *a = json_array_get_object_element(messages, 1);
    JsonArray *parts = json_object_get_array_member(q, "content");
    JsonObject *part = json_array_get_object_element(parts, 0);
    const char *url = json_object_get_string_member(
        json_object_get_object_member(part, "image_url"), "url");
    g_autofree char *stored = NULL;
    g_autofree guchar *decoded = NULL;
    gsize n_stored, n_decoded;

    g_assert_cmpstr(json_object_get_string_member(root, "title"), ==,
                    "What is in these pictures?");
    g_assert_cmpstr(json_object_get_string_member(q, "role"), ==, "user");
    g_assert_cmpuint(json_array_get_length(parts), ==, 3); /* two images, the text */
    g_assert_cmpstr(json_object_get_string_member(part, "type"), ==, "image_url");
    /* The two images arrive in either order: whichever is first, as PNG or JPEG. */
    g_assert_true(g_str_has_prefix(url, "data:image/png;base64,") ||
                  g_str_has_prefix(url, "data:image/jpeg;base64,"));
    decoded = g_base64_decode(strstr(url, ";base64,") + strlen(";base64,"), &n_decoded);
    g_assert_true(g_file_get_contents(ivl_attachment_get_path(image), &stored, &n_stored, NULL));
    g_assert_cmpmem(decoded, n_decoded, stored, n_stored);
    g_assert_cmpstr(json_object_get_string_member(
                        json_array_get_object_element(parts, 2), "text"), ==,
                    "What is in these pictures?");
    g_assert_cmpstr(json_object_get_string_member(a, "role"), ==, "assistant");
    g_assert_cmpstr(json_object_get_string_member(a, "content"), !=, "");
  }
}

static GtkTextView *find_text_view(GtkWidget *widget)
{
  if (GTK_IS_TEXT_VIEW(widget))
    return GTK_TEXT_VIEW(widget);
  for (GtkWidget *c = gtk_widget_get_first_child(widget); c; c = gtk_widget_get_next_sibling(c)) {
    GtkTextView *found = find_text_view(c);
    if (found)
      return found;
  }
  return NULL;
}

/* A second model: a copy of the demo model's files. */
static char *copy_demo_model(const char *name)
{
  g_autofree char *from = g_build_filename(data_home, "ivl", "models", "ivl-demo-tiny", NULL);
  char *to = g_build_filename(data_home, "ivl", "models", name, NULL);
  g_autoptr(GDir) dir = g_dir_open(from, 0, NULL);
  const char *file;

  g_assert_nonnull(dir);
  g_mkdir_with_parents(to, 0700);
  while ((file = g_dir_read_name(dir))) {
    g_autofree char *a = g_build_filename(from, file, NULL);
    g_autofree char *b = g_build_filename(to, file, NULL);
    g_autoptr(GFile) fa = g_file_new_for_path(a);
    g_autoptr(GFile) fb = g_file_new_for_path(b);
    g_assert_true(g_file_copy(fa, fb, G_FILE_COPY_NONE, NULL, NULL, NULL, NULL));
  }
  return to;
}

static void show_conversation_row(IvlConversation *c)
{
  guint pos;

  g_assert_true(g_list_store_find(G_LIST_STORE(ivl_store_get_conversations(window->store)), c,
                                  &pos));
  gtk_list_box_select_row(window->conversation_list,
                          gtk_list_box_get_row_at_index(window->conversation_list, (int)pos));
  g_assert_true(window->conversation == c);
}

/* A conversation's own system prompt and model (its settings window): the model loads when
 * the conversation is shown, the other conversation keeps its own, and new conversations
 * follow the preference. */
static void test_conversation_settings(void)
{
  g_autofree char *copy = copy_demo_model("ivl-demo-copy");
  g_autoptr(IvlConversation) mine = g_object_ref(window->conversation);
  g_autoptr(IvlConversation) other = conversation_with_images();
  g_autoptr(GSettings) settings = g_settings_new("io.github.ivl.Chat");
  g_autoptr(IvlMessage) answer = NULL;
  g_autofree char *saved = NULL;
  g_autofree char *canonical = NULL;
  const char *original;
  GtkWindow *dialog;
  AdwComboRow *model_row;

  g_assert_true(mine != other);
  ivl_window_refresh_models(window);
  wait_until(models_are, GUINT_TO_POINTER(2), "the copied model in the list");
  wait_until(model_ready, NULL, "the model after the list changed");
  original = ivl_conversation_get_model(other);
  g_assert_nonnull(original);
  g_assert_true(g_str_has_suffix(original, "ivl-demo-tiny"));

  g_assert_true(gtk_widget_activate_action(GTK_WIDGET(window), "win.conversation-settings", "s",
                                           ivl_conversation_get_id(mine)));
  dialog = wait_for_toplevel(IVL_TYPE_CONVERSATION_SETTINGS);
  model_row = find_combo_row(GTK_WIDGET(dialog), "Model");
  g_assert_nonnull(model_row);
  g_assert_true(g_str_has_suffix(window->loaded_model, "ivl-demo-tiny"));
  /* The list is sorted by name: the copy comes first. */
  adw_combo_row_set_selected(model_row, 0);
  gtk_text_buffer_set_text(gtk_text_view_get_buffer(find_text_view(GTK_WIDGET(dialog))),
                           "You answer in French.", -1);
  gui_settle(200);
  screenshot(GTK_WIDGET(dialog), "24-conversation-settings");
  g_signal_emit_by_name(gui_find_button(GTK_WIDGET(dialog), "_Save"), "clicked");
  wait_until(model_ready, NULL, "the conversation's model");
  g_assert_true(g_str_has_suffix(window->loaded_model, "ivl-demo-copy"));
  canonical = g_canonicalize_filename(copy, NULL);
  g_assert_cmpstr(ivl_conversation_get_model(mine), ==, window->loaded_model);
  g_assert_cmpstr(ivl_conversation_get_system_message(mine), ==, "You answer in French.");
  saved = saved_conversation();
  g_assert_nonnull(strstr(saved, "\"system_message\" : \"You answer in French.\""));

  /* Exports say what the model was told. */
  {
    g_autofree char *md = g_build_filename(data_home, "exports", "french.md", NULL);
    g_autofree char *json = g_build_filename(data_home, "exports", "french.json", NULL);
    g_autofree char *text = NULL;

    ivl_window_export_to(window, mine, IVL_EXPORT_MARKDOWN, md);
    wait_for_export(md);
    g_assert_true(g_file_get_contents(md, &text, NULL, NULL));
    g_assert_nonnull(strstr(text, "> **System prompt:** You answer in French.\n\n## You"));
    g_clear_pointer(&text, g_free);
    ivl_window_export_to(window, mine, IVL_EXPORT_JSON, json);
    wait_for_export(json);
    g_assert_true(g_file_get_contents(json, &text, NULL, NULL));
    g_assert_nonnull(
        strstr(text, "\"role\" : \"system\",\n      \"content\" : \"You answer in French.\""));
  }

  type_and_send("Bonjour?");
  wait_until(answer_done, NULL, "the answer with the conversation's system prompt");
  answer = last_message();
  assert_answered(answer);
  if (!real_engine)
    g_assert_nonnull(strstr(ivl_message_get_text(answer), "System: You answer in French."));

  /* The other conversation brings its model back, and this one its own. */
  show_conversation_row(other);
  wait_until(model_ready, NULL, "the other conversation's model");
  g_assert_cmpstr(window->loaded_model, ==, original);
  show_conversation_row(mine);
  wait_until(model_ready, NULL, "this conversation's model again");
  g_assert_true(g_str_has_suffix(window->loaded_model, "ivl-demo-copy"));

  /* A new conversation has the preference's system message. */
  g_settings_set_string(settings, "system-message", "Be brief.");
  g_assert_true(gtk_widget_activate_action(GTK_WIDGET(window), "win.new-conversation", NULL));
  g_assert_null(ivl_conversation_get_system_message(window->conversation));
  type_and_send("Hello?");
  wait_until(answer_done, NULL, "the answer with the preference's system prompt");
  g_clear_object(&answer);
  answer = last_message();
  if (!real_engine)
    g_assert_nonnull(strstr(ivl_message_get_text(answer), "System: Be brief."));
  g_settings_set_string(settings, "system-message", "");
}

/* At 360 px the pager and the edit bar still fit: a regenerated answer, a question being
 * edited. */
static void test_narrow_alternatives(void)
{
  g_autoptr(IvlMessage) question = NULL;
  g_autoptr(IvlMessage) answer = NULL;
  IvlMessageRow *row;

  type_and_send("One more, please.");
  wait_until(answer_done, NULL, "the answer");
  g_assert_true(gtk_widget_activate_action(GTK_WIDGET(window), "win.regenerate", NULL));
  wait_until(answer_done, NULL, "the regenerated answer");
  answer = last_message();
  g_assert_cmpuint(ivl_message_get_n_alternatives(answer), ==, 2);
  gtk_window_set_default_size(GTK_WINDOW(window), 360, 720);
  gui_settle(800);
  adw_flap_set_reveal_flap(window->flap, FALSE);
  gui_settle(500);
  row = find_row(GTK_WIDGET(window->message_view), answer);
  g_assert_nonnull(row);
  wait_for_text(GTK_WIDGET(row), "2/2");
  question =
      message_at(g_list_model_get_n_items(ivl_conversation_get_messages(window->conversation)) - 2);
  ivl_window_edit_question(window, question);
  gui_settle(500);
  screenshot(GTK_WIDGET(window), "25-narrow-alternatives-editing");
  g_assert_true(gtk_widget_activate_action(GTK_WIDGET(window), "win.cancel-edit", NULL));
  gtk_window_set_default_size(GTK_WINDOW(window), 960, 720);
  gui_settle(500);
}

/* The other checkpoint kinds run in the window like the demo model: a 9B-style model (InternLM2
 * layout, SentencePiece tokenizer) and the -hf twins of both language layouts, each copied
 * into the models folder, chosen in the selector and asked about an image. */
static void test_model_kinds(void)
{
  static const struct {
    const char *name;
    const char *args[6];
  } kinds[] = {
      {"tiny-9b", {"--llm-layout", "internlm2", "--vocab", "3009", NULL}},
      {"tiny-hf", {"--layout", "hf", NULL}},
      {"tiny-9b-hf", {"--layout", "hf", "--llm-layout", "internlm2", "--vocab", "3009"}},
  };
  g_autofree char *demo = g_strdup(window->loaded_model);
  guint n = window->models->len;

  if (!real_engine) {
    g_test_skip("the stand-in engine loads no model files");
    return;
  }
  for (guint k = 0; k < G_N_ELEMENTS(kinds); k++) {
    g_autofree char *dir = g_build_filename(data_home, "ivl", "models", kinds[k].name, NULL);
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    g_autoptr(GError) error = NULL;
    g_autoptr(IvlMessage) answer = NULL;
    int status = 0;
    guint chosen = G_MAXUINT;

    g_ptr_array_add(argv, (gpointer)g_getenv("IVL_MAKE_TINY_MODEL"));
    g_ptr_array_add(argv, dir);
    for (guint i = 0; i < G_N_ELEMENTS(kinds[k].args) && kinds[k].args[i]; i++)
      g_ptr_array_add(argv, (gpointer)kinds[k].args[i]);
    g_ptr_array_add(argv, NULL);
    g_assert_true(g_spawn_sync(NULL, (char **)argv->pdata, NULL, G_SPAWN_STDOUT_TO_DEV_NULL, NULL,
                               NULL, NULL, NULL, &status, &error));
    g_assert_no_error(error);
    g_assert_true(g_spawn_check_wait_status(status, NULL));
    wait_until(models_are, GUINT_TO_POINTER(n + 1 + k), "the copied model to appear");
    for (guint i = 0; i < window->models->len; i++)
      if (g_str_has_suffix(((IvlModelEntry *)window->models->pdata[i])->path, kinds[k].name))
        chosen = i;
    g_assert_cmpuint(chosen, !=, G_MAXUINT);
    gtk_drop_down_set_selected(window->model_dropdown, chosen);
    wait_until(model_ready_or_failed, NULL, "the model to load");
    g_assert_nonnull(window->loaded_model);
    g_assert_true(g_str_has_suffix(window->loaded_model, kinds[k].name));

    g_assert_true(gtk_widget_activate_action(GTK_WIDGET(window), "win.new-conversation", NULL));
    attach_test_file("photo.jpg");
    wait_until(attachments_ready, GUINT_TO_POINTER(1), "the image to be read");
    type_and_send("What is in this picture?");
    wait_until(answer_done, NULL, "the answer");
    answer = last_message();
    assert_answered(answer);
    g_assert_cmpstr(ivl_message_get_text(answer), !=, "");
    g_assert_false(gtk_revealer_get_reveal_child(window->error_revealer));
  }
  /* Back to the demo model, then the copies go again. */
  for (guint i = 0; i < window->models->len; i++)
    if (g_strcmp0(((IvlModelEntry *)window->models->pdata[i])->path, demo) == 0)
      gtk_drop_down_set_selected(window->model_dropdown, i);
  wait_until(model_ready, NULL, "the demo model again");
}

#ifndef IVL_TEST_REAL_ENGINE
extern int fake_ivl_n_gpus; /* fake-gpus.c: the CUDA devices the stand-in engine reports */

/* A model the engine splits over two GPUs: the line under the selector says so. */
static void test_two_gpus(void)
{
  g_autofree char *dir = g_build_filename(data_home, "ivl", "models", "split-model", NULL);
  g_autofree char *config = g_build_filename(dir, "config.json", NULL);
  g_autofree char *demo = g_strdup(window->loaded_model);
  guint n = window->models->len, split = G_MAXUINT;

  g_assert_cmpint(g_mkdir_with_parents(dir, 0700), ==, 0);
  gui_settle(100);
  g_assert_true(g_file_set_contents(config, "{}", -1, NULL));
  wait_until(models_are, GUINT_TO_POINTER(n + 1), "the copied model folder to appear");
  for (guint i = 0; i < window->models->len; i++)
    if (g_str_has_suffix(((IvlModelEntry *)window->models->pdata[i])->path, "split-model"))
      split = i;
  g_assert_cmpuint(split, !=, G_MAXUINT);
  fake_ivl_n_gpus = 2;
  gtk_drop_down_set_selected(window->model_dropdown, split);
  wait_until(model_ready, NULL, "the model on two GPUs");
  g_assert_true(g_str_has_suffix(window->loaded_model, "split-model"));
  g_assert_true(g_str_has_prefix(gtk_label_get_text(window->model_status), "2 GPUs · "));
  gui_settle(300);
  screenshot(GTK_WIDGET(window), "26-two-gpus");

  /* Back to the demo model on the CPU; the copy goes again. */
  fake_ivl_n_gpus = 0;
  for (guint i = 0; i < window->models->len; i++)
    if (g_strcmp0(((IvlModelEntry *)window->models->pdata[i])->path, demo) == 0)
      gtk_drop_down_set_selected(window->model_dropdown, i);
  wait_until(model_ready, NULL, "the demo model again");
  g_assert_true(g_str_has_prefix(gtk_label_get_text(window->model_status), "CPU · "));
  g_assert_cmpint(g_unlink(config), ==, 0);
  g_assert_cmpint(g_rmdir(dir), ==, 0);
  wait_until(models_are, GUINT_TO_POINTER(n), "the removed model folder to go");
  wait_until(model_ready, NULL, "the demo model after the rescan");
}
#endif

/* ---- attachments encoded while the question is typed (issue 20) ------------------------- */

#ifndef IVL_TEST_REAL_ENGINE
/* fake-ivl.c: calls of ivl_model_encode_ahead and what became of them */
extern gint fake_ivl_encodes_started, fake_ivl_encodes_done, fake_ivl_encodes_cancelled,
    fake_ivl_encodes_forgotten, fake_ivl_encodes_taken;

static gboolean counter_reaches(gpointer data)
{
  const gint *counter = ((const gpointer *)data)[0];
  return g_atomic_int_get(counter) >= GPOINTER_TO_INT(((const gpointer *)data)[1]);
}

static void wait_for_count(gint *counter, int n, const char *what)
{
  gpointer args[2] = {counter, GINT_TO_POINTER(n)};
  wait_until(counter_reaches, args, what);
}
#endif

static void remove_first_attachment(void)
{
  GtkWidget *tile = gtk_widget_get_first_child(GTK_WIDGET(window->attachments_box));

  g_assert_true(IVL_IS_ATTACHMENT_TILE(tile));
  g_signal_emit_by_name(tile, "remove");
  gui_settle(100);
}

/* Attaching starts the vision encoder; removing the attachment stops it, or drops what it
 * made; an attachment left to finish is taken by the ask that sends it. */
static void test_encode_ahead(void)
{
  ivl_window_clear_attachments(window);
#ifndef IVL_TEST_REAL_ENGINE
  int started = g_atomic_int_get(&fake_ivl_encodes_started);
  int done = g_atomic_int_get(&fake_ivl_encodes_done);
  int cancelled = g_atomic_int_get(&fake_ivl_encodes_cancelled);
  int forgotten = g_atomic_int_get(&fake_ivl_encodes_forgotten);
  int taken = g_atomic_int_get(&fake_ivl_encodes_taken);

  /* A slow encoder, so the removal comes while it runs. */
  g_setenv("IVL_FAKE_ENCODE_US", "5000000", TRUE);
  attach_test_file("photo.jpg");
  wait_for_count(&fake_ivl_encodes_started, started + 1, "the attachment's encoding to start");
  remove_first_attachment();
  wait_for_count(&fake_ivl_encodes_cancelled, cancelled + 1, "the encoding to stop");
  g_assert_cmpint(g_atomic_int_get(&fake_ivl_encodes_done), ==, done);
  g_unsetenv("IVL_FAKE_ENCODE_US");

  /* Removed after it finished: what it made is dropped. */
  attach_test_file("photo.jpg");
  wait_for_count(&fake_ivl_encodes_done, done + 1, "the encoding to finish");
  remove_first_attachment();
  wait_for_count(&fake_ivl_encodes_forgotten, forgotten + 1, "the encoded rows to be dropped");

  /* Left to finish: the ask finds it encoded. */
  attach_test_file("photo.jpg");
  wait_until(attachments_ready, GUINT_TO_POINTER(1), "the attachment");
  wait_for_count(&fake_ivl_encodes_done, done + 2, "the encoding to finish");
#else
  /* libivl's counts are not visible here: the removal and the send must simply work. */
  attach_test_file("photo.jpg");
  wait_until(attachments_ready, GUINT_TO_POINTER(1), "the attachment");
  remove_first_attachment();
  attach_test_file("photo.jpg");
  wait_until(attachments_ready, GUINT_TO_POINTER(1), "the attachment");
#endif
  type_and_send("What is in this photo?");
  wait_until(answer_done, NULL, "the answer about the photo");
  g_autoptr(IvlMessage) answer = last_message();
  assert_answered(answer);
#ifndef IVL_TEST_REAL_ENGINE
  g_assert_cmpint(g_atomic_int_get(&fake_ivl_encodes_taken), ==, taken + 1);
#endif
}

/* ---- several conversations answering at once ------------------------------------------- */

/* Answers of the demo model that run long enough to overlap take a while on a loaded
 * machine. */
static void wait_long(GuiCondition cond, gpointer data, const char *what)
{
  gui_wait_until(cond, data, what, 6 * WAIT_MS, print_window_labels);
}

static IvlMessage *last_message_of(IvlConversation *c)
{
  GListModel *messages = ivl_conversation_get_messages(c);
  guint n = g_list_model_get_n_items(messages);

  return n ? g_list_model_get_item(messages, n - 1) : NULL;
}

static void switch_to(IvlConversation *c)
{
  guint pos;

  g_assert_true(
      g_list_store_find(G_LIST_STORE(ivl_store_get_conversations(window->store)), c, &pos));
  gtk_list_box_select_row(window->conversation_list,
                          gtk_list_box_get_row_at_index(window->conversation_list, (int)pos));
  g_assert_true(window->conversation == c);
}

/* A new conversation, shown, with question sent; returned (the store keeps it). */
static IvlConversation *ask_in_new(const char *question)
{
  g_assert_true(gtk_widget_activate_action(GTK_WIDGET(window), "win.new-conversation", NULL));
  type_and_send(question);
  return window->conversation;
}

static IvlConversation *ask_with_picture_in_new(const char *question)
{
  g_assert_true(gtk_widget_activate_action(GTK_WIDGET(window), "win.new-conversation", NULL));
  attach_test_file("wide.png");
  wait_until(attachments_ready, GUINT_TO_POINTER(1), "the attachment cut into tiles");
  type_and_send(question);
  return window->conversation;
}

static gboolean is_answering(gpointer c)
{
  g_autoptr(IvlMessage) last = last_message_of(c);

  return ivl_conversation_get_activity(c) == IVL_ACTIVITY_ANSWERING &&
         (real_engine || *ivl_message_get_text(last) != '\0');
}

static gboolean both_answering(gpointer pair)
{
  IvlConversation **c = pair;

  return is_answering(c[0]) && is_answering(c[1]);
}

static gboolean is_waiting(gpointer c)
{
  return ivl_conversation_get_activity(c) == IVL_ACTIVITY_WAITING;
}

static gboolean is_idle(gpointer c)
{
  return ivl_conversation_get_activity(c) == IVL_ACTIVITY_IDLE;
}

static char *answer_text(IvlConversation *c)
{
  g_autoptr(IvlMessage) last = last_message_of(c);

  return g_strdup(ivl_message_get_text(last));
}

/* Two conversations stream together, each answer into its own conversation whether shown or
 * not; their greedy answers are those each gets alone. */
static void test_parallel(void)
{
  IvlConversation *a, *b, *a_alone, *b_alone;
  g_autofree char *text_a = NULL, *text_b = NULL, *grown = NULL;
  g_autoptr(IvlMessage) answer_b = NULL;
  IvlConversation *both[2];

  g_settings_set_boolean(window->settings, "do-sample", FALSE);
  if (real_engine) /* long enough to still run when the second is asked */
    g_settings_set_int(window->settings, "max-new-tokens", 160);
  g_setenv("IVL_FAKE_TOKEN_US", "60000", TRUE);
  /* The first with a picture: its vision encoding runs, then it joins the batch. */
  a = ask_with_picture_in_new("What is in the first picture?");
  wait_until(is_answering, a, "the first answer streaming");
  b = ask_in_new("Tell me about the second one");
  both[0] = a, both[1] = b;
  wait_until(both_answering, both, "both answers streaming together");
  if (!real_engine) {
    /* The first grows while the second is shown. */
    grown = answer_text(a);
    wait_until(is_answering, b, "more words");
    gui_settle(300);
    text_a = answer_text(a);
    g_assert_cmpuint(strlen(text_a), >, strlen(grown));
    g_clear_pointer(&text_a, g_free);
  }
  /* Back to the first: its text so far, still streaming; the sidebar spins on both. */
  switch_to(a);
  if (!real_engine)
    g_assert_cmpint(ivl_conversation_get_activity(a), ==, IVL_ACTIVITY_ANSWERING);
  gui_settle(200);
  screenshot(GTK_WIDGET(window), "40-two-answering");
  wait_long(answer_done, NULL, "both answers");
  g_setenv("IVL_FAKE_TOKEN_US", "2000", TRUE);
  answer_b = last_message_of(b);
  assert_answered(answer_b);
#ifndef IVL_TEST_REAL_ENGINE
  { /* the engine stepped both in one batch */
    extern int fake_ivl_batch_most_asks;
    g_assert_cmpint(fake_ivl_batch_most_asks, >=, 2);
  }
#endif
  text_a = answer_text(a);
  text_b = answer_text(b);
  if (!real_engine) {
    g_assert_nonnull(strstr(text_a, "about “What is in the first picture?” with 1 media"));
    g_assert_nonnull(strstr(text_b, "about “Tell me about the second one”"));
    g_assert_true(g_str_has_suffix(text_a, "Done."));
    g_assert_true(g_str_has_suffix(text_b, "Done."));
  }
  /* The same questions one at a time answer the same. */
  a_alone = ask_with_picture_in_new("What is in the first picture?");
  wait_long(answer_done, NULL, "the first question alone");
  b_alone = ask_in_new("Tell me about the second one");
  wait_long(answer_done, NULL, "the second question alone");
  {
    g_autofree char *alone_a = answer_text(a_alone);
    g_autofree char *alone_b = answer_text(b_alone);
    g_assert_cmpstr(text_a, ==, alone_a);
    g_assert_cmpstr(text_b, ==, alone_b);
  }
}

/* Stop in one conversation stops only its answer. */
static void test_parallel_stop(void)
{
  IvlConversation *a, *b;
  g_autoptr(IvlMessage) stopped = NULL, answered = NULL;

  g_setenv("IVL_FAKE_TOKEN_US", "60000", TRUE);
  a = ask_in_new("Describe the first slowly");
  wait_until(is_answering, a, "the first answer streaming");
  b = ask_in_new("Describe the second slowly");
  wait_until(is_answering, b, "the second answer streaming");
  switch_to(a);
  g_assert_true(gtk_widget_activate_action(GTK_WIDGET(window), "win.stop", NULL));
  wait_long(is_idle, a, "the first answer stopped");
  if (!real_engine)
    g_assert_cmpint(ivl_conversation_get_activity(b), ==, IVL_ACTIVITY_ANSWERING);
  wait_long(answer_done, NULL, "the second answer");
  g_setenv("IVL_FAKE_TOKEN_US", "2000", TRUE);
  stopped = last_message_of(a);
  answered = last_message_of(b);
  g_assert_cmpint(ivl_message_get_state(stopped), ==, IVL_MESSAGE_STOPPED);
  assert_answered(answered);
  if (!real_engine)
    g_assert_true(g_str_has_suffix(ivl_message_get_text(answered), "Done."));
  /* A follow-up in the stopped one sees its stopped answer as history. */
  type_and_send("Go on");
  wait_long(answer_done, NULL, "the follow-up");
  {
    g_autoptr(IvlMessage) follow_up = last_message_of(a);
    assert_answered(follow_up);
    if (!real_engine)
      g_assert_nonnull(strstr(ivl_message_get_text(follow_up), "(history: 1 turns)"));
  }
}

/* Deleting a conversation stops its answer; the other goes on, and the deleted one's file
 * is not written back when its answer ends. */
static void test_parallel_delete(void)
{
  IvlConversation *a, *b;
  g_autofree char *id = NULL;
  g_autoptr(IvlMessage) answered = NULL;
  guint n = n_conversations();

  g_setenv("IVL_FAKE_TOKEN_US", "60000", TRUE);
  a = ask_in_new("One to delete");
  id = g_strdup(ivl_conversation_get_id(a));
  wait_until(is_answering, a, "the answer to delete streaming");
  b = ask_in_new("One to keep");
  wait_until(is_answering, b, "the answer to keep streaming");
  g_assert_true(gtk_widget_activate_action(GTK_WIDGET(window), "win.delete-conversation", "s", id));
  g_assert_cmpuint(n_conversations(), ==, n + 1);
  wait_long(is_idle, a, "the deleted conversation's answer stopped");
  gui_settle(700);
  adw_toast_dismiss(window->undo_toast);
  gui_settle(200);
  g_assert_false(saved_file_exists(id));
  wait_long(answer_done, NULL, "the answer kept");
  g_setenv("IVL_FAKE_TOKEN_US", "2000", TRUE);
  g_assert_false(saved_file_exists(id));
  answered = last_message_of(b);
  assert_answered(answered);
}

/* Beyond the limit of answers at once a question waits, visibly, and starts when one ends. */
static void test_parallel_waiting(void)
{
  IvlConversation *a, *b;
  g_autoptr(IvlMessage) answered = NULL;

  g_settings_set_int(window->settings, "parallel-answers", 1);
  if (real_engine) /* two answers one after the other within the wait */
    g_settings_set_int(window->settings, "max-new-tokens", 48);
  g_setenv("IVL_FAKE_TOKEN_US", "60000", TRUE);
  a = ask_in_new("The first in line");
  wait_until(is_answering, a, "the first answer streaming");
  b = ask_in_new("The second in line");
  if (!real_engine) {
    wait_for_text(GTK_WIDGET(window->conversation_list), "Waiting…");
    g_assert_true(is_waiting(b));
    gui_settle(200);
    screenshot(GTK_WIDGET(window), "41-waiting");
  }
  wait_long(answer_done, NULL, "both answers, one after the other");
  g_setenv("IVL_FAKE_TOKEN_US", "2000", TRUE);
  answered = last_message_of(b);
  assert_answered(answered);
  {
    g_autoptr(IvlMessage) first = last_message_of(a);
    assert_answered(first);
  }
  if (real_engine) {
    g_settings_set_int(window->settings, "parallel-answers", 4);
    return;
  }

  /* Stop on a question still in line takes it out of the line at once. */
  g_setenv("IVL_FAKE_TOKEN_US", "60000", TRUE);
  a = ask_in_new("Another first in line");
  wait_until(is_answering, a, "the first answer streaming");
  b = ask_in_new("Another second in line");
  wait_until(is_waiting, b, "the second question waiting");
  g_assert_true(gtk_widget_activate_action(GTK_WIDGET(window), "win.stop", NULL));
  wait_until(is_idle, b, "the waiting question stopped");
  g_assert_true(is_answering(a));
  {
    g_autoptr(IvlMessage) stopped = last_message_of(b);
    g_assert_cmpint(ivl_message_get_state(stopped), ==, IVL_MESSAGE_STOPPED);
  }
  wait_long(answer_done, NULL, "the first answer");
  g_settings_set_int(window->settings, "parallel-answers", 4);

  /* A question whose KV cache does not fit beside the answer running waits for it too. */
  g_setenv("IVL_FAKE_KV_ASKS", "1", TRUE);
  g_setenv("IVL_FAKE_TOKEN_US", "60000", TRUE);
  a = ask_in_new("The first to fit");
  wait_until(is_answering, a, "the first answer streaming");
  b = ask_in_new("The second to fit");
  wait_until(is_waiting, b, "the second question waiting for memory");
  g_assert_true(is_answering(a));
  wait_long(answer_done, NULL, "both answers, one after the other");
  g_setenv("IVL_FAKE_TOKEN_US", "2000", TRUE);
  g_unsetenv("IVL_FAKE_KV_ASKS");
  {
    g_autoptr(IvlMessage) first = last_message_of(a);
    g_autoptr(IvlMessage) second = last_message_of(b);
    assert_answered(first);
    assert_answered(second);
  }
}

int main(int argc, char **argv)
{
  g_autofree char *tmp = NULL;
  int status;

  gui_fail_on_warnings();
  tmp = g_dir_make_tmp("ivl-chat-test-XXXXXX", NULL);

  /* A fresh data folder: no models, no conversations. */
  data_home = g_build_filename(tmp, "data", NULL);
  g_setenv("XDG_DATA_HOME", data_home, TRUE);
  g_setenv("XDG_CACHE_HOME", tmp, TRUE);
  g_setenv("HF_HOME", tmp, TRUE);
  gui_isolate_gstreamer(tmp);
  gtk_test_init(&argc, &argv, NULL);
  /* GNOME's own title buttons (Xvfb's default adds minimize and maximize), so the narrow
   * layout is measured as people see it. */
  g_object_set(gtk_settings_get_default(), "gtk-decoration-layout", "appmenu:close", NULL);

  app = ivl_application_new();
  g_application_set_flags(G_APPLICATION(app), G_APPLICATION_NON_UNIQUE);
  g_assert_true(g_application_register(G_APPLICATION(app), NULL, NULL));
  adw_style_manager_set_color_scheme(adw_style_manager_get_default(),
                                     ADW_COLOR_SCHEME_FORCE_LIGHT);
  /* Random weights seldom say the stop token: answers of the demo model are kept short so
   * a loaded machine still gives them within the waits. */
  if (real_engine) {
    g_autoptr(GSettings) settings = g_settings_new("io.github.ivl.Chat");
    g_settings_set_int(settings, "max-new-tokens", 48);
  }
  g_application_activate(G_APPLICATION(app));
  window = IVL_WINDOW(gtk_application_get_active_window(GTK_APPLICATION(app)));
  gtk_window_set_default_size(GTK_WINDOW(window), 960, 720);

  g_test_add_func("/chat/no-model", test_no_model);
  g_test_add_func("/chat/preferences", test_preferences);
  g_test_add_func("/chat/demo-model", test_demo_model);
  g_test_add_func("/chat/attach-and-ask", test_attach_and_ask);
  g_test_add_func("/chat/follow-up", test_follow_up);
  g_test_add_func("/chat/markdown", test_markdown);
  g_test_add_func("/chat/markdown-streaming", test_markdown_streaming);
  g_test_add_func("/chat/markdown-blocks", test_markdown_blocks);
  g_test_add_func("/chat/stop", test_stop);
  g_test_add_func("/chat/regenerate", test_regenerate);
  g_test_add_func("/chat/broken-image", test_broken_image);
  g_test_add_func("/chat/drop-zone", test_drop_zone);
  g_test_add_func("/chat/length-limit", test_length_limit);
  g_test_add_func("/chat/failed-answer", test_failed_answer);
  g_test_add_func("/chat/broken-model", test_broken_model);
  g_test_add_func("/chat/paste", test_paste);
  g_test_add_func("/chat/video", test_video);
  g_test_add_func("/chat/broken-video", test_broken_video);
  g_test_add_func("/chat/shortcuts", test_shortcuts);
  g_test_add_func("/chat/restart", test_restart);
  g_test_add_func("/chat/grounding", test_grounding);
  g_test_add_func("/chat/conversations", test_conversations);
  g_test_add_func("/chat/narrow", test_narrow);
  g_test_add_func("/chat/orientations", test_orientations);
  g_test_add_func("/chat/clip-dialog", test_clip_dialog);
  g_test_add_func("/chat/clip-reopen", test_clip_reopen);
  g_test_add_func("/chat/sent-video", test_sent_video);
  g_test_add_func("/chat/log-clean", test_log_clean);
  g_test_add_func("/chat/alternatives", test_alternatives);
  g_test_add_func("/chat/edit-resend", test_edit_resend);
  g_test_add_func("/chat/search", test_search);
  g_test_add_func("/chat/export", test_export);
  g_test_add_func("/chat/conversation-settings", test_conversation_settings);
  g_test_add_func("/chat/narrow-alternatives", test_narrow_alternatives);
  g_test_add_func("/chat/model-kinds", test_model_kinds);
#ifndef IVL_TEST_REAL_ENGINE
  g_test_add_func("/chat/two-gpus", test_two_gpus);
#endif
  g_test_add_func("/chat/encode-ahead", test_encode_ahead);
  g_test_add_func("/chat/parallel", test_parallel);
  g_test_add_func("/chat/parallel-stop", test_parallel_stop);
  g_test_add_func("/chat/parallel-delete", test_parallel_delete);
  g_test_add_func("/chat/parallel-waiting", test_parallel_waiting);
  status = g_test_run();

  gtk_window_destroy(GTK_WINDOW(window));
  g_object_unref(app);
  return status;
}
