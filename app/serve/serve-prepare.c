/* serve-prepare.c — decoding media and counting the prompt before a request queues
 * (serve-prepare.h). */
#include "serve-prepare.h"

#include <gio/gunixoutputstream.h>
#include <glib/gstdio.h>
#include <string.h>

#include "model.h"
#include "serve-error.h"
#include "session-input.h"

/* GStreamer reads videos from files: the bytes go through a private temporary file, whose
 * name stays out of the messages the client reads. */
static ivl_media *media_from_video(GBytes *bytes, GError **error)
{
  g_autofree char *path = NULL;
  g_autoptr(GError) local = NULL;
  int fd = g_file_open_tmp("ivl-serve-video-XXXXXX", &path, &local);
  if (fd < 0) {
    g_propagate_error(error, g_steal_pointer(&local));
    return NULL;
  }
  gsize n;
  const char *data = g_bytes_get_data(bytes, &n);
  g_autoptr(GOutputStream) out = g_unix_output_stream_new(fd, TRUE);
  ivl_media *media = NULL;
  if (g_output_stream_write_all(out, data, n, NULL, NULL, &local) &&
      g_output_stream_close(out, NULL, &local)) {
    ivl_video_params p = ivl_video_default_params(); /* 8 frames, the quick start's default */
    media = ivl_media_from_video_file(path, &p, &local);
  }
  g_unlink(path);
  if (!media) {
    g_autofree char *base = g_path_get_basename(path);
    GString *text = g_string_new(local->message);
    g_string_replace(text, path, "the file", 0);
    g_string_replace(text, base, "the file", 0);
    ivl_serve_error_set(error, ivl_serve_error_status(local), NULL, "messages", "the video: %s",
                        text->str);
    g_string_free(text, TRUE);
  }
  return media;
}

static gboolean decode(IvlServeContent *c, int max_num, GError **error)
{
  c->media = g_ptr_array_new_with_free_func((GDestroyNotify)ivl_media_free);
  ivl_image_params p = ivl_image_default_params();
  p.max_num = max_num;
  for (guint i = 0; i < c->images->len; i++) {
    gsize n;
    const guint8 *data = g_bytes_get_data(g_ptr_array_index(c->images, i), &n);
    g_autofree char *label = g_strdup_printf("image %u", i + 1);
    ivl_media *m = ivl_media_from_image_data(data, n, label, &p, error);
    if (!m)
      return FALSE;
    g_ptr_array_add(c->media, m);
  }
  if (c->video) {
    ivl_media *m = media_from_video(c->video, error);
    if (!m)
      return FALSE;
    g_ptr_array_add(c->media, m);
  }
  return TRUE;
}

static ivl_turn *turn_of(ivl_model *model, IvlServeContent *c, gboolean first, GError **error)
{
  return ivl_turn_new(model, c->text, (ivl_media *const *)c->media->pdata, (int)c->media->len,
                      IVL_IMAGES_SEPARATE, first, error);
}

/* The tokens of the whole rendered conversation, as the worker's session will render it. */
static gboolean count_chat(ivl_model *model, IvlServeRequest *r, guint *n_tokens, GError **error)
{
  g_autoptr(GPtrArray) history = g_ptr_array_new_with_free_func((GDestroyNotify)ivl_turn_free);
  for (guint i = 0; i < r->turns->len; i++) {
    IvlServeTurn *t = g_ptr_array_index(r->turns, i);
    ivl_turn *turn = turn_of(model, t->question, i == 0, error);
    if (!turn)
      return FALSE;
    turn->answer = g_strdup(t->answer);
    g_ptr_array_add(history, turn);
  }
  ivl_turn *current = turn_of(model, r->question, r->turns->len == 0, error);
  g_autoptr(GArray) ids = g_array_new(FALSE, FALSE, sizeof(int32_t));
  gboolean ok = current && ivl_session_render(model, r->system, history, current, ids, error);
  ivl_turn_free(current);
  *n_tokens = ids->len;
  return ok;
}

gboolean ivl_serve_prepare(ivl_model *model, int max_num, IvlServeRequest *r, GError **error)
{
  int n_ctx = ivl_language_get_n_ctx(model->language);
  int vocab = ivl_tokenizer_get_vocab_size(model->tokenizer);
  for (guint i = 0; i < r->logit_bias->len; i++) {
    int32_t token = g_array_index(r->logit_bias, ivl_logit_bias, i).token;
    if (token >= vocab)
      return ivl_serve_error_bad(error, "logit_bias",
                                 "\"logit_bias\": token %d is not in the vocabulary of %d",
                                 token, vocab);
  }
  /* each image is at least one tile: refuse what cannot fit before decoding anything */
  gint64 least = (gint64)ivl_serve_request_count_media(r) * model->config->num_image_token;
  if (least >= n_ctx) {
    ivl_serve_error_set(error, 400, "context_length_exceeded", "messages",
                        "the images need at least %" G_GINT64_FORMAT
                        " tokens and the context holds %d",
                        least, n_ctx);
    return FALSE;
  }
  guint n_tokens = 0;
  if (r->kind == IVL_SERVE_COMPLETION) {
    g_autoptr(GArray) ids = ivl_tokenizer_encode(model->tokenizer, r->prompt, -1);
    n_tokens = ids->len;
  } else {
    for (guint i = 0; i < r->turns->len; i++)
      if (!decode(((IvlServeTurn *)g_ptr_array_index(r->turns, i))->question, max_num, error))
        return FALSE;
    if (!decode(r->question, max_num, error) || !count_chat(model, r, &n_tokens, error))
      return FALSE;
  }
  if ((int)n_tokens >= n_ctx) {
    ivl_serve_error_set(error, 400, "context_length_exceeded",
                        r->kind == IVL_SERVE_CHAT ? "messages" : "prompt",
                        "the prompt has %u tokens and the context holds %d: no room to answer",
                        n_tokens, n_ctx);
    return FALSE;
  }
  return TRUE;
}
