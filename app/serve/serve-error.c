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

static void member(JsonBuilder *b, const char *name, const char *value)
{
  json_builder_set_member_name(b, name);
  if (value)
    json_builder_add_string_value(b, value);
  else
    json_builder_add_null_value(b);
}

char *ivl_serve_error_json(const GError *error, const char *fallback_param)
{
  guint status = ivl_serve_error_status(error);
  IvlServeErrorPrivate *priv =
      error->domain == IVL_SERVE_ERROR ? ivl_serve_error_get_private(error) : NULL;
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "error");
  json_builder_begin_object(b);
  member(b, "message", error->message);
  member(b, "type", error_type(status));
  member(b, "param", priv ? priv->param : status == 400 ? fallback_param : NULL);
  member(b, "code", priv ? priv->code : NULL);
  json_builder_end_object(b);
  json_builder_end_object(b);
  g_autoptr(JsonNode) root = json_builder_get_root(b);
  return json_to_string(root, FALSE);
}
