/* json-check.h — JSON parsing for untrusted model files, stricter than json-glib alone. */
#ifndef IVL_JSON_CHECK_H
#define IVL_JSON_CHECK_H

#include <gio/gio.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* Parses length bytes of text that must be valid UTF-8 without NUL, nest at most 16 deep,
 * hold no integer literal over 18 digits (json-glib wraps those silently) and no object
 * with a repeated key (json-glib silently keeps the last). label names the file in messages.
 * Returns a parser owning the tree, or NULL with IVL_ERROR_CORRUPT. */
JsonParser *ivl_json_parse_checked(const char *text, gsize length, const char *label,
                                   GError **error);

/* The most nesting any JSON ivl reads may have; the README states it. */
#define IVL_JSON_MAX_DEPTH 16

/* ivl_json_parse_checked over the regular file path of at most max_bytes (file-io.h: a FIFO
 * or a device is refused before it could block). label names the file in messages. */
JsonParser *ivl_json_load_file(const char *path, gsize max_bytes, const char *label,
                               GError **error);

/* ivl_json_parse_checked over what `in` yields, read up to max_bytes: a longer body is
 * refused once that many bytes have come, so an endless one costs no more memory. */
JsonParser *ivl_json_load_stream(GInputStream *in, gsize max_bytes, const char *label,
                                 GCancellable *cancellable, GError **error);

/* Typed reads of an object member, where json-glib's *_with_default would log a CRITICAL
 * for a value of another type. Absent or null: *value is left as the caller set it and TRUE.
 * Another type: FALSE with IVL_ERROR_CORRUPT "label: "name" must be a ...". */
gboolean ivl_json_get_string(JsonObject *object, const char *name, const char **value,
                             const char *label, GError **error);
gboolean ivl_json_get_int(JsonObject *object, const char *name, gint64 *value, const char *label,
                          GError **error);
gboolean ivl_json_get_bool(JsonObject *object, const char *name, gboolean *value,
                           const char *label, GError **error);

/* Lenient reads for files ivl wrote itself (a damaged one still opens): the member when it
 * has the type asked for, else the fallback (NULL for arrays and objects), without the
 * CRITICAL json-glib logs for another type. Numbers accept integers and reals. */
const char *ivl_json_string_or(JsonObject *object, const char *name, const char *fallback);
gint64 ivl_json_int_or(JsonObject *object, const char *name, gint64 fallback);
double ivl_json_number_or(JsonObject *object, const char *name, double fallback);
gboolean ivl_json_bool_or(JsonObject *object, const char *name, gboolean fallback);
JsonArray *ivl_json_array_member(JsonObject *object, const char *name);
/* The element at index when it is an object, else NULL. */
JsonObject *ivl_json_object_element(JsonArray *array, guint index);

G_END_DECLS

#endif /* IVL_JSON_CHECK_H */
