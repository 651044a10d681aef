/* The model manager window under Xvfb, over tests/net/hub_server.py on loopback: a download
 * started, shown running (screenshot), paused, resumed to completion ("model-installed"),
 * the model deleted with confirmation, and a second download cancelled deleting its part;
 * offline, the error shown whole on its own red line with the row and its button unchanged;
 * a model too large for this computer asking before it downloads; the models on this
 * computer listed with their size on disk and deleted; on a machine with two GPUs
 * (fake-gpus.c), how a model too large for one would spread over both, or what they lack,
 * for a catalog model and one copied in.
 * Screenshots light, dark and narrow. */
#include <adwaita.h>
#include <glib/gstdio.h>
#include <libsoup/soup.h>

#include "gui-test-util.h"
#include "ivl-installed-row.h"
#include "ivl-model-manager.h"
#include "ivl-model-row.h"
#include "tiny-model.h"

#define WAIT_MS 20000

static GSubprocess *server;
static char *endpoint;
static char *installed_path;

static void wait_until(GuiCondition cond, gpointer data, const char *what)
{
  gui_wait_until(cond, data, what, WAIT_MS, NULL);
}

static void server_get(const char *query)
{
  static SoupSession *session;
  if (!session)
    session = soup_session_new();
  g_autofree char *url = g_strconcat(endpoint, query, NULL);
  g_autoptr(SoupMessage) msg = soup_message_new("GET", url);
  g_autoptr(GBytes) body = soup_session_send_and_read(session, msg, NULL, NULL);
  g_assert_cmpuint(soup_message_get_status(msg), ==, 200);
}

static const char *row_state(GtkWidget *row)
{
  GtkWidget *stack = gui_find_descendant(row, GTK_TYPE_STACK, NULL);
  return gtk_stack_get_visible_child_name(GTK_STACK(stack));
}

typedef struct {
  GtkWidget *row;
  const char *state;
} state_wait;

static gboolean in_state(gpointer data)
{
  state_wait *w = data;
  return g_strcmp0(row_state(w->row), w->state) == 0;
}

static void wait_state(GtkWidget *row, const char *state)
{
  state_wait w = {row, state};
  wait_until(in_state, &w, state);
}

static gboolean progressed(gpointer data)
{
  GtkWidget *bar = gui_find_descendant(data, GTK_TYPE_PROGRESS_BAR, NULL);
  return gtk_progress_bar_get_fraction(GTK_PROGRESS_BAR(bar)) > 0.25;
}

static gboolean message_dialog_shown(gpointer data)
{
  AdwMessageDialog **out = data;
  GListModel *tops = gtk_window_get_toplevels();
  for (guint i = 0; i < g_list_model_get_n_items(tops); i++) {
    g_autoptr(GObject) w = g_list_model_get_item(tops, i);
    if (ADW_IS_MESSAGE_DIALOG(w) && gtk_widget_get_visible(GTK_WIDGET(w))) {
      *out = ADW_MESSAGE_DIALOG(w);
      return TRUE;
    }
  }
  return FALSE;
}

static void answer_dialog(const char *response)
{
  AdwMessageDialog *dialog = NULL;
  wait_until(message_dialog_shown, &dialog, "a message dialog");
  adw_message_dialog_response(dialog, response);
  gtk_window_destroy(GTK_WINDOW(dialog));
}

static void save_png(GtkWidget *widget, const char *name)
{
  const char *dir = g_getenv("IVL_SCREENSHOT_DIR");
  if (!dir)
    return;
  g_mkdir_with_parents(dir, 0755);
  g_autofree char *path = g_build_filename(dir, name, NULL);
  gui_save_png(widget, path);
  g_test_message("screenshot: %s", path);
}

/* Light, dark and (narrow) at 360 px wide, as people may see it. */
static void screenshots(GtkWindow *window, const char *name, gboolean narrow)
{
  AdwStyleManager *style = adw_style_manager_get_default();
  int width, height;
  gtk_window_get_default_size(window, &width, &height);
  adw_style_manager_set_color_scheme(style, ADW_COLOR_SCHEME_FORCE_LIGHT);
  gui_settle(250);
  g_autofree char *light = g_strdup_printf("%s-light.png", name);
  save_png(GTK_WIDGET(window), light);
  adw_style_manager_set_color_scheme(style, ADW_COLOR_SCHEME_FORCE_DARK);
  gui_settle(250);
  g_autofree char *dark = g_strdup_printf("%s-dark.png", name);
  save_png(GTK_WIDGET(window), dark);
  adw_style_manager_set_color_scheme(style, ADW_COLOR_SCHEME_FORCE_LIGHT);
  if (!narrow)
    return;
  gtk_window_set_default_size(window, 360, height);
  gui_settle(500);
  g_assert_cmpint(gtk_widget_get_width(GTK_WIDGET(window)), <=, 360);
  g_autofree char *small = g_strdup_printf("%s-narrow.png", name);
  save_png(GTK_WIDGET(window), small);
  gtk_window_set_default_size(window, width, height);
  gui_settle(300);
}

static void on_installed(IvlModelManager *manager, const char *path, gpointer data)
{
  (void)manager;
  (void)data;
  g_free(installed_path);
  installed_path = g_strdup(path);
}

static gboolean have_installed(gpointer data)
{
  (void)data;
  return installed_path != NULL;
}

static gboolean missing(gpointer data)
{
  return !g_file_test(data, G_FILE_TEST_EXISTS);
}

static void test_manager(void)
{
  IvlModelManager *manager = ivl_model_manager_new(NULL, NULL);
  g_signal_connect(manager, "model-installed", G_CALLBACK(on_installed), NULL);
  gtk_window_present(GTK_WINDOW(manager));
  gui_settle(300);

  GtkWidget *first = gui_find_descendant(GTK_WIDGET(manager), IVL_TYPE_MODEL_ROW, NULL);
  int rows = 0;
  for (GtkWidget *c = first; c; c = gtk_widget_get_next_sibling(c))
    rows += IVL_IS_MODEL_ROW(c);
  g_assert_cmpint(rows, ==, 14); /* seven sizes, each also as its -hf twin */

  GtkWidget *row = gui_find_descendant(GTK_WIDGET(manager), IVL_TYPE_MODEL_ROW, "InternVL3-1B");
  g_assert_nonnull(row);
  g_assert_cmpstr(row_state(row), ==, "get");
  g_autofree char *dir =
      g_build_filename(g_get_user_data_dir(), "ivl", "models", "InternVL3-1B", NULL);

  /* Running, then paused: the part stays on disk. */
  server_get("/_throttle?bps=200000");
  gtk_widget_activate_action(row, "row.download", NULL);
  wait_state(row, "running");
  wait_until(progressed, row, "a quarter of the download");
  gui_settle(300);
  save_png(GTK_WIDGET(manager), "model-manager-downloading.png");
  gtk_widget_activate_action(row, "row.pause", NULL);
  wait_state(row, "paused");
  g_autofree char *part = g_build_filename(dir, "model.safetensors.incomplete", NULL);
  g_assert_true(g_file_test(part, G_FILE_TEST_IS_REGULAR));

  /* Resumed to the end. */
  server_get("/_throttle?bps=0");
  gtk_widget_activate_action(row, "row.download", NULL);
  wait_until(have_installed, NULL, "model-installed");
  g_assert_cmpstr(installed_path, ==, dir);
  wait_state(row, "installed");
  g_autofree char *config = g_build_filename(dir, "config.json", NULL);
  g_assert_true(g_file_test(config, G_FILE_TEST_IS_REGULAR));
  /* It is listed among the models on this computer, with its size on disk. */
  g_assert_nonnull(
      gui_find_descendant(GTK_WIDGET(manager), IVL_TYPE_INSTALLED_ROW, "InternVL3-1B"));
  gui_settle(200);
  screenshots(GTK_WINDOW(manager), "model-manager-installed", TRUE);

  /* Deleted after confirmation. */
  gtk_widget_activate_action(row, "row.delete", NULL);
  answer_dialog("delete");
  wait_until(missing, dir, "the model folder deleted");
  wait_state(row, "get");

  /* A second download cancelled, deleting its part. */
  GtkWidget *row2 = gui_find_descendant(GTK_WIDGET(manager), IVL_TYPE_MODEL_ROW, "InternVL3-2B");
  g_autofree char *dir2 =
      g_build_filename(g_get_user_data_dir(), "ivl", "models", "InternVL3-2B", NULL);
  server_get("/_throttle?bps=200000");
  gtk_widget_activate_action(row2, "row.download", NULL);
  wait_until(progressed, row2, "the second download");
  gtk_widget_activate_action(row2, "row.cancel", NULL);
  answer_dialog("delete");
  wait_until(missing, dir2, "the partial download deleted");
  wait_state(row2, "get");

  gtk_window_destroy(GTK_WINDOW(manager));
  gui_settle(100);
}

static GtkWidget *status_label(GtkWidget *row)
{
  /* The third label of the row's text column: title, facts, status. */
  GtkWidget *title = gui_find_descendant(row, GTK_TYPE_LABEL, NULL);
  return gtk_widget_get_next_sibling(gtk_widget_get_next_sibling(title));
}

static gboolean is_ellipsized_or_capped(GtkWidget *label)
{
  return gtk_label_get_ellipsize(GTK_LABEL(label)) != PANGO_ELLIPSIZE_NONE ||
         gtk_label_get_lines(GTK_LABEL(label)) > 0;
}

/* Offline: the hub's whole message on the row, red on its own line; the row and its button
 * keep their colours and layout, and Try Again works once the hub answers. */
static void test_offline(void)
{
  IvlModelManager *manager = ivl_model_manager_new(NULL, NULL);
  gtk_window_present(GTK_WINDOW(manager));
  gui_settle(300);
  GtkWidget *row = gui_find_descendant(GTK_WIDGET(manager), IVL_TYPE_MODEL_ROW, "InternVL3-1B");
  g_assert_cmpstr(row_state(row), ==, "get");

  /* Port 1 on loopback: nothing listens, the connection is refused at once. */
  g_setenv("HF_ENDPOINT", "http://127.0.0.1:1", TRUE);
  gtk_widget_activate_action(row, "row.download", NULL);
  wait_state(row, "failed");
  GtkWidget *status = status_label(row);
  g_assert_true(gtk_widget_get_visible(status));
  g_assert_true(gtk_widget_has_css_class(status, "error"));
  g_assert_false(is_ellipsized_or_capped(status));
  const char *text = gtk_label_get_text(GTK_LABEL(status));
  g_assert_nonnull(strstr(text, "Could not reach 127.0.0.1"));
  g_assert_nonnull(strstr(text, "HF_ENDPOINT"));
  g_assert_false(gtk_widget_has_css_class(row, "error"));
  GtkWidget *stack = gui_find_descendant(row, GTK_TYPE_STACK, NULL);
  GtkWidget *retry = gtk_stack_get_visible_child(GTK_STACK(stack));
  g_assert_cmpstr(gtk_button_get_label(GTK_BUTTON(retry)), ==, "Try Again");
  g_assert_false(gtk_widget_has_css_class(retry, "error"));
  screenshots(GTK_WINDOW(manager), "model-manager-offline", TRUE);

  g_setenv("HF_ENDPOINT", endpoint, TRUE);
  server_get("/_throttle?bps=0");
  gtk_widget_activate_action(row, "row.download", NULL);
  wait_state(row, "installed");
  g_assert_false(gtk_widget_get_visible(status));
  g_autofree char *dir =
      g_build_filename(g_get_user_data_dir(), "ivl", "models", "InternVL3-1B", NULL);
  gtk_widget_activate_action(row, "row.delete", NULL);
  answer_dialog("delete");
  wait_until(missing, dir, "the model folder deleted");
  gtk_window_destroy(GTK_WINDOW(manager));
  gui_settle(100);
}

static gboolean dialog_says(const char *needle)
{
  AdwMessageDialog *dialog = NULL;
  wait_until(message_dialog_shown, &dialog, "a message dialog");
  return strstr(adw_message_dialog_get_heading(dialog), needle) != NULL;
}

/* A model that cannot run here says so on its button and asks before downloading. */
static void test_too_large(void)
{
  IvlModelManager *manager = ivl_model_manager_new(NULL, NULL);
  gtk_window_present(GTK_WINDOW(manager));
  gui_settle(300);
  GtkWidget *row = gui_find_descendant(GTK_WIDGET(manager), IVL_TYPE_MODEL_ROW, "InternVL3-78B");
  GtkWidget *stack = gui_find_descendant(row, GTK_TYPE_STACK, NULL);
  GtkWidget *button = gtk_stack_get_visible_child(GTK_STACK(stack));
  if (g_strcmp0(gtk_button_get_label(GTK_BUTTON(button)), "Download…") != 0) {
    g_test_skip("this computer has the memory for InternVL3-78B");
    gtk_window_destroy(GTK_WINDOW(manager));
    return;
  }
  GtkWidget *small = gui_find_descendant(GTK_WIDGET(manager), IVL_TYPE_MODEL_ROW, "InternVL3-1B");
  button = gtk_stack_get_visible_child(GTK_STACK(gui_find_descendant(small, GTK_TYPE_STACK, NULL)));
  g_assert_cmpstr(gtk_button_get_label(GTK_BUTTON(button)), ==, "Download");
  /* The row says where it would run: on a server (issue 18); the small one runs here. */
  g_assert_true(gui_shows_text(row, "Better run on a server"));
  g_assert_false(gui_shows_text(small, "run on a server"));

  gtk_widget_activate_action(row, "row.download", NULL);
  g_assert_true(dialog_says("too large for this computer"));
  {
    AdwMessageDialog *dialog = NULL;
    wait_until(message_dialog_shown, &dialog, "a message dialog");
    gui_settle(300);
    save_png(GTK_WIDGET(dialog), "model-manager-too-large.png");
  }
  answer_dialog("cancel");
  gui_settle(100);
  g_assert_cmpstr(row_state(row), ==, "get");
  g_autofree char *dir =
      g_build_filename(g_get_user_data_dir(), "ivl", "models", "InternVL3-78B", NULL);
  g_assert_false(g_file_test(dir, G_FILE_TEST_EXISTS));
  gtk_window_destroy(GTK_WINDOW(manager));
  gui_settle(100);
}

/* Two GPUs of FAKE_GPU_GIB each, made up by fake-gpus.c before the manager first asks. */
extern int fake_ivl_n_gpus;
extern guint64 fake_ivl_gpu_bytes;
#define FAKE_GPU_GIB 24

/* A model too large for one GPU says how the engine's split would place it over both, in
 * the most precise weights that fit them; one too large for both says what each lacks. */
static void test_gpus(void)
{
  /* 14B's config copied in by hand: the models on this computer say the same from it. */
  guint n_sizes;
  const ivl_model_size *sizes = ivl_model_sizes(&n_sizes);
  g_assert_cmpstr(sizes[4].name, ==, "InternVL3-14B");
  ivl_tiny_model_params params = ivl_tiny_model_params_for_size(&sizes[4]);
  g_autofree char *json = ivl_tiny_model_config_json(&params);
  g_autofree char *copy =
      g_build_filename(g_get_user_data_dir(), "ivl", "models", "Copied-14B", NULL);
  g_autofree char *config = g_build_filename(copy, "config.json", NULL);
  g_assert_cmpint(g_mkdir_with_parents(copy, 0755), ==, 0);
  g_assert_true(g_file_set_contents(config, json, -1, NULL));

  IvlModelManager *manager = ivl_model_manager_new(NULL, NULL);
  gtk_window_present(GTK_WINDOW(manager));
  gui_settle(300);
  GtkWidget *small = gui_find_descendant(GTK_WIDGET(manager), IVL_TYPE_MODEL_ROW, "InternVL3-1B");
  GtkWidget *split = gui_find_descendant(GTK_WIDGET(manager), IVL_TYPE_MODEL_ROW, "InternVL3-14B");
  GtkWidget *large = gui_find_descendant(GTK_WIDGET(manager), IVL_TYPE_MODEL_ROW, "InternVL3-78B");
  g_assert_false(gui_shows_text(small, "GPUs 0-1"));
  /* 14B in bf16 (about 34 GB with its KV cache) on two 24 GiB cards, the first holding the
   * vision tower and lm_head beside its share of the layers: it runs here, no server needed */
  g_assert_true(gui_shows_text(split, "layers over GPUs 0-1: "));
  g_assert_false(gui_shows_text(split, "run on a server"));
  /* 78B even in 4-bit overflows the second card's half of the layers */
  g_assert_true(
      gui_shows_text(large, "too large for GPUs 0-1 even with 4-bit weights: GPU 1 lacks "));
  g_assert_true(gui_shows_text(large, "Better run on a server"));
  GtkWidget *copied =
      gui_find_descendant(GTK_WIDGET(manager), IVL_TYPE_INSTALLED_ROW, "Copied-14B");
  g_assert_true(gui_shows_text(copied, "layers over GPUs 0-1: "));
  save_png(GTK_WIDGET(manager), "model-manager-two-gpus-copied.png");
  /* The pictures show the large sizes: their -hf twins at the end of the list say the same. */
  GtkWidget *twin =
      gui_find_descendant(GTK_WIDGET(manager), IVL_TYPE_MODEL_ROW, "InternVL3-14B-hf");
  GtkScrolledWindow *scroller =
      GTK_SCROLLED_WINDOW(gui_find_descendant(GTK_WIDGET(manager), GTK_TYPE_SCROLLED_WINDOW, NULL));
  double x, y;
  g_assert_true(gtk_widget_translate_coordinates(twin, gtk_scrolled_window_get_child(scroller), 0,
                                                 0, &x, &y));
  gtk_adjustment_set_value(gtk_scrolled_window_get_vadjustment(scroller), y - 12);
  screenshots(GTK_WINDOW(manager), "model-manager-two-gpus", TRUE);
  gtk_window_destroy(GTK_WINDOW(manager));
  gui_settle(100);
  g_assert_cmpint(g_unlink(config), ==, 0);
  g_assert_cmpint(g_rmdir(copy), ==, 0);
}

static void write_file(const char *dir, const char *name, gsize size)
{
  g_autofree char *path = g_build_filename(dir, name, NULL);
  g_autofree char *parent = g_path_get_dirname(path);
  g_autofree char *data = g_malloc0(size);
  g_assert_cmpint(g_mkdir_with_parents(parent, 0755), ==, 0);
  g_assert_true(g_file_set_contents(path, data, (gssize)size, NULL));
}

static gboolean size_shown(gpointer data)
{
  return ivl_installed_row_get_bytes(data) > 0;
}

/* Folders copied in by hand and a Hugging Face cache snapshot are listed with their size on
 * disk (shards in a subfolder count); the first is deleted, the cache's is not offered. */
static void test_installed(void)
{
  g_autofree char *mine =
      g_build_filename(g_get_user_data_dir(), "ivl", "models", "My-Model", NULL);
  write_file(mine, "config.json", 1000);
  write_file(mine, "shards/model-00001.safetensors", 2 * 1000 * 1000);
  g_autofree char *hub =
      g_build_filename(g_getenv("HF_HOME"), "hub", "models--OpenGVLab--InternVL3-2B", NULL);
  g_autofree char *snapshot = g_build_filename(hub, "snapshots", "abc", NULL);
  write_file(snapshot, "config.json", 500);
  write_file(hub, "refs/main", 0);
  g_autofree char *ref = g_build_filename(hub, "refs", "main", NULL);
  g_assert_true(g_file_set_contents(ref, "abc", -1, NULL));

  IvlModelManager *manager = ivl_model_manager_new(NULL, NULL);
  gtk_window_present(GTK_WINDOW(manager));
  GtkWidget *row = gui_find_descendant(GTK_WIDGET(manager), IVL_TYPE_INSTALLED_ROW, "My-Model");
  GtkWidget *cached =
      gui_find_descendant(GTK_WIDGET(manager), IVL_TYPE_INSTALLED_ROW, "OpenGVLab/InternVL3-2B");
  g_assert_nonnull(row);
  g_assert_nonnull(cached);
  wait_until(size_shown, row, "the size on disk");
  g_assert_cmpuint(ivl_installed_row_get_bytes(IVL_INSTALLED_ROW(row)), ==, 2001000);
  wait_until(size_shown, cached, "the cached model's size");
  GtkWidget *trash = gui_find_descendant(cached, GTK_TYPE_BUTTON, NULL);
  g_assert_false(trash && gtk_widget_get_visible(trash));
  gui_settle(200);
  g_assert_true(gtk_widget_get_visible(gui_find_descendant(row, GTK_TYPE_BUTTON, NULL)));
  screenshots(GTK_WINDOW(manager), "model-manager-on-this-computer", TRUE);

  gtk_widget_activate_action(row, "row.delete", NULL);
  answer_dialog("delete");
  wait_until(missing, mine, "the copied-in model deleted");
  gui_settle(200);
  g_assert_null(gui_find_descendant(GTK_WIDGET(manager), IVL_TYPE_INSTALLED_ROW, "My-Model"));
  g_assert_nonnull(
      gui_find_descendant(GTK_WIDGET(manager), IVL_TYPE_INSTALLED_ROW, "OpenGVLab/InternVL3-2B"));
  gtk_window_destroy(GTK_WINDOW(manager));
  gui_settle(100);
  g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", hub);
  g_assert_cmpint(system(cmd), ==, 0);
}

static void start_server(const char *work)
{
  g_autofree char *repo = g_build_filename(work, "server-repo", NULL);
  g_autofree char *script =
      g_build_filename(g_getenv("IVL_SOURCE_ROOT"), "tests", "net", "hub_server.py", NULL);
  g_autoptr(GError) error = NULL;
  server = g_subprocess_new(G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDIN_PIPE, &error,
                            "/usr/bin/python3", script, "--write-repo", repo, NULL);
  g_assert_no_error(error);
  g_autoptr(GDataInputStream) out = g_data_input_stream_new(g_subprocess_get_stdout_pipe(server));
  g_autofree char *line = g_data_input_stream_read_line(out, NULL, NULL, &error);
  g_assert_no_error(error);
  g_assert_true(line && g_str_has_prefix(line, "PORT "));
  endpoint = g_strdup_printf("http://127.0.0.1:%s", line + 5);
}

int main(int argc, char **argv)
{
  gui_fail_on_warnings();
  g_autofree char *work = g_dir_make_tmp("ivl-model-manager-XXXXXX", NULL);
  g_autofree char *data = g_build_filename(work, "data", NULL);
  g_autofree char *hf = g_build_filename(work, "hf", NULL);
  g_setenv("XDG_DATA_HOME", data, TRUE);
  g_setenv("HF_HOME", hf, TRUE);
  g_unsetenv("HF_HUB_CACHE");
  g_unsetenv("HF_TOKEN");
  g_assert_cmpint(g_chdir(work), ==, 0);
  start_server(work);
  g_setenv("HF_ENDPOINT", endpoint, TRUE);

  fake_ivl_n_gpus = 2;
  fake_ivl_gpu_bytes = (guint64)FAKE_GPU_GIB << 30;

  gtk_test_init(&argc, &argv, NULL);
  adw_init();
  adw_style_manager_set_color_scheme(adw_style_manager_get_default(), ADW_COLOR_SCHEME_FORCE_LIGHT);
  g_test_add_func("/model-manager/download-pause-resume-delete", test_manager);
  g_test_add_func("/model-manager/offline", test_offline);
  g_test_add_func("/model-manager/too-large", test_too_large);
  g_test_add_func("/model-manager/installed", test_installed);
  g_test_add_func("/model-manager/gpus", test_gpus);
  int status = g_test_run();
  g_subprocess_force_exit(server);
  if (status == 0) {
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", work);
    (void)system(cmd);
  }
  return status;
}
