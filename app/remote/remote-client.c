/* remote-client.c — the endpoint and model discovery (remote-client.h); the HTTP exchange is
 * in remote-http.c, answers in remote-answer.c. */
#include "ivl-config.h"

#include "remote-client.h"
#include "json-check.h"
#include "remote-dialect.h"
#include "remote-http.h"

#include <glib/gi18n.h>
#include <libsoup/soup.h>
#include <string.h>

/* A model list is a few KiB even with many LoRA adapters. */
#define MAX_MODELS_BODY ((gsize)4 << 20)

IvlRemoteClient *ivl_remote_client_new(const char *base_url, const char *api_key, GError **error)
{
  g_autoptr(GUri) uri = base_url ? g_uri_parse(base_url, G_URI_FLAGS_NONE, NULL) : NULL;
  const char *scheme = uri ? g_uri_get_scheme(uri) : NULL;
  if (!uri ||
      (g_ascii_strcasecmp(scheme, "http") != 0 && g_ascii_strcasecmp(scheme, "https") != 0) ||
      !g_uri_get_host(uri) || !*g_uri_get_host(uri) || g_uri_get_query(uri) ||
      g_uri_get_fragment(uri)) {
    g_set_error(error, IVL_REMOTE_ERROR, IVL_REMOTE_ERROR_INVALID_URL,
                _("'%s' is not a server address (expected http://HOST:PORT or https://…)"),
                base_url ? base_url : "");
    return NULL;
  }
  IvlRemoteClient *c = g_new0(IvlRemoteClient, 1);
  c->ref = 1;
  g_autofree char *trimmed = g_strdup(base_url);
  gsize n = strlen(trimmed);
  while (n > 0 && trimmed[n - 1] == '/')
    trimmed[--n] = '\0';
  c->base_url =
      g_str_has_suffix(trimmed, "/v1") ? g_strdup(trimmed) : g_strconcat(trimmed, "/v1", NULL);
  int port = g_uri_get_port(uri);
  c->host = port > 0 ? g_strdup_printf("%s:%d", g_uri_get_host(uri), port)
                     : g_strdup(g_uri_get_host(uri));
  c->api_key = api_key && *api_key ? g_strdup(api_key) : NULL;
  c->connect_s = 10;
  c->stall_s = 300;
  c->retries = 3;
  g_mutex_init(&c->lock);
  return c;
}

IvlRemoteClient *ivl_remote_client_ref(IvlRemoteClient *client)
{
  g_atomic_int_inc(&client->ref);
  return client;
}

void ivl_remote_client_unref(IvlRemoteClient *client)
{
  if (!client || !g_atomic_int_dec_and_test(&client->ref))
    return;
  g_free(client->base_url);
  g_free(client->host);
  g_free(client->api_key);
  g_free(client->first_model);
  g_mutex_clear(&client->lock);
  g_free(client);
}

const char *ivl_remote_client_get_base_url(const IvlRemoteClient *client)
{
  return client->base_url;
}

const char *ivl_remote_client_get_host(const IvlRemoteClient *client)
{
  return client->host;
}

void ivl_remote_client_set_dialect(IvlRemoteClient *client, IvlRemoteDialect dialect)
{
  g_mutex_lock(&client->lock);
  client->dialect = dialect;
  g_mutex_unlock(&client->lock);
}

IvlRemoteDialect ivl_remote_client_get_dialect(IvlRemoteClient *client)
{
  g_mutex_lock(&client->lock);
  IvlRemoteDialect d = client->dialect;
  g_mutex_unlock(&client->lock);
  return d;
}

void ivl_remote_client_set_timeouts(IvlRemoteClient *client, double connect_s, double stall_s,
                                    int retries)
{
  if (connect_s > 0)
    client->connect_s = connect_s;
  if (stall_s > 0)
    client->stall_s = stall_s;
  if (retries >= 0)
    client->retries = retries;
}

void ivl_remote_model_free(IvlRemoteModel *model)
{
  if (!model)
    return;
  g_free(model->id);
  g_free(model->owned_by);
  g_free(model);
}

void ivl_remote_answer_clear(IvlRemoteAnswer *answer)
{
  g_clear_pointer(&answer->text, g_free);
  g_clear_pointer(&answer->model, g_free);
  g_clear_pointer(&answer->finish_reason, g_free);
}

/* ---- models ------------------------------------------------------------------------------- */

static GError *protocol_error(IvlRemoteClient *c, const char *what, const char *detail)
{
  return g_error_new(IVL_REMOTE_ERROR, IVL_REMOTE_ERROR_PROTOCOL,
                     _("the server at %s did not answer %s as the OpenAI API does: %s"), c->host,
                     what, detail);
}

static GPtrArray *models_of(IvlRemoteClient *c, JsonNode *root, GError **error)
{
  JsonObject *o = root && JSON_NODE_HOLDS_OBJECT(root) ? json_node_get_object(root) : NULL;
  JsonArray *data = o ? ivl_json_array_member(o, "data") : NULL;
  if (!data) {
    g_propagate_error(error, protocol_error(c, "GET /v1/models", _("no \"data\" list")));
    return NULL;
  }
  GPtrArray *models = g_ptr_array_new_with_free_func((GDestroyNotify)ivl_remote_model_free);
  for (guint i = 0; i < json_array_get_length(data); i++) {
    JsonObject *m = ivl_json_object_element(data, i);
    const char *id = m ? ivl_json_string_or(m, "id", NULL) : NULL;
    if (!id || !*id)
      continue;
    IvlRemoteModel *model = g_new0(IvlRemoteModel, 1);
    model->id = g_strdup(id);
    model->owned_by = g_strdup(ivl_json_string_or(m, "owned_by", NULL));
    model->context_length = ivl_json_int_or(m, "max_model_len", 0);
    g_ptr_array_add(models, model);
  }
  if (models->len == 0) {
    g_set_error(error, IVL_REMOTE_ERROR, IVL_REMOTE_ERROR_MODEL_NOT_FOUND,
                _("the server at %s serves no model"), c->host);
    g_ptr_array_unref(models);
    return NULL;
  }
  return models;
}

GPtrArray *ivl_remote_client_list_models(IvlRemoteClient *c, GCancellable *cancellable,
                                         GError **error)
{
  IvlRemoteExchange x = {0};
  GPtrArray *models = NULL;
  if (ivl_remote_send(c, &x, "GET", "/models", NULL, NULL, cancellable, error)) {
    g_autoptr(GError) local = NULL;
    g_autoptr(JsonParser) parser = ivl_json_load_stream(
        x.body, MAX_MODELS_BODY, "models", ivl_remote_watchdog_cancellable(x.dog), &local);
    if (!parser) {
      GError *timeout = ivl_remote_watchdog_error(c, &x);
      if (timeout)
        g_propagate_error(error, timeout);
      else if (g_error_matches(local, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_propagate_error(error, g_steal_pointer(&local));
      else
        g_propagate_error(error, protocol_error(c, "GET /v1/models", local->message));
    } else
      models = models_of(c, json_parser_get_root(parser), error);
  }
  if (models) {
    const IvlRemoteModel *first = models->pdata[0];
    const char *server =
        soup_message_headers_get_one(soup_message_get_response_headers(x.msg), "Server");
    g_mutex_lock(&c->lock);
    if (c->dialect == IVL_REMOTE_DIALECT_AUTO)
      c->dialect = ivl_remote_dialect_detect(first->owned_by, server);
    g_free(c->first_model);
    c->first_model = g_strdup(first->id);
    g_mutex_unlock(&c->lock);
  }
  ivl_remote_exchange_clear(&x);
  return models;
}

static void list_models_thread(GTask *task, gpointer source, gpointer client, GCancellable *cancel)
{
  (void)source;
  GError *error = NULL;
  GPtrArray *models = ivl_remote_client_list_models(client, cancel, &error);
  if (models)
    g_task_return_pointer(task, models, (GDestroyNotify)g_ptr_array_unref);
  else
    g_task_return_error(task, error);
}

void ivl_remote_client_list_models_async(IvlRemoteClient *client, GCancellable *cancellable,
                                         GAsyncReadyCallback callback, gpointer user_data)
{
  /* The task's source object must be a GObject; the client rides as task data instead. */
  g_autoptr(GTask) task = g_task_new(NULL, cancellable, callback, user_data);
  g_task_set_source_tag(task, ivl_remote_client_list_models_async);
  g_task_set_task_data(task, ivl_remote_client_ref(client),
                       (GDestroyNotify)ivl_remote_client_unref);
  g_task_run_in_thread(task, list_models_thread);
}

GPtrArray *ivl_remote_client_list_models_finish(IvlRemoteClient *client, GAsyncResult *result,
                                                GError **error)
{
  (void)client;
  return g_task_propagate_pointer(G_TASK(result), error);
}
