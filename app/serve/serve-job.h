/* serve-job.h — one request on its way between the HTTP side (main thread,
 * serve-server.c) and the engine (worker thread, serve-worker.c). */
#ifndef IVL_SERVE_JOB_H
#define IVL_SERVE_JOB_H

#include <libsoup/soup.h>

#include "serve-request.h"
#include "serve-text.h"

typedef struct _IvlServeWorker IvlServeWorker;
typedef struct _IvlServeJob IvlServeJob;

/* A generated token's log-probability and its most likely alternatives. */
typedef struct {
  char *token;
  float logprob;
  int n_top;
  char *top_tokens[IVL_MAX_TOP_LOGPROBS];
  float top_logprobs[IVL_MAX_TOP_LOGPROBS];
} IvlServeLogprob;

/* A new GArray of IvlServeLogprob that frees its entries' strings. */
GArray *ivl_serve_logprobs_new(void);

/* Called on the main context: a piece of the answer (job, text, the logprobs of its tokens or
 * NULL), then once at the end (job, NULL, NULL) with the job's results set. */
typedef void (*IvlServeJobFn)(IvlServeJob *job, const char *piece, GArray *logprobs);

struct _IvlServeJob {
  /* set before queueing, read-only after */
  IvlServeKind kind;
  IvlServeRequest *request;
  GCancellable *cancellable;
  GMainContext *context;
  IvlServeJobFn deliver;
  gpointer server;
  /* main thread only */
  GBytes *body;           /* the request body until it is parsed */
  SoupServerMessage *msg; /* NULL once the client is gone or the answer sent */
  char *id;
  gint64 created;
  char *model_id;
  gint64 last_write;      /* monotonic time of the last bytes sent to a stream */
  gboolean probed;        /* a 100 Continue went out to see if a half-closed client reads */
  /* set by the worker before the final delivery */
  char *answer;
  GError *error;
  int prompt_tokens, completion_tokens;
  int cached_tokens; /* of the prompt, reused from the KV cache */
  const char *finish_reason; /* "stop" or "length" */
  GArray *logprobs;          /* IvlServeLogprob of a whole answer, or NULL */
};

/* Reference counted (g_atomic_rc_box): the queue, the worker's deliveries and the HTTP side
 * each hold one. */
IvlServeJob *ivl_serve_job_ref(IvlServeJob *job);
void ivl_serve_job_unref(IvlServeJob *job);

/* The engine thread over model (not owned), answering up to parallel jobs at once. */
IvlServeWorker *ivl_serve_worker_new(ivl_model *model, int parallel);
void ivl_serve_worker_push(IvlServeWorker *worker, IvlServeJob *job);
/* Cancels the running jobs, drops queued ones, joins the thread. */
void ivl_serve_worker_free(IvlServeWorker *worker);

#endif /* IVL_SERVE_JOB_H */
