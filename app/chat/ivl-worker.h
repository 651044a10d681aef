/* ivl-worker.h — the inference worker: one thread owns the model and its sessions.
 *
 * Every request is queued to that thread and answered through a GAsyncReadyCallback on the
 * caller's main context, so the window never waits on the engine. Asks of several
 * conversations are answered together, in one batch of the engine (a server's, one after
 * another). Tokens of an answer arrive through the "tokens" signal with their conversation's
 * id, several at a time: the thread keeps at most one idle source pending on the main context
 * however fast tokens come. This is the only file of the app that calls the engine
 * (engine/ivl.h) or a server (app/remote/). */
#pragma once

#include "ivl-message.h"
#include "ivl-servers.h"

G_BEGIN_DECLS

typedef enum {
  IVL_WORKER_BACKEND_AUTO,
  IVL_WORKER_BACKEND_CPU,
  IVL_WORKER_BACKEND_CUDA,
} IvlWorkerBackend;

/* The values of the "precision" setting. */
typedef enum {
  IVL_WORKER_PRECISION_BF16,
  IVL_WORKER_PRECISION_INT8,
  IVL_WORKER_PRECISION_4BIT,
} IvlWorkerPrecision;

typedef struct {
  char *system_message; /* NULL or "" = the model's default */
  int max_tiles;
  int max_new_tokens;
  gboolean do_sample;
  double temperature, top_p;
  int top_k;
} IvlAskOptions;

/* Why a request failed, for the window to say what to do. */
typedef enum {
  IVL_WORKER_ERROR_NO_MODEL,  /* no model loaded, or its folder is gone */
  IVL_WORKER_ERROR_BAD_MEDIA, /* an image or video could not be read */
  IVL_WORKER_ERROR_CORRUPT,   /* the model files are damaged or unsupported */
  IVL_WORKER_ERROR_MEMORY,    /* out of host or device memory */
  IVL_WORKER_ERROR_CANCELLED,
  IVL_WORKER_ERROR_FAILED,
} IvlWorkerError;

#define IVL_WORKER_ERROR (ivl_worker_error_quark())
GQuark ivl_worker_error_quark(void);

#define IVL_TYPE_WORKER (ivl_worker_get_type())
G_DECLARE_FINAL_TYPE(IvlWorker, ivl_worker, IVL, WORKER, GObject)

IvlWorker *ivl_worker_new(void);
/* How many conversations may be answered at once (at least 1); the others wait, as do those
 * whose KV cache does not fit beside the answers running. */
void ivl_worker_set_max_parallel(IvlWorker *self, int n);

/* Loads the model in dir, replacing the current one; "load-progress" reports on the way.
 * finish returns the backend it runs on and the weights' precision ("cpu bf16",
 * "cuda int8", "cpu 4bit"), then the number of GPUs when it is split over several
 * ("cuda bf16 2"). */
void ivl_worker_load_async(IvlWorker *self, const char *dir, IvlWorkerBackend backend,
                           IvlWorkerPrecision precision, GCancellable *cancellable,
                           GAsyncReadyCallback callback, gpointer user_data);
char *ivl_worker_load_finish(IvlWorker *self, GAsyncResult *result, GError **error);

/* Answers with model on server from then on, instead of a local model (which is unloaded).
 * Nothing is sent yet: the key is read from the keyring. Finish with ivl_worker_load_finish,
 * which returns "remote HOST"; errors are IVL_REMOTE_ERROR's. Asks then fail with
 * IVL_REMOTE_ERROR's errors too, the answer streamed so far already delivered. */
void ivl_worker_connect_async(IvlWorker *self, const IvlServer *server, const char *model,
                              GCancellable *cancellable, GAsyncReadyCallback callback,
                              gpointer user_data);

/* Cuts an attachment the way the model will see it and sets its grid; for a video, also
 * returns the sampled frames (GdkTexture, in order); NULL array for an image. */
void ivl_worker_inspect_async(IvlWorker *self, IvlAttachment *attachment, int max_tiles,
                              GCancellable *cancellable, GAsyncReadyCallback callback,
                              gpointer user_data);
gboolean ivl_worker_inspect_finish(IvlWorker *self, GAsyncResult *result, GPtrArray **frames,
                                   GError **error);

/* Runs an attachment through the vision encoder while the question is typed, so the ask
 * that sends it only prefills (the engine keeps the result with the model until that ask).
 * Cancel the cancellable when the attachment is removed before it is done, and call
 * ivl_worker_forget_ahead for one removed after. */
void ivl_worker_encode_ahead_async(IvlWorker *self, IvlAttachment *attachment, int max_tiles,
                                   GCancellable *cancellable, GAsyncReadyCallback callback,
                                   gpointer user_data);
gboolean ivl_worker_encode_ahead_finish(IvlWorker *self, GAsyncResult *result, GError **error);
/* Drops what ivl_worker_encode_ahead_async kept for an attachment removed unsent. */
void ivl_worker_forget_ahead(IvlWorker *self, IvlAttachment *attachment, int max_tiles);

/* Answers the last message of messages (a question) with the earlier messages as history,
 * one ask at a time in each conversation. The session of a conversation is kept between its
 * asks; a history that changed (regenerate, edit) rebuilds it from the first turn that
 * differs. "ask-state" says when an ask waits for room, and when it starts after all.
 * finish returns the whole answer, how it was made, and whether it was cut by
 * options->max_new_tokens. */
void ivl_worker_ask_async(IvlWorker *self, const char *conversation_id, GListModel *messages,
                          const IvlAskOptions *options, GCancellable *cancellable,
                          GAsyncReadyCallback callback, gpointer user_data);
char *ivl_worker_ask_finish(IvlWorker *self, GAsyncResult *result, IvlAnswerStats *stats,
                            gboolean *at_limit, GError **error);

/* Whether the demo model can be written (the tokenizer files it copies are installed). */
gboolean ivl_worker_can_write_demo(void);
/* Writes the demo model (random weights, meaningless text) into dir. */
void ivl_worker_write_demo_async(IvlWorker *self, const char *dir, GCancellable *cancellable,
                                 GAsyncReadyCallback callback, gpointer user_data);
gboolean ivl_worker_write_demo_finish(IvlWorker *self, GAsyncResult *result, GError **error);

G_END_DECLS
