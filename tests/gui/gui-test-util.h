/* gui-test-util.h — driving a real GTK window from a test: waiting and screenshots. */
#ifndef IVL_GUI_TEST_UTIL_H
#define IVL_GUI_TEST_UTIL_H

#include <gtk/gtk.h>

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

/* Any warning or critical (from our code, GTK, libadwaita, GLib, GStreamer's GLib side; on
 * any thread) ends the test at once with its message, whether or not G_DEBUG says so: a
 * GUI test passes only with a clean log. Called first in main, before anything logs. */
static inline GLogWriterOutput gui_strict_log_writer(GLogLevelFlags level,
                                                     const GLogField *fields, gsize n_fields,
                                                     gpointer data)
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
