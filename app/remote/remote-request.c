/* remote-request.c — writing a chat completion request (remote-request.h); the per-server
 * choices come from remote-dialect.c, the reasons from docs/remote-servers.md section 6. */
#include "ivl-config.h"

#include "remote-request.h"
#include "remote-chat-private.h"
#include "remote-dialect.h"
#include "remote-media.h"

#include <json-glib/json-glib.h>

static void add_text_part(JsonBuilder *b, const char *text)
{
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "type");
  json_builder_add_string_value(b, "text");
  json_builder_set_member_name(b, "text");
  json_builder_add_string_value(b, text);
  json_builder_end_object(b);
}

/* {"type": "image_url", "image_url": {"url": …}} or its video_url twin; one_tile adds
 * LMDeploy's per-image max_dynamic_patch. */
static void add_url_part(JsonBuilder *b, const char *kind, const char *url, gboolean one_tile)
{
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "type");
  json_builder_add_string_value(b, kind);
  json_builder_set_member_name(b, kind);
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "url");
  json_builder_add_string_value(b, url);
  if (one_tile) {
    json_builder_set_member_name(b, "max_dynamic_patch");
    json_builder_add_int_value(b, 1);
  }
  json_builder_end_object(b);
  json_builder_end_object(b);
}

static gboolean add_image(JsonBuilder *b, const IvlRemoteMediaItem *item,
                          const IvlRemoteDialectInfo *d, GError **error)
{
  g_autofree char *mime = g_strdup(item->mime);
  g_autoptr(GBytes) fitted =
      ivl_remote_media_fit(item->bytes, d->max_image_bytes, &mime, item->label, error);
  if (!fitted)
    return FALSE;
  g_autofree char *url = ivl_remote_media_data_url(mime, fitted);
  add_url_part(b, "image_url", url, FALSE);
  return TRUE;
}

static GBytes *frame(const IvlRemoteMediaItem *item, guint i, const char *format, GError **error)
{
  return ivl_remote_media_encode_rgb(g_bytes_get_data(item->frames->pdata[i], NULL),
                                     item->frame_size, item->frame_size, format, error);
}

/* vLLM's "data:video/jpeg;base64,F1,F2,…": each frame its own base64 run. */
static gboolean add_jpeg_frames(JsonBuilder *b, const IvlRemoteMediaItem *item, GError **error)
{
  g_autoptr(GString) url = g_string_new("data:video/jpeg;base64,");
  for (guint i = 0; i < item->frames->len; i++) {
    g_autoptr(GBytes) jpeg = frame(item, i, "jpeg", error);
    if (!jpeg)
      return FALSE;
    gsize n;
    const guchar *data = g_bytes_get_data(jpeg, &n);
    g_autofree char *b64 = g_base64_encode(data, n);
    if (i)
      g_string_append_c(url, ',');
    g_string_append(url, b64);
  }
  add_url_part(b, "video_url", url->str, FALSE);
  return TRUE;
}

/* Frames as PNG images (lossless: the server cuts the very tile we sampled). With a
 * placeholder, the "FrameN: <image>\n" lines go to prefix, to stand before the question;
 * without, a "FrameN: " text part goes before each image. */
static gboolean add_frames_as_images(JsonBuilder *b, const IvlRemoteMediaItem *item,
                                     const IvlRemoteDialectInfo *d, GString *prefix, GError **error)
{
  for (guint i = 0; i < item->frames->len; i++) {
    g_autoptr(GBytes) png = frame(item, i, "png", error);
    if (!png)
      return FALSE;
    g_autofree char *label = g_strdup_printf("Frame%u: ", i + 1);
    if (d->image_placeholder)
      g_string_append_printf(prefix, "%s%s\n", label, d->image_placeholder);
    else
      add_text_part(b, label);
    g_autofree char *url = ivl_remote_media_data_url("image/png", png);
    add_url_part(b, "image_url", url, d->frame_one_tile);
  }
  return TRUE;
}

static gboolean add_video(JsonBuilder *b, const IvlRemoteMediaItem *item,
                          const IvlRemoteDialectInfo *d, GString *prefix, GError **error)
{
  switch (d->video) {
  case IVL_REMOTE_VIDEO_JPEG_FRAMES:
    return add_jpeg_frames(b, item, error);
  case IVL_REMOTE_VIDEO_FILE:
    if (item->bytes && (int)item->frames->len == d->video_file_frames) {
      g_autofree char *url = ivl_remote_media_data_url(item->mime, item->bytes);
      add_url_part(b, "video_url", url, FALSE);
      return TRUE;
    }
    return add_frames_as_images(b, item, d, prefix, error);
  case IVL_REMOTE_VIDEO_IMAGES_IN_ORDER:
  default:
    return add_frames_as_images(b, item, d, prefix, error);
  }
}

/* content: the text alone, or the media parts, then the text. */
static gboolean add_content(JsonBuilder *b, const IvlRemoteMessage *m,
                            const IvlRemoteDialectInfo *d, GError **error)
{
  json_builder_set_member_name(b, "content");
  if (m->media->len == 0) {
    json_builder_add_string_value(b, m->text);
    return TRUE;
  }
  g_autoptr(GString) prefix = g_string_new(NULL);
  json_builder_begin_array(b);
  for (guint i = 0; i < m->media->len; i++) {
    const IvlRemoteMediaItem *item = m->media->pdata[i];
    if (!(item->video ? add_video(b, item, d, prefix, error) : add_image(b, item, d, error)))
      return FALSE;
  }
  g_string_append(prefix, m->text);
  add_text_part(b, prefix->str);
  json_builder_end_array(b);
  return TRUE;
}

static void add_message(JsonBuilder *b, const char *role, const char *text)
{
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "role");
  json_builder_add_string_value(b, role);
  json_builder_set_member_name(b, "content");
  json_builder_add_string_value(b, text);
  json_builder_end_object(b);
}

static void add_int(JsonBuilder *b, const char *name, gint64 v)
{
  json_builder_set_member_name(b, name);
  json_builder_add_int_value(b, v);
}

static void add_double(JsonBuilder *b, const char *name, double v)
{
  json_builder_set_member_name(b, name);
  json_builder_add_double_value(b, v);
}

/* Sampling: temperature is always sent, since vLLM and LMDeploy otherwise take the
 * checkpoint's generation_config.json; greedy is temperature 0 on every server. */
static void add_params(JsonBuilder *b, const ivl_generation_params *p,
                       const IvlRemoteDialectInfo *d)
{
  add_int(b, "max_tokens", p->max_new_tokens);
  if (d->max_completion_tokens)
    add_int(b, "max_completion_tokens", p->max_new_tokens);
  add_double(b, "temperature", p->do_sample ? p->temperature : 0.0);
  if (p->do_sample) {
    add_double(b, "top_p", p->top_p);
    /* top_k is an extension of these servers, not OpenAI's API. */
    if (d->dialect != IVL_REMOTE_DIALECT_OPENAI)
      add_int(b, "top_k", p->top_k);
    add_int(b, "seed", (gint64)(p->seed & G_MAXINT32));
  }
  if (d->repetition_penalty && p->repetition_penalty != 1.0f)
    add_double(b, d->repetition_penalty, p->repetition_penalty);
}

char *ivl_remote_request_body(const IvlRemoteChat *chat, const char *model,
                              IvlRemoteDialect dialect, GError **error)
{
  const IvlRemoteDialectInfo *d = ivl_remote_dialect_info(dialect);
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "model");
  json_builder_add_string_value(b, model);
  json_builder_set_member_name(b, "messages");
  json_builder_begin_array(b);
  if (chat->system)
    add_message(b, "system", chat->system);
  for (guint i = 0; i < chat->messages->len; i++) {
    const IvlRemoteMessage *m = chat->messages->pdata[i];
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "role");
    json_builder_add_string_value(b, m->role);
    if (!add_content(b, m, d, error))
      return NULL;
    json_builder_end_object(b);
  }
  json_builder_end_array(b);
  json_builder_set_member_name(b, "stream");
  json_builder_add_boolean_value(b, TRUE);
  /* Usage comes only when asked for on llama-server, LMDeploy and ivl serve. */
  json_builder_set_member_name(b, "stream_options");
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "include_usage");
  json_builder_add_boolean_value(b, TRUE);
  json_builder_end_object(b);
  add_params(b, &chat->params, d);
  json_builder_end_object(b);
  g_autoptr(JsonGenerator) gen = json_generator_new();
  g_autoptr(JsonNode) root = json_builder_get_root(b);
  json_generator_set_root(gen, root);
  return json_generator_to_data(gen, NULL);
}
