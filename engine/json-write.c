/* json-write.c — a JSON printer matching Python's json.dumps(indent=2). */
#include "json-write.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* repr(float): the fewest significant digits that read back to the same double; positional
 * when the decimal exponent is in [-4, 16), else d.ddde±XX; always a '.' or an exponent. */
static void append_double(GString *out, double v)
{
  char buf[64];
  int digits = 1;
  for (; digits < 17; digits++) {
    g_snprintf(buf, sizeof buf, "%.*e", digits - 1, v);
    if (g_ascii_strtod(buf, NULL) == v)
      break;
  }
  g_snprintf(buf, sizeof buf, "%.*e", digits - 1, v);
  char *e = strchr(buf, 'e');
  int exp10 = atoi(e + 1);
  if (exp10 >= -4 && exp10 < 16) {
    int decimals = MAX(digits - 1 - exp10, 1);
    g_string_append_printf(out, "%.*f", decimals, v);
    return;
  }
  *e = '\0';
  g_string_append_printf(out, "%se%c%02d", buf, exp10 < 0 ? '-' : '+', ABS(exp10));
}

/* ensure_ascii: quotes, backslash and control characters escaped, non-ASCII as \uXXXX
 * (UTF-16 surrogate pairs beyond the BMP). */
static void append_string(GString *out, const char *s)
{
  g_string_append_c(out, '"');
  for (const char *p = s; *p; p = g_utf8_next_char(p)) {
    gunichar c = g_utf8_get_char(p);
    if (c == '"' || c == '\\')
      g_string_append_printf(out, "\\%c", (char)c);
    else if (c == '\n')
      g_string_append(out, "\\n");
    else if (c == '\t')
      g_string_append(out, "\\t");
    else if (c == '\r')
      g_string_append(out, "\\r");
    else if (c < 0x20 || (c >= 0x7f && c < 0x10000))
      g_string_append_printf(out, "\\u%04x", c);
    else if (c >= 0x10000)
      g_string_append_printf(out, "\\u%04x\\u%04x", 0xd800 + ((c - 0x10000) >> 10),
                             0xdc00 + ((c - 0x10000) & 0x3ff));
    else
      g_string_append_c(out, (char)c);
  }
  g_string_append_c(out, '"');
}

static void newline(GString *out, int depth)
{
  g_string_append_c(out, '\n');
  for (int i = 0; i < depth; i++)
    g_string_append(out, "  ");
}

static void append_node(GString *out, JsonNode *n, int depth, gboolean sort_keys);

static void append_object(GString *out, JsonObject *o, int depth, gboolean sort_keys)
{
  g_autoptr(GList) names = json_object_get_members(o);
  if (sort_keys) /* UTF-8 byte order is code point order, as Python sorts str */
    names = g_list_sort(names, (GCompareFunc)strcmp);
  if (!names) {
    g_string_append(out, "{}");
    return;
  }
  g_string_append_c(out, '{');
  for (GList *l = names; l; l = l->next) {
    newline(out, depth + 1);
    append_string(out, l->data);
    g_string_append(out, ": ");
    append_node(out, json_object_get_member(o, l->data), depth + 1, sort_keys);
    if (l->next)
      g_string_append_c(out, ',');
  }
  newline(out, depth);
  g_string_append_c(out, '}');
}

static void append_array(GString *out, JsonArray *a, int depth, gboolean sort_keys)
{
  guint n = json_array_get_length(a);
  if (n == 0) {
    g_string_append(out, "[]");
    return;
  }
  g_string_append_c(out, '[');
  for (guint i = 0; i < n; i++) {
    newline(out, depth + 1);
    append_node(out, json_array_get_element(a, i), depth + 1, sort_keys);
    if (i + 1 < n)
      g_string_append_c(out, ',');
  }
  newline(out, depth);
  g_string_append_c(out, ']');
}

static void append_node(GString *out, JsonNode *n, int depth, gboolean sort_keys)
{
  switch (json_node_get_node_type(n)) {
  case JSON_NODE_OBJECT:
    append_object(out, json_node_get_object(n), depth, sort_keys);
    return;
  case JSON_NODE_ARRAY:
    append_array(out, json_node_get_array(n), depth, sort_keys);
    return;
  case JSON_NODE_NULL:
    g_string_append(out, "null");
    return;
  case JSON_NODE_VALUE:
    break;
  }
  GType t = json_node_get_value_type(n);
  if (t == G_TYPE_INT64)
    g_string_append_printf(out, "%" G_GINT64_FORMAT, json_node_get_int(n));
  else if (t == G_TYPE_DOUBLE)
    append_double(out, json_node_get_double(n));
  else if (t == G_TYPE_BOOLEAN)
    g_string_append(out, json_node_get_boolean(n) ? "true" : "false");
  else
    append_string(out, json_node_get_string(n));
}

char *ivl_json_write_pretty(JsonNode *root, gboolean sort_keys)
{
  GString *out = g_string_new(NULL);
  append_node(out, root, 0, sort_keys);
  g_string_append_c(out, '\n');
  return g_string_free(out, FALSE);
}
