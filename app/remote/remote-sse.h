/* remote-sse.h — reading a server-sent event stream (text/event-stream) with bounded lines. */
#ifndef IVL_REMOTE_SSE_H
#define IVL_REMOTE_SSE_H

#include <gio/gio.h>

typedef struct _IvlRemoteSse IvlRemoteSse;

/* Events from in (not owned; the caller keeps it open). */
IvlRemoteSse *ivl_remote_sse_new(GInputStream *in);
void ivl_remote_sse_free(IvlRemoteSse *sse);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(IvlRemoteSse, ivl_remote_sse_free)

/* The next event: *field is "data", or "error" for the non-standard "error:" field older
 * llama-servers write; *data its text (several lines joined by "\n"). Comments (":…", the
 * keep-alives of ivl serve) and other fields are skipped, but each read that brings bytes
 * calls activity (the stall timer counts them too). FALSE at the end of the stream with no
 * error (a last event without its blank line is still returned first), or with an error
 * (G_IO_ERROR_*, or IVL_REMOTE_ERROR_PROTOCOL for a line over 16 MiB). */
gboolean ivl_remote_sse_next(IvlRemoteSse *sse, const char **field, const char **data,
                             void (*activity)(gpointer), gpointer activity_data,
                             GCancellable *cancellable, GError **error);

#endif /* IVL_REMOTE_SSE_H */
