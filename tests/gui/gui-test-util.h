/* gui-test-util.h — driving a real GTK window from a test: waiting and screenshots. */
#ifndef IVL_GUI_TEST_UTIL_H
#define IVL_GUI_TEST_UTIL_H

#include <adwaita.h>
#include <string.h>
#include <unistd.h>

typedef gboolean (*GuiCondition)(gpointer data);

/* Runs the main context until cond(data) holds; after timeout_ms calls on_timeout (may be
 * NULL, e.g. to print what the window shows) and fails the test naming what. */
static inline void gui_wait_until(GuiCondition cond, gpointer data, const char *what,
                                  int timeout_ms, void (*on_timeout)(void))
{
  gint64 end = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
  while (!cond(data)) {
    if (g_get_monotonic_time() > end) {
      if (on_timeout)
        on_timeout();
      g_error("timed out waiting for %s", what);
    }
    g_main_context_iteration(NULL, FALSE);
    g_usleep(1000);
  }
}

static inline gboolean gui_time_reached(gpointer data)
{
  return g_get_monotonic_time() >= *(gint64 *)data;
}

/* Lets layout, transitions and idle work settle for ms milliseconds. */
static inline void gui_settle(int ms)
{
  gint64 end = g_get_monotonic_time() + (gint64)ms * 1000;
  gui_wait_until(gui_time_reached, &end, "time", ms + 1000, NULL);
}

/* Renders widget as the screen shows it and writes it to path as PNG. */
static inline void gui_save_png(GtkWidget *widget, const char *path)
{
  int w = gtk_widget_get_width(widget), h = gtk_widget_get_height(widget);
  g_autoptr(GdkPaintable) paintable = gtk_widget_paintable_new(widget);
  g_autoptr(GskRenderNode) node = NULL;
  /* The paintable holds what the widget last drew: nothing before its first frame, which a
   * loaded machine can draw late. */
  for (int tries = 0; node == NULL && tries < 40; tries++) {
    GtkSnapshot *snapshot = gtk_snapshot_new();
    gdk_paintable_snapshot(paintable, snapshot, w, h);
    node = gtk_snapshot_free_to_node(snapshot);
    if (node == NULL)
      gui_settle(50);
  }
  g_assert_nonnull(node);
  g_autoptr(GdkTexture) texture =
      gsk_renderer_render_texture(gtk_native_get_renderer(gtk_widget_get_native(widget)), node,
                                  &GRAPHENE_RECT_INIT(0, 0, w, h));
  g_assert_true(gdk_texture_save_to_png(texture, path));
}

/* ---- finding what a window shows ---------------------------------------------------------- */

/* The drawn labels under widget, for the log of a failed wait. */
static inline void gui_print_labels(GtkWidget *widget)
{
  if (GTK_IS_LABEL(widget) && gtk_widget_is_drawable(widget) &&
      *gtk_label_get_text(GTK_LABEL(widget)))
    g_printerr("  label: %s\n", gtk_label_get_text(GTK_LABEL(widget)));
  for (GtkWidget *c = gtk_widget_get_first_child(widget); c; c = gtk_widget_get_next_sibling(c))
    gui_print_labels(c);
}

/* Whether a drawn label with needle somewhere in its text is under widget (e.g. a toast). */
static inline gboolean gui_shows_text(GtkWidget *widget, const char *needle)
{
  if (GTK_IS_LABEL(widget) && gtk_widget_is_drawable(widget) &&
      strstr(gtk_label_get_text(GTK_LABEL(widget)), needle))
    return TRUE;
  for (GtkWidget *c = gtk_widget_get_first_child(widget); c; c = gtk_widget_get_next_sibling(c))
    if (gui_shows_text(c, needle))
      return TRUE;
  return FALSE;
}

typedef struct {
  GtkWidget *widget;
  const char *text;
} GuiTextWait;

/* A GuiCondition over a GuiTextWait. */
static inline gboolean gui_text_shown(gpointer data)
{
  GuiTextWait *w = data;
  return gui_shows_text(w->widget, w->text);
}

static inline GtkWidget *gui_find_button(GtkWidget *widget, const char *label)
{
  if (GTK_IS_BUTTON(widget) && g_strcmp0(gtk_button_get_label(GTK_BUTTON(widget)), label) == 0)
    return widget;
  for (GtkWidget *c = gtk_widget_get_first_child(widget); c; c = gtk_widget_get_next_sibling(c)) {
    GtkWidget *found = gui_find_button(c, label);
    if (found)
      return found;
  }
  return NULL;
}

/* The first widget of this type under widget (itself included); with a title, the first
 * such preferences row with that title. */
static inline GtkWidget *gui_find_descendant(GtkWidget *widget, GType type, const char *title)
{
  if (G_TYPE_CHECK_INSTANCE_TYPE(widget, type) &&
      (!title || g_strcmp0(adw_preferences_row_get_title(ADW_PREFERENCES_ROW(widget)), title) == 0))
    return widget;
  for (GtkWidget *c = gtk_widget_get_first_child(widget); c; c = gtk_widget_get_next_sibling(c)) {
    GtkWidget *found = gui_find_descendant(c, type, title);
    if (found)
      return found;
  }
  return NULL;
}

static inline GtkWindow *gui_find_toplevel(GType type)
{
  GListModel *tops = gtk_window_get_toplevels(); /* not ours to free */

  for (guint i = 0; i < g_list_model_get_n_items(tops); i++) {
    g_autoptr(GtkWindow) w = g_list_model_get_item(tops, i);
    if (G_TYPE_CHECK_INSTANCE_TYPE(w, type))
      return w;
  }
  return NULL;
}

/* A GuiCondition: whether a toplevel of the GType in type is mapped. */
static inline gboolean gui_toplevel_shown(gpointer type)
{
  GtkWindow *w = gui_find_toplevel(GPOINTER_TO_SIZE(type));
  return w && gtk_widget_get_mapped(GTK_WIDGET(w));
}

/* GStreamer sees only the plugins playback needs (linked from $IVL_GST_PLUGINS_DIR into tmp),
 * with a registry of its own: a full system set is slow to scan and drags GTK 3 (the
 * gtkwayland plugin) or DirectFB into this GTK 4 process, which breaks under Xvfb. */
static inline void gui_isolate_gstreamer(const char *tmp)
{
  static const char *const plugins[] = {
      "app",
      "audioconvert",
      "audiofx",
      "audioparsers",
      "audioresample",
      "autodetect",
      "coreelements",
      "id3demux",
      "isomp4",
      "jpeg",
      "libav",
      "matroska",
      "playback",
      "typefindfunctions",
      "videoconvertscale",
      "videoparsersbad",
      "videofilter",
      "volume",
      "vpx",
  };
  const char *system = g_getenv("IVL_GST_PLUGINS_DIR");
  g_autofree char *dir = g_build_filename(tmp, "gst-plugins", NULL);
  g_autofree char *registry = g_build_filename(tmp, "gst-registry.bin", NULL);

  g_mkdir_with_parents(dir, 0700);
  for (guint i = 0; system && i < G_N_ELEMENTS(plugins); i++) {
    g_autofree char *name = g_strdup_printf("libgst%s.so", plugins[i]);
    g_autofree char *from = g_build_filename(system, name, NULL);
    g_autofree char *to = g_build_filename(dir, name, NULL);
    if (g_file_test(from, G_FILE_TEST_EXISTS))
      g_assert_cmpint(symlink(from, to), ==, 0);
  }
  g_setenv("GST_PLUGIN_SYSTEM_PATH_1_0", dir, TRUE);
  g_setenv("GST_PLUGIN_PATH_1_0", "", TRUE);
  g_setenv("GST_REGISTRY_1_0", registry, TRUE);
}

/* Any warning or critical (from our code, GTK, libadwaita, GLib, GStreamer's GLib side; on
 * any thread) ends the test at once with its message, whether or not G_DEBUG says so: a
 * GUI test passes only with a clean log. Called first in main, before anything logs. */
static inline GLogWriterOutput gui_strict_log_writer(GLogLevelFlags level, const GLogField *fields,
                                                     gsize n_fields, gpointer data)
{
  if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING))
    level |= G_LOG_FLAG_FATAL;
  return g_log_writer_default(level, fields, n_fields, data);
}

static inline void gui_fail_on_warnings(void)
{
  g_log_set_writer_func(gui_strict_log_writer, NULL, NULL);
  g_log_set_always_fatal(G_LOG_FATAL_MASK | G_LOG_LEVEL_WARNING | G_LOG_LEVEL_CRITICAL);
}

#endif
