/* serve-server.c — the HTTP side of `ivl serve` (serve-server.h): routes, OpenAI response
 * bodies and server-sent events, on the main context; the engine work is serve-worker.c. */
#include "serve-server.h"

#include <json-glib/json-glib.h>

#include "serve-job.h"

struct _IvlServer {
  SoupServer *soup;
  IvlServeWorker *worker;
  char *model_id;
  GMainContext *context;
  guint64 n_requests;
  int port;
};

/* ---- bodies ----------------------------------------------------------------------------- */

static char *to_json(JsonBuilder *b)
{
  g_autoptr(JsonNode) root = json_builder_get_root(b);
  g_autoptr(JsonGenerator) gen = json_generator_new();
  json_generator_set_root(gen, root);
  return json_generator_to_data(gen, NULL);
}

static void member_string(JsonBuilder *b, const char *name, const char *value)
{
  json_builder_set_member_name(b, name);
  if (value)
    json_builder_add_string_value(b, value);
  else
    json_builder_add_null_value(b);
}

static void member_int(JsonBuilder *b, const char *name, gint64 value)
{
  json_builder_set_member_name(b, name);
  json_builder_add_int_value(b, value);
}

static void send_json(SoupServerMessage *msg, guint status, char *body /* taken */)
{
  soup_server_message_set_status(msg, status, NULL);
  soup_server_message_set_response(msg, "application/json", SOUP_MEMORY_TAKE, body,
                                   strlen(body));
}

/* {"error": {"message", "type", "code"}}, as OpenAI reports a failed request. */
static void send_error(SoupServerMessage *msg, guint status, const char *message)
{
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "error");
  json_builder_begin_object(b);
  member_string(b, "message", message);
  member_string(b, "type", status < 500 ? "invalid_request_error" : "server_error");
  member_string(b, "code", NULL);
  json_builder_end_object(b);
  json_builder_end_object(b);
  send_json(msg, status, to_json(b));
}

/* 400 for what the client sent (bad image, impossible parameters), 500 for the rest. */
static guint error_status(const GError *error)
{
  if (error->domain == IVL_ERROR &&
      (error->code == IVL_ERROR_INVALID_ARGUMENT || error->code == IVL_ERROR_CORRUPT ||
       error->code == IVL_ERROR_UNSUPPORTED))
    return SOUP_STATUS_BAD_REQUEST;
  return SOUP_STATUS_INTERNAL_SERVER_ERROR;
}

static void add_usage(JsonBuilder *b, const IvlServeJob *job)
{
  json_builder_set_member_name(b, "usage");
  json_builder_begin_object(b);
  member_int(b, "prompt_tokens", job->prompt_tokens);
  member_int(b, "completion_tokens", job->completion_tokens);
  member_int(b, "total_tokens", job->prompt_tokens + job->completion_tokens);
  json_builder_end_object(b);
}

static void begin_response(JsonBuilder *b, const IvlServeJob *job, const char *object)
{
  json_builder_begin_object(b);
  member_string(b, "id", job->id);
  member_string(b, "object", object);
  member_int(b, "created", job->created);
  member_string(b, "model", job->model_id);
}

static const char *finish_reason(const IvlServeJob *job)
{
  return job->hit_length ? "length" : "stop";
}

/* chat.completion: the whole answer at once. */
static char *completion_body(const IvlServeJob *job)
{
  g_autoptr(JsonBuilder) b = json_builder_new();
  begin_response(b, job, "chat.completion");
  json_builder_set_member_name(b, "choices");
  json_builder_begin_array(b);
  json_builder_begin_object(b);
  member_int(b, "index", 0);
  json_builder_set_member_name(b, "message");
  json_builder_begin_object(b);
  member_string(b, "role", "assistant");
  member_string(b, "content", job->answer);
  json_builder_end_object(b);
  member_string(b, "finish_reason", finish_reason(job));
  json_builder_end_object(b);
  json_builder_end_array(b);
  add_usage(b, job);
  json_builder_end_object(b);
  return to_json(b);
}

/* One chat.completion.chunk: a delta (role and/or content), or the finish reason, or (with
 * no choice at all) the usage. */
static char *chunk_body(const IvlServeJob *job, gboolean role, const char *content,
                        const char *finish, gboolean usage)
{
  g_autoptr(JsonBuilder) b = json_builder_new();
  begin_response(b, job, "chat.completion.chunk");
  json_builder_set_member_name(b, "choices");
  json_builder_begin_array(b);
  if (!usage) {
    json_builder_begin_object(b);
    member_int(b, "index", 0);
    json_builder_set_member_name(b, "delta");
    json_builder_begin_object(b);
    if (role)
      member_string(b, "role", "assistant");
    if (content)
      member_string(b, "content", content);
    json_builder_end_object(b);
    member_string(b, "finish_reason", finish);
    json_builder_end_object(b);
  }
  json_builder_end_array(b);
  if (usage)
    add_usage(b, job);
  json_builder_end_object(b);
  return to_json(b);
}

/* ---- streaming ------------------------------------------------------------------------- */

static void send_event(SoupServerMessage *msg, const char *data)
{
  g_autofree char *event = g_strdup_printf("data: %s\n\n", data);
  soup_message_body_append(soup_server_message_get_response_body(msg), SOUP_MEMORY_COPY, event,
                           strlen(event));
}

static void stream_end(IvlServeJob *job)
{
  SoupServerMessage *msg = job->msg;
  if (job->error) {
    /* the status line is long gone: the failure travels as an event, as OpenAI does */
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "error");
    json_builder_begin_object(b);
    member_string(b, "message", job->error->message);
    member_string(b, "type", error_status(job->error) < 500 ? "invalid_request_error"
                                                             : "server_error");
    json_builder_end_object(b);
    json_builder_end_object(b);
    g_autofree char *body = to_json(b);
    send_event(msg, body);
  } else {
    g_autofree char *last = chunk_body(job, FALSE, NULL, finish_reason(job), FALSE);
    send_event(msg, last);
    if (job->request->include_usage) {
      g_autofree char *usage = chunk_body(job, FALSE, NULL, NULL, TRUE);
      send_event(msg, usage);
    }
  }
  send_event(msg, "[DONE]");
  soup_message_body_complete(soup_server_message_get_response_body(msg));
}

/* Whether the client has closed its end. libsoup notices only when a write fails, and a
 * client waiting for a whole answer is written nothing until the end. A client sends
 * nothing after its request (each connection carries one), so anything readable is the end
 * of its stream. */
static gboolean client_gone(SoupServerMessage *msg)
{
  GSocket *socket = soup_server_message_get_socket(msg);
  if (!socket)
    return TRUE;
  GIOCondition c = g_socket_condition_check(socket, G_IO_IN | G_IO_HUP | G_IO_ERR);
  if (c & (G_IO_HUP | G_IO_ERR))
    return TRUE;
  if (!(c & G_IO_IN))
    return FALSE;
  char byte;
  GInputVector v = {&byte, 1};
  int flags = G_SOCKET_MSG_PEEK;
  return g_socket_receive_message(socket, NULL, &v, 1, NULL, NULL, &flags, NULL, NULL) <= 0;
}

/* Stops the answer of a client that left, and ends its paused message so that libsoup
 * writes, fails and closes the connection (a message left paused would hold it forever). */
static void abandon(IvlServeJob *job)
{
  g_cancellable_cancel(job->cancellable);
  if (job->request->stream)
    soup_message_body_complete(soup_server_message_get_response_body(job->msg));
  else
    soup_server_message_set_status(job->msg, 499, "Client Closed Request");
  soup_server_message_unpause(job->msg);
  g_clear_object(&job->msg);
}

/* The worker's deliveries: a piece, or NULL once done. Each piece also looks whether the
 * client is still there, so that an abandoned answer stops within a token. */
static void deliver(IvlServeJob *job, const char *piece)
{
  SoupServerMessage *msg = job->msg;
  if (msg && piece && client_gone(msg))
    abandon(job);
  msg = job->msg;
  if (!msg || (piece && !job->request->stream))
    return; /* the client went away, or waits for the whole answer */
  if (piece) {
    g_autofree char *chunk = chunk_body(job, FALSE, piece, NULL, FALSE);
    send_event(msg, chunk);
  } else if (!piece && job->request->stream) {
    stream_end(job);
  } else if (!piece && job->error) {
    send_error(msg, error_status(job->error), job->error->message);
  } else if (!piece) {
    send_json(msg, SOUP_STATUS_OK, completion_body(job));
  }
  soup_server_message_unpause(msg);
  if (!piece)
    g_clear_object(&job->msg);
}

static void job_closure_unref(gpointer job, GClosure *closure)
{
  (void)closure;
  ivl_serve_job_unref(job);
}

static void on_gone(SoupServerMessage *msg, IvlServeJob *job)
{
  g_cancellable_cancel(job->cancellable);
  if (job->msg == msg)
    g_clear_object(&job->msg);
}

/* ---- routes ------------------------------------------------------------------------------ */

static void chat_completions(IvlServer *self, SoupServerMessage *msg)
{
  SoupMessageBody *body = soup_server_message_get_request_body(msg);
  g_autoptr(GBytes) data = soup_message_body_flatten(body);
  g_autoptr(GError) error = NULL;
  gsize n;
  const char *text = g_bytes_get_data(data, &n);
  IvlServeRequest *request = ivl_serve_request_parse(text ? text : "", n, &error);
  if (!request) {
    send_error(msg, SOUP_STATUS_BAD_REQUEST, error->message);
    return;
  }
  IvlServeJob *job = g_atomic_rc_box_new0(IvlServeJob);
  job->request = request;
  job->cancellable = g_cancellable_new();
  job->context = self->context;
  job->deliver = deliver;
  job->msg = g_object_ref(msg);
  job->id = g_strdup_printf("chatcmpl-ivl-%" G_GUINT64_FORMAT, ++self->n_requests);
  job->created = g_get_real_time() / G_USEC_PER_SEC;
  job->model_id = g_strdup(self->model_id);
  g_signal_connect_data(msg, "disconnected", G_CALLBACK(on_gone), ivl_serve_job_ref(job),
                        job_closure_unref, 0);
  if (request->stream) {
    SoupMessageHeaders *h = soup_server_message_get_response_headers(msg);
    soup_message_headers_set_encoding(h, SOUP_ENCODING_CHUNKED);
    soup_message_headers_set_content_type(h, "text/event-stream", NULL);
    soup_message_headers_replace(h, "Cache-Control", "no-cache");
    soup_server_message_set_status(msg, SOUP_STATUS_OK, NULL);
    g_autofree char *first = chunk_body(job, TRUE, "", NULL, FALSE);
    send_event(msg, first);
  }
  soup_server_message_pause(msg);
  ivl_serve_worker_push(self->worker, job);
  ivl_serve_job_unref(job);
}

static void models(IvlServer *self, SoupServerMessage *msg)
{
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  member_string(b, "object", "list");
  json_builder_set_member_name(b, "data");
  json_builder_begin_array(b);
  json_builder_begin_object(b);
  member_string(b, "id", self->model_id);
  member_string(b, "object", "model");
  member_int(b, "created", 0);
  member_string(b, "owned_by", "ivl");
  json_builder_end_object(b);
  json_builder_end_array(b);
  json_builder_end_object(b);
  send_json(msg, SOUP_STATUS_OK, to_json(b));
}

static void route(SoupServer *soup, SoupServerMessage *msg, const char *path, GHashTable *query,
                  gpointer user_data)
{
  IvlServer *self = user_data;
  const char *method = soup_server_message_get_method(msg);
  (void)soup;
  (void)query;
  /* libsoup before 3.3 never closes a kept-alive connection that the client closed (each
   * request would leak a socket in CLOSE_WAIT: GNOME/libsoup commit d20c6601); one request
   * per connection avoids it, at the cost of a handshake per request */
  soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Connection",
                               "close");
  if (g_str_equal(path, "/v1/chat/completions")) {
    if (g_str_equal(method, "POST"))
      chat_completions(self, msg);
    else
      send_error(msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "use POST");
  } else if (g_str_equal(path, "/v1/models") && g_str_equal(method, "GET")) {
    models(self, msg);
  } else if (g_str_equal(path, "/health") && g_str_equal(method, "GET")) {
    send_json(msg, SOUP_STATUS_OK, g_strdup("{\"status\":\"ok\"}"));
  } else {
    g_autofree char *what = g_strdup_printf("no route %s %s", method, path);
    send_error(msg, SOUP_STATUS_NOT_FOUND, what);
  }
}

/* ---- the server -------------------------------------------------------------------------- */

IvlServer *ivl_server_new(ivl_model *model, const char *model_id, int max_num)
{
  IvlServer *self = g_new0(IvlServer, 1);
  self->soup = soup_server_new("server-header", "ivl ", NULL);
  self->model_id = g_strdup(model_id);
  self->context = g_main_context_ref_thread_default();
  self->worker = ivl_serve_worker_new(model, max_num);
  soup_server_add_handler(self->soup, NULL, route, self, NULL);
  return self;
}

gboolean ivl_server_listen(IvlServer *self, const char *host, int port, GError **error)
{
  g_autoptr(GInetAddress) ip = g_inet_address_new_from_string(host);
  if (!ip) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_INVALID_ARGUMENT,
                "%s is not an IP address (try 127.0.0.1 or 0.0.0.0)", host);
    return FALSE;
  }
  g_autoptr(GSocketAddress) addr = g_inet_socket_address_new(ip, (guint16)port);
  if (!soup_server_listen(self->soup, addr, 0, error))
    return FALSE;
  GSList *uris = soup_server_get_uris(self->soup);
  self->port = uris ? g_uri_get_port(uris->data) : port;
  g_slist_free_full(uris, (GDestroyNotify)g_uri_unref);
  return TRUE;
}

int ivl_server_get_port(IvlServer *self)
{
  return self->port;
}

void ivl_server_free(IvlServer *self)
{
  if (!self)
    return;
  soup_server_disconnect(self->soup);
  ivl_serve_worker_free(self->worker);
  g_object_unref(self->soup);
  g_main_context_unref(self->context);
  g_free(self->model_id);
  g_free(self);
}
