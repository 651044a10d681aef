/* serve-prepare.h — the checks a request passes before it queues, so that what cannot run is
 * refused with a 400 (before a stream's 200) instead of failing later, and a waiting request
 * holds no undecoded media. */
#ifndef IVL_SERVE_PREPARE_H
#define IVL_SERVE_PREPARE_H

#include "serve-request.h"

/* Decodes the images and videos of every message (max_num tiles an image), checks that the
 * rendered prompt leaves room for an answer in the context (counting the tiles' tokens, so
 * that the vision encoder never runs for a prompt that cannot fit) and that the logit_bias
 * tokens exist. Runs beside the worker: it reads only the model's tokenizer, template and
 * sizes. IVL_SERVE_ERROR 400 ("context_length_exceeded" for the context) or the media's. */
gboolean ivl_serve_prepare(ivl_model *model, int max_num, IvlServeRequest *request,
                           GError **error);

#endif /* IVL_SERVE_PREPARE_H */
