/* ivl-servers.h — the OpenAI-compatible servers of Preferences → Servers and the models they
 * serve. The list is the GSettings key "servers"; API keys are in the keyring
 * (remote-client.h), looked up only for a server saved with one. IvlServers discovers each
 * server's models (GET /v1/models) on threads and says "changed" when it knows more. */
#pragma once

#include <gio/gio.h>

#include "ivl-model-list.h"
#include "remote-client.h"

G_BEGIN_DECLS

typedef struct {
  char *name;
  char *base_url; /* as ivl_remote_client_get_base_url gives it: ".../v1" */
  char *dialect;  /* a name of ivl_remote_dialect_from_name; "auto" probes */
  gboolean with_key;
} IvlServer;

IvlServer *ivl_server_copy(const IvlServer *server);
void ivl_server_free(IvlServer *server);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(IvlServer, ivl_server_free)

/* The servers in settings (IvlServer*), in the order they were added. */
GPtrArray *ivl_servers_read(GSettings *settings);
void ivl_servers_write(GSettings *settings, GPtrArray *servers);

/* A client of server with its key from the keyring and its dialect. Blocking (D-Bus, no
 * network): for a worker thread. */
IvlRemoteClient *ivl_server_connect(const IvlServer *server, GCancellable *cancellable,
                                    GError **error);

/* What the window stores as a remote model's "path" (the conversation's model, the last
 * model): "BASE_URL#MODEL". parse gives both back; FALSE for a local folder. */
char *ivl_servers_model_path(const char *base_url, const char *model);
gboolean ivl_servers_parse_model_path(const char *path, char **base_url, char **model);

#define IVL_TYPE_SERVERS (ivl_servers_get_type())
G_DECLARE_FINAL_TYPE(IvlServers, ivl_servers, IVL, SERVERS, GObject)

/* Discovers the models of the servers in settings now and whenever the key changes. */
IvlServers *ivl_servers_new(GSettings *settings);

/* Appends an IvlModelEntry (remote fields set) for each model discovered so far. */
void ivl_servers_append_models(IvlServers *self, GPtrArray *entries);
/* The server with this base URL, as in settings; NULL when it was removed. */
const IvlServer *ivl_servers_find(IvlServers *self, const char *base_url);
/* TRUE while the models of the server with this base URL are being discovered. */
gboolean ivl_servers_is_discovering(IvlServers *self, const char *base_url);

G_END_DECLS
