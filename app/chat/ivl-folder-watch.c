/* ivl-folder-watch.c — notices model folders copied in or removed while the app runs. */
#include "ivl-folder-watch.h"

#define QUIET_MS 500

struct _IvlFolderWatch {
  GObject parent_instance;

  GHashTable *monitors; /* path -> GFileMonitor */
  GHashTable *tops;     /* the folders asked for, whose subfolders are watched too */
  guint quiet_source;
};

G_DEFINE_FINAL_TYPE(IvlFolderWatch, ivl_folder_watch, G_TYPE_OBJECT)

enum { SIGNAL_CHANGED, N_SIGNALS };
static guint signals[N_SIGNALS];

static void watch(IvlFolderWatch *self, const char *path);

static gboolean emit_changed(gpointer data)
{
  IvlFolderWatch *self = data;

  self->quiet_source = 0;
  g_signal_emit(self, signals[SIGNAL_CHANGED], 0);
  return G_SOURCE_REMOVE;
}

static void on_event(GFileMonitor *monitor, GFile *file, GFile *other, GFileMonitorEvent event,
                     IvlFolderWatch *self)
{
  g_autoptr(GFile) parent = g_file_get_parent(file);
  g_autofree char *parent_path = parent ? g_file_get_path(parent) : NULL;

  (void)monitor;
  (void)other;
  /* A folder that appears in a watched top folder may become a model: watch it too. */
  if ((event == G_FILE_MONITOR_EVENT_CREATED || event == G_FILE_MONITOR_EVENT_MOVED_IN) &&
      parent_path && g_hash_table_contains(self->tops, parent_path) &&
      g_file_query_file_type(file, G_FILE_QUERY_INFO_NONE, NULL) == G_FILE_TYPE_DIRECTORY) {
    g_autofree char *path = g_file_get_path(file);
    watch(self, path);
  }
  if (self->quiet_source)
    g_source_remove(self->quiet_source);
  self->quiet_source = g_timeout_add(QUIET_MS, emit_changed, self);
}

static void watch(IvlFolderWatch *self, const char *path)
{
  g_autoptr(GFile) file = g_file_new_for_path(path);
  GFileMonitor *monitor;

  if (g_hash_table_contains(self->monitors, path))
    return;
  monitor = g_file_monitor_directory(file, G_FILE_MONITOR_WATCH_MOVES, NULL, NULL);
  if (monitor == NULL)
    return;
  g_signal_connect(monitor, "changed", G_CALLBACK(on_event), self);
  g_hash_table_insert(self->monitors, g_strdup(path), monitor);
}

void ivl_folder_watch_add(IvlFolderWatch *self, const char *folder)
{
  g_autofree char *top = NULL;
  g_autoptr(GDir) dir = NULL;
  const char *name;

  if (folder == NULL || *folder == '\0' || !g_file_test(folder, G_FILE_TEST_IS_DIR))
    return;
  top = g_canonicalize_filename(folder, NULL);
  g_hash_table_add(self->tops, g_strdup(top));
  watch(self, top);
  dir = g_dir_open(top, 0, NULL);
  while (dir && (name = g_dir_read_name(dir))) {
    g_autofree char *path = g_build_filename(top, name, NULL);
    if (name[0] != '.' && g_file_test(path, G_FILE_TEST_IS_DIR))
      watch(self, path);
  }
}

static void stop_monitor(gpointer monitor)
{
  g_signal_handlers_disconnect_matched(monitor, G_SIGNAL_MATCH_FUNC, 0, 0, NULL, on_event, NULL);
  g_file_monitor_cancel(monitor);
  g_object_unref(monitor);
}

void ivl_folder_watch_clear(IvlFolderWatch *self)
{
  g_hash_table_remove_all(self->monitors);
  g_hash_table_remove_all(self->tops);
  g_clear_handle_id(&self->quiet_source, g_source_remove);
}

static void ivl_folder_watch_finalize(GObject *object)
{
  IvlFolderWatch *self = IVL_FOLDER_WATCH(object);

  ivl_folder_watch_clear(self);
  g_hash_table_unref(self->monitors);
  g_hash_table_unref(self->tops);
  G_OBJECT_CLASS(ivl_folder_watch_parent_class)->finalize(object);
}

static void ivl_folder_watch_class_init(IvlFolderWatchClass *klass)
{
  G_OBJECT_CLASS(klass)->finalize = ivl_folder_watch_finalize;
  signals[SIGNAL_CHANGED] = g_signal_new("changed", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST,
                                         0, NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void ivl_folder_watch_init(IvlFolderWatch *self)
{
  self->monitors = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, stop_monitor);
  self->tops = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
}

IvlFolderWatch *ivl_folder_watch_new(void)
{
  return g_object_new(IVL_TYPE_FOLDER_WATCH, NULL);
}
