/* ivl-chat with a remote model: a server added in Preferences → Servers and tested, its model
 * picked in the selector, a question with an image streamed from it, stop, regenerate, and
 * the server killed in the middle of an answer. The server is tests/remote/dialect_server.py
 * (vLLM's wire format) on 127.0.0.1; the window runs over libivl with no local model. Each
 * state is saved as a PNG in $IVL_SCREENSHOT_DIR. */
#include "gui-test-util.h"
#include "ivl-config.h"

#include <adwaita.h>
#include <libsoup/soup.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "ivl-application.h"
#include "ivl-boxed-image.h"
#include "ivl-preferences.h"
#include "ivl-video-dialog.h"
#include "ivl-window-private.h"

#define WAIT_MS 15000

static IvlApplication *app;
static IvlWindow *window;
static GSubprocess *server;
static char *server_root; /* http://127.0.0.1:PORT */
static char *server_url;  /* its API root, .../v1, as the window stores it */

/* ---- helpers --------------------------------------------------------------------------- */

static void print_all_labels(void)
{
  GListModel *tops = gtk_window_get_toplevels();

  for (guint i = 0; i < g_list_model_get_n_items(tops); i++) {
    g_autoptr(GtkWidget) w = g_list_model_get_item(tops, i);
    gui_print_labels(w);
  }
}

static void wait_until(GuiCondition cond, gpointer data, const char *what)
{
  gui_wait_until(cond, data, what, WAIT_MS, print_all_labels);
}

static void screenshot(GtkWidget *widget, const char *name)
{
  const char *dir = g_getenv("IVL_SCREENSHOT_DIR");
  g_autofree char *file = g_strdup_printf("remote-%s.png", name);
  g_autofree char *path = NULL;

  if (dir == NULL)
    return;
  g_mkdir_with_parents(dir, 0755);
  path = g_build_filename(dir, file, NULL);
  gui_settle(250);
  gui_save_png(widget, path);
}

static void wait_for_text(GtkWidget *widget, const char *text)
{
  GuiTextWait w = {widget, text};
  wait_until(gui_text_shown, &w, text);
}

static IvlMessage *last_message(void)
{
  GListModel *messages = ivl_conversation_get_messages(window->conversation);
  guint n = g_list_model_get_n_items(messages);

  return n ? g_list_model_get_item(messages, n - 1) : NULL;
}

static gboolean last_in_state(gpointer state)
{
  g_autoptr(IvlMessage) m = last_message();
  return m && g_hash_table_size(window->answering) == 0 &&
         ivl_message_get_state(m) == (IvlMessageState)GPOINTER_TO_INT(state);
}

static gboolean last_has_text(gpointer data)
{
  g_autoptr(IvlMessage) m = last_message();
  (void)data;
  return m && strlen(ivl_message_get_text(m)) > 20;
}

static gboolean remote_model_ready(gpointer data)
{
  (void)data;
  return window->loaded_model != NULL && g_str_has_prefix(window->loaded_model, server_url);
}

/* Cut as the model would see it: Send waits for that. */
static gboolean attachments_ready(gpointer data)
{
  GListModel *list = G_LIST_MODEL(window->attachments);
  guint n = g_list_model_get_n_items(list);

  (void)data;
  for (guint i = 0; i < n; i++) {
    g_autoptr(IvlAttachment) a = g_list_model_get_item(list, i);
    if (ivl_attachment_get_n_tiles(a) == 0)
      return FALSE;
  }
  return n > 0;
}

static void type_and_send(const char *question)
{
  gtk_text_buffer_set_text(gtk_text_view_get_buffer(window->input), question, -1);
  g_assert_true(gtk_widget_activate_action(GTK_WIDGET(window), "win.send", NULL));
}

/* The body of the last chat request the server had, as it received it. */
static char *last_request(void)
{
  g_autoptr(SoupSession) session = soup_session_new();
  g_autofree char *uri = g_strconcat(server_root, "/last-request", NULL);
  g_autoptr(SoupMessage) msg = soup_message_new("GET", uri);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) body = soup_session_send_and_read(session, msg, NULL, &error);

  g_assert_no_error(error);
  return g_strndup(g_bytes_get_data(body, NULL), g_bytes_get_size(body));
}

/* ---- the flow -------------------------------------------------------------------------- */

static void test_add_server(void)
{
  GtkWindow *prefs;

  g_assert_true(gtk_widget_activate_action(GTK_WIDGET(window), "app.preferences", NULL));
  wait_until(gui_toplevel_shown, GSIZE_TO_POINTER(IVL_TYPE_PREFERENCES), "preferences");
  prefs = gui_find_toplevel(IVL_TYPE_PREFERENCES);
  gtk_window_set_default_size(prefs, 600, 760);
  adw_preferences_window_set_visible_page_name(ADW_PREFERENCES_WINDOW(prefs), "servers");
  g_assert_nonnull(gui_find_descendant(GTK_WIDGET(prefs), ADW_TYPE_ENTRY_ROW, "Name"));
  gtk_editable_set_text(
      GTK_EDITABLE(gui_find_descendant(GTK_WIDGET(prefs), ADW_TYPE_ENTRY_ROW, "Name")), "test box");
  gtk_editable_set_text(GTK_EDITABLE(gui_find_descendant(GTK_WIDGET(prefs), ADW_TYPE_ENTRY_ROW,
                                                         "Address, such as http://gpu-box:8000")),
                        server_root);
  /* An address that is no URL is refused with the reason. */
  {
    GtkWidget *url = gui_find_descendant(GTK_WIDGET(prefs), ADW_TYPE_ENTRY_ROW,
                                         "Address, such as http://gpu-box:8000");
    gtk_editable_set_text(GTK_EDITABLE(url), "gpu-box");
    gtk_widget_activate(gui_find_button(GTK_WIDGET(prefs), "_Add Server"));
    wait_for_text(GTK_WIDGET(prefs), "is not a server address");
    g_assert_true(gui_shows_text(GTK_WIDGET(prefs), "No servers yet"));
    gtk_editable_set_text(GTK_EDITABLE(url), server_root);
  }
  gtk_widget_activate(gui_find_button(GTK_WIDGET(prefs), "_Add Server"));
  wait_for_text(GTK_WIDGET(prefs), "test box");
  gtk_widget_activate(gui_find_button(GTK_WIDGET(prefs), "_Test"));
  wait_for_text(GTK_WIDGET(prefs), "Answers (vllm): OpenGVLab/InternVL3-78B");
  screenshot(GTK_WIDGET(prefs), "01-servers");
  gtk_window_close(prefs);
}

/* The same address added again replaces the entry: here with its software named, which the
 * window connects with again. */
static void test_edit_server(void)
{
  GtkWindow *prefs;
  g_autoptr(GPtrArray) servers = NULL;
  AdwComboRow *software;

  g_assert_true(gtk_widget_activate_action(GTK_WIDGET(window), "app.preferences", NULL));
  wait_until(gui_toplevel_shown, GSIZE_TO_POINTER(IVL_TYPE_PREFERENCES), "preferences");
  prefs = gui_find_toplevel(IVL_TYPE_PREFERENCES);
  adw_preferences_window_set_visible_page_name(ADW_PREFERENCES_WINDOW(prefs), "servers");
  gtk_editable_set_text(GTK_EDITABLE(gui_find_descendant(GTK_WIDGET(prefs), ADW_TYPE_ENTRY_ROW,
                                                         "Address, such as http://gpu-box:8000")),
                        server_url);
  software =
      ADW_COMBO_ROW(gui_find_descendant(GTK_WIDGET(prefs), ADW_TYPE_COMBO_ROW, "Server Software"));
  adw_combo_row_set_selected(software, 2); /* vLLM */
  gtk_widget_activate(gui_find_button(GTK_WIDGET(prefs), "_Add Server"));
  wait_for_text(GTK_WIDGET(prefs), "/v1 · vllm");
  servers = ivl_servers_read(window->settings);
  g_assert_cmpuint(servers->len, ==, 1);
  g_assert_cmpstr(((IvlServer *)servers->pdata[0])->dialect, ==, "vllm");
  gtk_window_close(prefs);
  g_assert_null(window->loaded_model); /* the old client went */
  wait_until(remote_model_ready, NULL, "the remote model again");
}

static void test_pick_model(void)
{
  wait_until(remote_model_ready, NULL, "the remote model");
  g_assert_cmpuint(window->models->len, ==, 1);
  wait_for_text(GTK_WIDGET(window), "OpenGVLab/InternVL3-78B — remote, 127.0.0.1");
  wait_for_text(GTK_WIDGET(window), "Remote · 127.0.0.1");
  screenshot(GTK_WIDGET(window), "02-model");
}

static void test_ask_with_image(void)
{
  g_autofree char *photo = g_build_filename(g_getenv("IVL_TEST_DATA"), "photo.jpg", NULL);
  g_autoptr(GFile) file = g_file_new_for_path(photo);
  g_autoptr(IvlMessage) answer = NULL;
  g_autofree char *request = NULL;

  ivl_window_attach_files(window, &file, 1);
  wait_until(attachments_ready, NULL, "the attachment");
  type_and_send("What is in this picture?");
  wait_until(last_in_state, GINT_TO_POINTER(IVL_MESSAGE_DONE), "the answer");
  answer = last_message();
  g_assert_cmpstr(ivl_message_get_text(answer), ==, "The picture shows a red panda.");
  request = last_request();
  if (strstr(request, "\"image_url\"") == NULL)
    g_error("no image sent: %.2000s", request);
  g_assert_nonnull(strstr(request, "data:image/jpeg;base64,"));
  g_assert_nonnull(strstr(request, "What is in this picture?"));
  /* The conversation remembers which model answered. */
  g_assert_true(g_str_has_prefix(ivl_conversation_get_model(window->conversation), server_url));
  screenshot(GTK_WIDGET(window), "03-answer");
}

static void test_regenerate(void)
{
  g_autoptr(IvlMessage) answer = NULL;
  g_autofree char *request = NULL;

  g_assert_true(gtk_widget_activate_action(GTK_WIDGET(window), "win.regenerate", NULL));
  wait_until(last_in_state, GINT_TO_POINTER(IVL_MESSAGE_DONE), "the regenerated answer");
  answer = last_message();
  g_assert_cmpuint(ivl_message_get_n_alternatives(answer), ==, 2);
  g_assert_cmpstr(ivl_message_get_text(answer), ==, "The picture shows a red panda.");
  /* The image went again: servers keep nothing between requests. */
  request = last_request();
  g_assert_nonnull(strstr(request, "data:image/jpeg;base64,"));
}

static GtkWidget *find_type(GtkWidget *widget, GType type)
{
  if (G_TYPE_CHECK_INSTANCE_TYPE(widget, type) && gtk_widget_is_drawable(widget))
    return widget;
  for (GtkWidget *c = gtk_widget_get_first_child(widget); c; c = gtk_widget_get_next_sibling(c)) {
    GtkWidget *found = find_type(c, type);
    if (found)
      return found;
  }
  return NULL;
}

static gboolean boxes_drawn(gpointer data)
{
  (void)data;
  return find_type(GTK_WIDGET(window->message_view), IVL_TYPE_BOXED_IMAGE) != NULL;
}

/* The boxes of a remote model's answer are drawn over the question's image, as a local
 * model's are. */
static void test_grounding(void)
{
  g_autofree char *path = g_build_filename(g_getenv("IVL_TEST_DATA"), "wide.png", NULL);
  g_autoptr(GFile) file = g_file_new_for_path(path);

  ivl_window_attach_files(window, &file, 1);
  wait_until(attachments_ready, NULL, "the attachment");
  type_and_send("FAULT box <ref>the red square</ref>");
  wait_until(last_in_state, GINT_TO_POINTER(IVL_MESSAGE_DONE), "the grounding answer");
  wait_until(boxes_drawn, NULL, "the boxes");
  wait_for_text(GTK_WIDGET(window->message_view), "the red square");
  g_assert_false(gui_shows_text(GTK_WIDGET(window->message_view), "<box>"));
  screenshot(GTK_WIDGET(window), "04-grounding");
}

/* A clip goes as the frames our sampler picks: to vLLM, one video_url of JPEG frames. */
static void test_video(void)
{
  g_autofree char *path = g_build_filename(g_getenv("IVL_TEST_DATA"), "clip.mov", NULL);
  g_autoptr(GFile) file = g_file_new_for_path(path);
  g_autoptr(IvlMessage) answer = NULL;
  g_autofree char *request = NULL;
  GtkWindow *dialog;

  ivl_window_attach_files(window, &file, 1);
  wait_until(gui_toplevel_shown, GSIZE_TO_POINTER(IVL_TYPE_VIDEO_DIALOG), "the clip dialog");
  dialog = gui_find_toplevel(IVL_TYPE_VIDEO_DIALOG);
  wait_for_text(GTK_WIDGET(dialog), "8 frames");
  g_signal_emit_by_name(gui_find_button(GTK_WIDGET(dialog), "_Add"), "clicked");
  wait_until(attachments_ready, NULL, "the clip");
  type_and_send("What happens in this clip?");
  wait_until(last_in_state, GINT_TO_POINTER(IVL_MESSAGE_DONE), "the answer about the clip");
  answer = last_message();
  g_assert_cmpstr(ivl_message_get_text(answer), ==, "The picture shows a red panda.");
  request = last_request();
  if (strstr(request, "data:video/jpeg;base64,") == NULL)
    g_error("no clip sent: %.2000s", request);
  screenshot(GTK_WIDGET(window), "05-video");
}

static void test_stop(void)
{
  g_autoptr(IvlMessage) answer = NULL;

  type_and_send("FAULT slow then tell me more");
  wait_until(last_has_text, NULL, "the first words");
  g_assert_true(gtk_widget_activate_action(GTK_WIDGET(window), "win.stop", NULL));
  wait_until(last_in_state, GINT_TO_POINTER(IVL_MESSAGE_STOPPED), "the stopped answer");
  answer = last_message();
  g_assert_true(g_str_has_prefix(ivl_message_get_text(answer), "word0 word1 "));
  wait_for_text(GTK_WIDGET(window), "Stopped");
  screenshot(GTK_WIDGET(window), "06-stopped");
}

static void test_server_killed(void)
{
  g_autoptr(IvlMessage) answer = NULL;
  g_autofree char *kept = NULL;

  type_and_send("FAULT slow and then?");
  wait_until(last_has_text, NULL, "the first words");
  g_subprocess_force_exit(server);
  g_assert_true(g_subprocess_wait(server, NULL, NULL));
  wait_until(last_in_state, GINT_TO_POINTER(IVL_MESSAGE_FAILED), "the cut answer");
  answer = last_message();
  kept = g_strdup(ivl_message_get_text(answer));
  g_assert_true(g_str_has_prefix(kept, "word0 word1 "));
  g_assert_true(gtk_revealer_get_reveal_child(window->error_revealer));
  wait_for_text(GTK_WIDGET(window->message_view),
                "The answer could not be completed: the answer from 127.0.0.1");
  {
    /* The reason is saved with the conversation. */
    g_autoptr(JsonNode) saved = ivl_message_to_json(answer);
    g_assert_cmpstr(json_object_get_string_member(json_node_get_object(saved), "error"), ==,
                    ivl_message_get_error(answer));
  }
  screenshot(GTK_WIDGET(window), "07-server-killed");
  /* The window still answers to the person: a question now says the server is gone. */
  type_and_send("Are you there?");
  wait_until(last_in_state, GINT_TO_POINTER(IVL_MESSAGE_FAILED), "the failed question");
  g_assert_cmpstr(ivl_message_get_text(answer), ==, kept);
  g_assert_true(gtk_revealer_get_reveal_child(window->error_revealer));
  screenshot(GTK_WIDGET(window), "08-unreachable");
}

static void die_with_parent(gpointer data)
{
  (void)data;
  prctl(PR_SET_PDEATHSIG, SIGKILL);
}

static void start_server(void)
{
  g_autofree char *script =
      g_build_filename(g_getenv("IVL_SOURCE_ROOT"), "tests", "remote", "dialect_server.py", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(GDataInputStream) out = NULL;

  g_autoptr(GSubprocessLauncher) launcher =
      g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_PIPE);

  /* A test that fails half-way leaves no server behind holding the log's pipes. */
  g_subprocess_launcher_set_child_setup(launcher, die_with_parent, NULL, NULL);
  server = g_subprocess_launcher_spawn(launcher, &error, "/usr/bin/python3", script, "vllm", NULL);
  g_assert_no_error(error);
  out = g_data_input_stream_new(g_subprocess_get_stdout_pipe(server));
  server_root = g_data_input_stream_read_line_utf8(out, NULL, NULL, &error);
  g_assert_no_error(error);
  g_assert_true(g_str_has_prefix(server_root, "http://127.0.0.1:"));
  server_url = g_strconcat(server_root, "/v1", NULL);
}

int main(int argc, char **argv)
{
  g_autofree char *tmp = NULL;
  int status;

  gui_fail_on_warnings();
  tmp = g_dir_make_tmp("ivl-chat-remote-XXXXXX", NULL);
  g_setenv("XDG_DATA_HOME", tmp, TRUE);
  g_setenv("XDG_CACHE_HOME", tmp, TRUE);
  g_setenv("HF_HOME", tmp, TRUE);
  gui_isolate_gstreamer(tmp);
  gtk_test_init(&argc, &argv, NULL);
  start_server();

  app = ivl_application_new();
  g_application_set_flags(G_APPLICATION(app), G_APPLICATION_NON_UNIQUE);
  g_assert_true(g_application_register(G_APPLICATION(app), NULL, NULL));
  adw_style_manager_set_color_scheme(adw_style_manager_get_default(), ADW_COLOR_SCHEME_FORCE_LIGHT);
  g_application_activate(G_APPLICATION(app));
  window = IVL_WINDOW(gtk_application_get_active_window(GTK_APPLICATION(app)));
  gtk_window_set_default_size(GTK_WINDOW(window), 960, 720);

  g_test_add_func("/remote/add-server", test_add_server);
  g_test_add_func("/remote/pick-model", test_pick_model);
  g_test_add_func("/remote/edit-server", test_edit_server);
  g_test_add_func("/remote/ask-with-image", test_ask_with_image);
  g_test_add_func("/remote/regenerate", test_regenerate);
  g_test_add_func("/remote/grounding", test_grounding);
  g_test_add_func("/remote/video", test_video);
  g_test_add_func("/remote/stop", test_stop);
  g_test_add_func("/remote/server-killed", test_server_killed);
  status = g_test_run();

  gtk_window_destroy(GTK_WINDOW(window));
  g_object_unref(app);
  if (g_subprocess_get_identifier(server))
    g_subprocess_force_exit(server);
  g_object_unref(server);
  return status;
}
