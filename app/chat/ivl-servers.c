/* ivl-servers.c — the servers of Preferences → Servers and the models they serve. */
#include "ivl-config.h"

#include "ivl-servers.h"

#include <glib/gi18n.h>
#include <string.h>

IvlServer *ivl_server_copy(const IvlServer *server)
{
  IvlServer *c = g_new0(IvlServer, 1);

  c->name = g_strdup(server->name);
  c->base_url = g_strdup(server->base_url);
  c->dialect = g_strdup(server->dialect);
  c->with_key = server->with_key;
  return c;
}

void ivl_server_free(IvlServer *server)
{
  if (server == NULL)
    return;
  g_free(server->name);
  g_free(server->base_url);
  g_free(server->dialect);
  g_free(server);
}

GPtrArray *ivl_servers_read(GSettings *settings)
{
  GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)ivl_server_free);
  g_autoptr(GVariant) value = g_settings_get_value(settings, "servers");
  GVariantIter iter;
  const char *name, *url, *dialect;
  gboolean with_key;

  g_variant_iter_init(&iter, value);
  while (g_variant_iter_next(&iter, "(&s&s&sb)", &name, &url, &dialect, &with_key)) {
    IvlServer *s = g_new0(IvlServer, 1);
    s->name = g_strdup(name);
    s->base_url = g_strdup(url);
    s->dialect = g_strdup(dialect);
    s->with_key = with_key;
    g_ptr_array_add(out, s);
  }
  return out;
}

void ivl_servers_write(GSettings *settings, GPtrArray *servers)
{
  GVariantBuilder b;

  g_variant_builder_init(&b, G_VARIANT_TYPE("a(sssb)"));
  for (guint i = 0; i < servers->len; i++) {
    const IvlServer *s = servers->pdata[i];
    g_variant_builder_add(&b, "(sssb)", s->name, s->base_url, s->dialect, s->with_key);
  }
  g_settings_set_value(settings, "servers", g_variant_builder_end(&b));
}

IvlRemoteClient *ivl_server_connect(const IvlServer *server, GCancellable *cancellable,
                                    GError **error)
{
  g_autofree char *key = NULL;
  IvlRemoteDialect dialect = IVL_REMOTE_DIALECT_AUTO;
  IvlRemoteClient *client;

  if (server->with_key) {
    g_autoptr(GError) local = NULL;
    key = ivl_remote_key_lookup(server->base_url, cancellable, &local);
    if (local) {
      g_set_error(error, IVL_REMOTE_ERROR, IVL_REMOTE_ERROR_UNAUTHORIZED,
                  _("The API key of %s could not be read from the keyring: %s"), server->name,
                  local->message);
      return NULL;
    }
  }
  client = ivl_remote_client_new(server->base_url, key, error);
  if (client && ivl_remote_dialect_from_name(server->dialect, &dialect))
    ivl_remote_client_set_dialect(client, dialect);
  return client;
}

char *ivl_servers_model_path(const char *base_url, const char *model)
{
  return g_strconcat(base_url, "#", model, NULL);
}

gboolean ivl_servers_parse_model_path(const char *path, char **base_url, char **model)
{
  const char *hash;

  if (path == NULL || !(g_str_has_prefix(path, "http://") || g_str_has_prefix(path, "https://")))
    return FALSE;
  hash = strchr(path, '#');
  if (hash == NULL)
    return FALSE;
  *base_url = g_strndup(path, (gsize)(hash - path));
  *model = g_strdup(hash + 1);
  return TRUE;
}

/* ---- discovery --------------------------------------------------------------------------- */

typedef struct {
  IvlServer *server;
  char *host;
  GPtrArray *models; /* IvlRemoteModel*; NULL until discovered or when it failed */
  gboolean pending;  /* its discovery has not answered yet */
} Known;

static void known_free(Known *k)
{
  ivl_server_free(k->server);
  g_free(k->host);
  if (k->models)
    g_ptr_array_unref(k->models);
  g_free(k);
}

struct _IvlServers {
  GObject parent_instance;

  GSettings *settings;
  GPtrArray *known;          /* Known, in the order of settings */
  GCancellable *discovering; /* the discoveries of the current list */
};

G_DEFINE_FINAL_TYPE(IvlServers, ivl_servers, G_TYPE_OBJECT)

enum { SIGNAL_CHANGED, N_SIGNALS };
static guint signals[N_SIGNALS];

/* On a thread of its own: the keyring and the server may both take a while. */
static void discover_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancel)
{
  const IvlServer *server = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(IvlRemoteClient) client = ivl_server_connect(server, cancel, &error);
  GPtrArray *models;

  (void)source;
  if (client == NULL) {
    g_task_return_error(task, g_steal_pointer(&error));
    return;
  }
  /* A server that is down must not keep the selector waiting for minutes. */
  ivl_remote_client_set_timeouts(client, 5, 20, 0);
  models = ivl_remote_client_list_models(client, cancel, &error);
  if (models == NULL)
    g_task_return_error(task, g_steal_pointer(&error));
  else
    g_task_return_pointer(task, models, (GDestroyNotify)g_ptr_array_unref);
}

static void on_discovered(GObject *source, GAsyncResult *result, gpointer user_data)
{
  IvlServers *self = IVL_SERVERS(source);
  Known *k = user_data;
  g_autoptr(GError) error = NULL;
  GPtrArray *models = g_task_propagate_pointer(G_TASK(result), &error);

  if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return; /* k went with the list it belonged to */
  k->pending = FALSE;
  if (models == NULL)
    g_debug("models of %s: %s", k->server->base_url, error->message);
  k->models = models;
  g_signal_emit(self, signals[SIGNAL_CHANGED], 0);
}

static void rediscover(IvlServers *self)
{
  g_autoptr(GPtrArray) servers = ivl_servers_read(self->settings);

  if (self->discovering)
    g_cancellable_cancel(self->discovering);
  g_clear_object(&self->discovering);
  self->discovering = g_cancellable_new();
  g_ptr_array_set_size(self->known, 0);
  for (guint i = 0; i < servers->len; i++) {
    IvlServer *s = servers->pdata[i];
    g_autoptr(IvlRemoteClient) client = ivl_remote_client_new(s->base_url, NULL, NULL);
    Known *k = g_new0(Known, 1);
    GTask *task;

    if (client == NULL) {
      g_free(k);
      continue;
    }
    k->server = ivl_server_copy(s);
    k->host = g_strdup(ivl_remote_client_get_host(client));
    k->pending = TRUE;
    g_ptr_array_add(self->known, k);
    task = g_task_new(self, self->discovering, on_discovered, k);
    g_task_set_task_data(task, ivl_server_copy(s), (GDestroyNotify)ivl_server_free);
    g_task_run_in_thread(task, discover_thread);
    g_object_unref(task);
  }
  /* Models of removed servers leave the selector now. */
  g_signal_emit(self, signals[SIGNAL_CHANGED], 0);
}

void ivl_servers_append_models(IvlServers *self, GPtrArray *entries)
{
  for (guint i = 0; i < self->known->len; i++) {
    Known *k = self->known->pdata[i];
    for (guint j = 0; k->models && j < k->models->len; j++) {
      const IvlRemoteModel *m = k->models->pdata[j];
      IvlModelEntry *e = g_new0(IvlModelEntry, 1);
      /* TRANSLATORS: a model in the selector served by another machine: model, host. */
      e->name = g_strdup_printf(_("%s — remote, %s"), m->id, k->host);
      e->path = ivl_servers_model_path(k->server->base_url, m->id);
      e->server_url = g_strdup(k->server->base_url);
      e->remote_model = g_strdup(m->id);
      e->host = g_strdup(k->host);
      g_ptr_array_add(entries, e);
    }
  }
}

const IvlServer *ivl_servers_find(IvlServers *self, const char *base_url)
{
  for (guint i = 0; i < self->known->len; i++) {
    Known *k = self->known->pdata[i];
    if (g_strcmp0(k->server->base_url, base_url) == 0)
      return k->server;
  }
  return NULL;
}

gboolean ivl_servers_is_discovering(IvlServers *self, const char *base_url)
{
  for (guint i = 0; i < self->known->len; i++) {
    Known *k = self->known->pdata[i];
    if (g_strcmp0(k->server->base_url, base_url) == 0)
      return k->pending;
  }
  return FALSE;
}

static void ivl_servers_dispose(GObject *object)
{
  IvlServers *self = IVL_SERVERS(object);

  if (self->discovering)
    g_cancellable_cancel(self->discovering);
  g_clear_object(&self->discovering);
  if (self->settings)
    g_signal_handlers_disconnect_by_data(self->settings, self);
  g_clear_object(&self->settings);
  G_OBJECT_CLASS(ivl_servers_parent_class)->dispose(object);
}

static void ivl_servers_finalize(GObject *object)
{
  g_ptr_array_unref(IVL_SERVERS(object)->known);
  G_OBJECT_CLASS(ivl_servers_parent_class)->finalize(object);
}

static void ivl_servers_class_init(IvlServersClass *klass)
{
  G_OBJECT_CLASS(klass)->dispose = ivl_servers_dispose;
  G_OBJECT_CLASS(klass)->finalize = ivl_servers_finalize;
  signals[SIGNAL_CHANGED] = g_signal_new("changed", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0,
                                         NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void ivl_servers_init(IvlServers *self)
{
  self->known = g_ptr_array_new_with_free_func((GDestroyNotify)known_free);
}

IvlServers *ivl_servers_new(GSettings *settings)
{
  IvlServers *self = g_object_new(IVL_TYPE_SERVERS, NULL);

  self->settings = g_object_ref(settings);
  g_signal_connect_swapped(settings, "changed::servers", G_CALLBACK(rediscover), self);
  rediscover(self);
  return self;
}
