/* serve-guard.h — who may talk to `ivl serve`: the Host header (against DNS rebinding), the
 * Origin of browser pages (CORS), and the API key. */
#ifndef IVL_SERVE_GUARD_H
#define IVL_SERVE_GUARD_H

#include <glib.h>

/* Whether a Host header (NULL: none, as HTTP/1.0 allows) names this server: the address it
 * is bound to, or localhost, 127.0.0.1, [::1]; any when bound to every address (0.0.0.0 or
 * ::), where no list of names can be known. */
gboolean ivl_serve_host_allowed(const char *host_header, const char *bound_host);

/* Whether a browser page of origin may use the API: loopback pages (http or https on
 * localhost, 127.0.0.1, [::1], any port) and those listed in allowed ("*": any). */
gboolean ivl_serve_origin_allowed(const char *origin, char *const *allowed);

/* Whether an Authorization header carries "Bearer key" (compared in constant time). */
gboolean ivl_serve_key_matches(const char *authorization, const char *key);

#endif /* IVL_SERVE_GUARD_H */
