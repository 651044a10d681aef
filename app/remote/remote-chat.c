/* remote-chat.c — the conversation sent to a server (IvlRemoteChat in remote-client.h). */
#include "ivl-config.h"

#include "file-io.h"
#include "remote-chat-private.h"
#include "remote-media.h"

#include <glib/gi18n.h>

/* The side of a frame tile (spec: InternVL's 448x448 input). */
#define TILE 448

static void media_item_free(IvlRemoteMediaItem *item)
{
  if (!item)
    return;
  g_clear_pointer(&item->bytes, g_bytes_unref);
  g_free(item->mime);
  g_free(item->label);
  g_clear_pointer(&item->frames, g_ptr_array_unref);
  g_free(item);
}

static void message_free(IvlRemoteMessage *m)
{
  g_free(m->role);
  g_free(m->text);
  g_ptr_array_unref(m->media);
  g_free(m);
}

IvlRemoteChat *ivl_remote_chat_new(const char *model)
{
  IvlRemoteChat *chat = g_new0(IvlRemoteChat, 1);
  chat->model = g_strdup(model);
  chat->messages = g_ptr_array_new_with_free_func((GDestroyNotify)message_free);
  chat->params = ivl_generation_default_params();
  return chat;
}

void ivl_remote_chat_free(IvlRemoteChat *chat)
{
  if (!chat)
    return;
  g_free(chat->model);
  g_free(chat->system);
  g_ptr_array_unref(chat->messages);
  g_free(chat);
}

void ivl_remote_chat_set_system(IvlRemoteChat *chat, const char *text)
{
  g_free(chat->system);
  chat->system = text && *text ? g_strdup(text) : NULL;
}

static void add_message(IvlRemoteChat *chat, const char *role, const char *text)
{
  IvlRemoteMessage *m = g_new0(IvlRemoteMessage, 1);
  m->role = g_strdup(role);
  m->text = g_strdup(text ? text : "");
  m->media = g_ptr_array_new_with_free_func((GDestroyNotify)media_item_free);
  g_ptr_array_add(chat->messages, m);
}

void ivl_remote_chat_add_user(IvlRemoteChat *chat, const char *text)
{
  add_message(chat, "user", text);
}

void ivl_remote_chat_add_assistant(IvlRemoteChat *chat, const char *text)
{
  add_message(chat, "assistant", text);
}

guint ivl_remote_chat_get_length(const IvlRemoteChat *chat)
{
  return chat->messages->len;
}

void ivl_remote_chat_truncate(IvlRemoteChat *chat, guint n)
{
  if (n < chat->messages->len)
    g_ptr_array_set_size(chat->messages, n);
}

void ivl_remote_chat_set_params(IvlRemoteChat *chat, const ivl_generation_params *params)
{
  chat->params = *params;
}

/* The last message when it is the user's; media cannot go anywhere else. */
static IvlRemoteMessage *last_user(IvlRemoteChat *chat, GError **error)
{
  IvlRemoteMessage *m = chat->messages->len ? chat->messages->pdata[chat->messages->len - 1] : NULL;
  if (!m || !g_str_equal(m->role, "user")) {
    g_set_error(error, IVL_REMOTE_ERROR, IVL_REMOTE_ERROR_MEDIA,
                _("media must follow a user message"));
    return NULL;
  }
  return m;
}

gboolean ivl_remote_chat_add_image_bytes(IvlRemoteChat *chat, GBytes *bytes, const char *label,
                                         GError **error)
{
  IvlRemoteMessage *m = last_user(chat, error);
  if (!m)
    return FALSE;
  g_autofree char *mime = ivl_remote_media_image_type(bytes);
  if (!mime) {
    g_set_error(error, IVL_REMOTE_ERROR, IVL_REMOTE_ERROR_MEDIA, _("%s: not an image"), label);
    return FALSE;
  }
  IvlRemoteMediaItem *item = g_new0(IvlRemoteMediaItem, 1);
  item->bytes = g_bytes_ref(bytes);
  item->mime = g_steal_pointer(&mime);
  item->label = g_strdup(label);
  g_ptr_array_add(m->media, item);
  return TRUE;
}

static GBytes *read_file(const char *path, GError **error)
{
  char *data = NULL;
  gsize len = 0;
  g_autoptr(GError) local = NULL;
  if (!ivl_file_read(path, IVL_REMOTE_MAX_FILE_BYTES, &data, &len, &local)) {
    g_set_error(error, IVL_REMOTE_ERROR, IVL_REMOTE_ERROR_MEDIA, "%s", local->message);
    return NULL;
  }
  return g_bytes_new_take(data, len);
}

gboolean ivl_remote_chat_add_image_file(IvlRemoteChat *chat, const char *path, GError **error)
{
  if (!last_user(chat, error))
    return FALSE;
  g_autoptr(GBytes) bytes = read_file(path, error);
  return bytes && ivl_remote_chat_add_image_bytes(chat, bytes, path, error);
}

gboolean ivl_remote_chat_add_video(IvlRemoteChat *chat, const ivl_media *video, const char *path,
                                   GError **error)
{
  IvlRemoteMessage *m = last_user(chat, error);
  if (!m)
    return FALSE;
  if (!ivl_media_is_video(video)) {
    g_set_error(error, IVL_REMOTE_ERROR, IVL_REMOTE_ERROR_MEDIA, _("%s: not a video"),
                path ? path : "video");
    return FALSE;
  }
  IvlRemoteMediaItem *item = g_new0(IvlRemoteMediaItem, 1);
  item->video = TRUE;
  item->label = g_strdup(path ? path : "video");
  item->frame_size = TILE;
  item->frames = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
  for (int i = 0; i < ivl_media_get_n_tiles(video); i++)
    g_ptr_array_add(item->frames,
                    g_bytes_new(ivl_media_get_tile_rgb(video, i), (gsize)TILE * TILE * 3));
  if (path) {
    /* Only `ivl serve` takes the file; one too big for it is sent as its frames instead. */
    g_autoptr(GError) ignored = NULL;
    item->bytes = read_file(path, &ignored);
    if (item->bytes) {
      gsize n;
      const guchar *data = g_bytes_get_data(item->bytes, &n);
      g_autofree char *type = g_content_type_guess(path, data, n, NULL);
      item->mime = g_content_type_get_mime_type(type);
      if (!item->mime || !g_str_has_prefix(item->mime, "video/"))
        g_clear_pointer(&item->bytes, g_bytes_unref);
    }
  }
  g_ptr_array_add(m->media, item);
  return TRUE;
}
