/* serve-text.h — the answer's text as the client gets it, piece by piece: the whitespace that
 * chat() strips from both ends never sent (so streamed pieces add up to the whole answer),
 * and the text cut before the first stop sequence, which never appears, even when it spans
 * several pieces. */
#ifndef IVL_SERVE_TEXT_H
#define IVL_SERVE_TEXT_H

#include <glib.h>

typedef struct _IvlServeText IvlServeText;

/* stop: NULL-terminated sequences (may be NULL), borrowed for the filter's life. */
IvlServeText *ivl_serve_text_new(char *const *stop);
void ivl_serve_text_free(IvlServeText *t);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(IvlServeText, ivl_serve_text_free)

/* Takes a generated piece; returns the text that can go to the client now (caller frees;
 * may be ""). After a stop sequence, returns "" and ivl_serve_text_stopped is TRUE. */
char *ivl_serve_text_feed(IvlServeText *t, const char *piece);
gboolean ivl_serve_text_stopped(const IvlServeText *t);
/* At the end: the text still held back that belongs to the answer (caller frees). */
char *ivl_serve_text_finish(IvlServeText *t);
/* Everything returned so far: the whole answer once finished. */
const char *ivl_serve_text_get(const IvlServeText *t);

#endif /* IVL_SERVE_TEXT_H */
