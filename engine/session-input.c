/* session-input.c — a turn's text and media for the session (session-input.h): chat()'s
 * prompt conventions come from engine/prompt, tokens from engine/tokenizer, tiles from the
 * media API, image rows from the model. */
#include "session-input.h"

#include <string.h>

void ivl_turn_free(ivl_turn *t)
{
  if (!t)
    return;
  if (t->embeds)
    t->embeds->backend->ops->tensor_free(t->embeds->backend, t->embeds);
  g_free(t->question);
  g_free(t->answer);
  if (t->tiles)
    g_array_unref(t->tiles);
  g_free(t);
}

ivl_tensor *ivl_session_encode_media(ivl_model *m, ivl_media *const *media, int n_media,
                                     GCancellable *cancellable, GError **error)
{
  int s = m->config->vision.image_size;
  size_t tile_floats = (size_t)m->config->vision.num_channels * s * s;
  int n_tiles = 0;

  if (s != 448 || m->config->vision.num_channels != 3) {
    /* ivl_media tiles are 3 x 448 x 448 (spec 8). */
    g_set_error(error, IVL_ERROR, IVL_ERROR_UNSUPPORTED,
                "the vision encoder takes %dx%d tiles; images are cut into 448x448", s, s);
    return NULL;
  }
  for (int i = 0; i < n_media; i++)
    n_tiles += ivl_media_get_n_tiles(media[i]);
  g_autofree float *pixels = g_new(float, (size_t)n_tiles *tile_floats);
  for (int i = 0, t = 0; i < n_media; i++)
    for (int k = 0; k < ivl_media_get_n_tiles(media[i]); k++, t++)
      memcpy(pixels + (size_t)t * tile_floats, ivl_media_get_tile(media[i], k),
             tile_floats * sizeof(float));
  return ivl_model_encode_tiles(m, pixels, n_tiles, cancellable, error);
}

char *ivl_session_decode_answer(ivl_model *m, const int32_t *ids, int n)
{
  return ivl_prompt_postprocess(m->tokenizer, m->template, ids, n);
}

static int count_placeholders(const char *text)
{
  int n = 0;
  for (const char *p = text; (p = strstr(p, IVL_PROMPT_IMAGE)); p += strlen(IVL_PROMPT_IMAGE))
    n++;
  return n;
}

/* chat() adds "<image>\n" only on the first turn (with history it expects the caller's own
 * placeholders); a later turn that brings media without placeholders gets it too, since its
 * images would otherwise have nowhere to go. */
ivl_turn *ivl_turn_new(ivl_model *m, const char *question, ivl_media *const *media, int n_media,
                       ivl_image_layout layout, gboolean first_turn, GError **error)
{
  g_autoptr(GArray) tiles = g_array_new(FALSE, FALSE, sizeof(int));
  g_autofree char *q = NULL;
  gboolean video = n_media == 1 && ivl_media_is_video(media[0]);

  for (int i = 0; i < n_media; i++) {
    if (n_media > 1 && ivl_media_is_video(media[i])) {
      g_set_error(error, IVL_ERROR, IVL_ERROR_INVALID_ARGUMENT,
                  "a video goes alone in a question, without other media");
      return NULL;
    }
  }
  if (video) {
    int frames = ivl_media_get_n_tiles(media[0]), one = 1;
    q = ivl_prompt_video_question(question, frames);
    for (int i = 0; i < frames; i++)
      g_array_append_val(tiles, one);
  } else if (n_media > 1 && layout == IVL_IMAGES_SEPARATE) {
    q = ivl_prompt_separate_images_question(m->template, question, n_media);
    for (int i = 0; i < n_media; i++) {
      int n = ivl_media_get_n_tiles(media[i]);
      g_array_append_val(tiles, n);
    }
  } else {
    int sum = 0;
    for (int i = 0; i < n_media; i++)
      sum += ivl_media_get_n_tiles(media[i]);
    q = ivl_prompt_chat_question(question, n_media > 0 ? 1 : 0, first_turn || n_media > 0);
    if (n_media > 0)
      g_array_append_val(tiles, sum);
  }
  /* A question without media keeps a literal <image> as text, as upstream's chat() does. */
  if (tiles->len > 0 && count_placeholders(q) != (int)tiles->len) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_INVALID_ARGUMENT,
                "the question has %d %s places for %u images", count_placeholders(q),
                IVL_PROMPT_IMAGE, tiles->len);
    return NULL;
  }
  ivl_turn *t = g_new0(ivl_turn, 1);
  t->question = g_steal_pointer(&q);
  t->tiles = g_steal_pointer(&tiles);
  return t;
}

static ivl_prompt_turn prompt_turn(const ivl_turn *t)
{
  return (ivl_prompt_turn){.question = t->question,
                           .answer = t->answer,
                           .n_tiles = (const int *)t->tiles->data,
                           .n_images = t->tiles->len};
}

gboolean ivl_session_render(ivl_model *m, const char *system_message, GPtrArray *history,
                            const ivl_turn *current, GArray *ids, GError **error)
{
  g_autofree ivl_prompt_turn *turns = g_new(ivl_prompt_turn, history->len + 1);
  for (guint i = 0; i < history->len; i++)
    turns[i] = prompt_turn(g_ptr_array_index(history, i));
  turns[history->len] = prompt_turn(current);
  turns[history->len].answer = NULL;
  g_autoptr(ivl_prompt) prompt =
      ivl_prompt_build(m->tokenizer, m->template, system_message, turns, history->len + 1,
                       m->config->num_image_token, error);
  if (!prompt)
    return FALSE;
  g_array_set_size(ids, 0);
  g_array_append_vals(ids, prompt->ids->data, prompt->ids->len);
  return TRUE;
}
