/* serve-server.c — the HTTP side of `ivl serve` (serve-server.h): who may ask, routes,
 * limits, the queue and server-sent events, on the main context; the checks before queueing
 * run on a thread of their own (serve-prepare.c), the engine on the worker (serve-worker.c). */
#include "serve-server.h"

#include <string.h>

#include "serve-error.h"
#include "serve-guard.h"
#include "serve-job.h"
#include "serve-prepare.h"
#include "serve-response.h"

/* How often waiting and running requests are looked at: clients gone, keep-alives due. */
#define TICK_MS 1000
/* Connections the kernel holds for accepting. */
#define LISTEN_BACKLOG 512

struct _IvlServer {
  IvlServeOptions opts; /* strings owned below */
  char *model_id, *api_key;
  char **allowed_origins;
  SoupServer *soup;
  ivl_model *model;
  IvlServeWorker *worker;
  GThreadPool *prepare;
  GMainContext *context;
  GHashTable *live; /* IvlServeJob*: admitted and not yet answered */
  guint tick;
  guint64 n_requests;
  char *host;
  int port;
};

/* ---- answers ----------------------------------------------------------------------------- */

static void send_body(SoupServerMessage *msg, guint status, char *body /* taken */)
{
  soup_server_message_set_status(msg, status, NULL);
  soup_server_message_set_response(msg, "application/json", SOUP_MEMORY_TAKE, body,
                                   strlen(body));
}

static void send_gerror(SoupServerMessage *msg, const GError *error, const char *param)
{
  send_body(msg, ivl_serve_error_status(error), ivl_serve_error_json(error, param));
}

static void send_error(SoupServerMessage *msg, guint status, const char *code, const char *param,
                       const char *message)
{
  g_autoptr(GError) error = NULL;
  ivl_serve_error_set(&error, status, code, param, "%s", message);
  send_gerror(msg, error, NULL);
}

static void send_event(IvlServeJob *job, const char *data)
{
  g_autofree char *event = g_strdup_printf("data: %s\n\n", data);
  soup_message_body_append(soup_server_message_get_response_body(job->msg), SOUP_MEMORY_COPY,
                           event, strlen(event));
  job->last_write = g_get_monotonic_time();
}

/* An SSE comment, which clients ignore: it keeps proxies and SDK timeouts from firing while
 * a request waits, and its write shows whether the client still reads. */
static void send_keepalive(IvlServeJob *job)
{
  static const char comment[] = ": keep-alive\n\n";
  soup_message_body_append(soup_server_message_get_response_body(job->msg), SOUP_MEMORY_STATIC,
                           comment, strlen(comment));
  job->last_write = g_get_monotonic_time();
  soup_server_message_unpause(job->msg);
}

static gboolean stream_started(const IvlServeJob *job)
{
  return job->last_write > 0;
}

static void stream_start(IvlServeJob *job)
{
  SoupMessageHeaders *h = soup_server_message_get_response_headers(job->msg);
  soup_message_headers_set_encoding(h, SOUP_ENCODING_CHUNKED);
  soup_message_headers_set_content_type(h, "text/event-stream", NULL);
  soup_message_headers_replace(h, "Cache-Control", "no-cache");
  soup_server_message_set_status(job->msg, SOUP_STATUS_OK, NULL);
  send_keepalive(job);
  g_autofree char *first = ivl_serve_response_chunk(job, NULL, NULL, TRUE, FALSE);
  send_event(job, first);
}

static void stream_end(IvlServeJob *job)
{
  if (job->error) {
    /* the status line is long gone: the failure travels as an event, as OpenAI does */
    g_autofree char *body = ivl_serve_error_json(job->error, NULL);
    send_event(job, body);
  } else {
    g_autofree char *last = ivl_serve_response_chunk(job, NULL, NULL, FALSE, FALSE);
    send_event(job, last);
    if (job->request->include_usage) {
      g_autofree char *usage = ivl_serve_response_chunk(job, NULL, NULL, FALSE, TRUE);
      send_event(job, usage);
    }
  }
  send_event(job, "[DONE]");
  soup_message_body_complete(soup_server_message_get_response_body(job->msg));
}

/* ---- clients that leave ------------------------------------------------------------------ */

/* Whether the client has gone. A client that has sent its request may close its sending side
 * (a half-close, which some HTTP clients do) and still read the answer: only a closed reading
 * side means it left, and that shows only when something is written. A stream is written
 * keep-alives; a client waiting for anything else gets one "100 Continue" (which HTTP/1.1
 * clients must accept before any answer) when its end of the request shows, after which a
 * client that left answers with a reset. */
static gboolean client_gone(IvlServeJob *job)
{
  GSocket *socket = soup_server_message_get_socket(job->msg);
  if (!socket)
    return TRUE;
  GIOCondition c = g_socket_condition_check(socket, G_IO_IN | G_IO_HUP | G_IO_ERR);
  if (c & (G_IO_HUP | G_IO_ERR))
    return TRUE;
  if (!(c & G_IO_IN) || stream_started(job) || job->probed)
    return FALSE;
  char byte;
  GInputVector v = {&byte, 1};
  int flags = G_SOCKET_MSG_PEEK;
  if (g_socket_receive_message(socket, NULL, &v, 1, NULL, NULL, &flags, NULL, NULL) != 0)
    return FALSE; /* bytes after the request: not an end */
  if (soup_server_message_get_http_version(job->msg) < SOUP_HTTP_1_1)
    return TRUE; /* no 1xx answers for HTTP/1.0: its end of request is taken as leaving */
  static const char probe[] = "HTTP/1.1 100 Continue\r\n\r\n";
  job->probed = TRUE;
  return g_socket_send(socket, probe, strlen(probe), NULL, NULL) < 0;
}

static void finish_job(IvlServeJob *job)
{
  IvlServer *self = job->server;
  g_clear_object(&job->msg);
  g_hash_table_remove(self->live, job);
}

/* Stops the answer of a client that left, and ends its paused message so that libsoup
 * writes, fails and closes the connection (a message left paused would hold it forever). */
static void abandon(IvlServeJob *job)
{
  g_cancellable_cancel(job->cancellable);
  if (stream_started(job))
    soup_message_body_complete(soup_server_message_get_response_body(job->msg));
  else
    soup_server_message_set_status(job->msg, 499, "Client Closed Request");
  soup_server_message_unpause(job->msg);
  g_clear_object(&job->msg);
}

/* The worker's deliveries: a piece, or NULL once done. Each piece also looks whether the
 * client is still there, so that an abandoned answer stops within a token. */
static void deliver(IvlServeJob *job, const char *piece, GArray *logprobs)
{
  if (job->msg && piece && client_gone(job))
    abandon(job);
  if (!job->msg) {
    if (!piece)
      finish_job(job);
    return; /* the client went away */
  }
  if (piece && !job->request->stream)
    return; /* it waits for the whole answer */
  if (piece) {
    g_autofree char *chunk = ivl_serve_response_chunk(job, piece, logprobs, FALSE, FALSE);
    send_event(job, chunk);
  } else if (job->request->stream) {
    stream_end(job);
  } else if (job->error) {
    send_gerror(job->msg, job->error, NULL);
  } else {
    send_body(job->msg, SOUP_STATUS_OK, ivl_serve_response_whole(job));
  }
  soup_server_message_unpause(job->msg);
  if (!piece)
    finish_job(job);
}

static gboolean on_tick(gpointer data)
{
  IvlServer *self = data;
  GHashTableIter it;
  gpointer key;
  gint64 now = g_get_monotonic_time();
  g_hash_table_iter_init(&it, self->live);
  while (g_hash_table_iter_next(&it, &key, NULL)) {
    IvlServeJob *job = key;
    if (!job->msg)
      continue;
    if (client_gone(job))
      abandon(job); /* a queued one is skipped when its turn comes */
    else if (stream_started(job) && now - job->last_write >= TICK_MS * 1000)
      send_keepalive(job);
  }
  return G_SOURCE_CONTINUE;
}

static void on_disconnected(SoupServerMessage *msg, IvlServeJob *job)
{
  g_cancellable_cancel(job->cancellable);
  if (job->msg == msg)
    g_clear_object(&job->msg);
}

static void job_closure_unref(gpointer job, GClosure *closure)
{
  (void)closure;
  ivl_serve_job_unref(job);
}

/* ---- admission: parse and check off the main thread, then queue ------------------------- */

/* On the main context, once the request was checked. */
static gboolean admitted(gpointer data)
{
  IvlServeJob *job = data;
  IvlServer *self = job->server;
  if (!job->msg) {
    finish_job(job); /* gone meanwhile */
  } else if (job->error) {
    send_gerror(job->msg, job->error, "messages");
    soup_server_message_unpause(job->msg);
    finish_job(job);
  } else {
    g_clear_pointer(&job->body, g_bytes_unref);
    if (job->request->stream) {
      stream_start(job);
      soup_server_message_unpause(job->msg);
    }
    ivl_serve_worker_push(self->worker, job);
  }
  return G_SOURCE_REMOVE;
}

static void check_model(IvlServer *self, IvlServeJob *job, GError **error)
{
  const char *asked = job->request->model;
  if (asked && *asked && !self->opts.any_model && !g_str_equal(asked, self->model_id))
    ivl_serve_error_set(error, 404, "model_not_found", "model",
                        "the model \"%s\" does not exist: this server serves \"%s\"", asked,
                        self->model_id);
}

/* On the preparing thread. */
static void prepare(gpointer data, gpointer user_data)
{
  IvlServeJob *job = data;
  IvlServer *self = user_data;
  gsize n;
  const char *text = g_bytes_get_data(job->body, &n);
  GError *error = NULL;
  if (g_cancellable_set_error_if_cancelled(job->cancellable, &error) ||
      !(job->request = ivl_serve_request_parse(job->kind, text ? text : "", n, &error)))
    ;
  else
    check_model(self, job, &error);
  if (!error)
    ivl_serve_prepare(self->model, self->opts.max_num, job->request, &error);
  job->error = error;
  g_main_context_invoke_full(job->context, G_PRIORITY_DEFAULT, admitted, job,
                             (GDestroyNotify)ivl_serve_job_unref);
}

static void admit(IvlServer *self, SoupServerMessage *msg, IvlServeKind kind)
{
  IvlServeJob *job = g_atomic_rc_box_new0(IvlServeJob);
  job->kind = kind;
  job->server = self;
  job->body = soup_message_body_flatten(soup_server_message_get_request_body(msg));
  job->cancellable = g_cancellable_new();
  job->context = self->context;
  job->deliver = deliver;
  job->msg = g_object_ref(msg);
  job->id = g_strdup_printf("%s-ivl-%" G_GUINT64_FORMAT,
                            kind == IVL_SERVE_CHAT ? "chatcmpl" : "cmpl", ++self->n_requests);
  job->created = g_get_real_time() / G_USEC_PER_SEC;
  job->model_id = g_strdup(self->model_id);
  g_signal_connect_data(msg, "disconnected", G_CALLBACK(on_disconnected),
                        ivl_serve_job_ref(job), job_closure_unref, 0);
  g_hash_table_add(self->live, ivl_serve_job_ref(job));
  soup_server_message_pause(msg);
  g_thread_pool_push(self->prepare, job, NULL); /* the pool's reference */
}

/* ---- who may ask, and what: checked on the headers, before the body is read ------------ */

typedef enum { ROUTE_NONE, ROUTE_HEALTH, ROUTE_MODELS, ROUTE_MODEL, ROUTE_CHAT, ROUTE_COMPLETIONS } Route;

static Route route_of(const char *path, const char **method)
{
  static const struct {
    const char *path, *method;
    Route route;
  } routes[] = {
      {"/health", "GET", ROUTE_HEALTH},
      {"/v1/models", "GET", ROUTE_MODELS},
      {"/v1/chat/completions", "POST", ROUTE_CHAT},
      {"/v1/completions", "POST", ROUTE_COMPLETIONS},
  };
  for (gsize i = 0; i < G_N_ELEMENTS(routes); i++)
    if (g_str_equal(path, routes[i].path)) {
      *method = routes[i].method;
      return routes[i].route;
    }
  *method = "GET";
  return g_str_has_prefix(path, "/v1/models/") && path[strlen("/v1/models/")] ? ROUTE_MODEL
                                                                               : ROUTE_NONE;
}

/* CORS: an allowed page's origin is echoed; others get no such header (and a 403). */
static gboolean origin_ok(IvlServer *self, SoupServerMessage *msg)
{
  SoupMessageHeaders *req = soup_server_message_get_request_headers(msg);
  SoupMessageHeaders *res = soup_server_message_get_response_headers(msg);
  const char *origin = soup_message_headers_get_one(req, "Origin");
  if (!origin)
    return TRUE;
  if (!ivl_serve_origin_allowed(origin, self->allowed_origins))
    return FALSE;
  soup_message_headers_replace(res, "Access-Control-Allow-Origin", origin);
  soup_message_headers_append(res, "Vary", "Origin");
  return TRUE;
}

static void preflight(SoupServerMessage *msg)
{
  SoupMessageHeaders *req = soup_server_message_get_request_headers(msg);
  SoupMessageHeaders *res = soup_server_message_get_response_headers(msg);
  const char *asked = soup_message_headers_get_one(req, "Access-Control-Request-Headers");
  soup_message_headers_replace(res, "Access-Control-Allow-Methods", "GET, POST, OPTIONS");
  soup_message_headers_replace(res, "Access-Control-Allow-Headers",
                               asked ? asked : "Authorization, Content-Type");
  soup_message_headers_replace(res, "Access-Control-Max-Age", "600");
  soup_server_message_set_status(msg, SOUP_STATUS_NO_CONTENT, NULL);
}

static void on_chunk(SoupServerMessage *msg, GBytes *chunk, IvlServer *self)
{
  (void)chunk;
  SoupMessageBody *body = soup_server_message_get_request_body(msg);
  if ((gsize)body->length > self->opts.max_body && soup_server_message_get_status(msg) == 0) {
    soup_message_body_set_accumulate(body, FALSE);
    soup_message_body_truncate(body);
    g_autofree char *text = g_strdup_printf("the body is larger than %" G_GSIZE_FORMAT " bytes",
                                            self->opts.max_body);
    send_error(msg, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, "body_too_large", NULL, text);
  }
}

/* The refusal of a request, from its headers, with its message; 0 lets it through. */
static guint refuse(IvlServer *self, SoupServerMessage *msg, const char *path, char **message,
                    const char **code)
{
  SoupMessageHeaders *req = soup_server_message_get_request_headers(msg);
  const char *method = soup_server_message_get_method(msg), *wanted;
  Route route = route_of(path, &wanted);
  *code = NULL;
  if (!ivl_serve_host_allowed(soup_message_headers_get_one(req, "Host"), self->host)) {
    *message = g_strdup("the Host header names another server");
    return SOUP_STATUS_FORBIDDEN;
  }
  if (!origin_ok(self, msg)) {
    *message = g_strdup("requests from this origin are not allowed (see --allowed-origins)");
    return SOUP_STATUS_FORBIDDEN;
  }
  if (g_str_equal(method, "OPTIONS")) {
    preflight(msg);
    return SOUP_STATUS_NO_CONTENT;
  }
  if (route == ROUTE_NONE) {
    *message = g_strdup_printf("no route %s %s", method, path);
    return SOUP_STATUS_NOT_FOUND;
  }
  if (!g_str_equal(method, wanted)) {
    *message = g_strdup_printf("use %s", wanted);
    return SOUP_STATUS_METHOD_NOT_ALLOWED;
  }
  if (self->api_key && route != ROUTE_HEALTH &&
      !ivl_serve_key_matches(soup_message_headers_get_one(req, "Authorization"), self->api_key)) {
    *message = g_strdup("a valid API key is needed: \"Authorization: Bearer <key>\"");
    *code = "invalid_api_key";
    return SOUP_STATUS_UNAUTHORIZED;
  }
  if (route != ROUTE_CHAT && route != ROUTE_COMPLETIONS)
    return 0;
  if (!self->worker) {
    *message = g_strdup("the model is still loading");
    return SOUP_STATUS_SERVICE_UNAVAILABLE;
  }
  goffset length = soup_message_headers_get_content_length(req);
  if (soup_message_headers_get_encoding(req) == SOUP_ENCODING_CONTENT_LENGTH &&
      (guint64)length > self->opts.max_body) {
    *message = g_strdup_printf("the body is larger than %" G_GSIZE_FORMAT " bytes",
                               self->opts.max_body);
    *code = "body_too_large";
    return SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE;
  }
  if (g_hash_table_size(self->live) >
      (guint)self->opts.max_queue + (guint)MAX(self->opts.parallel, 1) - 1) {
    *message = g_strdup_printf("%d requests are waiting already: try again later",
                               self->opts.max_queue);
    *code = "queue_full";
    return 429;
  }
  return 0;
}

static void early(SoupServer *soup, SoupServerMessage *msg, const char *path, GHashTable *query,
                  gpointer user_data)
{
  IvlServer *self = user_data;
  SoupMessageHeaders *res = soup_server_message_get_response_headers(msg);
  (void)soup;
  (void)query;
  /* libsoup before 3.3 never closes a kept-alive connection that the client closed (each
   * request would leak a socket in CLOSE_WAIT: GNOME/libsoup commit d20c6601); one request
   * per connection avoids it, at the cost of a handshake per request */
  soup_message_headers_replace(res, "Connection", "close");
  g_autofree char *message = NULL;
  const char *code;
  guint status = refuse(self, msg, path, &message, &code);
  if (status == 429)
    soup_message_headers_replace(res, "Retry-After", "1");
  if (message) {
    send_error(msg, status, code, NULL, message);
    /* the body, if any, is read and dropped */
    soup_message_body_set_accumulate(soup_server_message_get_request_body(msg), FALSE);
  } else if (status == 0) {
    g_signal_connect(msg, "got-chunk", G_CALLBACK(on_chunk), self);
  }
}

static void route(SoupServer *soup, SoupServerMessage *msg, const char *path, GHashTable *query,
                  gpointer user_data)
{
  IvlServer *self = user_data;
  const char *method;
  (void)soup;
  (void)query;
  switch (route_of(path, &method)) {
  case ROUTE_HEALTH:
    send_body(msg, SOUP_STATUS_OK, g_strdup("{\"status\":\"ok\"}"));
    break;
  case ROUTE_MODELS:
    send_body(msg, SOUP_STATUS_OK, ivl_serve_response_model(self->model_id, TRUE));
    break;
  case ROUTE_MODEL: {
    g_autofree char *id = g_uri_unescape_string(path + strlen("/v1/models/"), NULL);
    if (id && (self->opts.any_model || g_str_equal(id, self->model_id))) {
      send_body(msg, SOUP_STATUS_OK, ivl_serve_response_model(id, FALSE));
    } else {
      g_autofree char *text = g_strdup_printf("the model \"%s\" does not exist: this server "
                                              "serves \"%s\"", id ? id : path, self->model_id);
      send_error(msg, SOUP_STATUS_NOT_FOUND, "model_not_found", "model", text);
    }
    break;
  }
  case ROUTE_CHAT:
  case ROUTE_COMPLETIONS:
    admit(self, msg, route_of(path, &method) == ROUTE_CHAT ? IVL_SERVE_CHAT : IVL_SERVE_COMPLETION);
    break;
  case ROUTE_NONE:
    g_assert_not_reached(); /* refused by early() */
  }
}

/* ---- slow senders ------------------------------------------------------------------------ */

static const char deadline_key[] = "ivl-serve-deadline";

static void remove_source(gpointer id)
{
  g_source_remove(GPOINTER_TO_UINT(id));
}

/* A request whose headers and body have not all come in time: its connection is shut, which
 * libsoup's pending read takes as the end of the connection. */
static gboolean on_deadline(gpointer data)
{
  SoupServerMessage *msg = data;
  g_object_steal_data(G_OBJECT(msg), deadline_key);
  GSocket *socket = soup_server_message_get_socket(msg);
  if (socket)
    g_socket_shutdown(socket, TRUE, TRUE, NULL);
  return G_SOURCE_REMOVE;
}

/* libsoup 3.2 emits request-started when a connection is accepted, before anything is read:
 * the deadline covers connections that never send a byte. */
static void on_request_started(SoupServer *soup, SoupServerMessage *msg, IvlServer *self)
{
  (void)soup;
  guint id = g_timeout_add_seconds_full(G_PRIORITY_DEFAULT, (guint)self->opts.receive_timeout,
                                        on_deadline, g_object_ref(msg), g_object_unref);
  g_object_set_data_full(G_OBJECT(msg), deadline_key, GUINT_TO_POINTER(id), remove_source);
}

static void on_request_read(SoupServer *soup, SoupServerMessage *msg, gpointer user_data)
{
  (void)soup;
  (void)user_data;
  g_object_set_data(G_OBJECT(msg), deadline_key, NULL);
}

/* ---- the server -------------------------------------------------------------------------- */

IvlServer *ivl_server_new(const IvlServeOptions *options)
{
  IvlServer *self = g_new0(IvlServer, 1);
  self->opts = *options;
  self->model_id = g_strdup(options->model_id);
  self->api_key = g_strdup(options->api_key);
  self->allowed_origins = g_strdupv((char **)options->allowed_origins);
  /* no library version in the Server header */
  self->soup = soup_server_new("server-header", "ivl", NULL);
  self->context = g_main_context_ref_thread_default();
  self->live = g_hash_table_new_full(NULL, NULL, (GDestroyNotify)ivl_serve_job_unref, NULL);
  self->prepare = g_thread_pool_new(prepare, self, 1, FALSE, NULL);
  soup_server_add_early_handler(self->soup, NULL, early, self, NULL);
  soup_server_add_handler(self->soup, NULL, route, self, NULL);
  g_signal_connect(self->soup, "request-started", G_CALLBACK(on_request_started), self);
  g_signal_connect(self->soup, "request-read", G_CALLBACK(on_request_read), self);
  g_signal_connect(self->soup, "request-finished", G_CALLBACK(on_request_read), self);
  g_signal_connect(self->soup, "request-aborted", G_CALLBACK(on_request_read), self);
  self->tick = g_timeout_add(TICK_MS, on_tick, self);
  return self;
}

gboolean ivl_server_listen(IvlServer *self, const char *host, int port, GError **error)
{
  const char *ip_text = g_ascii_strcasecmp(host, "localhost") == 0 ? "127.0.0.1" : host;
  g_autoptr(GInetAddress) ip = g_inet_address_new_from_string(ip_text);
  if (!ip) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_INVALID_ARGUMENT,
                "%s is not an IP address (try 127.0.0.1, localhost or 0.0.0.0)", host);
    return FALSE;
  }
  g_autoptr(GSocketAddress) addr = g_inet_socket_address_new(ip, (guint16)port);
  g_autoptr(GSocket) socket = g_socket_new(g_inet_address_get_family(ip), G_SOCKET_TYPE_STREAM,
                                           G_SOCKET_PROTOCOL_TCP, error);
  if (!socket)
    return FALSE;
  /* GLib's default backlog of 10 drops the connections of a burst of clients, which then
   * wait seconds for the kernel to retry */
  g_socket_set_listen_backlog(socket, LISTEN_BACKLOG);
  if (!g_socket_bind(socket, addr, TRUE, error) || !g_socket_listen(socket, error) ||
      !soup_server_listen_socket(self->soup, socket, 0, error))
    return FALSE;
  GSList *uris = soup_server_get_uris(self->soup);
  self->port = uris ? g_uri_get_port(uris->data) : port;
  g_slist_free_full(uris, (GDestroyNotify)g_uri_unref);
  self->host = g_strdup(ip_text);
  return TRUE;
}

int ivl_server_get_port(IvlServer *self)
{
  return self->port;
}

void ivl_server_start(IvlServer *self, ivl_model *model)
{
  self->model = model;
  self->worker = ivl_serve_worker_new(model, self->opts.parallel);
}

void ivl_server_free(IvlServer *self)
{
  if (!self)
    return;
  soup_server_disconnect(self->soup);
  g_source_remove(self->tick);
  /* the checks under way end first: they read the model */
  g_thread_pool_free(self->prepare, TRUE, TRUE);
  ivl_serve_worker_free(self->worker);
  g_hash_table_unref(self->live);
  g_object_unref(self->soup);
  g_main_context_unref(self->context);
  g_free(self->model_id);
  g_free(self->api_key);
  g_strfreev(self->allowed_origins);
  g_free(self->host);
  g_free(self);
}
