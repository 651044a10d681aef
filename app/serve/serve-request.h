/* serve-request.h — an OpenAI chat-completions request body, read into what the engine
 * takes: a system message, earlier turns with their answers, the question with its images,
 * and generation parameters.
 *
 * Accepted: "messages" (system first if any; then user and assistant; the last one user;
 * consecutive user messages are joined), content as a string or as parts of type "text",
 * "image_url" and (as vLLM accepts it) "video_url", whose 8 frames are sampled as the quick
 * start does (data: URLs only: the server neither fetches nor reads files; images or one
 * video per message),
 * "max_completion_tokens" / "max_tokens", "temperature" (absent or 0: greedy, as
 * `ivl run`), "top_p", "top_k", "seed", "repetition_penalty", "n" (1 only), "stream",
 * "stream_options.include_usage", "model" (echoed). Other members are ignored, as OpenAI
 * clients send many. */
#ifndef IVL_SERVE_REQUEST_H
#define IVL_SERVE_REQUEST_H

#include "ivl.h"

typedef struct {
  char *text;        /* the text parts, joined by newlines */
  GPtrArray *images; /* GBytes*: the image files, in order */
  GBytes *video;     /* a video file (instead of images), or NULL */
} IvlServeContent;

typedef struct {
  IvlServeContent *question;
  char *answer;
} IvlServeTurn;

typedef struct {
  char *model;
  char *system; /* NULL: the model's default */
  GPtrArray *turns; /* IvlServeTurn*: the history, oldest first */
  IvlServeContent *question;
  ivl_generation_params params;
  gboolean stream, include_usage;
} IvlServeRequest;

/* IVL_ERROR_INVALID_ARGUMENT naming what is wrong (for a 400 answer). */
IvlServeRequest *ivl_serve_request_parse(const char *body, gsize length, GError **error);
void ivl_serve_request_free(IvlServeRequest *request);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(IvlServeRequest, ivl_serve_request_free)

/* A string that is equal for equal histories (system message, turns with their images and
 * answers), for knowing when a request continues the previous conversation. */
char *ivl_serve_history_key(const char *system, GPtrArray *turns);

#endif /* IVL_SERVE_REQUEST_H */
