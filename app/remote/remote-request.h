/* remote-request.h — the JSON body of a streamed chat completion, in a server's dialect. */
#ifndef IVL_REMOTE_REQUEST_H
#define IVL_REMOTE_REQUEST_H

#include "remote-client.h"

/* The body for chat asking model, written for dialect (not AUTO). Errors: MEDIA (an image
 * that cannot be made to fit the server's limit). */
char *ivl_remote_request_body(const IvlRemoteChat *chat, const char *model,
                              IvlRemoteDialect dialect, GError **error);

#endif /* IVL_REMOTE_REQUEST_H */
