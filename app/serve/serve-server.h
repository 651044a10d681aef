/* serve-server.h — `ivl serve`: the OpenAI-compatible API over one loaded model.
 *
 * Routes: POST /v1/chat/completions and /v1/completions (JSON, or server-sent events with
 * "stream": true), GET /v1/models, GET /v1/models/{id}, GET /health, and CORS preflights.
 * One worker thread owns the model; requests are checked (parsed, media decoded, prompt
 * counted) on another, then queue and run one at a time. A request that continues the
 * previous conversation (same system message and history plus the last answer) reuses the
 * session and its KV cache, so a chat client's follow-ups do not recompute the history's
 * images. A client that goes away cancels its generation within a token, or its place in the
 * queue; one that only closes its sending side still gets its answer. */
#ifndef IVL_SERVE_SERVER_H
#define IVL_SERVE_SERVER_H

#include "ivl.h"

typedef struct _IvlServer IvlServer;

typedef struct {
  const char *model_id;    /* what /v1/models lists and responses name */
  gboolean any_model;      /* accept requests naming another model (else 404) */
  int max_num;             /* most tiles of each image */
  const char *api_key;     /* required as "Authorization: Bearer" when not NULL */
  char *const *allowed_origins; /* browser origins besides loopback pages; "*": any */
  gsize max_body;          /* bytes; a larger body gets 413 unread */
  int max_queue;           /* requests waiting besides the running ones; more get 429 */
  int parallel;            /* requests answered at once (continuous batching); 0 or 1: one */
  int receive_timeout;     /* seconds for a request's headers and body to arrive */
} IvlServeOptions;

IvlServer *ivl_server_new(const IvlServeOptions *options);
/* Listens on host:port (host an IP address or "localhost"; port 0: any free one) on the
 * thread-default main context. Until ivl_server_start, requests for the model get 503. */
gboolean ivl_server_listen(IvlServer *server, const char *host, int port, GError **error);
/* The port listened on (after ivl_server_listen). */
int ivl_server_get_port(IvlServer *server);
/* Serves model, which stays owned by the caller and must outlive the server. */
void ivl_server_start(IvlServer *server, ivl_model *model);
/* Cancels what runs, drops what waits, joins the worker. */
void ivl_server_free(IvlServer *server);

#endif /* IVL_SERVE_SERVER_H */
