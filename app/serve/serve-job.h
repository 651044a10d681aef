/* serve-job.h — one chat-completions request on its way between the HTTP side (main
 * thread, serve-server.c) and the engine (worker thread, serve-worker.c). */
#ifndef IVL_SERVE_JOB_H
#define IVL_SERVE_JOB_H

#include <libsoup/soup.h>

#include "serve-request.h"

typedef struct _IvlServeWorker IvlServeWorker;
typedef struct _IvlServeJob IvlServeJob;

/* Called on the main context: a piece of the answer (job, text), then once at the end
 * (job, NULL) with the job's results set. */
typedef void (*IvlServeJobFn)(IvlServeJob *job, const char *piece);

struct _IvlServeJob {
  /* set before queueing, read-only after */
  IvlServeRequest *request;
  GCancellable *cancellable;
  GMainContext *context;
  IvlServeJobFn deliver;
  /* main thread only */
  SoupServerMessage *msg; /* NULL once the client is gone or the answer sent */
  char *id;
  gint64 created;
  char *model_id;
  /* set by the worker before the final delivery */
  char *answer;
  GError *error;
  int prompt_tokens, completion_tokens;
  gboolean hit_length; /* stopped at max_tokens */
};

/* Reference counted (g_atomic_rc_box): the queue, the worker's deliveries and the HTTP side
 * each hold one. */
IvlServeJob *ivl_serve_job_ref(IvlServeJob *job);
void ivl_serve_job_unref(IvlServeJob *job);

/* The engine thread over model (not owned); max_num bounds each image's tiles. */
IvlServeWorker *ivl_serve_worker_new(ivl_model *model, int max_num);
void ivl_serve_worker_push(IvlServeWorker *worker, IvlServeJob *job);
/* Cancels the running job, drops queued ones, joins the thread. */
void ivl_serve_worker_free(IvlServeWorker *worker);

#endif /* IVL_SERVE_JOB_H */
