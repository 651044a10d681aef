/* serve-request.c — OpenAI chat-completions request bodies (serve-request.h). */
#include "serve-request.h"

#include <json-glib/json-glib.h>
#include <string.h>

#include "json-check.h"
#include "serve-error.h"

/* Most "stop" sequences, "logit_bias" entries: OpenAI's limits. */
#define MAX_STOP 4
#define MAX_LOGIT_BIAS 300

#define invalid(error, ...) ivl_serve_error_bad(error, "messages", __VA_ARGS__)

static void content_free(IvlServeContent *c)
{
  if (!c)
    return;
  g_free(c->text);
  g_ptr_array_unref(c->images);
  g_clear_pointer(&c->video, g_bytes_unref);
  g_clear_pointer(&c->media, g_ptr_array_unref);
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
  g_free(r->prompt);
  g_array_unref(r->logit_bias);
  g_strfreev(r->stop);
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
    return ivl_json_string_or(json_node_get_object(u), "url", NULL);
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
  const char *type = part ? ivl_json_string_or(part, "type", NULL) : NULL;
  if (g_strcmp0(type, "text") == 0) {
    const char *text = ivl_json_string_or(part, "text", NULL);
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
  if (!node || JSON_NODE_HOLDS_NULL(node))
    return invalid(error, "messages[%d]: \"content\" is missing", index);
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

/* The messages in order: [system], then user (assistant user)*. *pending holds a user
 * message waiting for its answer; the caller frees what is left there. */
static gboolean read_turns(IvlServeRequest *r, JsonArray *messages, IvlServeContent **pending,
                           GError **error)
{
  guint n = json_array_get_length(messages);
  for (guint i = 0; i < n; i++) {
    JsonNode *node = json_array_get_element(messages, i);
    JsonObject *m = JSON_NODE_HOLDS_OBJECT(node) ? json_node_get_object(node) : NULL;
    const char *role = m ? ivl_json_string_or(m, "role", NULL) : NULL;
    if (g_strcmp0(role, "tool") == 0 || g_strcmp0(role, "function") == 0 ||
        (m && (json_object_has_member(m, "tool_calls") ||
               json_object_has_member(m, "function_call")))) {
      return invalid(error,
                     "messages[%u]: tools are not supported: this server cannot call tools, so "
                     "a conversation cannot hold tool calls or their results",
                     i);
    }
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
      if (!*pending)
        *pending = content_new();
      if (!add_content(*pending, m, (int)i, error))
        return FALSE;
    } else if (g_strcmp0(role, "assistant") == 0) {
      if (!*pending)
        return invalid(error, "messages[%u]: an assistant message must answer a user message", i);
      IvlServeContent *answer = content_new();
      if (!add_content(answer, m, (int)i, error) ||
          (has_media(answer) &&
           !invalid(error, "messages[%u]: an assistant message cannot hold media", i))) {
        content_free(answer);
        return FALSE;
      }
      IvlServeTurn *t = g_new0(IvlServeTurn, 1);
      t->question = g_steal_pointer(pending);
      t->answer = g_strdup(answer->text);
      content_free(answer);
      g_ptr_array_add(r->turns, t);
    } else {
      return invalid(error, "messages[%u]: unknown role \"%s\"", i, role ? role : "(none)");
    }
  }
  if (!*pending)
    return invalid(error, "\"messages\" must end with a user message");
  r->question = g_steal_pointer(pending);
  return TRUE;
}

static gboolean read_messages(IvlServeRequest *r, JsonArray *messages, GError **error)
{
  IvlServeContent *pending = NULL;
  gboolean ok = read_turns(r, messages, &pending, error);
  content_free(pending);
  return ok;
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
    return ivl_serve_error_bad(error, name, "\"%s\" must be a number", name);
  double v = t == G_TYPE_INT64 ? (double)json_node_get_int(node) : json_node_get_double(node);
  if (!(v >= lo && v <= hi))
    return ivl_serve_error_bad(error, name, "\"%s\" must be between %g and %g", name, lo, hi);
  *value = v;
  return TRUE;
}

/* A boolean member; absent or null leaves *value as it is. */
static gboolean read_bool(JsonObject *o, const char *name, gboolean *value, GError **error)
{
  JsonNode *node = json_object_get_member(o, name);
  if (!node || JSON_NODE_HOLDS_NULL(node))
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_BOOLEAN)
    return ivl_serve_error_bad(error, name, "\"%s\" must be true or false", name);
  *value = json_node_get_boolean(node);
  return TRUE;
}

static const char *string_of(JsonNode *node)
{
  if (node && JSON_NODE_HOLDS_VALUE(node) && json_node_get_value_type(node) == G_TYPE_STRING)
    return json_node_get_string(node);
  return NULL;
}

/* "stop": a string or an array of up to 4 non-empty strings. */
static gboolean read_stop(IvlServeRequest *r, JsonObject *o, GError **error)
{
  JsonNode *node = json_object_get_member(o, "stop");
  if (!node || JSON_NODE_HOLDS_NULL(node))
    return TRUE;
  g_autoptr(GStrvBuilder) b = g_strv_builder_new();
  const char *one = string_of(node);
  JsonArray *list = JSON_NODE_HOLDS_ARRAY(node) ? json_node_get_array(node) : NULL;
  guint n = one ? 1 : list ? json_array_get_length(list) : 0;
  if ((!one && !list) || n > MAX_STOP)
    return ivl_serve_error_bad(error, "stop",
                               "\"stop\" must be a string or an array of at most %d strings",
                               MAX_STOP);
  for (guint i = 0; i < n; i++) {
    const char *s = one ? one : string_of(json_array_get_element(list, i));
    if (!s || !*s)
      return ivl_serve_error_bad(error, "stop", "\"stop\" sequences must be non-empty strings");
    g_strv_builder_add(b, s);
  }
  r->stop = g_strv_builder_end(b);
  return TRUE;
}

/* "logit_bias": {"token id": bias in [-100, 100]}; the ids are checked against the
 * vocabulary by serve-prepare. */
static gboolean read_logit_bias(IvlServeRequest *r, JsonObject *o, GError **error)
{
  JsonNode *node = json_object_get_member(o, "logit_bias");
  if (!node || JSON_NODE_HOLDS_NULL(node))
    return TRUE;
  if (!JSON_NODE_HOLDS_OBJECT(node) ||
      json_object_get_size(json_node_get_object(node)) > MAX_LOGIT_BIAS)
    return ivl_serve_error_bad(error, "logit_bias",
                               "\"logit_bias\" must be an object of at most %d token ids",
                               MAX_LOGIT_BIAS);
  JsonObject *map = json_node_get_object(node);
  g_autoptr(GList) ids = json_object_get_members(map);
  for (GList *l = ids; l; l = l->next) {
    guint64 token;
    double bias = 0;
    if (!g_ascii_string_to_unsigned(l->data, 10, 0, G_MAXINT32, &token, NULL))
      return ivl_serve_error_bad(error, "logit_bias",
                                 "\"logit_bias\": \"%s\" is not a token id", (char *)l->data);
    JsonNode *value = json_object_get_member(map, l->data);
    GType t = JSON_NODE_HOLDS_VALUE(value) ? json_node_get_value_type(value) : G_TYPE_INVALID;
    if (t == G_TYPE_INT64 || t == G_TYPE_DOUBLE)
      bias = t == G_TYPE_INT64 ? (double)json_node_get_int(value) : json_node_get_double(value);
    if ((t != G_TYPE_INT64 && t != G_TYPE_DOUBLE) || !(bias >= -100 && bias <= 100))
      return ivl_serve_error_bad(error, "logit_bias",
                                 "\"logit_bias\": the bias of %s must be between -100 and 100",
                                 (char *)l->data);
    ivl_logit_bias e = {(int32_t)token, (float)bias};
    g_array_append_val(r->logit_bias, e);
  }
  return TRUE;
}

/* What OpenAI offers and this server cannot do honestly: refused, naming the parameter. */
static gboolean refuse_unsupported(IvlServeRequest *r, JsonObject *o, GError **error)
{
  JsonNode *tools = json_object_get_member(o, "tools");
  if (tools && !JSON_NODE_HOLDS_NULL(tools) &&
      !(JSON_NODE_HOLDS_ARRAY(tools) && json_array_get_length(json_node_get_array(tools)) == 0))
    return ivl_serve_error_bad(error, "tools", "tools are not supported by this server");
  if (json_object_has_member(o, "functions"))
    return ivl_serve_error_bad(error, "functions", "functions are not supported by this server");
  JsonNode *choice = json_object_get_member(o, "tool_choice");
  if (choice && !JSON_NODE_HOLDS_NULL(choice) && g_strcmp0(string_of(choice), "none") != 0)
    return ivl_serve_error_bad(error, "tool_choice", "tools are not supported by this server");
  JsonNode *format = json_object_get_member(o, "response_format");
  if (format && !JSON_NODE_HOLDS_NULL(format) &&
      !(JSON_NODE_HOLDS_OBJECT(format) &&
        g_strcmp0(ivl_json_string_or(json_node_get_object(format),
                                                             "type", NULL),
                  "text") == 0))
    return ivl_serve_error_bad(error, "response_format",
                               "only the \"text\" response format is supported");
  JsonNode *modalities = json_object_get_member(o, "modalities");
  if (json_object_has_member(o, "audio") ||
      (modalities && JSON_NODE_HOLDS_ARRAY(modalities) &&
       (json_array_get_length(json_node_get_array(modalities)) != 1 ||
        g_strcmp0(string_of(json_array_get_element(json_node_get_array(modalities), 0)),
                  "text") != 0)))
    return ivl_serve_error_bad(error, json_object_has_member(o, "audio") ? "audio" : "modalities",
                               "only text output is supported");
  gboolean echo = FALSE;
  double best_of = 1;
  if (r->kind == IVL_SERVE_COMPLETION &&
      (!read_bool(o, "echo", &echo, error) || !read_number(o, "best_of", 1, 1, &best_of, error)))
    return FALSE;
  if (echo)
    return ivl_serve_error_bad(error, "echo", "\"echo\" is not supported");
  if (r->kind == IVL_SERVE_COMPLETION && json_object_has_member(o, "suffix"))
    return ivl_serve_error_bad(error, "suffix", "\"suffix\" is not supported");
  return TRUE;
}

/* "logprobs": a boolean with "top_logprobs" for chat; completions' integer form is refused. */
static gboolean read_logprobs(IvlServeRequest *r, JsonObject *o, GError **error)
{
  ivl_generation_params *p = &r->params;
  JsonNode *node = json_object_get_member(o, "logprobs");
  if (r->kind == IVL_SERVE_COMPLETION) {
    if (node && !JSON_NODE_HOLDS_NULL(node))
      return ivl_serve_error_bad(error, "logprobs",
                                 "\"logprobs\" is supported by /v1/chat/completions only");
    return TRUE;
  }
  double top = 0;
  if (!read_bool(o, "logprobs", &p->logprobs, error) ||
      !read_number(o, "top_logprobs", 0, IVL_MAX_TOP_LOGPROBS, &top, error))
    return FALSE;
  if (json_object_has_member(o, "top_logprobs") && !p->logprobs &&
      !JSON_NODE_HOLDS_NULL(json_object_get_member(o, "top_logprobs")))
    return ivl_serve_error_bad(error, "top_logprobs",
                               "\"top_logprobs\" needs \"logprobs\": true");
  if (top != (int)top)
    return ivl_serve_error_bad(error, "top_logprobs", "\"top_logprobs\" must be an integer");
  p->top_logprobs = (int)top;
  return TRUE;
}

static gboolean read_params(IvlServeRequest *r, JsonObject *o, GError **error)
{
  ivl_generation_params *p = &r->params;
  double max_tokens = p->max_new_tokens, temperature = 0, top_p = 1, top_k = 0, seed = 0;
  double penalty = 1, presence = 0, frequency = 0, n = 1;
  gboolean have_seed = json_object_has_member(o, "seed") &&
                       !JSON_NODE_HOLDS_NULL(json_object_get_member(o, "seed"));
  if (!refuse_unsupported(r, o, error) ||
      !read_number(o, "max_tokens", 1, 1 << 20, &max_tokens, error) ||
      !read_number(o, "max_completion_tokens", 1, 1 << 20, &max_tokens, error) ||
      !read_number(o, "temperature", 0, 2, &temperature, error) ||
      !read_number(o, "top_p", 1e-6, 1, &top_p, error) ||
      !read_number(o, "top_k", 0, 1 << 20, &top_k, error) ||
      !read_number(o, "seed", -9.2e18, 9.2e18, &seed, error) ||
      !read_number(o, "repetition_penalty", 1e-3, 100, &penalty, error) ||
      !read_number(o, "presence_penalty", -2, 2, &presence, error) ||
      !read_number(o, "frequency_penalty", -2, 2, &frequency, error) ||
      !read_number(o, "n", 1, 1 << 20, &n, error) ||
      !read_stop(r, o, error) || !read_logit_bias(r, o, error) || !read_logprobs(r, o, error) ||
      !read_bool(o, "stream", &r->stream, error))
    return FALSE;
  if (n != 1)
    return ivl_serve_error_bad(error, "n", "\"n\" must be 1: one answer per request");
  p->max_new_tokens = (int)max_tokens;
  p->do_sample = temperature > 0;
  p->temperature = temperature > 0 ? (float)temperature : 1.0f;
  p->top_p = (float)top_p;
  p->top_k = (int)top_k;
  /* without a seed each request draws its own, as OpenAI's sampling does */
  p->seed = have_seed ? (guint64)(gint64)seed
                      : (guint64)g_random_int() << 32 | (guint64)g_random_int();
  p->repetition_penalty = (float)penalty;
  p->presence_penalty = (float)presence;
  p->frequency_penalty = (float)frequency;
  p->logit_bias = (const ivl_logit_bias *)(void *)r->logit_bias->data;
  p->n_logit_bias = (int)r->logit_bias->len;
  JsonNode *so = json_object_get_member(o, "stream_options");
  if (so && JSON_NODE_HOLDS_OBJECT(so) &&
      !read_bool(json_node_get_object(so), "include_usage", &r->include_usage, error))
    return FALSE;
  JsonNode *model = json_object_get_member(o, "model");
  if (model && !JSON_NODE_HOLDS_NULL(model) && !string_of(model))
    return ivl_serve_error_bad(error, "model", "\"model\" must be a string");
  r->model = g_strdup(string_of(model));
  return TRUE;
}

/* A completion's "prompt": a string, or an array of one string. */
static gboolean read_prompt(IvlServeRequest *r, JsonObject *o, GError **error)
{
  JsonNode *node = json_object_get_member(o, "prompt");
  const char *prompt = string_of(node);
  if (!prompt && node && JSON_NODE_HOLDS_ARRAY(node) &&
      json_array_get_length(json_node_get_array(node)) == 1)
    prompt = string_of(json_array_get_element(json_node_get_array(node), 0));
  if (!prompt)
    return ivl_serve_error_bad(error, "prompt",
                               "\"prompt\" must be a string (one prompt per request)");
  r->prompt = g_strdup(prompt);
  return TRUE;
}

/* Whether every string and key under node is valid UTF-8: json-glib turns an escaped lone
 * surrogate ("\\ud800") into bytes that are not. The depth was bounded by the parse. */
static gboolean valid_strings(JsonNode *node)
{
  if (JSON_NODE_HOLDS_ARRAY(node)) {
    JsonArray *a = json_node_get_array(node);
    for (guint i = 0; i < json_array_get_length(a); i++)
      if (!valid_strings(json_array_get_element(a, i)))
        return FALSE;
  } else if (JSON_NODE_HOLDS_OBJECT(node)) {
    JsonObjectIter it;
    const char *name;
    JsonNode *member;
    json_object_iter_init(&it, json_node_get_object(node));
    while (json_object_iter_next(&it, &name, &member))
      if (!g_utf8_validate(name, -1, NULL) || !valid_strings(member))
        return FALSE;
  } else if (string_of(node)) {
    return g_utf8_validate(string_of(node), -1, NULL);
  }
  return TRUE;
}

IvlServeRequest *ivl_serve_request_parse(IvlServeKind kind, const char *body, gsize length,
                                         GError **error)
{
  /* bounded nesting, no duplicate keys, valid UTF-8 before json-glib sees it: its parser
   * recurses, and 100,000 nested arrays would overflow the stack */
  g_autoptr(GError) json_error = NULL;
  g_autoptr(JsonParser) parser = ivl_json_parse_checked(body, length, "the body", &json_error);
  if (!parser) {
    ivl_serve_error_bad(error, NULL, "%s", json_error->message);
    return NULL;
  }
  JsonNode *root = json_parser_get_root(parser);
  if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
    ivl_serve_error_bad(error, NULL, "the body must be a JSON object");
    return NULL;
  }
  if (!valid_strings(root)) {
    ivl_serve_error_bad(error, NULL, "the body holds a string that is not valid Unicode (an "
                                     "unpaired surrogate escape?)");
    return NULL;
  }
  JsonObject *o = json_node_get_object(root);
  g_autoptr(IvlServeRequest) r = g_new0(IvlServeRequest, 1);
  r->kind = kind;
  r->turns = g_ptr_array_new_with_free_func((GDestroyNotify)turn_free);
  r->logit_bias = g_array_new(FALSE, FALSE, sizeof(ivl_logit_bias));
  r->params = ivl_generation_default_params();
  r->params.do_sample = FALSE;
  if (kind == IVL_SERVE_CHAT) {
    JsonNode *messages = json_object_get_member(o, "messages");
    if (!messages || !JSON_NODE_HOLDS_ARRAY(messages)) {
      invalid(error, "\"messages\" must be an array");
      return NULL;
    }
    if (!read_messages(r, json_node_get_array(messages), error))
      return NULL;
  } else if (!read_prompt(r, o, error)) {
    return NULL;
  }
  if (!read_params(r, o, error))
    return NULL;
  return g_steal_pointer(&r);
}

static int content_media(const IvlServeContent *c)
{
  return (int)c->images->len + (c->video != NULL);
}

int ivl_serve_request_count_media(const IvlServeRequest *r)
{
  int n = r->question ? content_media(r->question) : 0;
  for (guint i = 0; i < r->turns->len; i++)
    n += content_media(((IvlServeTurn *)g_ptr_array_index(r->turns, i))->question);
  return n;
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
