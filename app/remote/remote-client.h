/* remote-client.h — ivl as a client of OpenAI-compatible servers (vLLM, LMDeploy, llama.cpp's
 * llama-server, `ivl serve`): a server endpoint, model discovery, and streamed chat answers
 * with images and video frames. No GTK.
 *
 * Threads: every call that talks to the server blocks and is meant for a worker thread (the
 * app's inference worker, or the CLI's main thread); ivl_remote_client_list_models_async
 * runs one on a thread of its own and answers on the caller's thread-default main context,
 * for a preferences page. An IvlRemoteClient may be used from several threads at once: each
 * call makes its own HTTP session. An IvlRemoteChat belongs to one thread at a time.
 *
 * The servers' dialects (field names, error bodies, how they take several images and video)
 * are in docs/remote-servers.md; remote-dialect.c holds them as one table. */
#ifndef IVL_REMOTE_CLIENT_H
#define IVL_REMOTE_CLIENT_H

#include <gio/gio.h>

#include "ivl.h"

G_BEGIN_DECLS

/* Which server software speaks at the other end. AUTO probes GET /v1/models (owned_by) and the
 * Server header the first time the client talks to it. */
typedef enum {
  IVL_REMOTE_DIALECT_AUTO,
  IVL_REMOTE_DIALECT_OPENAI, /* anything else: the OpenAI API as documented */
  IVL_REMOTE_DIALECT_VLLM,
  IVL_REMOTE_DIALECT_LMDEPLOY,
  IVL_REMOTE_DIALECT_LLAMA_SERVER,
  IVL_REMOTE_DIALECT_IVL,
} IvlRemoteDialect;

/* "auto", "openai", "vllm", "lmdeploy", "llama-server", "ivl". */
const char *ivl_remote_dialect_name(IvlRemoteDialect dialect);
/* FALSE for a name not in the list above. */
gboolean ivl_remote_dialect_from_name(const char *name, IvlRemoteDialect *dialect);

/* What went wrong, for a caller to say what to do. Cancellation is G_IO_ERROR_CANCELLED. */
typedef enum {
  IVL_REMOTE_ERROR_INVALID_URL,      /* the base URL is not an http(s) URL */
  IVL_REMOTE_ERROR_UNREACHABLE,      /* refused, no route, name unknown, TLS failed */
  IVL_REMOTE_ERROR_TIMEOUT,          /* the connection or the answer stalled */
  IVL_REMOTE_ERROR_UNAUTHORIZED,     /* 401 or 403: a missing or wrong API key */
  IVL_REMOTE_ERROR_MODEL_NOT_FOUND,  /* 404 for the model, or the server lists none */
  IVL_REMOTE_ERROR_CONTEXT_TOO_LONG, /* 400: the conversation does not fit the server's model */
  IVL_REMOTE_ERROR_REFUSED,          /* any other 4xx: the server's message says why */
  IVL_REMOTE_ERROR_OVERLOADED,       /* 429 or 503 after the retries */
  IVL_REMOTE_ERROR_SERVER,           /* 5xx, or an error event inside the stream */
  IVL_REMOTE_ERROR_TRUNCATED,        /* the stream ended without [DONE] */
  IVL_REMOTE_ERROR_PROTOCOL,         /* an answer that is not the API's JSON or SSE */
  IVL_REMOTE_ERROR_MEDIA,            /* an image or video could not be read or encoded */
} IvlRemoteError;

#define IVL_REMOTE_ERROR (ivl_remote_error_quark())
GQuark ivl_remote_error_quark(void);

/* ---- the endpoint ------------------------------------------------------------------------ */

typedef struct _IvlRemoteClient IvlRemoteClient;

/* A client of the server at base_url: "http://host:port" or ".../v1" (both name the same
 * API root). api_key: sent as "Authorization: Bearer KEY"; NULL for none (see
 * ivl_remote_key_lookup for the one in the keyring). Errors: INVALID_URL. */
IvlRemoteClient *ivl_remote_client_new(const char *base_url, const char *api_key, GError **error);
IvlRemoteClient *ivl_remote_client_ref(IvlRemoteClient *client);
void ivl_remote_client_unref(IvlRemoteClient *client);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(IvlRemoteClient, ivl_remote_client_unref)

/* The API root, always ending in "/v1" without a slash after it. */
const char *ivl_remote_client_get_base_url(const IvlRemoteClient *client);
/* The host (and port, when given) for labels: "gpu-box:8000". */
const char *ivl_remote_client_get_host(const IvlRemoteClient *client);

/* Sets the dialect instead of probing; AUTO probes again at the next call. */
void ivl_remote_client_set_dialect(IvlRemoteClient *client, IvlRemoteDialect dialect);
/* The dialect set or probed; AUTO until the first call has probed it. */
IvlRemoteDialect ivl_remote_client_get_dialect(IvlRemoteClient *client);

/* connect_s: most seconds to open the connection (default 10); stall_s: most seconds the
 * server may send nothing once connected, headers, keep-alive comments and tokens all count
 * (default 300: a big model's prefill of many images takes a while); retries: connection
 * failures (and 429/503) retried before the first byte of an answer (default 3, backoff
 * 0.5 s doubling, 429's Retry-After honoured up to 30 s). Values <= 0 keep the current one,
 * except retries, where 0 means none. */
void ivl_remote_client_set_timeouts(IvlRemoteClient *client, double connect_s, double stall_s,
                                    int retries);

/* ---- the API key in the keyring (libsecret) ---------------------------------------------- */

/* Keys are stored per base URL (as ivl_remote_client_get_base_url gives it), labelled with
 * name for the keyring's UI. Blocking (D-Bus): call from a worker thread or at startup.
 * lookup returns NULL without error when none is stored. */
gboolean ivl_remote_key_store(const char *base_url, const char *name, const char *key,
                              GCancellable *cancellable, GError **error);
char *ivl_remote_key_lookup(const char *base_url, GCancellable *cancellable, GError **error);
gboolean ivl_remote_key_clear(const char *base_url, GCancellable *cancellable, GError **error);

/* ---- models ------------------------------------------------------------------------------ */

typedef struct {
  char *id;              /* the name to send as "model" */
  char *owned_by;        /* "vllm", "lmdeploy", "llamacpp", "ivl", … or NULL */
  gint64 context_length; /* vLLM's max_model_len; 0 when the server does not say */
} IvlRemoteModel;

void ivl_remote_model_free(IvlRemoteModel *model);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(IvlRemoteModel, ivl_remote_model_free)

/* GET /v1/models: the served models (IvlRemoteModel*, freed with the array), never empty
 * (an empty list is MODEL_NOT_FOUND). Probes the dialect when it is AUTO. */
GPtrArray *ivl_remote_client_list_models(IvlRemoteClient *client, GCancellable *cancellable,
                                         GError **error);
/* The same on a thread; callback runs on the thread-default main context of the caller. */
void ivl_remote_client_list_models_async(IvlRemoteClient *client, GCancellable *cancellable,
                                         GAsyncReadyCallback callback, gpointer user_data);
GPtrArray *ivl_remote_client_list_models_finish(IvlRemoteClient *client, GAsyncResult *result,
                                                GError **error);

/* ---- a conversation to send -------------------------------------------------------------- */

typedef struct _IvlRemoteChat IvlRemoteChat;

/* A chat request for model (a name from list_models; NULL sends the first the server lists).
 * Servers keep no state: the whole conversation, with the media of earlier turns, is sent
 * each time. */
IvlRemoteChat *ivl_remote_chat_new(const char *model);
void ivl_remote_chat_free(IvlRemoteChat *chat);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(IvlRemoteChat, ivl_remote_chat_free)

/* The system message; NULL or "" leaves the server's (the model's chat template) default. */
void ivl_remote_chat_set_system(IvlRemoteChat *chat, const char *text);
/* Appends a user message; the media added next belong to it, shown before its text. */
void ivl_remote_chat_add_user(IvlRemoteChat *chat, const char *text);
/* Appends an earlier answer. */
void ivl_remote_chat_add_assistant(IvlRemoteChat *chat, const char *text);
/* The messages added so far (the system message not counted). */
guint ivl_remote_chat_get_length(const IvlRemoteChat *chat);
/* Keeps the first n messages and their media (a failed question taken back, an answer to
 * regenerate); n past the end changes nothing. */
void ivl_remote_chat_truncate(IvlRemoteChat *chat, guint n);

/* Adds an image to the last user message: the file's own bytes, sent as a base64 data URL
 * (re-encoded only where the server limits the size). Errors: MEDIA. */
gboolean ivl_remote_chat_add_image_file(IvlRemoteChat *chat, const char *path, GError **error);
/* The same for an image's file bytes held in memory (label names it in errors). */
gboolean ivl_remote_chat_add_image_bytes(IvlRemoteChat *chat, GBytes *bytes, const char *label,
                                         GError **error);
/* Adds a video clip to the last user message as the frames video holds (from
 * ivl_media_from_video_file: our sampler's picks, one 448x448 tile each). path, when not
 * NULL, is the clip's file: `ivl serve` is sent the file itself when it would sample the
 * same frames. The frames are copied; video may be freed after. Errors: MEDIA. */
gboolean ivl_remote_chat_add_video(IvlRemoteChat *chat, const ivl_media *video, const char *path,
                                   GError **error);

/* Generation: max_new_tokens, do_sample (FALSE = temperature 0, greedy), temperature, top_p,
 * top_k, seed and repetition_penalty of params are sent; the defaults of
 * ivl_generation_default_params are what a chat starts with. */
void ivl_remote_chat_set_params(IvlRemoteChat *chat, const ivl_generation_params *params);

/* ---- answering --------------------------------------------------------------------------- */

/* Called with each piece of the answer as it streams; FALSE stops the answer (as a cancel). */
typedef gboolean (*IvlRemotePieceFunc)(const char *piece, gpointer user_data);

typedef struct {
  char *text;          /* everything received, also when the call failed part way */
  char *model;         /* the model that answered, as the server names it (or NULL) */
  char *finish_reason; /* "stop", "length", … or NULL when the stream was cut */
  gboolean has_usage;  /* the server sent token counts */
  int prompt_tokens, completion_tokens;
  double first_piece_ms, total_ms; /* from sending the request */
} IvlRemoteAnswer;

void ivl_remote_answer_clear(IvlRemoteAnswer *answer);

/* POST /v1/chat/completions with stream: true, calling piece for each piece of text on the
 * calling thread. answer (zeroed by the call) gets the text and what the server told about
 * it, whether or not the call succeeds. Probes the dialect when it is AUTO. Connection
 * failures, 429 and 503 are retried before the first byte; nothing is retried after it.
 * Cancelling (or piece returning FALSE) closes the stream: G_IO_ERROR_CANCELLED. */
gboolean ivl_remote_client_chat(IvlRemoteClient *client, IvlRemoteChat *chat,
                                IvlRemotePieceFunc piece, gpointer user_data,
                                IvlRemoteAnswer *answer, GCancellable *cancellable, GError **error);

G_END_DECLS

#endif /* IVL_REMOTE_CLIENT_H */
