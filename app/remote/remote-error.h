/* remote-error.h — the servers' failures as IVL_REMOTE_ERROR messages a person can act on. */
#ifndef IVL_REMOTE_ERROR_H
#define IVL_REMOTE_ERROR_H

#include <gio/gio.h>
#include <json-glib/json-glib.h>

/* The error for an HTTP status other than 2xx, with body the answer's text (any of the
 * shapes in docs/remote-servers.md section 6, or not JSON at all; may be NULL). host names
 * the server, model the model asked for (may be NULL). */
GError *ivl_remote_error_from_status(guint status, const char *body, const char *host,
                                     const char *model);

/* The error for an error event inside a stream: object is the event's "error" member (an
 * object or a string). */
GError *ivl_remote_error_from_event(JsonNode *error_node, const char *host, const char *model);

/* The error for a failure to connect, send or read (a GIO or TLS error), before any answer
 * came; takes ownership of cause. */
GError *ivl_remote_error_from_io(GError *cause, const char *host);

/* TRUE for a connection failure worth trying again before the first byte. */
gboolean ivl_remote_error_is_transient_io(const GError *error);

#endif /* IVL_REMOTE_ERROR_H */
