/* serve-request.c — OpenAI chat-completions request bodies (serve-request.h). */
#include "serve-request.h"

#include <json-glib/json-glib.h>
#include <string.h>

static gboolean invalid(GError **error, const char *format, ...) G_GNUC_PRINTF(2, 3);

static gboolean invalid(GError **error, const char *format, ...)
{
  va_list ap;
  va_start(ap, format);
  g_autofree char *msg = g_strdup_vprintf(format, ap);
  va_end(ap);
  g_set_error_literal(error, IVL_ERROR, IVL_ERROR_INVALID_ARGUMENT, msg);
  return FALSE;
}

static void content_free(IvlServeContent *c)
{
  if (!c)
    return;
  g_free(c->text);
  g_ptr_array_unref(c->images);
  g_clear_pointer(&c->video, g_bytes_unref);
  g_free(c);
}

static IvlServeContent *content_new(void)
{
  IvlServeContent *c = g_new0(IvlServeContent, 1);
  c->text = g_strdup("");
  c->images = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
  return c;
}

static void turn_free(IvlServeTurn *t)
{
  content_free(t->question);
  g_free(t->answer);
  g_free(t);
}

void ivl_serve_request_free(IvlServeRequest *r)
{
  if (!r)
    return;
  g_free(r->model);
  g_free(r->system);
  g_ptr_array_unref(r->turns);
  content_free(r->question);
  g_free(r);
}

static void append_text(IvlServeContent *c, const char *text)
{
  char *joined = *c->text ? g_strconcat(c->text, "\n", text, NULL) : g_strdup(text);
  g_free(c->text);
  c->text = joined;
}

/* "data:image/png;base64,...." -> the file's bytes. */
static GBytes *data_url(const char *url, const char *kind, int index, GError **error)
{
  if (!g_str_has_prefix(url, "data:")) {
    invalid(error,
            "messages[%d]: only data: %s URLs are accepted (the server neither fetches URLs nor "
            "reads files)",
            index, kind);
    return NULL;
  }
  const char *comma = strchr(url, ',');
  if (!comma || !g_strstr_len(url, comma - url, ";base64")) {
    invalid(error, "messages[%d]: a %s data: URL must be base64 (data:…;base64,…)", index, kind);
    return NULL;
  }
  gsize n = 0;
  guchar *bytes = g_base64_decode(comma + 1, &n);
  if (n == 0) {
    g_free(bytes);
    invalid(error, "messages[%d]: the %s data: URL holds no data", index, kind);
    return NULL;
  }
  return g_bytes_new_take(bytes, n);
}

/* The URL of an image_url or video_url part: {"url": …} or, as some clients send, a string. */
static const char *part_url(JsonObject *part, const char *member)
{
  JsonNode *u = json_object_get_member(part, member);
  if (u && JSON_NODE_HOLDS_OBJECT(u))
    return json_object_get_string_member_with_default(json_node_get_object(u), "url", NULL);
  if (u && JSON_NODE_HOLDS_VALUE(u) && json_node_get_value_type(u) == G_TYPE_STRING)
    return json_node_get_string(u);
  return NULL;
}

static gboolean add_media(IvlServeContent *c, JsonObject *part, gboolean video, int index,
                          GError **error)
{
  const char *kind = video ? "video" : "image";
  const char *url = part_url(part, video ? "video_url" : "image_url");
  if (!url)
    return invalid(error, "messages[%d]: a %s_url part needs a URL", index, kind);
  if (c->video || (video && c->images->len > 0))
    return invalid(error, "messages[%d]: a message holds images or one video, not both", index);
  GBytes *bytes = data_url(url, kind, index, error);
  if (!bytes)
    return FALSE;
  if (video)
    c->video = bytes;
  else
    g_ptr_array_add(c->images, bytes);
  return TRUE;
}

static gboolean add_part(IvlServeContent *c, JsonNode *node, int index, GError **error)
{
  JsonObject *part = JSON_NODE_HOLDS_OBJECT(node) ? json_node_get_object(node) : NULL;
  const char *type = part ? json_object_get_string_member_with_default(part, "type", NULL) : NULL;
  if (g_strcmp0(type, "text") == 0) {
    const char *text = json_object_get_string_member_with_default(part, "text", NULL);
    if (!text)
      return invalid(error, "messages[%d]: a text part needs a \"text\" string", index);
    append_text(c, text);
    return TRUE;
  }
  if (g_strcmp0(type, "image_url") == 0 || g_strcmp0(type, "video_url") == 0)
    return add_media(c, part, g_str_equal(type, "video_url"), index, error);
  return invalid(error, "messages[%d]: content parts of type \"%s\" are not supported", index,
                 type ? type : "(none)");
}

static gboolean add_content(IvlServeContent *c, JsonObject *message, int index, GError **error)
{
  JsonNode *node = json_object_get_member(message, "content");
  if (node && JSON_NODE_HOLDS_VALUE(node) && json_node_get_value_type(node) == G_TYPE_STRING) {
    append_text(c, json_node_get_string(node));
    return TRUE;
  }
  if (node && JSON_NODE_HOLDS_ARRAY(node)) {
    JsonArray *parts = json_node_get_array(node);
    for (guint i = 0; i < json_array_get_length(parts); i++)
      if (!add_part(c, json_array_get_element(parts, i), index, error))
        return FALSE;
    return TRUE;
  }
  return invalid(error, "messages[%d]: \"content\" must be a string or an array of parts", index);
}

static gboolean has_media(const IvlServeContent *c)
{
  return c->images->len > 0 || c->video;
}

/* The messages in order: [system], then user (assistant user)*. */
static gboolean read_messages(IvlServeRequest *r, JsonArray *messages, GError **error)
{
  IvlServeContent *pending = NULL; /* a user message waiting for its answer */
  guint n = json_array_get_length(messages);
  for (guint i = 0; i < n; i++) {
    JsonNode *node = json_array_get_element(messages, i);
    JsonObject *m = JSON_NODE_HOLDS_OBJECT(node) ? json_node_get_object(node) : NULL;
    const char *role = m ? json_object_get_string_member_with_default(m, "role", NULL) : NULL;
    if (g_strcmp0(role, "system") == 0 || g_strcmp0(role, "developer") == 0) {
      if (i != 0)
        return invalid(error, "messages[%u]: a system message must come first", i);
      IvlServeContent *c = content_new();
      gboolean ok = add_content(c, m, (int)i, error) && (!has_media(c) ||
                    invalid(error, "messages[%u]: a system message cannot hold media", i));
      if (ok)
        r->system = g_strdup(c->text);
      content_free(c);
      if (!ok)
        return FALSE;
    } else if (g_strcmp0(role, "user") == 0) {
      if (!pending)
        pending = content_new();
      if (!add_content(pending, m, (int)i, error)) {
        content_free(pending);
        return FALSE;
      }
    } else if (g_strcmp0(role, "assistant") == 0) {
      if (!pending)
        return invalid(error, "messages[%u]: an assistant message must answer a user message", i);
      IvlServeContent *answer = content_new();
      if (!add_content(answer, m, (int)i, error) ||
          (has_media(answer) &&
           !invalid(error, "messages[%u]: an assistant message cannot hold media", i))) {
        content_free(answer);
        content_free(pending);
        return FALSE;
      }
      IvlServeTurn *t = g_new0(IvlServeTurn, 1);
      t->question = g_steal_pointer(&pending);
      t->answer = g_strdup(answer->text);
      content_free(answer);
      g_ptr_array_add(r->turns, t);
    } else {
      content_free(pending);
      return invalid(error, "messages[%u]: unknown role \"%s\"", i, role ? role : "(none)");
    }
  }
  if (!pending)
    return invalid(error, "\"messages\" must end with a user message");
  r->question = pending;
  return TRUE;
}

/* A number member, range-checked; absent leaves *value as it is. */
static gboolean read_number(JsonObject *o, const char *name, double lo, double hi, double *value,
                            GError **error)
{
  JsonNode *node = json_object_get_member(o, name);
  if (!node || JSON_NODE_HOLDS_NULL(node))
    return TRUE;
  GType t = JSON_NODE_HOLDS_VALUE(node) ? json_node_get_value_type(node) : G_TYPE_INVALID;
  if (t != G_TYPE_INT64 && t != G_TYPE_DOUBLE)
    return invalid(error, "\"%s\" must be a number", name);
  double v = t == G_TYPE_INT64 ? (double)json_node_get_int(node) : json_node_get_double(node);
  if (!(v >= lo && v <= hi))
    return invalid(error, "\"%s\" must be between %g and %g", name, lo, hi);
  *value = v;
  return TRUE;
}

static gboolean read_params(IvlServeRequest *r, JsonObject *o, GError **error)
{
  ivl_generation_params *p = &r->params;
  double max_tokens = p->max_new_tokens, temperature = 0, top_p = 1, top_k = 0, seed = 0;
  double penalty = 1, n = 1;
  if (!read_number(o, "max_tokens", 1, 1 << 20, &max_tokens, error) ||
      !read_number(o, "max_completion_tokens", 1, 1 << 20, &max_tokens, error) ||
      !read_number(o, "temperature", 0, 2, &temperature, error) ||
      !read_number(o, "top_p", 1e-6, 1, &top_p, error) ||
      !read_number(o, "top_k", 0, 1 << 20, &top_k, error) ||
      !read_number(o, "seed", -9.2e18, 9.2e18, &seed, error) ||
      !read_number(o, "repetition_penalty", 1e-3, 100, &penalty, error) ||
      !read_number(o, "n", 1, 1, &n, error))
    return FALSE;
  p->max_new_tokens = (int)max_tokens;
  p->do_sample = temperature > 0;
  p->temperature = temperature > 0 ? (float)temperature : 1.0f;
  p->top_p = (float)top_p;
  p->top_k = (int)top_k;
  p->seed = (guint64)(gint64)seed;
  p->repetition_penalty = (float)penalty;
  r->stream = json_object_get_boolean_member_with_default(o, "stream", FALSE);
  JsonNode *so = json_object_get_member(o, "stream_options");
  if (so && JSON_NODE_HOLDS_OBJECT(so))
    r->include_usage = json_object_get_boolean_member_with_default(json_node_get_object(so),
                                                                    "include_usage", FALSE);
  r->model = g_strdup(json_object_get_string_member_with_default(o, "model", ""));
  return TRUE;
}

IvlServeRequest *ivl_serve_request_parse(const char *body, gsize length, GError **error)
{
  g_autoptr(JsonParser) parser = json_parser_new();
  g_autoptr(GError) json_error = NULL;
  if (!json_parser_load_from_data(parser, body, (gssize)length, &json_error)) {
    invalid(error, "the body is not JSON: %s", json_error->message);
    return NULL;
  }
  JsonNode *root = json_parser_get_root(parser);
  if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
    invalid(error, "the body must be a JSON object");
    return NULL;
  }
  JsonObject *o = json_node_get_object(root);
  JsonNode *messages = json_object_get_member(o, "messages");
  if (!messages || !JSON_NODE_HOLDS_ARRAY(messages)) {
    invalid(error, "\"messages\" must be an array");
    return NULL;
  }
  g_autoptr(IvlServeRequest) r = g_new0(IvlServeRequest, 1);
  r->turns = g_ptr_array_new_with_free_func((GDestroyNotify)turn_free);
  r->params = ivl_generation_default_params();
  r->params.do_sample = FALSE;
  if (!read_messages(r, json_node_get_array(messages), error) || !read_params(r, o, error))
    return NULL;
  return g_steal_pointer(&r);
}

char *ivl_serve_history_key(const char *system, GPtrArray *turns)
{
  GString *key = g_string_new(NULL);
  /* lengths before every piece, so that no text can imitate a boundary */
  g_string_append_printf(key, "%zu:%s", system ? strlen(system) : (size_t)-1,
                         system ? system : "");
  for (guint i = 0; i < turns->len; i++) {
    IvlServeTurn *t = g_ptr_array_index(turns, i);
    g_string_append_printf(key, "|%zu:%s", strlen(t->question->text), t->question->text);
    for (guint k = 0; k < t->question->images->len; k++) {
      g_autofree char *sum = g_compute_checksum_for_bytes(
          G_CHECKSUM_SHA256, g_ptr_array_index(t->question->images, k));
      g_string_append_printf(key, "#%s", sum);
    }
    if (t->question->video) {
      g_autofree char *sum = g_compute_checksum_for_bytes(G_CHECKSUM_SHA256, t->question->video);
      g_string_append_printf(key, "#video:%s", sum);
    }
    g_string_append_printf(key, "|%zu:%s", strlen(t->answer), t->answer);
  }
  return g_string_free(key, FALSE);
}
