/* serve-error.c — errors as OpenAI reports them (serve-error.h). */
#include "serve-error.h"

#include <json-glib/json-glib.h>

#include "ivl.h"

typedef struct {
  char *code, *param;
} IvlServeErrorPrivate;

static void ivl_serve_error_private_init(IvlServeErrorPrivate *priv)
{
  priv->code = priv->param = NULL;
}

static void ivl_serve_error_private_copy(const IvlServeErrorPrivate *from, IvlServeErrorPrivate *to)
{
  to->code = g_strdup(from->code);
  to->param = g_strdup(from->param);
}

static void ivl_serve_error_private_clear(IvlServeErrorPrivate *priv)
{
  g_clear_pointer(&priv->code, g_free);
  g_clear_pointer(&priv->param, g_free);
}

G_DEFINE_EXTENDED_ERROR(IvlServeError, ivl_serve_error)

static void set_valist(GError **error, guint status, const char *code, const char *param,
                       const char *format, va_list ap) G_GNUC_PRINTF(5, 0);

static void set_valist(GError **error, guint status, const char *code, const char *param,
                       const char *format, va_list ap)
{
  if (!error)
    return;
  g_autofree char *message = g_strdup_vprintf(format, ap);
  g_set_error_literal(error, IVL_SERVE_ERROR, (int)status, message);
  IvlServeErrorPrivate *priv = ivl_serve_error_get_private(*error);
  priv->code = g_strdup(code);
  priv->param = g_strdup(param);
}

void ivl_serve_error_set(GError **error, guint status, const char *code, const char *param,
                         const char *format, ...)
{
  va_list ap;
  va_start(ap, format);
  set_valist(error, status, code, param, format, ap);
  va_end(ap);
}

gboolean ivl_serve_error_bad(GError **error, const char *param, const char *format, ...)
{
  va_list ap;
  va_start(ap, format);
  set_valist(error, 400, NULL, param, format, ap);
  va_end(ap);
  return FALSE;
}

guint ivl_serve_error_status(const GError *error)
{
  if (error->domain == IVL_SERVE_ERROR)
    return (guint)error->code;
  if (error->domain == IVL_ERROR &&
      (error->code == IVL_ERROR_INVALID_ARGUMENT || error->code == IVL_ERROR_CORRUPT ||
       error->code == IVL_ERROR_UNSUPPORTED))
    return 400;
  return 500;
}

static const char *error_type(guint status)
{
  switch (status) {
  case 401:
    return "authentication_error";
  case 403:
    return "permission_error";
  case 404:
    return "not_found_error";
  case 429:
    return "rate_limit_error";
  default:
    return status < 500 ? "invalid_request_error" : "server_error";
  }
}

static void set_or_null(JsonObject *o, const char *name, const char *value)
{
  if (value)
    json_object_set_string_member(o, name, value);
  else
    json_object_set_null_member(o, name);
}

char *ivl_serve_error_json(const GError *error, const char *fallback_param)
{
  guint status = ivl_serve_error_status(error);
  IvlServeErrorPrivate *priv =
      error->domain == IVL_SERVE_ERROR ? ivl_serve_error_get_private(error) : NULL;
  JsonObject *e = json_object_new();
  set_or_null(e, "message", error->message);
  set_or_null(e, "type", error_type(status));
  set_or_null(e, "param", priv ? priv->param : status == 400 ? fallback_param : NULL);
  set_or_null(e, "code", priv ? priv->code : NULL);
  g_autoptr(JsonObject) body = json_object_new();
  json_object_set_object_member(body, "error", e);
  g_autoptr(JsonNode) root = json_node_init_object(json_node_alloc(), body);
  return json_to_string(root, FALSE);
}
