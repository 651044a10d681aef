/* batch-line.h — one line of `ivl batch`'s JSONL input, {"question": TEXT, "image": PATH}. */
#ifndef IVL_BATCH_LINE_H
#define IVL_BATCH_LINE_H

#include <glib.h>

G_BEGIN_DECLS

/* Parses line (checked JSON, see json-check.h) into a question and an optional image path
 * (NULL when absent or null), both for the caller to free. FALSE with an error prefixed with
 * label when the line is not such an object or a member has another type. */
gboolean ivl_batch_line_parse(const char *line, const char *label, char **question, char **image,
                              GError **error);

G_END_DECLS

#endif /* IVL_BATCH_LINE_H */
