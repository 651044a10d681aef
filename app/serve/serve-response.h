/* serve-response.h — the JSON bodies of `ivl serve`'s answers, as OpenAI shapes them:
 * chat.completion, chat.completion.chunk, text_completion (whole and streamed), the model
 * list and a model. */
#ifndef IVL_SERVE_RESPONSE_H
#define IVL_SERVE_RESPONSE_H

#include "serve-job.h"

/* The whole answer of a finished job. */
char *ivl_serve_response_whole(const IvlServeJob *job);
/* One streamed chunk: a piece of text with its tokens' logprobs (may be NULL), or (piece
 * NULL) the first chunk (role) when first, else the last one (finish reason), or with usage
 * the usage chunk, which has no choice. */
char *ivl_serve_response_chunk(const IvlServeJob *job, const char *piece, GArray *logprobs,
                               gboolean first, gboolean usage);
/* GET /v1/models (list) or /v1/models/{id}. */
char *ivl_serve_response_model(const char *model_id, gboolean list);

#endif /* IVL_SERVE_RESPONSE_H */
