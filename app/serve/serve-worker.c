/* serve-worker.c — the engine side of `ivl serve`: one thread, one session, jobs in order
 * (serve-job.h). */
#include "serve-job.h"

#include <gio/gunixoutputstream.h>
#include <glib/gstdio.h>


struct _IvlServeWorker {
  ivl_model *model;
  int max_num;
  GAsyncQueue *jobs; /* IvlServeJob*, or the worker itself to stop */
  GThread *thread;
  GMutex lock;
  IvlServeJob *running; /* under lock */
  /* the worker thread's own */
  ivl_session *session;
  char *session_key; /* ivl_serve_history_key of what the session holds */
};

static void job_free(gpointer data)
{
  IvlServeJob *job = data;
  ivl_serve_request_free(job->request);
  g_clear_object(&job->cancellable);
  g_clear_object(&job->msg);
  g_free(job->id);
  g_free(job->model_id);
  g_free(job->answer);
  g_clear_error(&job->error);
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
} Delivery;

static gboolean deliver(gpointer data)
{
  Delivery *d = data;
  d->job->deliver(d->job, d->piece);
  return G_SOURCE_REMOVE;
}

static void delivery_free(gpointer data)
{
  Delivery *d = data;
  ivl_serve_job_unref(d->job);
  g_free(d->piece);
  g_free(d);
}

static void send_to_main(IvlServeJob *job, const char *piece)
{
  Delivery *d = g_new(Delivery, 1);
  d->job = ivl_serve_job_ref(job);
  d->piece = g_strdup(piece);
  g_main_context_invoke_full(job->context, G_PRIORITY_DEFAULT, deliver, d, delivery_free);
}

static gboolean on_piece(const char *piece, int token_id, void *user_data)
{
  IvlServeJob *job = user_data;
  (void)token_id;
  if (*piece)
    send_to_main(job, piece);
  return !g_cancellable_is_cancelled(job->cancellable);
}

/* ---- the work --------------------------------------------------------------------------- */

/* GStreamer reads videos from files: the bytes go through a private temporary file. */
static ivl_media *media_from_video(GBytes *bytes, GError **error)
{
  g_autofree char *path = NULL;
  int fd = g_file_open_tmp("ivl-serve-video-XXXXXX", &path, error);
  if (fd < 0)
    return NULL;
  gsize n;
  const char *data = g_bytes_get_data(bytes, &n);
  g_autoptr(GOutputStream) out = g_unix_output_stream_new(fd, TRUE);
  ivl_media *media = NULL;
  if (g_output_stream_write_all(out, data, n, NULL, NULL, error) &&
      g_output_stream_close(out, NULL, error)) {
    ivl_video_params p = ivl_video_default_params(); /* 8 frames, the quick start's default */
    media = ivl_media_from_video_file(path, &p, error);
  }
  g_unlink(path);
  if (!media)
    g_prefix_error(error, "the video: ");
  return media;
}

/* ivl_media* of each image, or of the video (freed with the array). */
static GPtrArray *load_media(IvlServeWorker *w, IvlServeContent *c, GError **error)
{
  g_autoptr(GPtrArray) media = g_ptr_array_new_with_free_func((GDestroyNotify)ivl_media_free);
  ivl_image_params p = ivl_image_default_params();
  p.max_num = w->max_num;
  for (guint i = 0; i < c->images->len; i++) {
    gsize n;
    const guint8 *data = g_bytes_get_data(g_ptr_array_index(c->images, i), &n);
    g_autofree char *label = g_strdup_printf("image %u", i + 1);
    ivl_media *m = ivl_media_from_image_data(data, n, label, &p, error);
    if (!m)
      return NULL;
    g_ptr_array_add(media, m);
  }
  if (c->video) {
    ivl_media *m = media_from_video(c->video, error);
    if (!m)
      return NULL;
    g_ptr_array_add(media, m);
  }
  return g_steal_pointer(&media);
}

static void drop_session(IvlServeWorker *w)
{
  g_clear_pointer(&w->session, ivl_session_free);
  g_clear_pointer(&w->session_key, g_free);
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
    g_autoptr(GPtrArray) media = load_media(w, t->question, error);
    if (!media || !ivl_session_add_turn(w->session, t->question->text,
                                        (ivl_media *const *)media->pdata, (int)media->len,
                                        IVL_IMAGES_SEPARATE, t->answer, error)) {
      drop_session(w);
      return FALSE;
    }
  }
  w->session_key = g_steal_pointer(&key);
  return TRUE;
}

static void run_job(IvlServeWorker *w, IvlServeJob *job)
{
  IvlServeRequest *r = job->request;
  GError *error = NULL;
  g_autoptr(GPtrArray) media = NULL;
  if (!g_cancellable_set_error_if_cancelled(job->cancellable, &error) &&
      (media = load_media(w, r->question, &error)) && prepare_session(w, r, &error))
    job->answer = ivl_session_ask(w->session, r->question->text, (ivl_media *const *)media->pdata,
                                  (int)media->len, IVL_IMAGES_SEPARATE, &r->params, on_piece, job,
                                  job->cancellable, &error);
  if (job->answer) {
    ivl_generation_stats st;
    ivl_session_get_stats(w->session, &st);
    job->prompt_tokens = st.n_prompt_tokens;
    job->completion_tokens = st.n_generated;
    job->hit_length = st.n_generated >= r->params.max_new_tokens;
    /* the session now holds this turn too: the key of the next request that continues it */
    IvlServeTurn *t = g_new0(IvlServeTurn, 1);
    t->question = g_steal_pointer(&r->question);
    t->answer = g_strdup(job->answer);
    g_ptr_array_add(r->turns, t);
    g_free(w->session_key);
    w->session_key = ivl_serve_history_key(r->system, r->turns);
    if (g_cancellable_is_cancelled(job->cancellable))
      drop_session(w); /* a cut answer is not what the client will send back */
  } else {
    job->error = error;
    drop_session(w);
  }
  send_to_main(job, NULL);
}

static gpointer worker_main(gpointer data)
{
  IvlServeWorker *w = data;
  for (;;) {
    gpointer item = g_async_queue_pop(w->jobs);
    if (item == w)
      break;
    IvlServeJob *job = item;
    g_mutex_lock(&w->lock);
    w->running = job;
    g_mutex_unlock(&w->lock);
    run_job(w, job);
    g_mutex_lock(&w->lock);
    w->running = NULL;
    g_mutex_unlock(&w->lock);
    ivl_serve_job_unref(job);
  }
  drop_session(w);
  return NULL;
}

IvlServeWorker *ivl_serve_worker_new(ivl_model *model, int max_num)
{
  IvlServeWorker *w = g_new0(IvlServeWorker, 1);
  w->model = model;
  w->max_num = max_num;
  w->jobs = g_async_queue_new();
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
  if (w->running)
    g_cancellable_cancel(w->running->cancellable);
  g_mutex_unlock(&w->lock);
  g_thread_join(w->thread);
  g_async_queue_unref(w->jobs);
  g_mutex_clear(&w->lock);
  g_free(w);
}
