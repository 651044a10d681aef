/* json-check.c — guards in front of json-glib for files we did not write. */
#include "json-check.h"

#include "ivl.h"

/* json-glib's parser recurses per nesting level; a bound keeps hostile input off the stack.
 * safetensors headers nest 3 deep, config.json 3. */
#define MAX_DEPTH 16
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
