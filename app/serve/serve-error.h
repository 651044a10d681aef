/* serve-error.h — the errors `ivl serve` answers with: an HTTP status and OpenAI's error
 * object {"error": {"message", "type", "param", "code"}}. */
#ifndef IVL_SERVE_ERROR_H
#define IVL_SERVE_ERROR_H

#include <glib.h>

/* GError codes of this domain are HTTP statuses; each error carries OpenAI's "param" and
 * "code" (either may be NULL). */
#define IVL_SERVE_ERROR (ivl_serve_error_quark())
GQuark ivl_serve_error_quark(void);

void ivl_serve_error_set(GError **error, guint status, const char *code, const char *param,
                         const char *format, ...) G_GNUC_PRINTF(5, 6);
/* FALSE, after setting a 400 about param: for checks that read as conditions. */
gboolean ivl_serve_error_bad(GError **error, const char *param, const char *format, ...)
    G_GNUC_PRINTF(3, 4);

/* Errors of other domains become 400 when the engine refused what the client sent (a bad
 * image, a prompt over the context) and 500 otherwise; param then names fallback_param for a
 * 400. */
guint ivl_serve_error_status(const GError *error);
/* The error object's JSON (caller frees). */
char *ivl_serve_error_json(const GError *error, const char *fallback_param);

#endif /* IVL_SERVE_ERROR_H */
