/* ivl-worker.c — the inference worker: one thread owns the model and its session. */
#include "ivl-config.h"

#include "ivl-worker.h"

#include <glib/gi18n.h>

#include "ivl-servers.h"
#include "ivl.h"
#include "tiny-model.h"

G_DEFINE_QUARK(ivl - worker - error - quark, ivl_worker_error)

typedef enum {
  JOB_QUIT,
  JOB_LOAD,
  JOB_CONNECT,
  JOB_INSPECT,
  JOB_ENCODE,
  JOB_FORGET,
  JOB_ASK,
  JOB_DEMO
} JobKind;

/* An attachment as the thread reads it: plain data, so no GObject of the window is ever
 * released on the worker thread (the session keeps its turns long after their messages). */
typedef struct {
  char *path;
  gboolean video;
  int n_frames;
  gboolean bounded;
  double start, end;
} Media;

typedef struct {
  char *question;
  GArray *media; /* Media */
  gboolean combined;
  char *answer;
} Turn;

typedef struct {
  JobKind kind;
  GTask *task; /* NULL for JOB_QUIT */
  char *dir;
  IvlWorkerBackend backend;
  IvlWorkerPrecision precision;
  GArray *inspected; /* Media: the one attachment to inspect, encode or forget */
  int max_tiles;
  char *conversation_id;
  GPtrArray *history; /* Turn; the answer of each is known */
  Turn *question;     /* answer NULL */
  IvlAskOptions options;
  gboolean told_waiting; /* JOB_ASK: the window knows it waits */
  IvlServer *server;     /* JOB_CONNECT */
  char *remote_model;
} Job;

typedef struct {
  int cols, rows, n_tiles;
  GPtrArray *frames; /* GBytes of 448x448 RGB, video only */
} Inspection;

struct _IvlWorker {
  GObject parent_instance;

  GThread *thread;
  GAsyncQueue *jobs;
  GMainContext *context; /* where callbacks and signals run */

  /* Shared with the thread, under lock: what the next idle callback delivers. */
  GMutex lock;
  GHashTable *pending_tokens; /* conversation id -> GString of text not delivered yet */
  GPtrArray *pending_states;  /* AskState: asks that started or went back to waiting */
  double progress;
  char *progress_what;
  gboolean flush_scheduled;
  gint max_parallel; /* atomic: how many asks the batch may answer at once */

  /* Owned by the thread alone. */
  ivl_model *model;
  ivl_batch *batch;        /* the asks answering together; NULL until the first */
  GHashTable *sessions;    /* conversation id -> Conversation */
  GQueue *waiting;         /* Job: asks not admitted yet, oldest first */
  GPtrArray *running;      /* Running: asks in the batch */
  Job *barrier;            /* a load that waits for the asks before it to end */
  gboolean full;           /* an ask did not fit the KV budget: none tried until one ends */
  guint64 uses;            /* counts admissions, to evict the session used longest ago */
  GHashTable *ahead;       /* ahead_key -> ivl_media*: attachments encoded ahead of the ask */
  IvlRemoteClient *remote; /* instead of model: the server that answers */
  char *remote_model;
};

/* A conversation's session, kept between its asks so a follow-up only adds the turns that
 * changed. */
typedef struct {
  ivl_session *session;
  char *system;
  int max_tiles;    /* the images of its turns were cut for this many tiles */
  GPtrArray *turns; /* Turn: the history the session holds, answers as it has them */
  gboolean busy;    /* its ask is in the batch */
  guint64 used;
} Conversation;

/* An ask being answered: in the batch, or streaming from a server. */
typedef struct {
  IvlWorker *self;
  Job *job;
  Conversation *conversation; /* NULL for a server's */
  ivl_generation_params params;
} Running;

typedef struct {
  char *conversation_id;
  gboolean waiting;
} AskState;

/* How many conversations' sessions are kept beside those answering. */
#define KEPT_SESSIONS 8

G_DEFINE_FINAL_TYPE(IvlWorker, ivl_worker, G_TYPE_OBJECT)

enum { SIGNAL_TOKENS, SIGNAL_ASK_STATE, SIGNAL_LOAD_PROGRESS, N_SIGNALS };
static guint signals[N_SIGNALS];

static void media_clear(Media *m)
{
  g_free(m->path);
}

static GArray *media_array_new(void)
{
  GArray *media = g_array_new(FALSE, TRUE, sizeof(Media));

  g_array_set_clear_func(media, (GDestroyNotify)media_clear);
  return media;
}

static void media_append(GArray *media, IvlAttachment *a)
{
  Media m = {.path = g_strdup(ivl_attachment_get_path(a)),
             .video = ivl_attachment_is_video(a),
             .n_frames = ivl_attachment_get_n_frames(a)};

  m.bounded = ivl_attachment_get_bounds(a, &m.start, &m.end);
  g_array_append_val(media, m);
}

static void turn_free(Turn *t)
{
  if (t == NULL)
    return;
  g_free(t->question);
  g_free(t->answer);
  g_array_unref(t->media);
  g_free(t);
}

static Turn *turn_copy(const Turn *t)
{
  Turn *c = g_new0(Turn, 1);

  c->question = g_strdup(t->question);
  c->media = media_array_new();
  for (guint i = 0; i < t->media->len; i++) {
    Media m = g_array_index(t->media, Media, i);
    m.path = g_strdup(m.path);
    g_array_append_val(c->media, m);
  }
  c->combined = t->combined;
  c->answer = g_strdup(t->answer);
  return c;
}

static gboolean same_media(const Media *a, const Media *b)
{
  return g_strcmp0(a->path, b->path) == 0 && a->video == b->video && a->n_frames == b->n_frames &&
         a->bounded == b->bounded && a->start == b->start && a->end == b->end;
}

/* Whether the session's turn a is the history's turn b: same question, media and answer. */
static gboolean same_turn(const Turn *a, const Turn *b)
{
  if (g_strcmp0(a->question, b->question) != 0 || g_strcmp0(a->answer, b->answer) != 0 ||
      a->combined != b->combined || a->media->len != b->media->len)
    return FALSE;
  for (guint i = 0; i < a->media->len; i++)
    if (!same_media(&g_array_index(a->media, Media, i), &g_array_index(b->media, Media, i)))
      return FALSE;
  return TRUE;
}

static void job_free(Job *job)
{
  g_free(job->dir);
  if (job->inspected)
    g_array_unref(job->inspected);
  g_free(job->conversation_id);
  if (job->history)
    g_ptr_array_unref(job->history);
  turn_free(job->question);
  g_free(job->options.system_message);
  ivl_server_free(job->server);
  g_free(job->remote_model);
  g_free(job);
}

static void inspection_free(Inspection *in)
{
  if (in->frames)
    g_ptr_array_unref(in->frames);
  g_free(in);
}

/* ---- engine errors, told in terms of what the person can do ----------------------------- */

static void return_engine_error(GTask *task, GError *error, IvlWorkerError not_found,
                                IvlWorkerError corrupt)
{
  IvlWorkerError code = IVL_WORKER_ERROR_FAILED;

  if (error->domain == IVL_ERROR) {
    switch ((IvlErrorCode)error->code) {
    case IVL_ERROR_NOT_FOUND:
      code = not_found;
      break;
    case IVL_ERROR_CORRUPT:
    case IVL_ERROR_UNSUPPORTED:
      code = corrupt;
      break;
    case IVL_ERROR_OUT_OF_MEMORY:
      code = IVL_WORKER_ERROR_MEMORY;
      break;
    case IVL_ERROR_CANCELLED:
      code = IVL_WORKER_ERROR_CANCELLED;
      break;
    default:
      break;
    }
  } else if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
    code = IVL_WORKER_ERROR_CANCELLED;
  }
  g_task_return_new_error(task, IVL_WORKER_ERROR, code, "%s", error->message);
}

/* ---- batched delivery to the main context ---------------------------------------------- */

static void string_free(GString *text)
{
  g_string_free(text, TRUE);
}

static void ask_state_free(AskState *st)
{
  g_free(st->conversation_id);
  g_free(st);
}

static gboolean flush_pending(gpointer data)
{
  IvlWorker *self = data;
  g_autoptr(GHashTable) tokens = NULL;
  g_autoptr(GPtrArray) states = NULL;
  g_autofree char *what = NULL;
  double progress;
  GHashTableIter iter;
  gpointer id, text;

  g_mutex_lock(&self->lock);
  self->flush_scheduled = FALSE;
  if (g_hash_table_size(self->pending_tokens) > 0) {
    tokens = g_steal_pointer(&self->pending_tokens);
    self->pending_tokens =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)string_free);
  }
  if (self->pending_states->len > 0) {
    states = g_steal_pointer(&self->pending_states);
    self->pending_states = g_ptr_array_new_with_free_func((GDestroyNotify)ask_state_free);
  }
  what = g_steal_pointer(&self->progress_what);
  progress = self->progress;
  g_mutex_unlock(&self->lock);

  if (what)
    g_signal_emit(self, signals[SIGNAL_LOAD_PROGRESS], 0, progress, what);
  for (guint i = 0; states && i < states->len; i++) {
    AskState *st = states->pdata[i];
    g_signal_emit(self, signals[SIGNAL_ASK_STATE], 0, st->conversation_id, st->waiting);
  }
  if (tokens) {
    g_hash_table_iter_init(&iter, tokens);
    while (g_hash_table_iter_next(&iter, &id, &text))
      g_signal_emit(self, signals[SIGNAL_TOKENS], 0, id, ((GString *)text)->str);
  }
  return G_SOURCE_REMOVE;
}

/* Always through an idle source: g_main_context_invoke would run func right here on the
 * worker thread whenever the main context happens to be free. */
static void idle_on(GMainContext *context, GSourceFunc func, gpointer data, GDestroyNotify notify)
{
  GSource *source = g_idle_source_new();

  g_source_set_priority(source, G_PRIORITY_DEFAULT);
  g_source_set_callback(source, func, data, notify);
  g_source_attach(source, context);
  g_source_unref(source);
}

/* Called with the lock held: one idle source at a time, however many tokens arrive. */
static void schedule_flush_locked(IvlWorker *self)
{
  if (self->flush_scheduled)
    return;
  self->flush_scheduled = TRUE;
  idle_on(self->context, flush_pending, g_object_ref(self), g_object_unref);
}

static gboolean on_token(const char *piece, int token_id, void *user_data)
{
  Running *r = user_data;
  IvlWorker *self = r->self;
  GString *text;

  (void)token_id;
  g_mutex_lock(&self->lock);
  text = g_hash_table_lookup(self->pending_tokens, r->job->conversation_id);
  if (text == NULL) {
    text = g_string_new(NULL);
    g_hash_table_insert(self->pending_tokens, g_strdup(r->job->conversation_id), text);
  }
  g_string_append(text, piece);
  schedule_flush_locked(self);
  g_mutex_unlock(&self->lock);
  return !g_cancellable_is_cancelled(g_task_get_cancellable(r->job->task));
}

/* Tells the window an ask started being answered, or waits again for room. */
static void report_state(IvlWorker *self, const char *conversation_id, gboolean waiting)
{
  AskState *st = g_new0(AskState, 1);

  st->conversation_id = g_strdup(conversation_id);
  st->waiting = waiting;
  g_mutex_lock(&self->lock);
  g_ptr_array_add(self->pending_states, st);
  schedule_flush_locked(self);
  g_mutex_unlock(&self->lock);
}

static void on_progress(double fraction, const char *what, void *user_data)
{
  IvlWorker *self = user_data;

  g_mutex_lock(&self->lock);
  self->progress = fraction;
  g_free(self->progress_what);
  self->progress_what = g_strdup(what ? what : "");
  schedule_flush_locked(self);
  g_mutex_unlock(&self->lock);
}

/* ---- jobs, run on the worker thread ---------------------------------------------------- */

static void conversation_free(Conversation *c)
{
  ivl_session_free(c->session);
  g_free(c->system);
  g_ptr_array_unref(c->turns);
  g_free(c);
}

/* Before the model goes: the batch is empty then (a load waits for the asks before it). */
static void drop_sessions(IvlWorker *self)
{
  g_clear_pointer(&self->batch, ivl_batch_free);
  g_hash_table_remove_all(self->sessions);
}

static void run_load(IvlWorker *self, Job *job)
{
  static const ivl_backend_kind kinds[] = {IVL_BACKEND_AUTO, IVL_BACKEND_CPU, IVL_BACKEND_CUDA};
  static const ivl_precision precisions[] = {IVL_PRECISION_BF16, IVL_PRECISION_INT8,
                                             IVL_PRECISION_Q4};
  ivl_model_params params = ivl_model_default_params();
  g_autoptr(GError) error = NULL;

  /* The old model goes first: two models rarely fit in memory together. Rows encoded ahead
   * go with it. */
  drop_sessions(self);
  g_hash_table_remove_all(self->ahead);
  g_clear_pointer(&self->model, ivl_model_free);
  g_clear_pointer(&self->remote, ivl_remote_client_unref);
  params.backend = kinds[job->backend];
  params.precision = precisions[job->precision];
  params.progress = on_progress;
  params.progress_data = self;
  self->model = ivl_model_load(job->dir, &params, g_task_get_cancellable(job->task), &error);
  if (self->model == NULL)
    return_engine_error(job->task, error, IVL_WORKER_ERROR_NO_MODEL, IVL_WORKER_ERROR_CORRUPT);
  else {
    const int n_gpus = ivl_model_get_n_gpus(self->model);
    g_autofree char *gpus = n_gpus > 1 ? g_strdup_printf(" %d", n_gpus) : g_strdup("");
    g_task_return_pointer(job->task,
                          g_strdup_printf("%s %s%s", ivl_model_get_backend_name(self->model),
                                          ivl_precision_name(ivl_model_get_precision(self->model)),
                                          gpus),
                          g_free);
  }
}

/* A remote model replaces the local one, whose memory is freed. */
static void run_connect(IvlWorker *self, Job *job)
{
  g_autoptr(GError) error = NULL;
  IvlRemoteClient *client;

  drop_sessions(self);
  g_hash_table_remove_all(self->ahead);
  g_clear_pointer(&self->model, ivl_model_free);
  g_clear_pointer(&self->remote, ivl_remote_client_unref);
  g_clear_pointer(&self->remote_model, g_free);
  client = ivl_server_connect(job->server, g_task_get_cancellable(job->task), &error);
  if (client == NULL) {
    g_task_return_error(job->task, g_steal_pointer(&error));
    return;
  }
  self->remote = client;
  self->remote_model = g_strdup(job->remote_model);
  g_task_return_pointer(job->task, g_strdup_printf("remote %s", ivl_remote_client_get_host(client)),
                        g_free);
}

static ivl_media *media_open(const Media *m, int max_tiles, GError **error)
{
  if (m->video) {
    ivl_video_params p = ivl_video_default_params();
    p.n_segments = m->n_frames;
    p.has_bound = m->bounded;
    p.start = m->start;
    p.end = m->end;
    return ivl_media_from_video_file(m->path, &p, error);
  }
  ivl_image_params p = ivl_image_default_params();
  p.max_num = max_tiles;
  return ivl_media_from_image_file(m->path, &p, error);
}

/* Undoes the ImageNet normalisation of a tile so a person can see what the model sees. */
static GBytes *tile_to_rgb(const float *chw)
{
  static const float mean[3] = {0.485f, 0.456f, 0.406f}, std[3] = {0.229f, 0.224f, 0.225f};
  const int n = 448 * 448;
  guint8 *rgb = g_malloc((gsize)n * 3);

  for (int i = 0; i < n; i++)
    for (int c = 0; c < 3; c++) {
      float v = (chw[c * n + i] * std[c] + mean[c]) * 255.0f + 0.5f;
      rgb[i * 3 + c] = (guint8)CLAMP(v, 0.0f, 255.0f);
    }
  return g_bytes_new_take(rgb, (gsize)n * 3);
}

static void run_inspect(Job *job)
{
  g_autoptr(GError) error = NULL;
  ivl_media *media = media_open(&g_array_index(job->inspected, Media, 0), job->max_tiles, &error);
  Inspection *in;

  if (media == NULL) {
    return_engine_error(job->task, error, IVL_WORKER_ERROR_BAD_MEDIA, IVL_WORKER_ERROR_BAD_MEDIA);
    return;
  }
  in = g_new0(Inspection, 1);
  ivl_media_get_grid(media, &in->cols, &in->rows);
  in->n_tiles = ivl_media_get_n_tiles(media);
  if (ivl_media_is_video(media)) {
    in->frames = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
    for (int i = 0; i < in->n_tiles; i++)
      g_ptr_array_add(in->frames, tile_to_rgb(ivl_media_get_tile(media, i)));
  }
  ivl_media_free(media);
  g_task_return_pointer(job->task, in, (GDestroyNotify)inspection_free);
}

/* ---- attachments encoded while the question is typed ----------------------------------- */

/* The attachment as the model will see it: the same file cut the same way. */
static char *ahead_key(const Media *m, int max_tiles)
{
  return g_strdup_printf("%s\n%d %d %d %g %g %d", m->path, m->video, m->n_frames, m->bounded,
                         m->start, m->end, m->video ? 0 : max_tiles);
}

/* The engine keeps the rows in the model; the next ask with the same tiles takes them. */
static void run_encode(IvlWorker *self, Job *job)
{
  g_autoptr(GError) error = NULL;
  const Media *m = &g_array_index(job->inspected, Media, 0);
  g_autofree char *key = ahead_key(m, job->max_tiles);
  ivl_media *media;

  if (self->remote) {
    g_task_return_boolean(job->task, TRUE); /* the server encodes what it is sent */
    return;
  }
  if (self->model == NULL) {
    g_task_return_new_error(job->task, IVL_WORKER_ERROR, IVL_WORKER_ERROR_NO_MODEL,
                            _("No model is loaded"));
    return;
  }
  if (g_hash_table_contains(self->ahead, key)) {
    g_task_return_boolean(job->task, TRUE);
    return;
  }
  media = media_open(m, job->max_tiles, &error);
  if (media == NULL ||
      !ivl_model_encode_ahead(self->model, media, g_task_get_cancellable(job->task), &error)) {
    if (media)
      ivl_media_free(media);
    return_engine_error(job->task, error, IVL_WORKER_ERROR_BAD_MEDIA, IVL_WORKER_ERROR_FAILED);
    return;
  }
  g_hash_table_insert(self->ahead, g_steal_pointer(&key), media);
  g_task_return_boolean(job->task, TRUE);
}

static void forget_ahead(IvlWorker *self, const char *key)
{
  ivl_media *media = g_hash_table_lookup(self->ahead, key);

  if (media && self->model)
    ivl_model_forget_encoded(self->model, media);
  g_hash_table_remove(self->ahead, key);
}

static void run_forget(IvlWorker *self, Job *job)
{
  g_autofree char *key = ahead_key(&g_array_index(job->inspected, Media, 0), job->max_tiles);

  forget_ahead(self, key);
  g_task_return_boolean(job->task, TRUE);
}

/* After an answer: the attachments it sent were taken by the engine, and any other waiting
 * was removed from the composer unsent (a cleared composer, another conversation). */
static void forget_all_ahead(IvlWorker *self)
{
  g_autofree gpointer *keys = g_hash_table_get_keys_as_array(self->ahead, NULL);

  for (guint i = 0; keys[i]; i++)
    forget_ahead(self, keys[i]);
}

static GPtrArray *media_of_turn(Turn *t, int max_tiles, GError **error)
{
  GPtrArray *media = g_ptr_array_new_with_free_func((GDestroyNotify)ivl_media_free);

  for (guint i = 0; i < t->media->len; i++) {
    ivl_media *m = media_open(&g_array_index(t->media, Media, i), max_tiles, error);
    if (m == NULL) {
      g_ptr_array_unref(media);
      return NULL;
    }
    g_ptr_array_add(media, m);
  }
  return media;
}

static ivl_image_layout layout_of(Turn *t)
{
  return t->combined ? IVL_IMAGES_COMBINED : IVL_IMAGES_SEPARATE;
}

/* The session of the job's conversation, holding exactly the job's history. A kept session
 * keeps its turns up to the first that differs (an edited question, another answer chosen or
 * regenerated, a continued answer, a stopped one) and only the turns from there are added
 * again. */
static Conversation *prepare_session(IvlWorker *self, Job *job, GError **error)
{
  const char *system = job->options.system_message && *job->options.system_message
                           ? job->options.system_message
                           : NULL;
  Conversation *c = g_hash_table_lookup(self->sessions, job->conversation_id);
  guint keep = 0;

  if (c && g_strcmp0(c->system, system) == 0 && c->max_tiles == job->options.max_tiles) {
    while (keep < c->turns->len && keep < job->history->len &&
           same_turn(c->turns->pdata[keep], job->history->pdata[keep]))
      keep++;
    ivl_session_truncate(c->session, (int)keep);
    g_ptr_array_set_size(c->turns, keep);
  } else {
    ivl_session *session = ivl_session_new(self->model, system, error);
    if (session == NULL)
      return NULL;
    c = g_new0(Conversation, 1);
    c->session = session;
    c->system = g_strdup(system);
    c->max_tiles = job->options.max_tiles;
    c->turns = g_ptr_array_new_with_free_func((GDestroyNotify)turn_free);
    g_hash_table_insert(self->sessions, g_strdup(job->conversation_id), c);
  }
  c->used = ++self->uses;
  for (guint i = keep; i < job->history->len; i++) {
    Turn *t = job->history->pdata[i];
    GPtrArray *media = media_of_turn(t, job->options.max_tiles, error);
    gboolean ok =
        media && ivl_session_add_turn(c->session, t->question, (ivl_media *const *)media->pdata,
                                      (int)media->len, layout_of(t), t->answer, error);
    if (media)
      g_ptr_array_unref(media);
    if (!ok) {
      g_hash_table_remove(self->sessions, job->conversation_id);
      return NULL;
    }
    g_ptr_array_add(c->turns, turn_copy(t));
  }
  return c;
}

/* Keeps the sessions of the conversations asked last, and of those answering. */
static void evict_sessions(IvlWorker *self)
{
  while (g_hash_table_size(self->sessions) > self->running->len + KEPT_SESSIONS) {
    GHashTableIter iter;
    gpointer id, value;
    const char *oldest = NULL;
    guint64 used = G_MAXUINT64;

    g_hash_table_iter_init(&iter, self->sessions);
    while (g_hash_table_iter_next(&iter, &id, &value)) {
      Conversation *c = value;
      if (!c->busy && c->used < used) {
        used = c->used;
        oldest = id;
      }
    }
    if (oldest == NULL)
      return;
    g_hash_table_remove(self->sessions, oldest);
  }
}

/* What an ask returns: the text, and how it was made. */
typedef struct {
  char *text;
  IvlAnswerStats stats;
  gboolean at_limit;
} Answer;

static void answer_free(Answer *a)
{
  g_free(a->text);
  g_free(a);
}

static Answer *answer_new(ivl_session *session, char *text, int max_new_tokens)
{
  Answer *a = g_new0(Answer, 1);
  ivl_generation_stats st;

  ivl_session_get_stats(session, &st);
  a->text = text;
  a->stats.n_tokens = st.n_generated;
  a->stats.first_token_ms = st.first_token_ms;
  /* The first token comes out of the prefill: the rate is that of the tokens after it. */
  a->stats.tokens_per_s = st.decode_ms > 0 ? (st.n_generated - 1) * 1000.0 / st.decode_ms : 0;
  a->stats.n_tiles = st.n_image_tiles;
  a->at_limit = st.n_generated >= max_new_tokens;
  return a;
}

/* ---- answers from a server ------------------------------------------------------------- */

static gboolean on_remote_piece(const char *piece, gpointer user_data)
{
  return on_token(piece, -1, user_data);
}

/* The turn's media as the remote chat sends them: image files as they are, clips as the
 * frames our sampler picks. */
static gboolean add_remote_media(IvlRemoteChat *chat, const Turn *t, GError **error)
{
  for (guint i = 0; i < t->media->len; i++) {
    const Media *m = &g_array_index(t->media, Media, i);
    if (!m->video) {
      if (!ivl_remote_chat_add_image_file(chat, m->path, error))
        return FALSE;
      continue;
    }
    ivl_media *video = media_open(m, 1, error);
    gboolean ok =
        video && ivl_remote_chat_add_video(chat, video, m->bounded ? NULL : m->path, error);
    if (video)
      ivl_media_free(video);
    if (!ok)
      return FALSE;
  }
  return TRUE;
}

/* The sampling the window asked for, seeded afresh: a regenerated answer differs. */
static ivl_generation_params generation_params(const IvlAskOptions *options)
{
  ivl_generation_params params = ivl_generation_default_params();
  params.max_new_tokens = options->max_new_tokens;
  params.do_sample = options->do_sample;
  params.temperature = (float)options->temperature;
  params.top_p = (float)options->top_p;
  params.top_k = options->top_k;
  params.seed = (guint64)g_get_real_time();
  return params;
}

/* Servers keep no state: the whole conversation goes with each question. Their asks are
 * answered one at a time, in the order they came. */
static void run_remote_ask(IvlWorker *self, Job *job)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(IvlRemoteChat) chat = ivl_remote_chat_new(self->remote_model);
  Running r = {.self = self, .job = job, .params = generation_params(&job->options)};
  IvlRemoteAnswer reply = {0};
  Answer *a;

  report_state(self, job->conversation_id, FALSE);
  ivl_remote_chat_set_system(chat, job->options.system_message);
  for (guint i = 0; i <= job->history->len; i++) {
    const Turn *t = i < job->history->len ? job->history->pdata[i] : job->question;
    ivl_remote_chat_add_user(chat, t->question);
    if (!add_remote_media(chat, t, &error)) {
      g_task_return_new_error(job->task, IVL_WORKER_ERROR, IVL_WORKER_ERROR_BAD_MEDIA, "%s",
                              error->message);
      return;
    }
    if (t->answer)
      ivl_remote_chat_add_assistant(chat, t->answer);
  }
  ivl_remote_chat_set_params(chat, &r.params);
  if (!ivl_remote_client_chat(self->remote, chat, on_remote_piece, &r, &reply,
                              g_task_get_cancellable(job->task), &error)) {
    ivl_remote_answer_clear(&reply);
    /* What streamed before the failure is in the window already; the error says the rest. */
    if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
      g_task_return_new_error(job->task, IVL_WORKER_ERROR, IVL_WORKER_ERROR_CANCELLED,
                              _("Stopped"));
    else
      g_task_return_error(job->task, g_steal_pointer(&error));
    return;
  }
  a = g_new0(Answer, 1);
  a->text = g_steal_pointer(&reply.text);
  a->stats.n_tokens = reply.has_usage ? reply.completion_tokens : 0;
  a->stats.first_token_ms = reply.first_piece_ms;
  if (reply.has_usage && reply.completion_tokens > 1 && reply.total_ms > reply.first_piece_ms)
    a->stats.tokens_per_s =
        (reply.completion_tokens - 1) * 1000.0 / (reply.total_ms - reply.first_piece_ms);
  a->at_limit = g_strcmp0(reply.finish_reason, "length") == 0;
  ivl_remote_answer_clear(&reply);
  g_task_return_pointer(job->task, a, (GDestroyNotify)answer_free);
}

static gboolean release_task(gpointer task)
{
  g_object_unref(task);
  return G_SOURCE_REMOVE;
}

/* The task holds the worker: its last reference must not drop on this thread, or the worker
 * would be finalized here and join itself. */
static void job_done(IvlWorker *self, Job *job)
{
  idle_on(self->context, release_task, g_steal_pointer(&job->task), NULL);
  job_free(job);
}

static void running_free(Running *r)
{
  if (r->conversation)
    r->conversation->busy = FALSE;
  job_done(r->self, r->job);
  g_free(r);
}

/* The batch ended the ask: with its answer (stopped or whole), or an error. */
static void on_ask_done(ivl_session *session, const char *text, const GError *error,
                        void *user_data)
{
  Running *r = user_data;
  IvlWorker *self = r->self;
  Job *job = r->job;

  if (text == NULL) {
    /* The engine's history is as it was. */
    g_autoptr(GError) copy = g_error_copy(error);
    if (g_error_matches(error, IVL_ERROR, IVL_ERROR_CANCELLED))
      g_task_return_new_error(job->task, IVL_WORKER_ERROR, IVL_WORKER_ERROR_CANCELLED,
                              _("Stopped"));
    else
      return_engine_error(job->task, copy, IVL_WORKER_ERROR_BAD_MEDIA, IVL_WORKER_ERROR_FAILED);
  } else {
    /* A stopped answer is kept by the engine as the turn's answer, and by the window too. */
    job->question->answer = g_strdup(text);
    g_ptr_array_add(r->conversation->turns, g_steal_pointer(&job->question));
    if (g_cancellable_is_cancelled(g_task_get_cancellable(job->task)))
      g_task_return_new_error(job->task, IVL_WORKER_ERROR, IVL_WORKER_ERROR_CANCELLED,
                              _("Stopped"));
    else
      g_task_return_pointer(job->task,
                            answer_new(session, g_strdup(text), r->params.max_new_tokens),
                            (GDestroyNotify)answer_free);
  }
  self->full = FALSE;
  g_ptr_array_remove(self->running, r);
  /* The attachments it sent were taken by the engine; once none answers, any other encoded
   * ahead was removed from a composer unsent (cleared, or another conversation's). */
  if (self->running->len == 0)
    forget_all_ahead(self);
  evict_sessions(self);
}

typedef enum { ADMIT_DONE, ADMIT_RUNNING, ADMIT_NO_ROOM } Admission;

/* Puts a local ask into the batch: its session made to hold its history, its media read
 * and run through the vision encoder. ADMIT_DONE: it ended (an error, returned). */
static Admission admit(IvlWorker *self, Job *job)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) media = NULL;
  Conversation *c;
  Running *r;

  if (self->batch == NULL && !(self->batch = ivl_batch_new(self->model, 0, &error))) {
    return_engine_error(job->task, error, IVL_WORKER_ERROR_FAILED, IVL_WORKER_ERROR_FAILED);
    return ADMIT_DONE;
  }
  /* a follow-up in the conversation answered last reads only its new turn */
  ivl_batch_set_model_cache(self->batch, TRUE);
  media = media_of_turn(job->question, job->options.max_tiles, &error);
  if (media == NULL) {
    return_engine_error(job->task, error, IVL_WORKER_ERROR_BAD_MEDIA, IVL_WORKER_ERROR_BAD_MEDIA);
    return ADMIT_DONE;
  }
  if (!(c = prepare_session(self, job, &error))) {
    return_engine_error(job->task, error, IVL_WORKER_ERROR_BAD_MEDIA, IVL_WORKER_ERROR_CORRUPT);
    return ADMIT_DONE;
  }
  r = g_new0(Running, 1);
  r->self = self;
  r->job = job;
  r->params = generation_params(&job->options);
  report_state(self, job->conversation_id, FALSE);
  if (!ivl_batch_add(self->batch, c->session, job->question->question,
                     (ivl_media *const *)media->pdata, (int)media->len, layout_of(job->question),
                     &r->params, on_token, on_ask_done, r, g_task_get_cancellable(job->task),
                     &error)) {
    g_free(r);
    /* Too big beside the asks answering: it waits for one of them to end. */
    if (self->running->len > 0 && g_error_matches(error, IVL_ERROR, IVL_ERROR_OUT_OF_MEMORY)) {
      job->told_waiting = FALSE; /* it was told it started */
      return ADMIT_NO_ROOM;
    }
    if (g_error_matches(error, IVL_ERROR, IVL_ERROR_CANCELLED))
      g_task_return_new_error(job->task, IVL_WORKER_ERROR, IVL_WORKER_ERROR_CANCELLED,
                              _("Stopped"));
    else
      return_engine_error(job->task, error, IVL_WORKER_ERROR_BAD_MEDIA, IVL_WORKER_ERROR_FAILED);
    return ADMIT_DONE;
  }
  r->conversation = c;
  c->busy = TRUE;
  g_ptr_array_add(self->running, r);
  return ADMIT_RUNNING;
}

/* Tells the window which asks from l on wait for room. */
static void tell_waiting(IvlWorker *self, GList *l)
{
  for (; l; l = l->next) {
    Job *job = l->data;
    if (!job->told_waiting)
      report_state(self, job->conversation_id, TRUE);
    job->told_waiting = TRUE;
  }
}

/* Ends the waiting asks that were stopped (or their conversation deleted), wherever they
 * are in the line. */
static void drop_stopped(IvlWorker *self)
{
  for (GList *l = self->waiting->head; l;) {
    Job *job = l->data;
    GList *next = l->next;

    if (g_cancellable_is_cancelled(g_task_get_cancellable(job->task))) {
      g_task_return_new_error(job->task, IVL_WORKER_ERROR, IVL_WORKER_ERROR_CANCELLED,
                              _("Stopped"));
      g_queue_delete_link(self->waiting, l);
      job_done(self, job);
    }
    l = next;
  }
}

/* Starts the waiting asks that have room, oldest first; an ask of a conversation still
 * answering waits for that answer (the window asks one at a time in each). */
static void admit_waiting(IvlWorker *self)
{
  drop_stopped(self);
  for (GList *l = self->waiting->head; l;) {
    Job *job = l->data;
    GList *next = l->next;
    Conversation *c = g_hash_table_lookup(self->sessions, job->conversation_id);
    Admission result = ADMIT_DONE;

    if (self->remote) {
      run_remote_ask(self, job);
    } else if (self->model == NULL) {
      g_task_return_new_error(job->task, IVL_WORKER_ERROR, IVL_WORKER_ERROR_NO_MODEL,
                              _("No model is loaded"));
    } else if (c && c->busy) {
      l = next;
      continue;
    } else if (self->full || self->running->len >= (guint)g_atomic_int_get(&self->max_parallel) ||
               (self->running->len > 0 && ivl_batch_get_room(self->batch, 1) < 1)) {
      tell_waiting(self, l); /* the step takes no more rows, or memory no more caches */
      return;
    } else if ((result = admit(self, job)) == ADMIT_NO_ROOM) {
      self->full = TRUE;
      tell_waiting(self, l);
      return;
    }
    g_queue_delete_link(self->waiting, l);
    if (result == ADMIT_DONE)
      job_done(self, job);
    l = next;
  }
}

/* The demo model needs the Qwen2.5 tokenizer files; they are installed with the app
 * (IVL_TOKENIZER_DIR overrides, for running from a build tree). */
static const char *tokenizer_dir(void)
{
  const char *env = g_getenv("IVL_TOKENIZER_DIR");

  return env && *env ? env : IVL_DATADIR "/tokenizer/qwen2.5";
}

static void run_demo(Job *job)
{
  g_autoptr(GError) error = NULL;
  ivl_tiny_model_params params = ivl_tiny_model_default_params();

  params.tokenizer_dir = tokenizer_dir();
  if (!ivl_tiny_model_write(job->dir, &params, &error))
    return_engine_error(job->task, error, IVL_WORKER_ERROR_FAILED, IVL_WORKER_ERROR_FAILED);
  else
    g_task_return_boolean(job->task, TRUE);
}

static void run_job(IvlWorker *self, Job *job)
{
  if (g_cancellable_is_cancelled(g_task_get_cancellable(job->task)))
    g_task_return_new_error(job->task, IVL_WORKER_ERROR, IVL_WORKER_ERROR_CANCELLED,
                            _("Cancelled"));
  else if (job->kind == JOB_LOAD)
    run_load(self, job);
  else if (job->kind == JOB_CONNECT)
    run_connect(self, job);
  else if (job->kind == JOB_INSPECT)
    run_inspect(job);
  else if (job->kind == JOB_ENCODE)
    run_encode(self, job);
  else if (job->kind == JOB_FORGET)
    run_forget(self, job);
  else
    run_demo(job);
  job_done(self, job);
}

/* Between steps of the batch the thread takes the jobs that came: asks wait their turn to
 * join it, the others run at once, but a load (which replaces the model) waits for the asks
 * sent before it to end, and the jobs after it for the load. */
static gpointer thread_main(gpointer data)
{
  IvlWorker *self = data;

  for (;;) {
    gboolean busy = self->running->len > 0 || self->waiting->length > 0;
    Job *job = NULL;

    if (self->barrier == NULL)
      job = busy ? g_async_queue_try_pop(self->jobs) : g_async_queue_pop(self->jobs);
    if (job && job->kind == JOB_QUIT) {
      job_free(job);
      break;
    }
    if (job && job->kind == JOB_ASK)
      g_queue_push_tail(self->waiting, job);
    else if (job && busy && (job->kind == JOB_LOAD || job->kind == JOB_CONNECT))
      self->barrier = job;
    else if (job)
      run_job(self, job);
    if (job)
      continue; /* every job that came joins before the next step */
    admit_waiting(self);
    if (self->running->len > 0)
      ivl_batch_step(self->batch, NULL); /* a failure ends its asks with it */
    else if (self->barrier && self->waiting->length == 0)
      run_job(self, g_steal_pointer(&self->barrier));
  }
  /* The window has stopped every ask before it let the worker go: the tasks hold it. */
  drop_sessions(self);
  g_hash_table_remove_all(self->ahead);
  g_clear_pointer(&self->model, ivl_model_free);
  g_clear_pointer(&self->remote, ivl_remote_client_unref);
  g_clear_pointer(&self->remote_model, g_free);
  return NULL;
}

/* ---- the main-context side ------------------------------------------------------------- */

static void ivl_worker_finalize(GObject *object)
{
  IvlWorker *self = IVL_WORKER(object);
  Job *quit = g_new0(Job, 1);

  quit->kind = JOB_QUIT;
  g_async_queue_push(self->jobs, quit);
  g_thread_join(self->thread);
  g_async_queue_unref(self->jobs);
  g_main_context_unref(self->context);
  g_hash_table_unref(self->pending_tokens);
  g_ptr_array_unref(self->pending_states);
  g_free(self->progress_what);
  g_mutex_clear(&self->lock);
  g_hash_table_unref(self->sessions);
  g_queue_free(self->waiting);
  g_ptr_array_unref(self->running);
  g_hash_table_unref(self->ahead);
  G_OBJECT_CLASS(ivl_worker_parent_class)->finalize(object);
}

static void ivl_worker_class_init(IvlWorkerClass *klass)
{
  G_OBJECT_CLASS(klass)->finalize = ivl_worker_finalize;

  /* Text of the answer being generated in the conversation with this id, as one or more
   * pieces at a time. */
  signals[SIGNAL_TOKENS] =
      g_signal_new("tokens", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                   G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_STRING);
  /* The ask of the conversation with this id waits for room beside the answers running
   * (TRUE), or starts being answered (FALSE). */
  signals[SIGNAL_ASK_STATE] =
      g_signal_new("ask-state", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                   G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_BOOLEAN);
  signals[SIGNAL_LOAD_PROGRESS] =
      g_signal_new("load-progress", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                   NULL, G_TYPE_NONE, 2, G_TYPE_DOUBLE, G_TYPE_STRING);
}

static void ivl_worker_init(IvlWorker *self)
{
  g_mutex_init(&self->lock);
  self->sessions =
      g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)conversation_free);
  self->waiting = g_queue_new();
  self->running = g_ptr_array_new_with_free_func((GDestroyNotify)running_free);
  self->max_parallel = 4;
  self->ahead =
      g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)ivl_media_free);
  self->pending_tokens =
      g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)string_free);
  self->pending_states = g_ptr_array_new_with_free_func((GDestroyNotify)ask_state_free);
  self->context = g_main_context_ref_thread_default();
  self->jobs = g_async_queue_new();
  self->thread = g_thread_new("ivl-worker", thread_main, self);
}

IvlWorker *ivl_worker_new(void)
{
  return g_object_new(IVL_TYPE_WORKER, NULL);
}

void ivl_worker_set_max_parallel(IvlWorker *self, int n)
{
  g_atomic_int_set(&self->max_parallel, MAX(n, 1));
}

static Job *job_new(IvlWorker *self, JobKind kind, GCancellable *cancellable,
                    GAsyncReadyCallback callback, gpointer user_data, gpointer tag)
{
  Job *job = g_new0(Job, 1);

  job->kind = kind;
  job->task = g_task_new(self, cancellable, callback, user_data);
  g_task_set_source_tag(job->task, tag);
  /* The thread reports a cancel itself, as IVL_WORKER_ERROR_CANCELLED. */
  g_task_set_check_cancellable(job->task, FALSE);
  return job;
}

void ivl_worker_load_async(IvlWorker *self, const char *dir, IvlWorkerBackend backend,
                           IvlWorkerPrecision precision, GCancellable *cancellable,
                           GAsyncReadyCallback callback, gpointer user_data)
{
  Job *job = job_new(self, JOB_LOAD, cancellable, callback, user_data, ivl_worker_load_async);

  job->dir = g_strdup(dir);
  job->backend = CLAMP(backend, IVL_WORKER_BACKEND_AUTO, IVL_WORKER_BACKEND_CUDA);
  job->precision = CLAMP(precision, IVL_WORKER_PRECISION_BF16, IVL_WORKER_PRECISION_4BIT);
  g_async_queue_push(self->jobs, job);
}

void ivl_worker_connect_async(IvlWorker *self, const IvlServer *server, const char *model,
                              GCancellable *cancellable, GAsyncReadyCallback callback,
                              gpointer user_data)
{
  Job *job = job_new(self, JOB_CONNECT, cancellable, callback, user_data, ivl_worker_load_async);

  job->server = ivl_server_copy(server);
  job->remote_model = g_strdup(model);
  g_async_queue_push(self->jobs, job);
}

char *ivl_worker_load_finish(IvlWorker *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail(g_task_is_valid(result, self), NULL);
  flush_pending(self);
  return g_task_propagate_pointer(G_TASK(result), error);
}

void ivl_worker_inspect_async(IvlWorker *self, IvlAttachment *attachment, int max_tiles,
                              GCancellable *cancellable, GAsyncReadyCallback callback,
                              gpointer user_data)
{
  Job *job = job_new(self, JOB_INSPECT, cancellable, callback, user_data, ivl_worker_inspect_async);

  job->inspected = media_array_new();
  media_append(job->inspected, attachment);
  job->max_tiles = max_tiles;
  g_task_set_task_data(job->task, g_object_ref(attachment), g_object_unref);
  g_async_queue_push(self->jobs, job);
}

void ivl_worker_encode_ahead_async(IvlWorker *self, IvlAttachment *attachment, int max_tiles,
                                   GCancellable *cancellable, GAsyncReadyCallback callback,
                                   gpointer user_data)
{
  Job *job =
      job_new(self, JOB_ENCODE, cancellable, callback, user_data, ivl_worker_encode_ahead_async);

  job->inspected = media_array_new();
  media_append(job->inspected, attachment);
  job->max_tiles = max_tiles;
  g_async_queue_push(self->jobs, job);
}

gboolean ivl_worker_encode_ahead_finish(IvlWorker *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail(g_task_is_valid(result, self), FALSE);
  return g_task_propagate_boolean(G_TASK(result), error);
}

void ivl_worker_forget_ahead(IvlWorker *self, IvlAttachment *attachment, int max_tiles)
{
  Job *job = job_new(self, JOB_FORGET, NULL, NULL, NULL, ivl_worker_forget_ahead);

  job->inspected = media_array_new();
  media_append(job->inspected, attachment);
  job->max_tiles = max_tiles;
  g_async_queue_push(self->jobs, job);
}

static GdkTexture *frame_texture(GBytes *rgb)
{
  return gdk_memory_texture_new(448, 448, GDK_MEMORY_R8G8B8, rgb, 448 * 3);
}

gboolean ivl_worker_inspect_finish(IvlWorker *self, GAsyncResult *result, GPtrArray **frames,
                                   GError **error)
{
  IvlAttachment *attachment;
  Inspection *in;

  g_return_val_if_fail(g_task_is_valid(result, self), FALSE);
  in = g_task_propagate_pointer(G_TASK(result), error);
  if (frames)
    *frames = NULL;
  if (in == NULL)
    return FALSE;
  attachment = g_task_get_task_data(G_TASK(result));
  ivl_attachment_set_grid(attachment, in->cols, in->rows, in->n_tiles);
  if (in->frames && frames) {
    *frames = g_ptr_array_new_with_free_func(g_object_unref);
    for (guint i = 0; i < in->frames->len; i++)
      g_ptr_array_add(*frames, frame_texture(in->frames->pdata[i]));
  }
  inspection_free(in);
  return TRUE;
}

static Turn *turn_from(IvlMessage *question, IvlMessage *answer)
{
  Turn *t = g_new0(Turn, 1);

  t->question = g_strdup(ivl_message_get_text(question));
  GPtrArray *attachments = ivl_message_get_attachments(question);

  t->media = media_array_new();
  for (guint i = 0; i < attachments->len; i++)
    media_append(t->media, attachments->pdata[i]);
  t->combined = ivl_message_get_combined(question);
  t->answer = answer ? g_strdup(ivl_message_get_text(answer)) : NULL;
  return t;
}

void ivl_worker_ask_async(IvlWorker *self, const char *conversation_id, GListModel *messages,
                          const IvlAskOptions *options, GCancellable *cancellable,
                          GAsyncReadyCallback callback, gpointer user_data)
{
  Job *job = job_new(self, JOB_ASK, cancellable, callback, user_data, ivl_worker_ask_async);
  guint n = g_list_model_get_n_items(messages);

  job->conversation_id = g_strdup(conversation_id);
  job->options = *options;
  job->options.system_message = g_strdup(options->system_message);
  job->history = g_ptr_array_new_with_free_func((GDestroyNotify)turn_free);
  /* Messages alternate question, answer; the last one is the new question. */
  for (guint i = 0; i + 1 < n; i += 2) {
    g_autoptr(IvlMessage) q = g_list_model_get_item(messages, i);
    g_autoptr(IvlMessage) a = g_list_model_get_item(messages, i + 1);
    g_ptr_array_add(job->history, turn_from(q, a));
  }
  if (n % 2 == 1) {
    g_autoptr(IvlMessage) q = g_list_model_get_item(messages, n - 1);
    job->question = turn_from(q, NULL);
  }
  if (job->question == NULL) {
    g_task_return_new_error(job->task, IVL_WORKER_ERROR, IVL_WORKER_ERROR_FAILED,
                            _("There is no question to answer"));
    g_object_unref(job->task);
    job->task = NULL;
    job_free(job);
    return;
  }
  g_async_queue_push(self->jobs, job);
}

char *ivl_worker_ask_finish(IvlWorker *self, GAsyncResult *result, IvlAnswerStats *stats,
                            gboolean *at_limit, GError **error)
{
  Answer *a;
  char *text;

  g_return_val_if_fail(g_task_is_valid(result, self), NULL);
  /* Tokens still waiting for their idle callback belong before the end of the answer. */
  flush_pending(self);
  a = g_task_propagate_pointer(G_TASK(result), error);
  if (a == NULL)
    return NULL;
  *stats = a->stats;
  *at_limit = a->at_limit;
  text = g_steal_pointer(&a->text);
  answer_free(a);
  return text;
}

gboolean ivl_worker_can_write_demo(void)
{
  g_autofree char *vocab = g_build_filename(tokenizer_dir(), "vocab.json", NULL);

  return g_file_test(vocab, G_FILE_TEST_IS_REGULAR);
}

void ivl_worker_write_demo_async(IvlWorker *self, const char *dir, GCancellable *cancellable,
                                 GAsyncReadyCallback callback, gpointer user_data)
{
  Job *job = job_new(self, JOB_DEMO, cancellable, callback, user_data, ivl_worker_write_demo_async);

  job->dir = g_strdup(dir);
  g_async_queue_push(self->jobs, job);
}

gboolean ivl_worker_write_demo_finish(IvlWorker *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail(g_task_is_valid(result, self), FALSE);
  return g_task_propagate_boolean(G_TASK(result), error);
}
