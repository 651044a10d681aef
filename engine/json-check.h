/* json-check.h — JSON parsing for untrusted model files, stricter than json-glib alone. */
#ifndef IVL_JSON_CHECK_H
#define IVL_JSON_CHECK_H

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* Parses length bytes of text that must be valid UTF-8 without NUL, nest at most 16 deep,
 * hold no integer literal over 18 digits (json-glib wraps those silently) and no object
 * with a repeated key (json-glib silently keeps the last). label names the file in messages.
 * Returns a parser owning the tree, or NULL with IVL_ERROR_CORRUPT. */
JsonParser *ivl_json_parse_checked(const char *text, gsize length, const char *label,
                                   GError **error);

G_END_DECLS

#endif /* IVL_JSON_CHECK_H */
