/* ivl-store.c — conversations and their images on disk. */
#include "ivl-config.h"

#include "ivl-store.h"

#include <glib/gi18n.h>
#include <gio/gunixoutputstream.h>
#include <glib/gstdio.h>

#include "json-check.h"

/* The largest conversation file read back; a long chat's text is well under 1 MB. */
#define MAX_CONVERSATION_BYTES ((gsize)64 << 20)

struct _IvlStore {
  GObject parent_instance;

  char *conversations_dir;
  char *images_dir;
  GListStore *conversations; /* IvlConversation, newest first */
};

G_DEFINE_FINAL_TYPE(IvlStore, ivl_store, G_TYPE_OBJECT)

static void ivl_store_finalize(GObject *object)
{
  IvlStore *self = IVL_STORE(object);

  g_free(self->conversations_dir);
  g_free(self->images_dir);
  g_object_unref(self->conversations);
  G_OBJECT_CLASS(ivl_store_parent_class)->finalize(object);
}

static void ivl_store_class_init(IvlStoreClass *klass)
{
  G_OBJECT_CLASS(klass)->finalize = ivl_store_finalize;
}

static void ivl_store_init(IvlStore *self)
{
  self->conversations = g_list_store_new(IVL_TYPE_CONVERSATION);
}

IvlStore *ivl_store_new(const char *base_dir)
{
  IvlStore *self = g_object_new(IVL_TYPE_STORE, NULL);

  self->conversations_dir = g_build_filename(base_dir, "conversations", NULL);
  self->images_dir = g_build_filename(base_dir, "images", NULL);
  return self;
}

const char *ivl_store_get_images_dir(IvlStore *self)
{
  return self->images_dir;
}

static int newest_first(gconstpointer a, gconstpointer b, gpointer user_data)
{
  gint64 ua = ivl_conversation_get_updated((IvlConversation *)a);
  gint64 ub = ivl_conversation_get_updated((IvlConversation *)b);

  (void)user_data;
  if (ua != ub)
    return ua > ub ? -1 : 1;
  return -g_strcmp0(ivl_conversation_get_id((IvlConversation *)a),
                    ivl_conversation_get_id((IvlConversation *)b));
}

static IvlConversation *load_one(IvlStore *self, const char *path, GError **error)
{
  g_autofree char *name = g_path_get_basename(path);
  g_autoptr(JsonParser) parser = ivl_json_load_file(path, MAX_CONVERSATION_BYTES, name, error);

  if (parser == NULL)
    return NULL;
  return ivl_conversation_new_from_json(json_parser_get_root(parser), self->images_dir, error);
}

gboolean ivl_store_load(IvlStore *self, GError **error)
{
  g_autoptr(GDir) dir = g_dir_open(self->conversations_dir, 0, NULL);
  g_autoptr(GString) skipped = g_string_new(NULL);
  const char *name;

  g_list_store_remove_all(self->conversations);
  if (dir == NULL)
    return TRUE; /* nothing saved yet */
  while ((name = g_dir_read_name(dir)) != NULL) {
    if (!g_str_has_suffix(name, ".json"))
      continue;
    g_autofree char *path = g_build_filename(self->conversations_dir, name, NULL);
    g_autoptr(GError) local = NULL;
    g_autoptr(IvlConversation) c = load_one(self, path, &local);
    if (c)
      g_list_store_insert_sorted(self->conversations, c, newest_first, NULL);
    else
      g_string_append_printf(skipped, "%s%s (%s)", skipped->len ? ", " : "", name,
                             local->message);
  }
  if (skipped->len > 0) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                _("Some saved conversations could not be read: %s"), skipped->str);
    return FALSE;
  }
  return TRUE;
}

GListModel *ivl_store_get_conversations(IvlStore *self)
{
  return G_LIST_MODEL(self->conversations);
}

void ivl_store_add(IvlStore *self, IvlConversation *conversation)
{
  g_list_store_insert(self->conversations, 0, conversation);
}

void ivl_store_put_back(IvlStore *self, IvlConversation *conversation)
{
  g_list_store_insert_sorted(self->conversations, conversation, newest_first, NULL);
}

void ivl_store_remove(IvlStore *self, IvlConversation *conversation)
{
  guint pos;

  if (g_list_store_find(self->conversations, conversation, &pos))
    g_list_store_remove(self->conversations, pos);
}

/* Keeps the most recently changed conversation at the top of the sidebar. */
static void move_to_top(IvlStore *self, IvlConversation *conversation)
{
  guint pos;

  if (!g_list_store_find(self->conversations, conversation, &pos) || pos == 0)
    return;
  g_object_ref(conversation);
  g_list_store_remove(self->conversations, pos);
  g_list_store_insert(self->conversations, 0, conversation);
  g_object_unref(conversation);
}

gboolean ivl_store_save(IvlStore *self, IvlConversation *conversation, GError **error)
{
  g_autoptr(JsonGenerator) gen = json_generator_new();
  g_autoptr(JsonNode) root = ivl_conversation_to_json(conversation);
  g_autofree char *name = g_strconcat(ivl_conversation_get_id(conversation), ".json", NULL);
  g_autofree char *path = g_build_filename(self->conversations_dir, name, NULL);
  g_autofree char *data = NULL;
  gsize len;

  if (g_mkdir_with_parents(self->conversations_dir, 0700) != 0) {
    int e = errno;
    g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(e),
                _("Could not create the folder “%s”: %s"), self->conversations_dir,
                g_strerror(e));
    return FALSE;
  }
  json_generator_set_root(gen, root);
  json_generator_set_pretty(gen, TRUE);
  data = json_generator_to_data(gen, &len);
  /* g_file_set_contents writes a temp file and renames it over the old one. */
  if (!g_file_set_contents_full(path, data, (gssize)len, G_FILE_SET_CONTENTS_CONSISTENT, 0600,
                                error))
    return FALSE;
  move_to_top(self, conversation);
  return TRUE;
}

gboolean ivl_store_delete(IvlStore *self, IvlConversation *conversation, GError **error)
{
  g_autofree char *name = g_strconcat(ivl_conversation_get_id(conversation), ".json", NULL);
  g_autofree char *path = g_build_filename(self->conversations_dir, name, NULL);
  guint pos;

  if (g_unlink(path) != 0 && errno != ENOENT) {
    int e = errno;
    g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(e),
                _("Could not delete “%s”: %s"), path, g_strerror(e));
    return FALSE;
  }
  if (g_list_store_find(self->conversations, conversation, &pos))
    g_list_store_remove(self->conversations, pos);
  return TRUE;
}

static gboolean ensure_images_dir(IvlStore *self, GError **error)
{
  if (g_mkdir_with_parents(self->images_dir, 0700) == 0)
    return TRUE;
  int e = errno;
  g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(e),
              _("Could not create the folder “%s”: %s"), self->images_dir, g_strerror(e));
  return FALSE;
}

static char *store_bytes(IvlStore *self, GBytes *bytes, const char *ext, GError **error)
{
  g_autofree char *hash = g_compute_checksum_for_bytes(G_CHECKSUM_SHA256, bytes);
  g_autofree char *name = g_strconcat(hash, ".", ext, NULL);
  g_autofree char *path = g_build_filename(self->images_dir, name, NULL);
  gsize len;
  const char *data = g_bytes_get_data(bytes, &len);

  if (g_file_test(path, G_FILE_TEST_EXISTS))
    return g_steal_pointer(&path);
  if (!ensure_images_dir(self, error))
    return NULL;
  if (!g_file_set_contents_full(path, data, (gssize)len, G_FILE_SET_CONTENTS_CONSISTENT, 0600,
                                error))
    return NULL;
  return g_steal_pointer(&path);
}

static char *extension_of(const char *path)
{
  g_autofree char *base = g_path_get_basename(path);
  const char *dot = strrchr(base, '.');
  g_autofree char *ext = g_ascii_strdown(dot && dot[1] ? dot + 1 : "bin", -1);

  for (char *p = ext; *p; p++)
    if (!g_ascii_isalnum(*p))
      return g_strdup("bin");
  return g_steal_pointer(&ext);
}

/* Copies in to out while hashing, so a long video is read once and never held in memory. */
static char *copy_hashing(GInputStream *in, GOutputStream *out, GError **error)
{
  g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);
  g_autofree guchar *buf = g_malloc(1 << 16);
  gssize n;

  while ((n = g_input_stream_read(in, buf, 1 << 16, NULL, error)) > 0) {
    g_checksum_update(sum, buf, n);
    if (!g_output_stream_write_all(out, buf, n, NULL, NULL, error))
      return NULL;
  }
  if (n < 0 || !g_output_stream_close(out, NULL, error))
    return NULL;
  return g_strdup(g_checksum_get_string(sum));
}

char *ivl_store_import_file(IvlStore *self, const char *path, GError **error)
{
  g_autoptr(GFile) source = g_file_new_for_path(path);
  g_autoptr(GFileInputStream) in = NULL;
  g_autofree char *ext = extension_of(path);
  g_autofree char *hash = NULL;

  in = g_file_read(source, NULL, error);
  if (in == NULL || !ensure_images_dir(self, error))
    return NULL;
  /* Written beside its final place, then renamed: a crash never leaves half an image. */
  g_autofree char *tmp_path = g_build_filename(self->images_dir, ".import-XXXXXX", NULL);
  int fd = g_mkstemp(tmp_path);
  if (fd < 0) {
    int e = errno;
    g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(e), "%s: %s", tmp_path,
                g_strerror(e));
    return NULL;
  }
  g_autoptr(GOutputStream) out = g_unix_output_stream_new(fd, TRUE);
  hash = copy_hashing(G_INPUT_STREAM(in), out, error);
  g_autofree char *name = hash ? g_strconcat(hash, ".", ext, NULL) : NULL;
  g_autofree char *final = name ? g_build_filename(self->images_dir, name, NULL) : NULL;
  if (final == NULL || g_file_test(final, G_FILE_TEST_EXISTS)) {
    g_unlink(tmp_path);
    return g_steal_pointer(&final);
  }
  if (g_rename(tmp_path, final) != 0) {
    int e = errno;
    g_unlink(tmp_path);
    g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(e), "%s: %s", final, g_strerror(e));
    return NULL;
  }
  return g_steal_pointer(&final);
}

static void import_thread(GTask *task, gpointer source, gpointer path, GCancellable *cancellable)
{
  GError *error = NULL;
  char *stored = ivl_store_import_file(source, path, &error);

  (void)cancellable;
  if (stored)
    g_task_return_pointer(task, stored, g_free);
  else
    g_task_return_error(task, error);
}

void ivl_store_import_file_async(IvlStore *self, const char *path, GCancellable *cancellable,
                                 GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr(GTask) task = g_task_new(self, cancellable, callback, user_data);

  g_task_set_task_data(task, g_strdup(path), g_free);
  g_task_run_in_thread(task, (GTaskThreadFunc)import_thread);
}

char *ivl_store_import_file_finish(IvlStore *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail(g_task_is_valid(result, self), NULL);
  return g_task_propagate_pointer(G_TASK(result), error);
}

char *ivl_store_import_texture(IvlStore *self, GdkTexture *texture, GError **error)
{
  g_autoptr(GBytes) png = gdk_texture_save_to_png_bytes(texture);

  return store_bytes(self, png, "png", error);
}
