/* serve-request.h — an OpenAI request body, read into what the engine takes.
 *
 * Chat completions: "messages" (system or developer first if any; then user and assistant;
 * the last one user; consecutive user messages are joined), content as a string or as parts
 * of type "text", "image_url" and (as vLLM accepts it) "video_url", whose 8 frames are
 * sampled as the quick start does (data: URLs only: the server neither fetches nor reads
 * files; images or one video per message). Completions: "prompt" (a string, or an array of
 * one), continued as plain text.
 *
 * Both: "max_completion_tokens" / "max_tokens", "temperature" (absent or 0: greedy, as
 * `ivl run`), "top_p", "top_k", "seed" (absent: a fresh one each request),
 * "repetition_penalty", "presence_penalty", "frequency_penalty", "logit_bias", "stop",
 * "n" (1 only), "stream", "stream_options.include_usage", "model"; for chat also "logprobs"
 * with "top_logprobs" (at most 20), "response_format" {"type": "text"}, "tools" empty and
 * "tool_choice" "none". What the engine cannot do honestly (tools and tool calls in the
 * history, other response formats, n > 1, echo, best_of, suffix, audio) is refused with a
 * 400 naming the parameter; other members are ignored, as OpenAI clients send many. */
#ifndef IVL_SERVE_REQUEST_H
#define IVL_SERVE_REQUEST_H

#include "ivl.h"

typedef enum {
  IVL_SERVE_CHAT,       /* POST /v1/chat/completions */
  IVL_SERVE_COMPLETION, /* POST /v1/completions */
} IvlServeKind;

typedef struct {
  char *text;        /* the text parts, joined by newlines */
  GPtrArray *images; /* GBytes*: the image files, in order */
  GBytes *video;     /* a video file (instead of images), or NULL */
  GPtrArray *media;  /* ivl_media*: images or video decoded (serve-prepare.h), or NULL */
} IvlServeContent;

typedef struct {
  IvlServeContent *question;
  char *answer;
} IvlServeTurn;

typedef struct {
  IvlServeKind kind;
  char *model;      /* NULL when the client named none */
  char *system;     /* NULL: the model's default */
  GPtrArray *turns; /* IvlServeTurn*: the history, oldest first */
  IvlServeContent *question;
  char *prompt;     /* a completion's text; NULL for chat */
  ivl_generation_params params; /* logit_bias points into logit_bias below */
  GArray *logit_bias;           /* ivl_logit_bias */
  char **stop;                  /* NULL-terminated, or NULL */
  gboolean stream, include_usage;
} IvlServeRequest;

/* IVL_SERVE_ERROR (400, naming the parameter) for what cannot be served. */
IvlServeRequest *ivl_serve_request_parse(IvlServeKind kind, const char *body, gsize length,
                                         GError **error);
void ivl_serve_request_free(IvlServeRequest *request);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(IvlServeRequest, ivl_serve_request_free)

/* The number of images and videos in the request (history included). */
int ivl_serve_request_count_media(const IvlServeRequest *request);

/* A string that is equal for equal histories (system message, turns with their images and
 * answers), for knowing when a request continues the previous conversation. */
char *ivl_serve_history_key(const char *system, GPtrArray *turns);

#endif /* IVL_SERVE_REQUEST_H */
