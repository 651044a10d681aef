/* remote-error.c — classifying the servers' failures (remote-error.h). The body shapes:
 * {"error": {message, type, param, code}} (OpenAI, vLLM, llama-server, ivl serve),
 * {"error": "Unauthorized"} (vLLM's 401), flat {message, type, code, object: "error"}
 * (LMDeploy, older vLLM), {"detail": …} (FastAPI's own 4xx). */
#include "ivl-config.h"

#include "remote-error.h"
#include "json-check.h"
#include "remote-client.h"

#include <glib/gi18n.h>
#include <string.h>

G_DEFINE_QUARK(ivl - remote - error - quark, ivl_remote_error)

typedef struct {
  const char *message, *type, *param, *code; /* code as text, whatever its JSON type */
  char *code_buf;
} error_fields;

static void fields_from_object(JsonObject *o, error_fields *f)
{
  f->message = ivl_json_string_or(o, "message", NULL);
  f->type = ivl_json_string_or(o, "type", NULL);
  f->param = ivl_json_string_or(o, "param", NULL);
  f->code = ivl_json_string_or(o, "code", NULL);
  if (!f->code && json_object_has_member(o, "code") &&
      JSON_NODE_HOLDS_VALUE(json_object_get_member(o, "code"))) {
    f->code_buf = g_strdup_printf("%" G_GINT64_FORMAT, ivl_json_int_or(o, "code", 0));
    f->code = f->code_buf;
  }
}

/* The fields of an "error" member or of a flat body. */
static void fields_from_node(JsonNode *node, error_fields *f)
{
  if (!node)
    return;
  if (JSON_NODE_HOLDS_VALUE(node) && json_node_get_value_type(node) == G_TYPE_STRING) {
    f->message = json_node_get_string(node);
    return;
  }
  if (!JSON_NODE_HOLDS_OBJECT(node))
    return;
  JsonObject *o = json_node_get_object(node);
  JsonNode *inner = json_object_get_member(o, "error");
  if (inner && (JSON_NODE_HOLDS_OBJECT(inner) || JSON_NODE_HOLDS_VALUE(inner))) {
    fields_from_node(inner, f);
    return;
  }
  fields_from_object(o, f);
  if (!f->message)
    f->message = ivl_json_string_or(o, "detail", NULL);
}

static gboolean mentions(const char *text, const char *word)
{
  if (!text)
    return FALSE;
  g_autofree char *lower = g_ascii_strdown(text, -1);
  return strstr(lower, word) != NULL;
}

/* docs/remote-servers.md section 6: no server has one sign for "too long", so any of theirs. */
static gboolean is_context_too_long(const error_fields *f)
{
  return g_strcmp0(f->code, "context_length_exceeded") == 0 ||
         g_strcmp0(f->type, "exceed_context_size_error") == 0 ||
         g_strcmp0(f->param, "input_tokens") == 0 || mentions(f->message, "context length") ||
         mentions(f->message, "context size") || mentions(f->message, "maximum context");
}

static GError *classify(guint status, const error_fields *f, const char *host, const char *model)
{
  const char *said = f->message && *f->message ? f->message : NULL;
  g_autofree char *what = said ? g_strdup_printf(": %s", said) : g_strdup("");
  if (status == 401 || status == 403)
    return g_error_new(IVL_REMOTE_ERROR, IVL_REMOTE_ERROR_UNAUTHORIZED,
                       _("the server at %s refused the API key (HTTP %u%s)"), host, status, what);
  if (status == 404 || (status == 400 && g_strcmp0(f->param, "model") == 0))
    return g_error_new(IVL_REMOTE_ERROR, IVL_REMOTE_ERROR_MODEL_NOT_FOUND,
                       _("the server at %s has no model '%s' (HTTP %u%s)"), host,
                       model ? model : "", status, what);
  if ((status == 400 || status == 413) && is_context_too_long(f))
    return g_error_new(IVL_REMOTE_ERROR, IVL_REMOTE_ERROR_CONTEXT_TOO_LONG,
                       _("the conversation is too long for the model on %s (HTTP %u%s)"), host,
                       status, what);
  if (status == 429 || status == 503)
    return g_error_new(IVL_REMOTE_ERROR, IVL_REMOTE_ERROR_OVERLOADED,
                       _("the server at %s is busy or not ready (HTTP %u%s); try again later"),
                       host, status, what);
  if (status >= 500 || status == 0)
    return g_error_new(IVL_REMOTE_ERROR, IVL_REMOTE_ERROR_SERVER,
                       _("the server at %s failed (HTTP %u%s)"), host, status, what);
  return g_error_new(IVL_REMOTE_ERROR, IVL_REMOTE_ERROR_REFUSED,
                     _("the server at %s refused the request (HTTP %u%s)"), host, status, what);
}

GError *ivl_remote_error_from_status(guint status, const char *body, const char *host,
                                     const char *model)
{
  error_fields f = {0};
  g_autoptr(JsonParser) parser = NULL;
  g_autofree char *excerpt = NULL;
  if (body && *body) {
    g_autoptr(GError) ignored = NULL;
    parser = ivl_json_parse_checked(body, strlen(body), "error", &ignored);
    if (parser)
      fields_from_node(json_parser_get_root(parser), &f);
    if (!f.message) {
      /* A proxy's HTML page or plain text: its start, on one line, says enough. */
      excerpt = g_utf8_make_valid(body, MIN(strlen(body), 200));
      g_strdelimit(excerpt, "\r\n\t", ' ');
      f.message = g_strstrip(excerpt);
    }
  }
  GError *e = classify(status, &f, host, model);
  g_free(f.code_buf);
  return e;
}

GError *ivl_remote_error_from_event(JsonNode *error_node, const char *host, const char *model)
{
  error_fields f = {0};
  fields_from_node(error_node, &f);
  /* In a stream the status is gone; the code or type stands in for it. */
  guint status = 500;
  if (f.code && g_ascii_isdigit(f.code[0]))
    status = (guint)g_ascii_strtoull(f.code, NULL, 10);
  else if (is_context_too_long(&f))
    status = 400;
  else if (g_strcmp0(f.type, "invalid_request_error") == 0)
    status = 400;
  GError *e = classify(status, &f, host, model);
  g_free(f.code_buf);
  return e;
}

gboolean ivl_remote_error_is_transient_io(const GError *error)
{
  if (error->domain != G_IO_ERROR)
    return error->domain == G_RESOLVER_ERROR && error->code == G_RESOLVER_ERROR_TEMPORARY_FAILURE;
  switch (error->code) {
  case G_IO_ERROR_CONNECTION_REFUSED:
  case G_IO_ERROR_BROKEN_PIPE:
  case G_IO_ERROR_TIMED_OUT:
  case G_IO_ERROR_NETWORK_UNREACHABLE:
  case G_IO_ERROR_HOST_UNREACHABLE:
  case G_IO_ERROR_PARTIAL_INPUT:
  case G_IO_ERROR_FAILED: /* ECONNRESET and other socket errors land here */
    return TRUE;
  default:
    return FALSE;
  }
}

GError *ivl_remote_error_from_io(GError *cause, const char *host)
{
  GError *e;
  if (g_error_matches(cause, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return cause;
  if (g_error_matches(cause, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
    e = g_error_new(IVL_REMOTE_ERROR, IVL_REMOTE_ERROR_TIMEOUT,
                    _("no answer from the server at %s in time (%s)"), host, cause->message);
  else
    e = g_error_new(IVL_REMOTE_ERROR, IVL_REMOTE_ERROR_UNREACHABLE,
                    _("cannot reach the server at %s: %s"), host, cause->message);
  g_error_free(cause);
  return e;
}
