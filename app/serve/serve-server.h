/* serve-server.h — `ivl serve`: the OpenAI-compatible chat API over one loaded model.
 *
 * Routes: POST /v1/chat/completions (JSON, or server-sent events with "stream": true),
 * GET /v1/models, GET /health. One worker thread owns the model; requests queue and run one
 * at a time. A request that continues the previous conversation (same system message and
 * history plus the last answer) reuses the session and its KV cache, so a chat client's
 * follow-ups do not recompute the history's images. A client that goes away cancels its
 * generation within a token. */
#ifndef IVL_SERVE_SERVER_H
#define IVL_SERVE_SERVER_H

#include "ivl.h"

typedef struct _IvlServer IvlServer;

/* model stays owned by the caller and must outlive the server; model_id is what /v1/models
 * lists and responses name; max_num bounds the tiles of each image. */
IvlServer *ivl_server_new(ivl_model *model, const char *model_id, int max_num);
/* Listens on host:port (port 0: any free one) on the thread-default main context. */
gboolean ivl_server_listen(IvlServer *server, const char *host, int port, GError **error);
/* The port listened on (after ivl_server_listen). */
int ivl_server_get_port(IvlServer *server);
/* Cancels what runs, drops what waits, joins the worker. */
void ivl_server_free(IvlServer *server);

#endif /* IVL_SERVE_SERVER_H */
