/* batch-output.h — `ivl batch`'s answer lines on stdout, one JSON object per input line. */
#ifndef IVL_BATCH_OUTPUT_H
#define IVL_BATCH_OUTPUT_H

#include <glib.h>

G_BEGIN_DECLS

/* Prints {"image": …, "question": …, "answer" | "error": …}; FALSE when stdout cannot take it
 * (a full disk, a closed pipe). */
gboolean ivl_batch_output_print(const char *image, const char *question, const char *answer,
                                const char *message, GError **error);

G_END_DECLS

#endif /* IVL_BATCH_OUTPUT_H */
