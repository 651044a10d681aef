/* remote-http.h — one HTTP exchange with a server, shared by model discovery and answers:
 * the endpoint's fields, retries before the first byte, timeouts, errors. */
#ifndef IVL_REMOTE_HTTP_H
#define IVL_REMOTE_HTTP_H

#include <libsoup/soup.h>

#include "remote-client.h"
#include "remote-watchdog.h"

struct _IvlRemoteClient {
  gint ref;
  char *base_url; /* ".../v1" */
  char *host;
  char *api_key;
  double connect_s, stall_s;
  int retries;
  GMutex lock; /* guards dialect and first_model, learnt by the first call */
  IvlRemoteDialect dialect;
  char *first_model;
};

typedef struct {
  SoupSession *session;
  SoupMessage *msg;
  GInputStream *body;
  IvlRemoteWatchdog *dog; /* still running while body is read */
} IvlRemoteExchange;

/* Closes the body (dropping the connection if the answer is unread) and frees the rest. */
void ivl_remote_exchange_clear(IvlRemoteExchange *x);

/* Sends method path (with a JSON body when not NULL) and leaves in x the 2xx answer's body,
 * its watchdog still running. Connection failures, 429 and 503 are retried with backoff
 * (429's Retry-After honoured); any other status becomes its IVL_REMOTE_ERROR, model naming
 * what a 404 is about. */
gboolean ivl_remote_send(IvlRemoteClient *c, IvlRemoteExchange *x, const char *method,
                         const char *path, const char *body, const char *model,
                         GCancellable *cancellable, GError **error);

/* The timeout error when x's watchdog fired, else NULL. */
GError *ivl_remote_watchdog_error(IvlRemoteClient *c, IvlRemoteExchange *x);

#endif /* IVL_REMOTE_HTTP_H */
