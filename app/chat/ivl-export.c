/* ivl-export.c — a conversation written out as Markdown or as OpenAI-format JSON. */
#include "ivl-config.h"

#include "ivl-export.h"

#include <glib/gi18n.h>
#include <glib/gstdio.h>

#include "json-check.h"

/* What the thread needs, taken on the main thread: the conversation as it is saved. */
typedef struct {
  JsonNode *conversation; /* ivl_conversation_to_json */
  char *title;
  char *images_dir;
  char *path;
  IvlExportFormat format;
} Export;

static void export_free(Export *e)
{
  json_node_unref(e->conversation);
  g_free(e->title);
  g_free(e->images_dir);
  g_free(e->path);
  g_free(e);
}

static gboolean write_file(const char *path, const char *data, gsize len, GError **error)
{
  return g_file_set_contents_full(path, data, (gssize)len, G_FILE_SET_CONTENTS_CONSISTENT, 0644,
                                  error);
}

/* ---- Markdown ----------------------------------------------------------------------------- */

/* "photos.md" -> "photos-files": the folder its media go into, beside it. */
static char *files_folder_name(const char *path)
{
  g_autofree char *base = g_path_get_basename(path);
  char *dot = strrchr(base, '.');

  if (dot && dot != base)
    *dot = '\0';
  return g_strconcat(base, "-files", NULL);
}

static gboolean copy_beside(const char *from, const char *to_dir, GError **error)
{
  g_autofree char *name = g_path_get_basename(from);
  g_autofree char *to = g_build_filename(to_dir, name, NULL);
  g_autoptr(GFile) source = g_file_new_for_path(from);
  g_autoptr(GFile) dest = g_file_new_for_path(to);

  if (g_mkdir_with_parents(to_dir, 0755) != 0) {
    int e = errno;
    g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(e),
                _("Could not create the folder “%s”: %s"), to_dir, g_strerror(e));
    return FALSE;
  }
  return g_file_copy(source, dest, G_FILE_COPY_OVERWRITE, NULL, NULL, NULL, error);
}

static gboolean markdown_media(Export *e, JsonArray *media, const char *folder,
                               const char *folder_path, GString *out, GError **error)
{
  for (guint i = 0; media && i < json_array_get_length(media); i++) {
    JsonObject *m = ivl_json_object_element(media, i);
    const char *file = m ? ivl_json_string_or(m, "file", NULL) : NULL;
    if (file == NULL || strchr(file, '/'))
      continue;
    g_autofree char *stored = g_build_filename(e->images_dir, file, NULL);
    if (!copy_beside(stored, folder_path, error))
      return FALSE;
    /* <…> keeps a folder name with spaces or brackets one link (CommonMark). */
    if (ivl_json_bool_or(m, "video", FALSE))
      g_string_append_printf(out, "[%s](<%s/%s>)\n\n", _("Video"), folder, file);
    else
      g_string_append_printf(out, "![%s](<%s/%s>)\n\n", _("Image"), folder, file);
  }
  return TRUE;
}

static gboolean write_markdown(Export *e, GError **error)
{
  JsonArray *messages = ivl_json_array_member(json_node_get_object(e->conversation), "messages");
  JsonObject *conversation = json_node_get_object(e->conversation);
  const char *system = ivl_json_string_or(conversation, "system_message", NULL);
  g_autofree char *folder = files_folder_name(e->path);
  g_autofree char *dir = g_path_get_dirname(e->path);
  g_autofree char *folder_path = g_build_filename(dir, folder, NULL);
  g_autoptr(GString) out = g_string_new(NULL);

  g_string_append_printf(out, "# %s\n\n", e->title);
  if (system && *system)
    g_string_append_printf(out, "> **%s:** %s\n\n", _("System prompt"), system);
  for (guint i = 0; messages && i < json_array_get_length(messages); i++) {
    JsonObject *m = ivl_json_object_element(messages, i);
    gboolean user;
    if (m == NULL)
      continue;
    user = g_strcmp0(ivl_json_string_or(m, "role", ""), "user") == 0;
    g_string_append_printf(out, "## %s\n\n", user ? _("You") : _("Assistant"));
    if (!markdown_media(e, ivl_json_array_member(m, "media"), folder, folder_path, out, error))
      return FALSE;
    g_string_append(out, ivl_json_string_or(m, "text", ""));
    g_string_append(out, "\n\n");
  }
  return write_file(e->path, out->str, out->len, error);
}

/* ---- JSON --------------------------------------------------------------------------------- */

static char *data_url(const char *path, GError **error)
{
  g_autofree char *data = NULL;
  gsize len;
  g_autofree char *type = NULL;
  g_autofree char *mime = NULL;
  g_autofree char *b64 = NULL;

  if (!g_file_get_contents(path, &data, &len, error))
    return NULL;
  type = g_content_type_guess(path, (const guchar *)data, MIN(len, 4096), NULL);
  mime = g_content_type_get_mime_type(type);
  b64 = g_base64_encode((const guchar *)data, len);
  return g_strdup_printf("data:%s;base64,%s", mime ? mime : "application/octet-stream", b64);
}

/* A question as OpenAI content parts: its media (as InternVL puts them, before the text),
 * then the text. */
static gboolean json_question(Export *e, JsonObject *m, JsonBuilder *b, GError **error)
{
  JsonArray *media = ivl_json_array_member(m, "media");

  json_builder_begin_array(b);
  for (guint i = 0; media && i < json_array_get_length(media); i++) {
    JsonObject *a = ivl_json_object_element(media, i);
    const char *file = a ? ivl_json_string_or(a, "file", NULL) : NULL;
    if (file == NULL || strchr(file, '/'))
      continue;
    g_autofree char *stored = g_build_filename(e->images_dir, file, NULL);
    g_autofree char *url = data_url(stored, error);
    /* vLLM's video_url part, which `ivl serve` reads too. */
    const char *kind = ivl_json_bool_or(a, "video", FALSE) ? "video_url" : "image_url";
    if (url == NULL)
      return FALSE;
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "type");
    json_builder_add_string_value(b, kind);
    json_builder_set_member_name(b, kind);
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "url");
    json_builder_add_string_value(b, url);
    json_builder_end_object(b);
    json_builder_end_object(b);
  }
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "type");
  json_builder_add_string_value(b, "text");
  json_builder_set_member_name(b, "text");
  json_builder_add_string_value(b, ivl_json_string_or(m, "text", ""));
  json_builder_end_object(b);
  json_builder_end_array(b);
  return TRUE;
}

static void json_plain_message(JsonBuilder *b, const char *role, const char *content)
{
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "role");
  json_builder_add_string_value(b, role);
  json_builder_set_member_name(b, "content");
  json_builder_add_string_value(b, content);
  json_builder_end_object(b);
}

static gboolean write_json(Export *e, GError **error)
{
  JsonObject *conversation = json_node_get_object(e->conversation);
  JsonArray *messages = ivl_json_array_member(conversation, "messages");
  const char *system = ivl_json_string_or(conversation, "system_message", NULL);
  g_autoptr(JsonBuilder) b = json_builder_new();
  g_autoptr(JsonGenerator) gen = json_generator_new();
  g_autoptr(JsonNode) root = NULL;
  g_autofree char *data = NULL;
  gsize len;

  json_builder_begin_object(b);
  json_builder_set_member_name(b, "title");
  json_builder_add_string_value(b, e->title);
  json_builder_set_member_name(b, "messages");
  json_builder_begin_array(b);
  if (system && *system)
    json_plain_message(b, "system", system);
  for (guint i = 0; messages && i < json_array_get_length(messages); i++) {
    JsonObject *m = ivl_json_object_element(messages, i);
    if (m == NULL)
      continue;
    if (g_strcmp0(ivl_json_string_or(m, "role", ""), "user") != 0) {
      json_plain_message(b, "assistant", ivl_json_string_or(m, "text", ""));
      continue;
    }
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "role");
    json_builder_add_string_value(b, "user");
    json_builder_set_member_name(b, "content");
    if (!json_question(e, m, b, error))
      return FALSE;
    json_builder_end_object(b);
  }
  json_builder_end_array(b);
  json_builder_end_object(b);
  root = json_builder_get_root(b);
  json_generator_set_root(gen, root);
  json_generator_set_pretty(gen, TRUE);
  data = json_generator_to_data(gen, &len);
  return write_file(e->path, data, len, error);
}

/* ---- the task ----------------------------------------------------------------------------- */

static void export_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  Export *e = data;
  GError *error = NULL;
  gboolean ok;

  (void)source;
  (void)cancellable;
  ok = e->format == IVL_EXPORT_JSON ? write_json(e, &error) : write_markdown(e, &error);
  if (ok)
    g_task_return_boolean(task, TRUE);
  else
    g_task_return_error(task, error);
}

void ivl_export_async(IvlConversation *conversation, const char *images_dir, IvlExportFormat format,
                      const char *path, GCancellable *cancellable, GAsyncReadyCallback callback,
                      gpointer user_data)
{
  g_autoptr(GTask) task = g_task_new(NULL, cancellable, callback, user_data);
  Export *e = g_new0(Export, 1);

  e->conversation = ivl_conversation_to_json(conversation);
  e->title = g_strdup(ivl_conversation_get_title(conversation));
  e->images_dir = g_strdup(images_dir);
  e->path = g_strdup(path);
  e->format = format;
  g_task_set_source_tag(task, ivl_export_async);
  g_task_set_task_data(task, e, (GDestroyNotify)export_free);
  g_task_run_in_thread(task, export_thread);
}

gboolean ivl_export_finish(GAsyncResult *result, GError **error)
{
  g_return_val_if_fail(g_task_is_valid(result, NULL), FALSE);
  return g_task_propagate_boolean(G_TASK(result), error);
}
