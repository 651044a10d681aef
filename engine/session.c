/* session.c — a conversation: history, the KV cache reused across turns, generation.
 *
 * Each ask renders the whole conversation (spec 5/6: history with every turn's <image>
 * expanded by that turn's tile counts) and tokenizes it. The model's KV cache holds the
 * tokens of the previous prompt and answer; the longest common prefix of those and the new
 * prompt is kept and only the rest is prefilled. When the previous answer re-tokenizes as
 * it was generated, that prefix is the whole previous prompt + answer, so a follow-up
 * question does not recompute the image. The image rows each turn produced are kept, so any
 * suffix (an image cut by the prefix, or a cache another session took over) is rebuilt
 * without running the vision encoder again.
 */
#include <string.h>

#include "encode-ahead.h"
#include "session-private.h"

double ivl_session_now_ms(void)
{
  return (double)g_get_monotonic_time() / 1e3;
}

ivl_session *ivl_session_new(ivl_model *model, const char *system_message, GError **error)
{
  g_return_val_if_fail(model != NULL, NULL);
  (void)error;
  ivl_session *s = g_new0(ivl_session, 1);
  s->model = model;
  s->system_message = g_strdup(system_message);
  s->turns = g_ptr_array_new_with_free_func((GDestroyNotify)ivl_turn_free);
  s->cached = g_array_new(FALSE, FALSE, sizeof(int32_t));
  s->prompt_ids = g_array_new(FALSE, FALSE, sizeof(int32_t));
  s->generated_ids = g_array_new(FALSE, FALSE, sizeof(int32_t));
  return s;
}

void ivl_session_free(ivl_session *s)
{
  if (!s)
    return;
  if (s->model->cache_owner == s)
    s->model->cache_owner = NULL;
  g_ptr_array_unref(s->turns);
  g_array_unref(s->cached);
  g_array_unref(s->prompt_ids);
  g_array_unref(s->generated_ids);
  g_free(s->prompt_logits);
  g_free(s->system_message);
  g_free(s);
}

void ivl_session_reset(ivl_session *s)
{
  g_ptr_array_set_size(s->turns, 0);
  g_array_set_size(s->cached, 0);
}

void ivl_session_get_stats(const ivl_session *s, ivl_generation_stats *stats)
{
  *stats = s->stats;
}

int ivl_session_get_token_logprobs(const ivl_session *s, float *logprob, int32_t *top_ids,
                                   float *top_logprobs)
{
  *logprob = s->logprob;
  memcpy(top_ids, s->top_ids, (size_t)s->n_top * sizeof *top_ids);
  memcpy(top_logprobs, s->top_logprobs, (size_t)s->n_top * sizeof *top_logprobs);
  return s->n_top;
}

const int32_t *ivl_session_get_prompt_ids(const ivl_session *s, int *n_ids)
{
  *n_ids = (int)s->prompt_ids->len;
  return (const int32_t *)s->prompt_ids->data;
}

const int32_t *ivl_session_get_generated_ids(const ivl_session *s, int *n_ids)
{
  *n_ids = (int)s->generated_ids->len;
  return (const int32_t *)s->generated_ids->data;
}

const float *ivl_session_get_prompt_logits(const ivl_session *s, int *n_vocab)
{
  *n_vocab = s->prompt_logits ? s->model->config->llm.vocab_size : 0;
  return s->prompt_logits;
}

/* ---- prefill -------------------------------------------------------------------------- */

int64_t ivl_session_count_token(const int32_t *ids, int64_t n, int32_t token)
{
  int64_t k = 0;
  for (int64_t i = 0; i < n; i++)
    k += ids[i] == token;
  return k;
}

/* Image rows [row0, total) of all turns (history then the new one) in one tensor, or NULL
 * with *error unset when there are none. */
ivl_tensor *ivl_session_image_rows(ivl_session *s, ivl_turn *current, int64_t row0, int64_t total,
                                   GError **error)
{
  ivl_backend *be = s->model->backend;
  if (row0 >= total)
    return NULL;
  ivl_tensor *out = be->ops->tensor_new(be, be->act_dtype, total - row0,
                                        s->model->config->llm.hidden_size, error);
  if (!out)
    return NULL;
  int64_t at = 0; /* row index over the concatenation of every turn's rows */
  for (guint i = 0; i <= s->turns->len; i++) {
    ivl_turn *t = i < s->turns->len ? g_ptr_array_index(s->turns, i) : current;
    if (!t->embeds)
      continue;
    int64_t n = t->embeds->rows, from = MAX(row0, at);
    if (from < at + n)
      be->ops->copy_rows(be, out, from - row0, t->embeds, from - at, at + n - from);
    at += n;
  }
  return out;
}

/* Runs the prompt through the language model, reusing the cached prefix; leaves the logits
 * of the last prompt position. */
static gboolean prefill(ivl_session *s, ivl_turn *current, GError **error)
{
  ivl_model *m = s->model;
  const int32_t *ids = (const int32_t *)s->prompt_ids->data;
  int64_t n = s->prompt_ids->len, keep = 0;
  int32_t image_token = ivl_tokenizer_get_img_context_id(m->tokenizer);

  if (m->cache_lent) {
    g_set_error_literal(error, IVL_ERROR, IVL_ERROR_INVALID_ARGUMENT,
                        "the model's KV cache is answering in a batch");
    return FALSE;
  }
  if (m->cache_owner == s) {
    const int32_t *old = (const int32_t *)s->cached->data;
    while (keep < (int64_t)s->cached->len && keep < n && old[keep] == ids[keep])
      keep++;
  }
  keep = MIN(keep, n - 1); /* at least one position runs, to give the logits */
  int64_t row0 = ivl_session_count_token(ids, keep, image_token);
  int64_t total = ivl_session_count_token(ids, n, image_token);
  g_autoptr(GError) local = NULL;
  ivl_tensor *rows = ivl_session_image_rows(s, current, row0, total, &local);
  if (local) {
    g_propagate_error(error, g_steal_pointer(&local));
    return FALSE;
  }
  /* From here the cache no longer matches s->cached until the forward succeeds. */
  m->cache_owner = NULL;
  gboolean ok =
      ivl_language_forward(m->language, ids + keep, n - keep, keep, image_token, rows, error);
  if (rows)
    m->backend->ops->tensor_free(m->backend, rows);
  if (!ok)
    return FALSE;
  g_array_set_size(s->cached, 0);
  g_array_append_vals(s->cached, ids, n);
  m->cache_owner = s;
  s->stats.n_cached_tokens = (int)keep;
  return TRUE;
}

/* Image tokens are all one id, so the cache prefix test cannot tell two images apart: the
 * rows of a turn that failed or was cancelled must not stay reusable, or a retry with other
 * media of the same size would reuse them. Keep only what precedes the turn's first image. */
void ivl_session_forget_turn_images(ivl_session *s)
{
  int32_t image_token = ivl_tokenizer_get_img_context_id(s->model->tokenizer);
  int64_t history_rows = 0, seen = 0;
  for (guint i = 0; i < s->turns->len; i++) {
    ivl_turn *t = g_ptr_array_index(s->turns, i);
    history_rows += t->embeds ? t->embeds->rows : 0;
  }
  for (guint i = 0; i < s->cached->len; i++) {
    if (g_array_index(s->cached, int32_t, i) == image_token && seen++ == history_rows) {
      g_array_set_size(s->cached, i);
      return;
    }
  }
}

/* ---- generation ----------------------------------------------------------------------- */

/* Generates until <|im_end|>, max_new_tokens, the end of the context, or the callback says
 * stop. Cancellation is checked before every token; the cache stays consistent with
 * s->cached whatever happens, so the session remains usable. */
static gboolean generate(ivl_session *s, const ivl_generation_params *params, ivl_token_cb callback,
                         void *user_data, GCancellable *cancellable, double t_start, GError **error)
{
  ivl_model *m = s->model;
  int vocab = m->config->llm.vocab_size;
  int32_t eos = ivl_tokenizer_get_im_end_id(m->tokenizer);
  g_autoptr(ivl_sampler) sampler = ivl_sampler_new(params, vocab);
  g_autoptr(ivl_sample_scratch) scratch = ivl_sample_scratch_new(params, vocab);
  g_autoptr(ivl_token_stream) stream = ivl_token_stream_new(m->tokenizer, TRUE);
  double t_first = 0;

  s->stats.hit_limit = TRUE; /* until the end token or the callback stops it */
  for (int i = 0; i < params->max_new_tokens; i++) {
    int32_t token;
    if (ivl_cancelled(cancellable, error) ||
        !ivl_session_next_token(s, 0, sampler, scratch, &token, error))
      return FALSE;
    if (i == 0)
      t_first = ivl_session_now_ms();
    if (token == eos) {
      s->stats.hit_limit = FALSE;
      break;
    }
    ivl_sampler_accept(sampler, token);
    g_array_append_val(s->generated_ids, token);
    g_autofree char *piece = ivl_token_stream_feed(stream, token);
    if (callback && !callback(piece, token, user_data)) {
      s->stats.hit_limit = FALSE;
      break;
    }
    if (i + 1 == params->max_new_tokens)
      break;
    if ((int)s->cached->len >= ivl_language_get_n_ctx(m->language)) {
      s->stats.context_full = TRUE;
      break;
    }
    m->cache_owner = NULL;
    if (!ivl_language_forward(m->language, &token, 1, s->cached->len, -1, NULL, error))
      return FALSE;
    g_array_append_val(s->cached, token);
    m->cache_owner = s;
  }
  g_autofree char *rest = ivl_token_stream_flush(stream);
  if (callback && *rest)
    callback(rest, -1, user_data);
  s->stats.n_generated = (int)s->generated_ids->len;
  s->stats.first_token_ms = t_first > 0 ? t_first - t_start : 0;
  s->stats.decode_ms = t_first > 0 ? ivl_session_now_ms() - t_first : 0;
  return TRUE;
}

gboolean ivl_session_prompt_fits(ivl_session *s, GError **error)
{
  int n_ctx = ivl_language_get_n_ctx(s->model->language);
  if ((int)s->prompt_ids->len < n_ctx)
    return TRUE;
  g_set_error(error, IVL_ERROR, IVL_ERROR_INVALID_ARGUMENT,
              "the prompt has %u tokens and the context holds %d: no room to answer",
              s->prompt_ids->len, n_ctx);
  return FALSE;
}

void ivl_session_clear_last_ask(ivl_session *s)
{
  s->stats = (ivl_generation_stats){0};
  g_array_set_size(s->prompt_ids, 0);
  g_array_set_size(s->generated_ids, 0);
  g_clear_pointer(&s->prompt_logits, g_free);
}

/* Prefill of the prompt ids and the logits at its end. */
static gboolean prefill_prompt(ivl_session *s, ivl_turn *turn, GError **error)
{
  ivl_model *m = s->model;
  if (!prefill(s, turn, error))
    return FALSE;
  s->prompt_logits = g_new(float, m->config->llm.vocab_size);
  return ivl_language_get_logits(m->language, s->prompt_logits, error);
}

char *ivl_session_ask(ivl_session *s, const char *question, ivl_media *const *media, int n_media,
                      ivl_image_layout layout, const ivl_generation_params *params,
                      ivl_token_cb callback, void *user_data, GCancellable *cancellable,
                      GError **error)
{
  ivl_generation_params defaults = ivl_generation_default_params();
  ivl_model *m = s->model;
  double t0 = ivl_session_now_ms();

  g_return_val_if_fail(question != NULL && n_media >= 0 && !s->in_batch, NULL);
  if (!params)
    params = &defaults;
  ivl_session_clear_last_ask(s);
  g_autoptr(GPtrArray) ahead_keys = g_ptr_array_new_with_free_func(g_free);

  ivl_turn *turn = ivl_turn_new(m, question, media, n_media, layout, s->turns->len == 0, error);
  if (!turn || !ivl_session_render(m, s->system_message, s->turns, turn, s->prompt_ids, error))
    goto fail;
  s->stats.n_prompt_tokens = (int)s->prompt_ids->len;
  if (!ivl_session_prompt_fits(s, error))
    goto fail; /* before the vision encoder's work */
  if (n_media > 0) {
    if (!(turn->embeds =
              ivl_encode_ahead_rows(m, media, n_media, ahead_keys, &s->stats.n_cached_tiles,
                                    &s->stats.vision_ms, cancellable, error)))
      goto fail;
    s->stats.n_image_tiles = (int)(turn->embeds->rows / m->config->num_image_token);
  }
  double tp = ivl_session_now_ms();
  if (ivl_cancelled(cancellable, error) || !prefill_prompt(s, turn, error))
    goto fail;
  s->stats.prefill_ms = ivl_session_now_ms() - tp;
  if (!generate(s, params, callback, user_data, cancellable, t0, error))
    goto fail;
  turn->answer =
      ivl_session_decode_answer(m, (const int32_t *)s->generated_ids->data, s->generated_ids->len);
  g_ptr_array_add(s->turns, turn);
  ivl_encode_ahead_drop(m, ahead_keys);
  return g_strdup(turn->answer);

fail:
  ivl_session_forget_turn_images(s);
  ivl_turn_free(turn);
  return NULL;
}

void ivl_session_truncate(ivl_session *s, int n_turns)
{
  g_return_if_fail(n_turns >= 0);
  if ((guint)n_turns >= s->turns->len)
    return;
  g_ptr_array_set_size(s->turns, n_turns);
  /* What follows the kept turns' image rows may be another turn's images of the same size. */
  ivl_session_forget_turn_images(s);
}

/* The turn's images are encoded now, so the next ask only prefills. */
gboolean ivl_session_add_turn(ivl_session *s, const char *question, ivl_media *const *media,
                              int n_media, ivl_image_layout layout, const char *answer,
                              GError **error)
{
  g_return_val_if_fail(question != NULL && answer != NULL && n_media >= 0, FALSE);
  ivl_model *m = s->model;
  ivl_turn *turn = ivl_turn_new(m, question, media, n_media, layout, s->turns->len == 0, error);
  if (!turn)
    return FALSE;
  if (n_media > 0 && !(turn->embeds = ivl_session_encode_media(m, media, n_media, NULL, error))) {
    ivl_turn_free(turn);
    return FALSE;
  }
  turn->answer = g_strdup(answer);
  g_ptr_array_add(s->turns, turn);
  return TRUE;
}

char *ivl_session_complete(ivl_session *s, const char *prompt, const ivl_generation_params *params,
                           ivl_token_cb callback, void *user_data, GCancellable *cancellable,
                           GError **error)
{
  ivl_model *m = s->model;
  ivl_turn none = {0}; /* no image rows */
  double t0 = ivl_session_now_ms();

  g_return_val_if_fail(prompt != NULL && params != NULL && !s->in_batch, NULL);
  ivl_session_clear_last_ask(s);
  g_autoptr(GArray) ids = ivl_tokenizer_encode(m->tokenizer, prompt, -1);
  if (ids->len == 0 ||
      ivl_session_count_token((const int32_t *)ids->data, ids->len,
                              ivl_tokenizer_get_img_context_id(m->tokenizer)) > 0) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_INVALID_ARGUMENT,
                ids->len ? "the prompt holds image tokens, which need images"
                         : "the prompt is empty");
    return NULL;
  }
  g_array_append_vals(s->prompt_ids, ids->data, ids->len);
  s->stats.n_prompt_tokens = (int)ids->len;
  double tp = ivl_session_now_ms();
  if (!ivl_session_prompt_fits(s, error) || ivl_cancelled(cancellable, error) ||
      !prefill_prompt(s, &none, error))
    return NULL;
  s->stats.prefill_ms = ivl_session_now_ms() - tp;
  if (!generate(s, params, callback, user_data, cancellable, t0, error))
    return NULL;
  return ivl_tokenizer_decode(m->tokenizer, (const gint32 *)s->generated_ids->data,
                              s->generated_ids->len, TRUE);
}
