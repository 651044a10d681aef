/* remote-http.c — one exchange with a server (remote-http.h). */
#include "ivl-config.h"

#include "remote-http.h"
#include "remote-error.h"

#include <glib/gi18n.h>
#include <string.h>

/* An error body is a sentence or two. */
#define MAX_ERROR_BODY ((gsize)64 << 10)
#define MAX_RETRY_AFTER_S 30.0

void ivl_remote_exchange_clear(IvlRemoteExchange *x)
{
  if (x->body) {
    /* Closed through a fired cancellable, the connection is dropped rather than drained: the
     * rest of an unread answer (or of an endless error page) is never read. */
    GCancellable *cancel = ivl_remote_watchdog_cancellable(x->dog);
    g_cancellable_cancel(cancel);
    g_input_stream_close(x->body, cancel, NULL);
  }
  g_clear_object(&x->body);
  g_clear_object(&x->msg);
  if (x->session)
    soup_session_abort(x->session);
  g_clear_object(&x->session);
  g_clear_pointer(&x->dog, ivl_remote_watchdog_free);
}

/* Sleeps seconds unless cancelled first; FALSE when cancelled. */
static gboolean wait_unless_cancelled(double seconds, GCancellable *cancellable)
{
  gint64 end = g_get_monotonic_time() + (gint64)(seconds * G_USEC_PER_SEC);
  while (g_get_monotonic_time() < end) {
    if (g_cancellable_is_cancelled(cancellable))
      return FALSE;
    g_usleep(MIN(50000, MAX(0, end - g_get_monotonic_time())));
  }
  return !g_cancellable_is_cancelled(cancellable);
}

static void on_wrote_headers(SoupMessage *msg, gpointer dog)
{
  (void)msg;
  ivl_remote_watchdog_connected(dog);
}

static void on_activity(SoupMessage *msg, gpointer dog)
{
  (void)msg;
  ivl_remote_watchdog_kick(dog);
}

static void on_wrote_body_data(SoupMessage *msg, guint chunk_size, gpointer dog)
{
  (void)msg;
  (void)chunk_size;
  ivl_remote_watchdog_kick(dog);
}

static char *read_bounded(GInputStream *in, gsize max, GCancellable *cancellable)
{
  g_autofree char *buf = g_malloc(max + 1);
  gsize got = 0;
  g_input_stream_read_all(in, buf, max, &got, cancellable, NULL);
  buf[got] = '\0';
  return g_steal_pointer(&buf);
}

static double retry_after(SoupMessage *msg, double fallback)
{
  const char *ra =
      soup_message_headers_get_one(soup_message_get_response_headers(msg), "Retry-After");
  char *end = NULL;
  double s = ra ? g_ascii_strtod(ra, &end) : -1;
  if (!ra || end == ra || !(s >= 0))
    return fallback;
  return MIN(s, MAX_RETRY_AFTER_S);
}

GError *ivl_remote_watchdog_error(IvlRemoteClient *c, IvlRemoteExchange *x)
{
  gboolean connecting = FALSE;
  if (ivl_remote_watchdog_fired(x->dog, &connecting))
    return connecting
               ? g_error_new(IVL_REMOTE_ERROR, IVL_REMOTE_ERROR_TIMEOUT,
                             _("could not connect to the server at %s within %.0f s"), c->host,
                             c->connect_s)
               : g_error_new(IVL_REMOTE_ERROR, IVL_REMOTE_ERROR_TIMEOUT,
                             _("the server at %s sent nothing for %.0f s"), c->host, c->stall_s);
  return NULL;
}

gboolean ivl_remote_send(IvlRemoteClient *c, IvlRemoteExchange *x, const char *method,
                         const char *path, const char *body, const char *model,
                         GCancellable *cancellable, GError **error)
{
  g_autofree char *url = g_strconcat(c->base_url, path, NULL);
  g_autofree char *agent = g_strdup_printf("ivl/%s", IVL_VERSION);
  double backoff = 0.5;
  for (int attempt = 0;; attempt++) {
    ivl_remote_exchange_clear(x);
    x->session = soup_session_new_with_options("user-agent", agent, "timeout", 0, NULL);
    x->msg = soup_message_new(method, url);
    if (!x->msg) {
      g_set_error(error, IVL_REMOTE_ERROR, IVL_REMOTE_ERROR_INVALID_URL,
                  _("'%s' is not a server address (expected http://HOST:PORT or https://…)"), url);
      return FALSE;
    }
    SoupMessageHeaders *h = soup_message_get_request_headers(x->msg);
    if (c->api_key) {
      g_autofree char *auth = g_strconcat("Bearer ", c->api_key, NULL);
      soup_message_headers_replace(h, "Authorization", auth);
    }
    if (body) {
      g_autoptr(GBytes) bytes = g_bytes_new_static(body, strlen(body));
      soup_message_set_request_body_from_bytes(x->msg, "application/json", bytes);
      soup_message_headers_replace(h, "Accept", "text/event-stream, application/json");
    }
    x->dog = ivl_remote_watchdog_new(cancellable, c->connect_s, c->stall_s);
    g_signal_connect(x->msg, "wrote-headers", G_CALLBACK(on_wrote_headers), x->dog);
    g_signal_connect(x->msg, "wrote-body-data", G_CALLBACK(on_wrote_body_data), x->dog);
    g_signal_connect(x->msg, "got-headers", G_CALLBACK(on_activity), x->dog);
    GError *local = NULL;
    x->body =
        soup_session_send(x->session, x->msg, ivl_remote_watchdog_cancellable(x->dog), &local);
    if (!x->body) {
      GError *timeout = ivl_remote_watchdog_error(c, x);
      if (timeout) {
        g_error_free(local);
        local = timeout;
      } else if (g_cancellable_is_cancelled(cancellable)) {
        g_propagate_error(error, local);
        return FALSE;
      }
      gboolean transient =
          local->domain == IVL_REMOTE_ERROR || ivl_remote_error_is_transient_io(local);
      if (transient && attempt < c->retries) {
        g_debug("ivl remote: %s: %s; trying again", url, local->message);
        g_error_free(local);
        if (!wait_unless_cancelled(backoff, cancellable))
          break;
        backoff *= 2;
        continue;
      }
      g_propagate_error(error, local->domain == IVL_REMOTE_ERROR
                                   ? local
                                   : ivl_remote_error_from_io(local, c->host));
      return FALSE;
    }
    guint status = soup_message_get_status(x->msg);
    if (SOUP_STATUS_IS_SUCCESSFUL(status))
      return TRUE;
    if ((status == 429 || status == 503) && attempt < c->retries) {
      double wait = retry_after(x->msg, backoff);
      g_debug("ivl remote: %s: HTTP %u; trying again in %.1f s", url, status, wait);
      backoff *= 2;
      if (!wait_unless_cancelled(wait, cancellable))
        break;
      continue;
    }
    g_autofree char *text =
        read_bounded(x->body, MAX_ERROR_BODY, ivl_remote_watchdog_cancellable(x->dog));
    g_propagate_error(error, ivl_remote_error_from_status(status, text, c->host, model));
    return FALSE;
  }
  g_set_error(error, G_IO_ERROR, G_IO_ERROR_CANCELLED, _("cancelled"));
  return FALSE;
}
