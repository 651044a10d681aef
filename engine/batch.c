/* batch.c — several asks generated together (ivl_batch in ivl.h).
 *
 * Each step is one ivl_language_forward_batch: first one row for every ask that is answering
 * (its last token), then chunks of the prompts still being read, oldest ask first, in the
 * rows left (at most PROMPT_ROWS_BESIDE_ANSWERS while some answer). A long prompt so takes
 * several steps and never holds the answering asks back for more than one short chunk.
 * Each ask has its own KV cache, planned against the batch's budget when it is added; the
 * model's own cache (ivl_session_ask's) is left alone unless ivl_batch_set_model_cache lends
 * it to one ask at a time, which then starts after the prefix its session left there.
 */
#include <string.h>

#include "encode-ahead.h"
#include "host-memory.h"
#include "session-private.h"

/* Prompt rows a step reads beside answering asks: a longer chunk would hold their next
 * token back for longer (a 256-row chunk of the 1B takes seconds on two cores). */
#define PROMPT_ROWS_BESIDE_ANSWERS 64

/* Left on the device beside the KV caches, for the activations and the library's own. */
#define DEVICE_MARGIN (512ull << 20)

typedef struct {
  ivl_session *s;
  ivl_turn *turn;
  GPtrArray *ahead_keys; /* media rows encoded ahead, dropped once the ask succeeds */
  ivl_kv_cache *kv;
  gboolean model_cache; /* kv is the model's own, lent to this ask */
  guint64 kv_bytes;
  ivl_tensor *image_rows; /* every turn's image rows, for the prompt's image tokens; or NULL */
  ivl_generation_params params;
  ivl_sampler *sampler;
  ivl_sample_scratch *scratch;
  ivl_token_stream *stream;
  ivl_token_cb callback;
  ivl_batch_done_cb done;
  void *user_data;
  GCancellable *cancellable;
  int64_t n_read;  /* prompt tokens in the cache */
  int32_t token;   /* the token generated last, to run in the next step */
  int n_generated; /* tokens chosen so far (the stop token included) */
  int logits_row;  /* this step's row of the logits, or -1 */
  double t0, t_prefill, t_first;
} batch_ask;

struct ivl_batch {
  ivl_model *model;
  guint64 kv_budget, kv_used;
  gboolean use_model_cache;
  GPtrArray *asks; /* batch_ask*, oldest first */
};

static void ask_free(batch_ask *a)
{
  ivl_backend *be = a->s->model->backend;
  a->s->in_batch = FALSE;
  ivl_turn_free(a->turn);
  if (a->ahead_keys)
    g_ptr_array_unref(a->ahead_keys);
  if (!a->model_cache)
    ivl_kv_cache_free(a->kv);
  if (a->image_rows)
    be->ops->tensor_free(be, a->image_rows);
  ivl_sampler_free(a->sampler);
  ivl_sample_scratch_free(a->scratch);
  if (a->stream)
    ivl_token_stream_free(a->stream);
  g_clear_object(&a->cancellable);
  g_free(a);
}

static guint64 default_budget(ivl_model *model)
{
  if (g_strcmp0(ivl_model_get_backend_name(model), "cpu") == 0) {
    guint64 host = ivl_host_memory_bytes();
    return host == G_MAXUINT64 ? G_MAXUINT64 : host / 2;
  }
  guint64 free_bytes = 0, total = 0;
  if (!ivl_gpu_get_memory(0, NULL, &free_bytes, &total, NULL))
    return 0;
  return free_bytes > DEVICE_MARGIN ? free_bytes - DEVICE_MARGIN : 0;
}

ivl_batch *ivl_batch_new(ivl_model *model, guint64 kv_budget, GError **error)
{
  g_return_val_if_fail(model != NULL, NULL);
  (void)error;
  ivl_batch *b = g_new0(ivl_batch, 1);
  b->model = model;
  b->kv_budget = kv_budget ? kv_budget : default_budget(model);
  b->asks = g_ptr_array_new_with_free_func((GDestroyNotify)ask_free);
  return b;
}

void ivl_batch_set_model_cache(ivl_batch *b, gboolean use)
{
  b->use_model_cache = use;
}

/* The model's cache back from ask a: it holds a's prompt and the tokens it ran, as far as
 * the forward passes that succeeded wrote them. */
static void return_model_cache(batch_ask *a)
{
  if (!a->model_cache)
    return;
  ivl_session *s = a->s;
  int64_t n_prompt = s->prompt_ids->len, n_past = ivl_kv_cache_get_n_past(a->kv);
  int64_t valid = a->n_read < n_prompt ? MIN(n_past, a->n_read) : n_past;
  g_array_set_size(s->cached, 0);
  g_array_append_vals(s->cached, s->prompt_ids->data, s->prompt_ids->len);
  g_array_append_vals(s->cached, s->generated_ids->data, s->generated_ids->len);
  g_array_set_size(s->cached, MIN(s->cached->len, (guint)valid));
  s->model->cache_owner = s;
  s->model->cache_lent = FALSE;
  a->model_cache = FALSE;
  a->kv = NULL;
}

/* The model's cache for ask a if no other ask holds it: a starts after the longest prefix of
 * its prompt the cache holds for its session (always leaving one position to run). */
static gboolean lend_model_cache(ivl_batch *b, batch_ask *a)
{
  ivl_session *s = a->s;
  ivl_model *m = b->model;
  if (!b->use_model_cache || m->cache_lent)
    return FALSE;
  const int32_t *ids = (const int32_t *)s->prompt_ids->data;
  int64_t n = s->prompt_ids->len, keep = 0;
  if (m->cache_owner == s) {
    const int32_t *old = (const int32_t *)s->cached->data;
    while (keep < (int64_t)s->cached->len && keep < n && old[keep] == ids[keep])
      keep++;
  }
  a->n_read = MIN(keep, n - 1);
  s->stats.n_cached_tokens = (int)a->n_read;
  m->cache_owner = NULL; /* rewritten from n_read on */
  m->cache_lent = TRUE;
  a->model_cache = TRUE;
  a->kv = ivl_language_get_kv(m->language);
  return TRUE;
}

void ivl_batch_free(ivl_batch *b)
{
  if (!b)
    return;
  for (guint i = 0; i < b->asks->len; i++) {
    batch_ask *a = g_ptr_array_index(b->asks, i);
    return_model_cache(a);
    ivl_session_forget_turn_images(a->s);
  }
  g_ptr_array_unref(b->asks);
  g_free(b);
}

int ivl_batch_get_n_asks(const ivl_batch *b)
{
  return (int)b->asks->len;
}

/* Positions an ask's cache needs: the prompt and every generated token but the last, which
 * never runs; never more than the model's context. */
static int cache_positions(const ivl_batch *b, int n_prompt, int max_new_tokens)
{
  int n_ctx = ivl_language_get_n_ctx(b->model->language);
  return (int)MIN((int64_t)n_ctx, (int64_t)n_prompt + MAX(max_new_tokens, 1));
}

int ivl_batch_get_room(const ivl_batch *b, int n_tokens)
{
  guint64 each = ivl_language_kv_bytes(b->model->language, cache_positions(b, n_tokens, 0));
  int rows = ivl_language_get_max_rows(b->model->language) - (int)b->asks->len;
  guint64 left = b->kv_budget > b->kv_used ? b->kv_budget - b->kv_used : 0;
  return (int)MIN((guint64)MAX(rows, 0), each ? left / each : G_MAXINT);
}

/* The ask's KV cache, if it fits the budget beside the others. */
static gboolean plan_cache(ivl_batch *b, batch_ask *a, GError **error)
{
  ivl_language *lm = b->model->language;
  if ((int)b->asks->len >= ivl_language_get_max_rows(lm)) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_INVALID_ARGUMENT,
                "the batch already holds %u asks, as many as one step can run", b->asks->len);
    return FALSE;
  }
  if (lend_model_cache(b, a))
    return TRUE;
  int n = cache_positions(b, (int)a->s->prompt_ids->len, a->params.max_new_tokens);
  guint64 need = ivl_language_kv_bytes(lm, n);
  if (b->kv_used + need > b->kv_budget) {
    g_autofree char *need_s = g_format_size_full(need, G_FORMAT_SIZE_IEC_UNITS);
    g_autofree char *used_s = g_format_size_full(b->kv_used, G_FORMAT_SIZE_IEC_UNITS);
    g_autofree char *budget_s = g_format_size_full(b->kv_budget, G_FORMAT_SIZE_IEC_UNITS);
    g_set_error(error, IVL_ERROR, IVL_ERROR_OUT_OF_MEMORY,
                "this question's KV cache (%d positions, %s) does not fit: the %u asks in the "
                "batch hold %s of the %s it may use",
                n, need_s, b->asks->len, used_s, budget_s);
    return FALSE;
  }
  if (!(a->kv = ivl_kv_cache_new(lm, n, error)))
    return FALSE;
  a->kv_bytes = need;
  return TRUE;
}

/* The rendered prompt, its images through the vision encoder and the rows they give. */
static gboolean prepare(ivl_batch *b, batch_ask *a, const char *question, ivl_media *const *media,
                        int n_media, ivl_image_layout layout, GError **error)
{
  ivl_session *s = a->s;
  ivl_model *m = b->model;
  a->turn = ivl_turn_new(m, question, media, n_media, layout, s->turns->len == 0, error);
  if (!a->turn ||
      !ivl_session_render(m, s->system_message, s->turns, a->turn, s->prompt_ids, error))
    return FALSE;
  s->stats.n_prompt_tokens = (int)s->prompt_ids->len;
  if (!ivl_session_prompt_fits(s, error) || !plan_cache(b, a, error))
    return FALSE; /* before the vision encoder's work */
  if (n_media > 0) {
    if (!(a->turn->embeds =
              ivl_encode_ahead_rows(m, media, n_media, a->ahead_keys, &s->stats.n_cached_tiles,
                                    &s->stats.vision_ms, a->cancellable, error)))
      return FALSE;
    s->stats.n_image_tiles = (int)(a->turn->embeds->rows / m->config->num_image_token);
  }
  int32_t image_token = ivl_tokenizer_get_img_context_id(m->tokenizer);
  int64_t total = ivl_session_count_token((const int32_t *)s->prompt_ids->data, s->prompt_ids->len,
                                          image_token);
  g_autoptr(GError) local = NULL;
  a->image_rows = ivl_session_image_rows(s, a->turn, 0, total, &local);
  if (local) {
    g_propagate_error(error, g_steal_pointer(&local));
    return FALSE;
  }
  return !ivl_cancelled(a->cancellable, error);
}

gboolean ivl_batch_add(ivl_batch *b, ivl_session *s, const char *question, ivl_media *const *media,
                       int n_media, ivl_image_layout layout, const ivl_generation_params *params,
                       ivl_token_cb callback, ivl_batch_done_cb done, void *user_data,
                       GCancellable *cancellable, GError **error)
{
  g_return_val_if_fail(b != NULL && s != NULL && question != NULL && n_media >= 0, FALSE);
  g_return_val_if_fail(s->model == b->model, FALSE);
  if (s->in_batch) {
    g_set_error_literal(error, IVL_ERROR, IVL_ERROR_INVALID_ARGUMENT,
                        "the session is answering in a batch already");
    return FALSE;
  }
  ivl_session_clear_last_ask(s);
  batch_ask *a = g_new0(batch_ask, 1);
  a->s = s;
  a->t0 = ivl_session_now_ms();
  a->params = params ? *params : ivl_generation_default_params();
  a->callback = callback;
  a->done = done;
  a->user_data = user_data;
  a->cancellable = cancellable ? g_object_ref(cancellable) : NULL;
  a->ahead_keys = g_ptr_array_new_with_free_func(g_free);
  a->logits_row = -1;
  s->in_batch = TRUE;
  if (!prepare(b, a, question, media, n_media, layout, error)) {
    return_model_cache(a);
    ivl_session_forget_turn_images(s);
    ask_free(a);
    return FALSE;
  }
  int vocab = b->model->config->llm.vocab_size;
  a->sampler = ivl_sampler_new(&a->params, vocab);
  a->scratch = ivl_sample_scratch_new(&a->params, vocab);
  a->stream = ivl_token_stream_new(b->model->tokenizer, TRUE);
  b->kv_used += a->kv_bytes;
  s->stats.hit_limit = TRUE; /* until the end token or the callback stops it */
  g_ptr_array_add(b->asks, a);
  return TRUE;
}

/* Takes the ask out (freeing it); history and cache bookkeeping as for a failed ask. */
static void drop(ivl_batch *b, batch_ask *a)
{
  return_model_cache(a);
  ivl_session_forget_turn_images(a->s);
  b->kv_used -= a->kv_bytes;
  g_ptr_array_remove(b->asks, a);
}

void ivl_batch_remove(ivl_batch *b, ivl_session *s)
{
  for (guint i = 0; i < b->asks->len; i++) {
    batch_ask *a = g_ptr_array_index(b->asks, i);
    if (a->s == s) {
      drop(b, a);
      return;
    }
  }
}

/* Ends the ask with error: out of the batch, then done. */
static void fail(ivl_batch *b, batch_ask *a, const GError *error)
{
  ivl_session *s = a->s;
  ivl_batch_done_cb done = a->done;
  void *user_data = a->user_data;
  drop(b, a);
  if (done)
    done(s, NULL, error, user_data);
}

/* Ends the ask with its answer: the turn joins the history, then done. */
static void finish(ivl_batch *b, batch_ask *a)
{
  ivl_session *s = a->s;
  ivl_model *m = b->model;
  g_autofree char *rest = ivl_token_stream_flush(a->stream);
  if (a->callback && *rest)
    a->callback(rest, -1, a->user_data);
  s->stats.n_generated = (int)s->generated_ids->len;
  s->stats.first_token_ms = a->t_first > 0 ? a->t_first - a->t0 : 0;
  s->stats.decode_ms = a->t_first > 0 ? ivl_session_now_ms() - a->t_first : 0;
  ivl_turn *turn = g_steal_pointer(&a->turn);
  turn->answer =
      ivl_session_decode_answer(m, (const int32_t *)s->generated_ids->data, s->generated_ids->len);
  g_ptr_array_add(s->turns, turn);
  ivl_encode_ahead_drop(m, a->ahead_keys);
  return_model_cache(a);
  ivl_batch_done_cb done = a->done;
  void *user_data = a->user_data;
  b->kv_used -= a->kv_bytes;
  g_ptr_array_remove(b->asks, a);
  if (done)
    done(s, turn->answer, NULL, user_data);
}

/* The ask's next token from its logits row, as ivl_session_ask's loop takes it: the ask
 * ends here (finished or failed) or runs the token in the next step. */
static void advance(ivl_batch *b, batch_ask *a)
{
  ivl_session *s = a->s;
  ivl_model *m = b->model;
  g_autoptr(GError) error = NULL;
  if (a->n_generated == 0) {
    s->stats.prefill_ms = ivl_session_now_ms() - a->t_prefill;
    s->prompt_logits = g_new(float, m->config->llm.vocab_size);
    if (!ivl_language_get_logits_row(m->language, a->logits_row, s->prompt_logits, &error)) {
      fail(b, a, error);
      return;
    }
    if (a->params.max_new_tokens <= 0) {
      finish(b, a);
      return;
    }
  }
  int32_t token;
  if (ivl_cancelled(a->cancellable, &error) ||
      !ivl_session_next_token(s, a->logits_row, a->sampler, a->scratch, &token, &error)) {
    fail(b, a, error);
    return;
  }
  if (a->n_generated++ == 0)
    a->t_first = ivl_session_now_ms();
  if (token == ivl_tokenizer_get_im_end_id(m->tokenizer)) {
    s->stats.hit_limit = FALSE;
    finish(b, a);
    return;
  }
  ivl_sampler_accept(a->sampler, token);
  g_array_append_val(s->generated_ids, token);
  g_autofree char *piece = ivl_token_stream_feed(a->stream, token);
  if (a->callback && !a->callback(piece, token, a->user_data)) {
    s->stats.hit_limit = FALSE;
    finish(b, a);
    return;
  }
  if (a->n_generated == a->params.max_new_tokens) {
    finish(b, a);
    return;
  }
  if (ivl_kv_cache_get_n_past(a->kv) >= ivl_language_get_n_ctx(m->language)) {
    s->stats.context_full = TRUE;
    finish(b, a);
    return;
  }
  a->token = token;
}

/* This step's rows of ask a, at most `room` of them; 0 when it has none this step. */
static int64_t ask_rows(ivl_batch *b, batch_ask *a, int64_t room, ivl_lm_rows *r)
{
  ivl_model *m = b->model;
  const int32_t *prompt = (const int32_t *)a->s->prompt_ids->data;
  int64_t n_prompt = a->s->prompt_ids->len;
  if (room <= 0)
    return 0;
  *r = (ivl_lm_rows){.kv = a->kv, .image_token = -1, .logits = TRUE};
  if (a->n_read == n_prompt) { /* answering: the last token */
    r->ids = &a->token;
    r->n = 1;
    r->pos0 = ivl_kv_cache_get_n_past(a->kv);
    r->theta = ivl_language_rope_theta(&m->config->llm, r->pos0 + 1);
    return 1;
  }
  if (a->t_prefill == 0)
    a->t_prefill = ivl_session_now_ms();
  r->image_token = ivl_tokenizer_get_img_context_id(m->tokenizer);
  r->ids = prompt + a->n_read;
  r->n = MIN(room, n_prompt - a->n_read);
  r->pos0 = a->n_read;
  r->image_embeds = a->image_rows;
  r->image_row = ivl_session_count_token(prompt, a->n_read, r->image_token);
  /* as ivl_language_forward: the base of the whole prompt's length for every chunk */
  r->theta = ivl_language_rope_theta(&m->config->llm, n_prompt);
  r->logits = a->n_read + r->n == n_prompt;
  return r->n;
}

gboolean ivl_batch_step(ivl_batch *b, GError **error)
{
  ivl_model *m = b->model;
  for (guint i = 0; i < b->asks->len;) { /* cancelled asks leave before the step */
    batch_ask *a = g_ptr_array_index(b->asks, i);
    g_autoptr(GError) cancelled = NULL;
    if (ivl_cancelled(a->cancellable, &cancelled))
      fail(b, a, cancelled);
    else
      i++;
  }
  guint n = b->asks->len;
  if (n == 0)
    return TRUE;
  int64_t room = ivl_language_get_max_rows(m->language);
  g_autofree ivl_lm_rows *rows = g_new0(ivl_lm_rows, n);
  g_autofree batch_ask **in_step = g_new0(batch_ask *, n);
  int n_rows = 0, n_logits = 0;
  /* answering asks first: one row each, so a long prompt never holds them back */
  for (int pass = 0; pass < 2; pass++) {
    if (pass == 1 && n_rows > 0)
      room = MIN(room, PROMPT_ROWS_BESIDE_ANSWERS);
    for (guint i = 0; i < n; i++) {
      batch_ask *a = g_ptr_array_index(b->asks, i);
      gboolean answering = a->n_read == (int64_t)a->s->prompt_ids->len;
      if (answering != (pass == 0))
        continue;
      int64_t got = ask_rows(b, a, room, &rows[n_rows]);
      if (got == 0)
        continue;
      room -= got;
      a->logits_row = rows[n_rows].logits ? n_logits++ : -1;
      in_step[n_rows++] = a;
    }
  }
  g_autoptr(GError) local = NULL;
  if (!ivl_language_forward_batch(m->language, rows, n_rows, &local)) {
    while (b->asks->len > 0)
      fail(b, g_ptr_array_index(b->asks, 0), local);
    g_propagate_error(error, g_steal_pointer(&local));
    return FALSE;
  }
  for (int i = 0; i < n_rows; i++) {
    batch_ask *a = in_step[i];
    if (a->n_read < (int64_t)a->s->prompt_ids->len)
      a->n_read += rows[i].n;
    if (a->logits_row >= 0)
      advance(b, a);
  }
  return TRUE;
}
