/* json-check.c — guards in front of json-glib for files we did not write. */
#include "json-check.h"

#include "file-io.h"
#include "ivl.h"

/* json-glib's parser recurses per nesting level; a bound keeps hostile input off the stack.
 * safetensors headers nest 3 deep, config.json 3, an OpenAI request 5. */
#define MAX_DEPTH IVL_JSON_MAX_DEPTH
/* 18 digits always fit in gint64; json-glib turns longer integers into wrapped values. */
#define MAX_INT_DIGITS 18

/* One pass over the text outside strings: nesting depth and integer literal lengths. */
static gboolean scan_text(const char *text, gsize length, const char *label, GError **error)
{
  int depth = 0, digits = 0;
  gboolean in_string = FALSE, in_fraction = FALSE;
  for (gsize i = 0; i < length; i++) {
    char ch = text[i];
    if (in_string) {
      if (ch == '\\')
        i++;
      else if (ch == '"')
        in_string = FALSE;
      continue;
    }
    if (ch >= '0' && ch <= '9') {
      if (!in_fraction && ++digits > MAX_INT_DIGITS) {
        g_set_error(error, IVL_ERROR, IVL_ERROR_CORRUPT,
                    "%s: a number at byte %" G_GSIZE_FORMAT " has more than %d digits", label, i,
                    MAX_INT_DIGITS);
        return FALSE;
      }
      continue;
    }
    /* Digits after '.' or an exponent make a double, which json-glib reads safely. */
    in_fraction =
        (ch == '.' || ch == 'e' || ch == 'E' || ((ch == '-' || ch == '+') && in_fraction));
    digits = 0;
    if (ch == '"') {
      in_string = TRUE;
    } else if (ch == '{' || ch == '[') {
      if (++depth > MAX_DEPTH) {
        g_set_error(error, IVL_ERROR, IVL_ERROR_CORRUPT, "%s: JSON nests deeper than %d levels",
                    label, MAX_DEPTH);
        return FALSE;
      }
    } else if (ch == '}' || ch == ']') {
      depth--;
    }
  }
  return TRUE;
}

typedef struct {
  GHashTable *counts; /* JsonObject* → members seen so far */
  char *duplicate;    /* first repeated key */
} dup_state;

/* Emitted after each member is stored: a repeated key replaces the old value, so the
 * object's size falls behind the number of members parsed into it. */
static void on_object_member(JsonParser *parser, JsonObject *object, const char *name,
                             gpointer user_data)
{
  (void)parser;
  dup_state *st = user_data;
  guint n = GPOINTER_TO_UINT(g_hash_table_lookup(st->counts, object)) + 1;
  g_hash_table_insert(st->counts, object, GUINT_TO_POINTER(n));
  if (json_object_get_size(object) < n && !st->duplicate)
    st->duplicate = g_strdup(name);
}

JsonParser *ivl_json_parse_checked(const char *text, gsize length, const char *label,
                                   GError **error)
{
  if (!g_utf8_validate(text, (gssize)length, NULL)) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_CORRUPT, "%s: not valid UTF-8 text", label);
    return NULL;
  }
  if (!scan_text(text, length, label, error))
    return NULL;
  g_autoptr(JsonParser) parser = json_parser_new();
  dup_state st = {g_hash_table_new(NULL, NULL), NULL};
  g_signal_connect(parser, "object-member", G_CALLBACK(on_object_member), &st);
  GError *local = NULL;
  gboolean ok = json_parser_load_from_data(parser, text, (gssize)length, &local);
  g_signal_handlers_disconnect_by_data(parser, &st);
  g_hash_table_destroy(st.counts);
  g_autofree char *duplicate = st.duplicate;
  if (!ok) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_CORRUPT, "%s: not valid JSON: %s", label,
                local->message);
    g_error_free(local);
    return NULL;
  }
  if (duplicate) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_CORRUPT, "%s: key \"%s\" appears twice in one object",
                label, duplicate);
    return NULL;
  }
  if (!json_parser_get_root(parser)) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_CORRUPT, "%s: empty JSON", label);
    return NULL;
  }
  return g_steal_pointer(&parser);
}

JsonParser *ivl_json_load_file(const char *path, gsize max_bytes, const char *label,
                               GError **error)
{
  g_autofree char *text = NULL;
  gsize length = 0;
  if (!ivl_file_read(path, max_bytes, &text, &length, error))
    return NULL;
  return ivl_json_parse_checked(text, length, label, error);
}

JsonParser *ivl_json_load_stream(GInputStream *in, gsize max_bytes, const char *label,
                                 GCancellable *cancellable, GError **error)
{
  g_autoptr(GByteArray) body = g_byte_array_new();
  guint8 chunk[16384];
  for (;;) {
    gssize n = g_input_stream_read(in, chunk, sizeof chunk, cancellable, error);
    if (n < 0)
      return NULL;
    if (n == 0)
      break;
    if (body->len + (gsize)n > max_bytes) {
      g_set_error(error, IVL_ERROR, IVL_ERROR_CORRUPT,
                  "%s: more than %" G_GSIZE_FORMAT " bytes of JSON", label, max_bytes);
      return NULL;
    }
    g_byte_array_append(body, chunk, (guint)n);
  }
  return ivl_json_parse_checked((const char *)body->data, body->len, label, error);
}

/* The member's node when present and not null; FALSE with an error when of another type. */
static gboolean member_of_type(JsonObject *object, const char *name, GType type,
                               const char *type_name, JsonNode **node, const char *label,
                               GError **error)
{
  *node = object ? json_object_get_member(object, name) : NULL;
  if (!*node || JSON_NODE_HOLDS_NULL(*node))
    return (*node = NULL, TRUE);
  if (JSON_NODE_HOLDS_VALUE(*node) && json_node_get_value_type(*node) == type)
    return TRUE;
  g_set_error(error, IVL_ERROR, IVL_ERROR_CORRUPT, "%s: \"%s\" must be %s", label, name,
              type_name);
  *node = NULL;
  return FALSE;
}

gboolean ivl_json_get_string(JsonObject *object, const char *name, const char **value,
                             const char *label, GError **error)
{
  JsonNode *n;
  if (!member_of_type(object, name, G_TYPE_STRING, "a string", &n, label, error))
    return FALSE;
  if (n)
    *value = json_node_get_string(n);
  return TRUE;
}

gboolean ivl_json_get_int(JsonObject *object, const char *name, gint64 *value, const char *label,
                          GError **error)
{
  JsonNode *n;
  if (!member_of_type(object, name, G_TYPE_INT64, "an integer", &n, label, error))
    return FALSE;
  if (n)
    *value = json_node_get_int(n);
  return TRUE;
}

gboolean ivl_json_get_bool(JsonObject *object, const char *name, gboolean *value,
                           const char *label, GError **error)
{
  JsonNode *n;
  if (!member_of_type(object, name, G_TYPE_BOOLEAN, "true or false", &n, label, error))
    return FALSE;
  if (n)
    *value = json_node_get_boolean(n);
  return TRUE;
}

/* The value node of name when it holds a type, else NULL. */
static JsonNode *value_of_type(JsonObject *object, const char *name, GType type)
{
  JsonNode *n = object ? json_object_get_member(object, name) : NULL;
  return n && JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == type ? n : NULL;
}

const char *ivl_json_string_or(JsonObject *object, const char *name, const char *fallback)
{
  JsonNode *n = value_of_type(object, name, G_TYPE_STRING);
  return n ? json_node_get_string(n) : fallback;
}

gint64 ivl_json_int_or(JsonObject *object, const char *name, gint64 fallback)
{
  JsonNode *n = value_of_type(object, name, G_TYPE_INT64);
  return n ? json_node_get_int(n) : fallback;
}

double ivl_json_number_or(JsonObject *object, const char *name, double fallback)
{
  JsonNode *n = value_of_type(object, name, G_TYPE_DOUBLE);
  if (n)
    return json_node_get_double(n);
  n = value_of_type(object, name, G_TYPE_INT64);
  return n ? (double)json_node_get_int(n) : fallback;
}

gboolean ivl_json_bool_or(JsonObject *object, const char *name, gboolean fallback)
{
  JsonNode *n = value_of_type(object, name, G_TYPE_BOOLEAN);
  return n ? json_node_get_boolean(n) : fallback;
}

JsonArray *ivl_json_array_member(JsonObject *object, const char *name)
{
  JsonNode *n = object ? json_object_get_member(object, name) : NULL;
  return n && JSON_NODE_HOLDS_ARRAY(n) ? json_node_get_array(n) : NULL;
}

JsonObject *ivl_json_object_element(JsonArray *array, guint index)
{
  JsonNode *n = array && index < json_array_get_length(array)
                    ? json_array_get_element(array, index)
                    : NULL;
  return n && JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
}
