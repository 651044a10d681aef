/* remote-answer.c — a streamed chat completion (ivl_remote_client_chat in remote-client.h):
 * the SSE events of docs/remote-servers.md, each server's quirks included: ": keep-alive"
 * comments (ivl serve), a usage chunk with no choices, an error as a data event or as an
 * "error:" field (older llama-server), an error with or without [DONE] after it. */
#include "ivl-config.h"

#include "json-check.h"
#include "remote-chat-private.h"
#include "remote-error.h"
#include "remote-http.h"
#include "remote-request.h"
#include "remote-sse.h"

#include <glib/gi18n.h>
#include <string.h>

/* A whole non-streamed answer (a server that ignores "stream") is text, not media. */
#define MAX_ANSWER_BODY ((gsize)16 << 20)
/* Far beyond any context (a million tokens of text): a stream past it is not an answer. */
#define MAX_ANSWER_TEXT ((gsize)64 << 20)

typedef struct {
  IvlRemoteClient *client;
  const char *model;
  IvlRemoteAnswer *answer;
  GString *text;
  IvlRemotePieceFunc piece;
  gpointer user_data;
  gint64 start_us;
  gboolean stopped; /* piece returned FALSE */
  gboolean too_long;
  GError *event_error;
} stream_state;

static void take_piece(stream_state *st, const char *piece)
{
  if (!piece || !*piece || st->stopped)
    return;
  if (st->text->len + strlen(piece) > MAX_ANSWER_TEXT) {
    st->too_long = TRUE;
    return;
  }
  if (st->text->len == 0)
    st->answer->first_piece_ms = (g_get_monotonic_time() - st->start_us) / 1e3;
  g_string_append(st->text, piece);
  if (st->piece && !st->piece(piece, st->user_data))
    st->stopped = TRUE;
}

static void take_usage(stream_state *st, JsonObject *chunk)
{
  JsonNode *node = json_object_get_member(chunk, "usage");
  if (!node || !JSON_NODE_HOLDS_OBJECT(node))
    return;
  JsonObject *u = json_node_get_object(node);
  st->answer->has_usage = TRUE;
  st->answer->prompt_tokens = (int)ivl_json_int_or(u, "prompt_tokens", 0);
  st->answer->completion_tokens = (int)ivl_json_int_or(u, "completion_tokens", 0);
}

/* One chunk (or a whole completion: message instead of delta). FALSE when it is an error. */
static gboolean take_chunk(stream_state *st, JsonObject *chunk)
{
  JsonNode *err = json_object_get_member(chunk, "error");
  if (err || g_strcmp0(ivl_json_string_or(chunk, "object", NULL), "error") == 0) {
    /* The flat shape (LMDeploy, older vLLM) is the chunk itself. */
    g_autoptr(JsonNode) flat = err ? NULL : json_node_init_object(json_node_alloc(), chunk);
    g_clear_error(&st->event_error);
    st->event_error = ivl_remote_error_from_event(err ? err : flat, st->client->host, st->model);
    return FALSE;
  }
  const char *model = ivl_json_string_or(chunk, "model", NULL);
  if (model && !st->answer->model)
    st->answer->model = g_strdup(model);
  take_usage(st, chunk);
  JsonArray *choices = ivl_json_array_member(chunk, "choices");
  JsonObject *choice = choices ? ivl_json_object_element(choices, 0) : NULL;
  if (!choice)
    return TRUE;
  JsonNode *delta = json_object_get_member(choice, "delta");
  if (!delta)
    delta = json_object_get_member(choice, "message");
  if (delta && JSON_NODE_HOLDS_OBJECT(delta))
    take_piece(st, ivl_json_string_or(json_node_get_object(delta), "content", NULL));
  const char *finish = ivl_json_string_or(choice, "finish_reason", NULL);
  if (finish) {
    g_free(st->answer->finish_reason);
    st->answer->finish_reason = g_strdup(finish);
  }
  return TRUE;
}

static JsonParser *parse(stream_state *st, const char *data, GError **error)
{
  g_autoptr(GError) local = NULL;
  JsonParser *parser = ivl_json_parse_checked(data, strlen(data), "event", &local);
  JsonNode *root = parser ? json_parser_get_root(parser) : NULL;
  if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
    g_set_error(error, IVL_REMOTE_ERROR, IVL_REMOTE_ERROR_PROTOCOL,
                _("the server at %s sent an event that is not a JSON object: %s"), st->client->host,
                local ? local->message : data);
    g_clear_object(&parser);
  }
  return parser;
}

/* Reads events to [DONE] or the end. */
static gboolean read_stream(stream_state *st, IvlRemoteExchange *x, GError **error)
{
  g_autoptr(IvlRemoteSse) sse = ivl_remote_sse_new(x->body);
  GCancellable *cancel = ivl_remote_watchdog_cancellable(x->dog);
  const char *field, *data;
  GError *local = NULL;
  while (
      ivl_remote_sse_next(sse, &field, &data, ivl_remote_watchdog_kick, x->dog, cancel, &local)) {
    if (g_str_equal(field, "data") && g_str_equal(g_strstrip((char *)data), "[DONE]"))
      return st->event_error ? (g_propagate_error(error, g_steal_pointer(&st->event_error)), FALSE)
                             : TRUE;
    g_autoptr(JsonParser) parser = parse(st, data, error);
    if (!parser)
      return FALSE;
    JsonObject *o = json_node_get_object(json_parser_get_root(parser));
    if (g_str_equal(field, "error")) {
      g_clear_error(&st->event_error);
      st->event_error =
          ivl_remote_error_from_event(json_parser_get_root(parser), st->client->host, st->model);
    } else
      take_chunk(st, o);
    if (st->stopped) {
      g_cancellable_cancel(cancel);
      g_set_error(error, G_IO_ERROR, G_IO_ERROR_CANCELLED, _("stopped"));
      return FALSE;
    }
    if (st->too_long) {
      g_cancellable_cancel(cancel);
      g_set_error(error, IVL_REMOTE_ERROR, IVL_REMOTE_ERROR_PROTOCOL,
                  _("the server at %s sent more than %d MiB of answer"), st->client->host,
                  (int)(MAX_ANSWER_TEXT >> 20));
      return FALSE;
    }
  }
  if (st->event_error) {
    /* Newer llama-servers end the stream after an error event without [DONE]. */
    g_clear_error(&local);
    g_propagate_error(error, g_steal_pointer(&st->event_error));
    return FALSE;
  }
  GError *timeout = ivl_remote_watchdog_error(st->client, x);
  if (timeout) {
    g_clear_error(&local);
    g_propagate_error(error, timeout);
  } else if (local && g_error_matches(local, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    g_propagate_error(error, local);
  else if (local) {
    g_set_error(error, IVL_REMOTE_ERROR, IVL_REMOTE_ERROR_TRUNCATED,
                _("the connection to %s broke in the middle of the answer: %s"), st->client->host,
                local->message);
    g_error_free(local);
  } else
    g_set_error(error, IVL_REMOTE_ERROR, IVL_REMOTE_ERROR_TRUNCATED,
                _("the answer from %s ended before the server said it was done"), st->client->host);
  return FALSE;
}

/* A server that answered with one JSON completion instead of a stream. */
static gboolean read_whole(stream_state *st, IvlRemoteExchange *x, GError **error)
{
  g_autoptr(GError) local = NULL;
  g_autoptr(JsonParser) parser = ivl_json_load_stream(
      x->body, MAX_ANSWER_BODY, "answer", ivl_remote_watchdog_cancellable(x->dog), &local);
  JsonNode *root = parser ? json_parser_get_root(parser) : NULL;
  if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
    GError *timeout = ivl_remote_watchdog_error(st->client, x);
    g_propagate_error(error, timeout ? timeout
                                     : g_error_new(IVL_REMOTE_ERROR, IVL_REMOTE_ERROR_PROTOCOL,
                                                   _("the server at %s sent an answer that is "
                                                     "not JSON: %s"),
                                                   st->client->host, local ? local->message : "?"));
    return FALSE;
  }
  if (!take_chunk(st, json_node_get_object(root))) {
    g_propagate_error(error, g_steal_pointer(&st->event_error));
    return FALSE;
  }
  return TRUE;
}

/* The dialect and the model to ask, asking the server for what is not known yet. */
static gboolean resolve(IvlRemoteClient *c, IvlRemoteChat *chat, IvlRemoteDialect *dialect,
                        char **model, GCancellable *cancellable, GError **error)
{
  g_mutex_lock(&c->lock);
  *dialect = c->dialect;
  *model = g_strdup(chat->model ? chat->model : c->first_model);
  g_mutex_unlock(&c->lock);
  if (*dialect != IVL_REMOTE_DIALECT_AUTO && *model)
    return TRUE;
  g_autoptr(GPtrArray) models = ivl_remote_client_list_models(c, cancellable, error);
  if (!models)
    return FALSE;
  g_mutex_lock(&c->lock);
  *dialect = c->dialect;
  if (!*model)
    *model = g_strdup(c->first_model);
  g_mutex_unlock(&c->lock);
  return TRUE;
}

gboolean ivl_remote_client_chat(IvlRemoteClient *client, IvlRemoteChat *chat,
                                IvlRemotePieceFunc piece, gpointer user_data,
                                IvlRemoteAnswer *answer, GCancellable *cancellable, GError **error)
{
  memset(answer, 0, sizeof *answer);
  g_autoptr(GString) text = g_string_new(NULL);
  stream_state st = {.client = client,
                     .answer = answer,
                     .text = text,
                     .piece = piece,
                     .user_data = user_data,
                     .start_us = g_get_monotonic_time()};
  IvlRemoteDialect dialect;
  g_autofree char *model = NULL;
  g_autofree char *body = NULL;
  IvlRemoteExchange x = {0};
  gboolean ok = resolve(client, chat, &dialect, &model, cancellable, error) &&
                (body = ivl_remote_request_body(chat, model, dialect, error)) != NULL;
  st.model = model;
  if (ok)
    ok = ivl_remote_send(client, &x, "POST", "/chat/completions", body, model, cancellable, error);
  if (ok) {
    const char *type =
        soup_message_headers_get_content_type(soup_message_get_response_headers(x.msg), NULL);
    ok = g_strcmp0(type, "application/json") == 0 ? read_whole(&st, &x, error)
                                                  : read_stream(&st, &x, error);
  }
  g_clear_error(&st.event_error);
  ivl_remote_exchange_clear(&x);
  answer->text = g_strdup(text->str);
  answer->total_ms = (g_get_monotonic_time() - st.start_us) / 1e3;
  return ok;
}
