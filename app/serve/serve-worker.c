/* serve-worker.c — the engine side of `ivl serve`: one thread, jobs in order (serve-job.h).
 *
 * With parallel 1, one job runs at a time in the one session, which a follow-up request
 * continues without reading its history again. With parallel N > 1 the jobs are asks of an
 * ivl_batch (continuous batching): between two steps the worker takes queued chats, first
 * come first served, while fewer than N answer and their KV caches fit, each in a session of
 * its own; every step then advances each answer by a token and reads a chunk of the new
 * prompts, so a new request never stalls the streams for longer than a step (and its image
 * encoding). A job whose client left is cancelled and leaves at the next step. A plain
 * completion runs alone between two steps. */
#include "serve-job.h"

#include "model.h"

struct _IvlServeWorker {
  ivl_model *model;
  int parallel;
  GAsyncQueue *jobs; /* IvlServeJob*, or the worker itself to stop */
  GThread *thread;
  GMutex lock;
  GPtrArray *running; /* IvlServeJob* taken from the queue and not ended; under lock */
  /* the worker thread's own */
  ivl_session *session;
  char *session_key; /* ivl_serve_history_key of what the session holds */
};

static void logprob_clear(gpointer data)
{
  IvlServeLogprob *lp = data;
  g_free(lp->token);
  for (int i = 0; i < lp->n_top; i++)
    g_free(lp->top_tokens[i]);
}

GArray *ivl_serve_logprobs_new(void)
{
  GArray *a = g_array_new(FALSE, TRUE, sizeof(IvlServeLogprob));
  g_array_set_clear_func(a, logprob_clear);
  return a;
}

static void job_free(gpointer data)
{
  IvlServeJob *job = data;
  ivl_serve_request_free(job->request);
  g_clear_pointer(&job->body, g_bytes_unref);
  g_clear_object(&job->cancellable);
  g_clear_object(&job->msg);
  g_free(job->id);
  g_free(job->model_id);
  g_free(job->answer);
  g_clear_error(&job->error);
  g_clear_pointer(&job->logprobs, g_array_unref);
}

IvlServeJob *ivl_serve_job_ref(IvlServeJob *job)
{
  return g_atomic_rc_box_acquire(job);
}

void ivl_serve_job_unref(IvlServeJob *job)
{
  g_atomic_rc_box_release_full(job, job_free);
}

/* ---- deliveries to the main context ---------------------------------------------------- */

typedef struct {
  IvlServeJob *job;
  char *piece;
  GArray *logprobs;
} Delivery;

static gboolean deliver(gpointer data)
{
  Delivery *d = data;
  d->job->deliver(d->job, d->piece, d->logprobs);
  return G_SOURCE_REMOVE;
}

static void delivery_free(gpointer data)
{
  Delivery *d = data;
  ivl_serve_job_unref(d->job);
  g_free(d->piece);
  g_clear_pointer(&d->logprobs, g_array_unref);
  g_free(d);
}

static void send_to_main(IvlServeJob *job, const char *piece, GArray *logprobs /* taken */)
{
  Delivery *d = g_new(Delivery, 1);
  d->job = ivl_serve_job_ref(job);
  d->piece = g_strdup(piece);
  d->logprobs = logprobs;
  g_main_context_invoke_full(job->context, G_PRIORITY_DEFAULT, deliver, d, delivery_free);
}

/* ---- the answer, token by token ---------------------------------------------------------- */

typedef struct {
  IvlServeWorker *worker;
  ivl_session *session;
  IvlServeJob *job;
  IvlServeText *text;
  GArray *logprobs; /* of the tokens not yet delivered */
} Run;

static char *token_text(ivl_model *model, int32_t id)
{
  return ivl_tokenizer_decode(model->tokenizer, &id, 1, FALSE);
}

static void record_logprob(Run *run, int32_t token)
{
  IvlServeLogprob lp = {0};
  int32_t ids[IVL_MAX_TOP_LOGPROBS];
  lp.n_top = ivl_session_get_token_logprobs(run->session, &lp.logprob, ids, lp.top_logprobs);
  lp.token = token_text(run->worker->model, token);
  for (int i = 0; i < lp.n_top; i++)
    lp.top_tokens[i] = token_text(run->worker->model, ids[i]);
  g_array_append_val(run->logprobs, lp);
}

static gboolean on_piece(const char *piece, int token_id, void *user_data)
{
  Run *run = user_data;
  IvlServeJob *job = run->job;
  if (job->request->params.logprobs && token_id >= 0)
    record_logprob(run, token_id);
  g_autofree char *out = ivl_serve_text_feed(run->text, piece);
  /* a whole answer gets its pieces too: each delivery looks whether the client left */
  if (*out || (job->request->stream && run->logprobs->len > 0)) {
    GArray *lps = NULL;
    if (job->request->stream) {
      lps = run->logprobs;
      run->logprobs = ivl_serve_logprobs_new();
    }
    send_to_main(job, out, lps);
  }
  return !ivl_serve_text_stopped(run->text) && !g_cancellable_is_cancelled(job->cancellable);
}

/* ---- the work --------------------------------------------------------------------------- */

static void drop_session(IvlServeWorker *w)
{
  g_clear_pointer(&w->session, ivl_session_free);
  g_clear_pointer(&w->session_key, g_free);
}

static ivl_media *const *media_of(IvlServeContent *c)
{
  return (ivl_media *const *)c->media->pdata;
}

/* The session holding the request's history: the current one when the request continues it,
 * else a new one given the history turn by turn. */
static gboolean prepare_session(IvlServeWorker *w, IvlServeRequest *r, GError **error)
{
  g_autofree char *key = ivl_serve_history_key(r->system, r->turns);
  if (w->session && g_str_equal(key, w->session_key))
    return TRUE;
  drop_session(w);
  if (!(w->session = ivl_session_new(w->model, r->system, error)))
    return FALSE;
  for (guint i = 0; i < r->turns->len; i++) {
    IvlServeTurn *t = g_ptr_array_index(r->turns, i);
    if (!ivl_session_add_turn(w->session, t->question->text, media_of(t->question),
                              (int)t->question->media->len, IVL_IMAGES_SEPARATE, t->answer,
                              error)) {
      drop_session(w);
      return FALSE;
    }
  }
  w->session_key = g_steal_pointer(&key);
  return TRUE;
}

/* A chat answer in the session of its history; returns the engine's answer. */
static char *ask(IvlServeWorker *w, Run *run, GError **error)
{
  IvlServeRequest *r = run->job->request;
  if (!prepare_session(w, r, error))
    return NULL;
  run->session = w->session;
  char *answer = ivl_session_ask(w->session, r->question->text, media_of(r->question),
                                 (int)r->question->media->len, IVL_IMAGES_SEPARATE, &r->params,
                                 on_piece, run, run->job->cancellable, error);
  if (!answer || g_cancellable_is_cancelled(run->job->cancellable)) {
    drop_session(w); /* a failed or cut answer is not what the client will send back */
    return answer;
  }
  /* the session now holds this turn too, with the answer as the engine keeps it: a client
   * that sends back the same text continues it */
  IvlServeTurn *t = g_new0(IvlServeTurn, 1);
  t->question = g_steal_pointer(&r->question);
  t->answer = g_strdup(answer);
  g_ptr_array_add(r->turns, t);
  g_free(w->session_key);
  w->session_key = ivl_serve_history_key(r->system, r->turns);
  return answer;
}

/* A plain completion, in a session of its own (the conversation's keeps its history; the
 * KV cache is recomputed for it when it comes back). */
static char *complete(IvlServeWorker *w, Run *run, GError **error)
{
  IvlServeRequest *r = run->job->request;
  ivl_session *s = ivl_session_new(w->model, NULL, error);
  if (!s)
    return NULL;
  run->session = s;
  char *text =
      ivl_session_complete(s, r->prompt, &r->params, on_piece, run, run->job->cancellable, error);
  ivl_generation_stats st;
  ivl_session_get_stats(s, &st);
  if (text) {
    run->job->prompt_tokens = st.n_prompt_tokens;
    run->job->completion_tokens = st.n_generated;
    run->job->finish_reason = st.hit_limit ? "length" : "stop";
  }
  ivl_session_free(s);
  return text;
}

/* The job's results from what the engine gave (answer, or NULL and error, taken), then its
 * final delivery. */
static void end_run(Run *run, const char *answer, GError *error)
{
  IvlServeJob *job = run->job;
  IvlServeRequest *r = job->request;
  if (answer) {
    g_autofree char *rest = ivl_serve_text_finish(run->text);
    if (ivl_serve_text_stopped(run->text))
      job->finish_reason = "stop";
    if (*rest || (r->stream && run->logprobs->len > 0)) {
      send_to_main(job, rest, r->stream ? run->logprobs : NULL);
      if (r->stream)
        run->logprobs = NULL;
    }
    job->answer = g_strdup(ivl_serve_text_get(run->text));
    if (r->params.logprobs && !r->stream)
      job->logprobs = g_steal_pointer(&run->logprobs);
  } else {
    job->error = error;
  }
  g_clear_pointer(&run->logprobs, g_array_unref);
  send_to_main(job, NULL, NULL);
}

static void take_stats(IvlServeJob *job, ivl_session *s)
{
  ivl_generation_stats st;
  ivl_session_get_stats(s, &st);
  job->prompt_tokens = st.n_prompt_tokens;
  job->completion_tokens = st.n_generated;
  job->cached_tokens = st.n_cached_tokens;
  job->finish_reason = st.hit_limit ? "length" : "stop";
}

static void run_job(IvlServeWorker *w, IvlServeJob *job)
{
  IvlServeRequest *r = job->request;
  GError *error = NULL;
  g_autoptr(IvlServeText) text = ivl_serve_text_new(r->stop);
  Run run = {w, NULL, job, text, ivl_serve_logprobs_new()};
  g_autofree char *answer = NULL;
  if (!g_cancellable_set_error_if_cancelled(job->cancellable, &error)) {
    if (r->kind == IVL_SERVE_COMPLETION) {
      answer = complete(w, &run, &error);
    } else if ((answer = ask(w, &run, &error))) {
      take_stats(job, run.session);
    }
  }
  end_run(&run, answer, error);
}

/* ---- continuous batching (parallel > 1) ------------------------------------------------- */

static void set_running(IvlServeWorker *w, IvlServeJob *job, gboolean running)
{
  g_mutex_lock(&w->lock);
  if (running)
    g_ptr_array_add(w->running, job);
  else
    g_ptr_array_remove(w->running, job);
  g_mutex_unlock(&w->lock);
}

static void free_batch_run(Run *run)
{
  IvlServeWorker *w = run->worker;
  IvlServeJob *job = run->job;
  ivl_session_free(run->session);
  ivl_serve_text_free(run->text);
  g_clear_pointer(&run->logprobs, g_array_unref);
  g_free(run);
  set_running(w, job, FALSE);
  ivl_serve_job_unref(job);
}

static void on_batch_done(ivl_session *s, const char *answer, const GError *error, void *user_data)
{
  Run *run = user_data;
  if (answer)
    take_stats(run->job, s);
  end_run(run, answer, error ? g_error_copy(error) : NULL);
  free_batch_run(run);
}

/* The chat's session: its history given turn by turn. */
static ivl_session *history_session(IvlServeWorker *w, IvlServeRequest *r, GError **error)
{
  ivl_session *s = ivl_session_new(w->model, r->system, error);
  for (guint i = 0; s && i < r->turns->len; i++) {
    IvlServeTurn *t = g_ptr_array_index(r->turns, i);
    if (!ivl_session_add_turn(s, t->question->text, media_of(t->question),
                              (int)t->question->media->len, IVL_IMAGES_SEPARATE, t->answer, error))
      g_clear_pointer(&s, ivl_session_free);
  }
  return s;
}

/* Puts the job into the batch, or ends it (a completion runs to its end here, an error is
 * delivered); FALSE, with the job untouched, when its KV cache must wait for room. */
static gboolean admit(IvlServeWorker *w, ivl_batch *batch, IvlServeJob *job)
{
  IvlServeRequest *r = job->request;
  if (r->kind == IVL_SERVE_COMPLETION) {
    run_job(w, job);
    set_running(w, job, FALSE);
    ivl_serve_job_unref(job);
    return TRUE;
  }
  Run *run = g_new0(Run, 1);
  *run = (Run){w, NULL, job, ivl_serve_text_new(r->stop), ivl_serve_logprobs_new()};
  GError *error = NULL;
  if (!g_cancellable_set_error_if_cancelled(job->cancellable, &error) &&
      (run->session = history_session(w, r, &error)) &&
      ivl_batch_add(batch, run->session, r->question->text, media_of(r->question),
                    (int)r->question->media->len, IVL_IMAGES_SEPARATE, &r->params, on_piece,
                    on_batch_done, run, job->cancellable, &error))
    return TRUE;
  if (g_error_matches(error, IVL_ERROR, IVL_ERROR_OUT_OF_MEMORY) &&
      ivl_batch_get_n_asks(batch) > 0) {
    g_error_free(error);
    ivl_session_free(run->session);
    ivl_serve_text_free(run->text);
    g_array_unref(run->logprobs);
    g_free(run);
    return FALSE;
  }
  end_run(run, NULL, error);
  free_batch_run(run);
  return TRUE;
}

/* The next job to admit: the one waiting for room, else the queue's (waiting for one when
 * nothing answers); NULL when none is there, the worker itself to stop. */
static gpointer next_job(IvlServeWorker *w, ivl_batch *batch, IvlServeJob **waiting)
{
  if (*waiting)
    return g_steal_pointer(waiting);
  gpointer item =
      ivl_batch_get_n_asks(batch) > 0 ? g_async_queue_try_pop(w->jobs) : g_async_queue_pop(w->jobs);
  if (item && item != w)
    set_running(w, item, TRUE);
  return item;
}

static void batch_main(IvlServeWorker *w)
{
  g_autoptr(GError) error = NULL;
  ivl_batch *batch = ivl_batch_new(w->model, 0, &error);
  IvlServeJob *waiting = NULL;
  gboolean stopping = FALSE;
  while (!stopping || ivl_batch_get_n_asks(batch) > 0) {
    while (!stopping && ivl_batch_get_n_asks(batch) < w->parallel &&
           ivl_batch_get_room(batch, 1) > 0) {
      gpointer item = next_job(w, batch, &waiting);
      if (item == w)
        stopping = TRUE;
      else if (item && !admit(w, batch, item))
        waiting = item;
      if (!item || item == w || waiting)
        break;
    }
    /* a failed step ends every answer with its error, each delivered to its client */
    if (ivl_batch_get_n_asks(batch) > 0)
      ivl_batch_step(batch, NULL);
  }
  ivl_batch_free(batch);
}

static gpointer worker_main(gpointer data)
{
  IvlServeWorker *w = data;
  if (w->parallel > 1) {
    batch_main(w);
    return NULL;
  }
  for (;;) {
    gpointer item = g_async_queue_pop(w->jobs);
    if (item == w)
      break;
    IvlServeJob *job = item;
    set_running(w, job, TRUE);
    run_job(w, job);
    set_running(w, job, FALSE);
    ivl_serve_job_unref(job);
  }
  drop_session(w);
  return NULL;
}

IvlServeWorker *ivl_serve_worker_new(ivl_model *model, int parallel)
{
  IvlServeWorker *w = g_new0(IvlServeWorker, 1);
  w->model = model;
  w->parallel = MAX(parallel, 1);
  w->jobs = g_async_queue_new();
  w->running = g_ptr_array_new();
  g_mutex_init(&w->lock);
  w->thread = g_thread_new("ivl-serve", worker_main, w);
  return w;
}

void ivl_serve_worker_push(IvlServeWorker *w, IvlServeJob *job)
{
  g_async_queue_push(w->jobs, ivl_serve_job_ref(job));
}

void ivl_serve_worker_free(IvlServeWorker *w)
{
  if (!w)
    return;
  /* queued jobs are cancelled so that they end at once when popped */
  g_async_queue_lock(w->jobs);
  for (IvlServeJob *job; (job = g_async_queue_try_pop_unlocked(w->jobs));) {
    g_cancellable_cancel(job->cancellable);
    ivl_serve_job_unref(job);
  }
  g_async_queue_push_unlocked(w->jobs, w);
  g_async_queue_unlock(w->jobs);
  g_mutex_lock(&w->lock);
  for (guint i = 0; i < w->running->len; i++)
    g_cancellable_cancel(((IvlServeJob *)g_ptr_array_index(w->running, i))->cancellable);
  g_mutex_unlock(&w->lock);
  g_thread_join(w->thread);
  g_async_queue_unref(w->jobs);
  g_ptr_array_unref(w->running);
  g_mutex_clear(&w->lock);
  g_free(w);
}
