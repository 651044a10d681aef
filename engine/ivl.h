/* ivl.h — the public API of libivl: InternVL3 inference in C.
 *
 * Ownership: every *_new / *_load / *_from_* has a matching *_free that accepts NULL.
 * Errors: functions that can fail take a GError** last and report in the IVL_ERROR domain.
 * Threads: an ivl_model and its sessions are used from one thread at a time; distinct
 * models may live on distinct threads.
 */
#ifndef IVL_H
#define IVL_H

#include <gio/gio.h>
#include <glib.h>
#include <stdint.h>

G_BEGIN_DECLS

/* ---- errors ---------------------------------------------------------------------------- */

#define IVL_ERROR (ivl_error_quark())
GQuark ivl_error_quark(void);

typedef enum {
  IVL_ERROR_NOT_FOUND,        /* a file, tensor or model is missing */
  IVL_ERROR_CORRUPT,          /* a file exists but its content is malformed or truncated */
  IVL_ERROR_UNSUPPORTED,      /* well formed, but not something ivl can run */
  IVL_ERROR_INVALID_ARGUMENT, /* the caller's input is inconsistent (e.g. <image> count) */
  IVL_ERROR_OUT_OF_MEMORY,    /* host or device memory could not be had */
  IVL_ERROR_CANCELLED,        /* a GCancellable fired */
  IVL_ERROR_IO,               /* reading or writing failed */
  IVL_ERROR_BACKEND,          /* the compute device failed */
} IvlErrorCode;

/* ---- opaque types ---------------------------------------------------------------------- */

typedef struct ivl_model ivl_model;
typedef struct ivl_media ivl_media;
typedef struct ivl_session ivl_session;

/* ---- model ----------------------------------------------------------------------------- */

typedef enum {
  IVL_BACKEND_AUTO, /* CUDA when a device works, else CPU */
  IVL_BACKEND_CPU,
  IVL_BACKEND_CUDA,
} ivl_backend_kind;

/* How the Linear weight matrices are held in memory (embeddings, norms and biases stay as
 * published). int8 halves the bf16 weights, 4-bit takes a little over a quarter; both are
 * quantized when the model loads (engine/quantize.h), so answers differ slightly from bf16. */
typedef enum {
  IVL_PRECISION_BF16, /* as published */
  IVL_PRECISION_INT8, /* int8, one scale per output row */
  IVL_PRECISION_Q4,   /* 4-bit, one scale per 32 weights */
} ivl_precision;
#define IVL_N_PRECISIONS 3

/* "bf16", "int8", "4bit". Static. */
const char *ivl_precision_name(ivl_precision precision);
/* The precision of that name; FALSE (and *precision untouched) for another string. */
gboolean ivl_precision_from_name(const char *name, ivl_precision *precision);

/* Called while loading with a fraction in [0, 1] and a short description. */
typedef void (*ivl_progress_cb)(double fraction, const char *what, void *user_data);

/* The most CPU threads a model runs with: more only cost memory and start-up time. */
#define IVL_MAX_THREADS 1024

/* The most GPUs one model is split over. */
#define IVL_MAX_GPUS 16

/* How the language layers of a model split over several GPUs are placed. */
typedef enum {
  IVL_SPLIT_LAYERS, /* InternVL3's quick start (split_model): the first GPU counts as half */
  IVL_SPLIT_AUTO,   /* in proportion to each GPU's free memory */
} ivl_split_mode;

typedef struct {
  ivl_backend_kind backend;
  int n_threads;          /* CPU worker threads; 0 = one per core; at most IVL_MAX_THREADS */
  int context_length;     /* tokens the KV cache holds; 0 = default (8192) */
  ivl_precision precision; /* of the Linear weights; default bf16 */
  ivl_progress_cb progress;
  void *progress_data;
  /* The CUDA devices: n_gpus == 0 takes GPU 0 when the model fits there, else every GPU;
   * otherwise gpus[0 .. n_gpus), the first holding the vision tower and lm_head. */
  int n_gpus;
  int gpus[IVL_MAX_GPUS];
  ivl_split_mode split; /* with more than one GPU; default IVL_SPLIT_LAYERS */
} ivl_model_params;

ivl_model_params ivl_model_default_params(void);

/* Loads config.json, the safetensors and the tokenizer from dir. */
ivl_model *ivl_model_load(const char *dir, const ivl_model_params *params,
                          GCancellable *cancellable, GError **error);
void ivl_model_free(ivl_model *model);
/* "cpu" or "cuda"; owned by the model. */
const char *ivl_model_get_backend_name(const ivl_model *model);
/* The CUDA device's name (caller frees; name may be NULL) and its free and total memory;
 * IVL_ERROR_UNSUPPORTED without a usable device or in a build without CUDA. */
gboolean ivl_gpu_get_memory(int device, char **name, guint64 *free_bytes, guint64 *total_bytes,
                            GError **error);
/* The number of CUDA devices; 0 with IVL_ERROR_UNSUPPORTED where there are none. */
int ivl_gpu_count(GError **error);
/* The GPUs the model runs on (0 on the CPU backend). */
int ivl_model_get_n_gpus(const ivl_model *model);
/* The precision the Linear weights were loaded in (ivl_model_params.precision). */
ivl_precision ivl_model_get_precision(const ivl_model *model);
/* The prompt tokens one image tile or video frame takes (256 for InternVL3), and the tokens
 * the context holds: to refuse media that cannot fit before decoding it. */
int ivl_model_get_tile_tokens(const ivl_model *model);
int ivl_model_get_context_length(const ivl_model *model);
/* Runs media through the vision encoder now, ahead of the ask that will bring it (while the
 * user types the question): the next ivl_session_ask of any session of this model whose
 * media include the same tiles copies these rows instead, and its first token then costs
 * only the prefill. The rows wait until an ask with them succeeds or
 * ivl_model_forget_encoded; media already waiting are not encoded again. Not to be called
 * while another thread uses the model. Errors: CANCELLED, and those of the vision encoder. */
gboolean ivl_model_encode_ahead(ivl_model *model, ivl_media *media, GCancellable *cancellable,
                                GError **error);
/* Drops the rows of media encoded ahead (an attachment removed before sending); none waiting
 * for it changes nothing. */
void ivl_model_forget_encoded(ivl_model *model, ivl_media *media);

/* ---- media: images and video frames, preprocessed into 448x448 tiles -------------------- */

typedef struct {
  int min_num;            /* fewest tiles of the grid (default 1) */
  int max_num;            /* most tiles of the grid, thumbnail not counted (default 12) */
  gboolean use_thumbnail; /* append a whole-image tile when the grid has more than one (TRUE) */
} ivl_image_params;

ivl_image_params ivl_image_default_params(void);

typedef struct {
  int n_segments;         /* frames to sample (default 8) */
  gboolean has_bound;     /* sample only between start and end seconds */
  double start, end;
} ivl_video_params;

ivl_video_params ivl_video_default_params(void);

/* One image: its tiles (grid row-major, thumbnail last). */
ivl_media *ivl_media_from_image_file(const char *path, const ivl_image_params *params,
                                     GError **error);
/* One image from the bytes of its file (label names it in errors). */
ivl_media *ivl_media_from_image_data(const guint8 *data, gsize size, const char *label,
                                     const ivl_image_params *params, GError **error);
/* One video: n_segments frames, one tile each. */
ivl_media *ivl_media_from_video_file(const char *path, const ivl_video_params *params,
                                     GError **error);
void ivl_media_free(ivl_media *media);

gboolean ivl_media_is_video(const ivl_media *media);
int ivl_media_get_n_tiles(const ivl_media *media);
/* The grid of an image (cols x rows, thumbnail not counted); 1x1 for video frames. */
void ivl_media_get_grid(const ivl_media *media, int *cols, int *rows);
/* Normalized CHW float32 pixels of tile i: 3*448*448 floats, owned by the media. */
const float *ivl_media_get_tile(const ivl_media *media, int i);
/* A stable id of the source content (sha256 hex of the file), for caching and storage. */
const char *ivl_media_get_id(const ivl_media *media);
/* The 8-bit RGB pixels (448*448*3, rows top to bottom) tile i was normalized from. */
const guint8 *ivl_media_get_tile_rgb(const ivl_media *media, int i);
/* For a video: its average fps, frame count and the sampled frame indices (n_tiles of
 * them, owned by the media). FALSE for an image. */
gboolean ivl_media_get_video_info(const ivl_media *media, double *fps, gint64 *frame_count,
                                  const gint64 **indices);

/* ---- generation ------------------------------------------------------------------------ */

/* An addition to one token's logit (OpenAI's logit_bias: -100 bans, 100 forces). */
typedef struct {
  int32_t token;
  float bias;
} ivl_logit_bias;

#define IVL_MAX_TOP_LOGPROBS 20

typedef struct {
  int max_new_tokens;       /* default 1024 */
  gboolean do_sample;       /* FALSE = greedy (default) */
  float temperature;        /* 1.0 */
  int top_k;                /* 50; 0 = off */
  float top_p;              /* 1.0 = off */
  float repetition_penalty; /* 1.0 = off */
  guint64 seed;
  /* OpenAI's penalties and bias (0 / none = off; the logits then go to the host): each
   * generated token's logit is lowered by presence_penalty once and frequency_penalty per
   * time it was generated; logit_bias adds bias to token's logit, before temperature. */
  float presence_penalty, frequency_penalty;
  const ivl_logit_bias *logit_bias; /* borrowed for the call; n_logit_bias of them */
  int n_logit_bias;
  /* Record each generated token's log-probability and those of the top_logprobs (at most
   * IVL_MAX_TOP_LOGPROBS) most likely tokens, for ivl_session_get_token_logprobs. */
  gboolean logprobs;
  int top_logprobs;
} ivl_generation_params;


ivl_generation_params ivl_generation_default_params(void);

/* How several images of one question are shown to the model. */
typedef enum {
  IVL_IMAGES_SEPARATE, /* "Image-1: <image>\nImage-2: <image>\n..." */
  IVL_IMAGES_COMBINED, /* all tiles behind one <image> */
} ivl_image_layout;

/* Streams decoded text as it becomes valid UTF-8: called once per generated token (piece
 * may be "" while a character is incomplete; special tokens give ""), and once more with
 * token_id -1 if an unfinished character remains at the end. Return FALSE to stop
 * generating: the answer so far is kept, as if the model had stopped. */
typedef gboolean (*ivl_token_cb)(const char *piece, int token_id, void *user_data);

/* A conversation with history and KV cache; system_message NULL = the model's default. */
ivl_session *ivl_session_new(ivl_model *model, const char *system_message, GError **error);
void ivl_session_free(ivl_session *session);
/* Forget the history and the cache. */
void ivl_session_reset(ivl_session *session);

/* Asks one question with the media of this turn (may be none; a video is one media).
 * Returns the post-processed answer (caller frees) and adds the turn to the history; on
 * failure (NULL) the history is as it was. */
char *ivl_session_ask(ivl_session *session, const char *question, ivl_media *const *media,
                      int n_media, ivl_image_layout layout, const ivl_generation_params *params,
                      ivl_token_cb callback, void *user_data, GCancellable *cancellable,
                      GError **error);

/* Adds a finished turn (question, its media, the answer given) to the history without
 * generating, as when a saved conversation is restored or an answer is regenerated; the KV
 * cache catches up on the next ivl_session_ask. */
gboolean ivl_session_add_turn(ivl_session *session, const char *question,
                              ivl_media *const *media, int n_media, ivl_image_layout layout,
                              const char *answer, GError **error);

/* Keeps the first n_turns turns of the history and forgets the later ones, as when a question
 * is edited or an answer replaced. The KV cache keeps the tokens still shared with the next
 * prompt (cut before the first image of a forgotten turn, since image tokens all look alike),
 * so the next ask prefills only from the first change. n_turns past the history changes
 * nothing. */
void ivl_session_truncate(ivl_session *session, int n_turns);

/* What the last ivl_session_ask did. Times in milliseconds of wall clock. */
typedef struct {
  int n_prompt_tokens;   /* the rendered prompt, history included */
  int n_cached_tokens;   /* of them, reused from the KV cache (not recomputed) */
  int n_generated;       /* tokens generated (the stop token not counted) */
  int n_image_tiles;     /* tiles of this ask's media */
  int n_cached_tiles;    /* of them, encoded ahead (ivl_model_encode_ahead), not in this ask */
  double vision_ms;      /* InternViT + mlp1 in this ask */
  double prefill_ms;     /* the uncached prompt suffix through the language model */
  double first_token_ms; /* from the call to the first generated token */
  double decode_ms;      /* all later tokens */
  gboolean context_full; /* the answer stopped because the context had no room left */
  gboolean hit_limit;    /* max_new_tokens or the context ran out before the end token */
} ivl_generation_stats;

void ivl_session_get_stats(const ivl_session *session, ivl_generation_stats *stats);
/* Inside the token callback of an ask with params->logprobs: the log-probability of the token
 * just generated, in the model's distribution (the logits before penalties and sampling), and
 * the top_logprobs most likely tokens with theirs, most likely first; returns how many. */
int ivl_session_get_token_logprobs(const ivl_session *session, float *logprob, int32_t *top_ids,
                                   float *top_logprobs);

/* Continues prompt as plain text, without the conversation template or the history (an
 * OpenAI /v1/completions request); the session keeps its history and regains its cache on
 * the next ask. Returns the generated text, special tokens skipped (caller frees). */
char *ivl_session_complete(ivl_session *session, const char *prompt,
                           const ivl_generation_params *params, ivl_token_cb callback,
                           void *user_data, GCancellable *cancellable, GError **error);
/* Token ids of the last ask's prompt and of its generated tokens; owned by the session,
 * valid until the next ask or reset. */
const int32_t *ivl_session_get_prompt_ids(const ivl_session *session, int *n_ids);
const int32_t *ivl_session_get_generated_ids(const ivl_session *session, int *n_ids);
/* The logits at the last prompt position of the last ask ([n_vocab] floats, owned by the
 * session), or NULL before the first ask. */
const float *ivl_session_get_prompt_logits(const ivl_session *session, int *n_vocab);

/* ---- batches: several asks generated together ------------------------------------------ */

/* Sessions whose asks advance together: each step is one forward pass over a token of every
 * answering session and a chunk of the prompts still being read, so B answers cost little
 * more than one where reading the weights is the bound. Each ask has its own KV cache, sized
 * for its prompt and max_new_tokens when it is added; the prompts never wait for each other
 * (no padding). Greedy answers are those ivl_session_ask gives. One thread at a time. */
typedef struct ivl_batch ivl_batch;

/* Called once when an ask of the batch ends: with the post-processed answer (borrowed for
 * the call; the turn is then in the session's history and its stats are set) or with the
 * error that ended it (the history as it was: CANCELLED, the backend's failures). The
 * session has left the batch when it is called. */
typedef void (*ivl_batch_done_cb)(ivl_session *session, const char *answer, const GError *error,
                                  void *user_data);

/* kv_budget: bytes the batch's KV caches may take together; 0 = what memory allows (half
 * of the host's memory on the CPU, the device's free memory less a margin on CUDA). */
ivl_batch *ivl_batch_new(ivl_model *model, guint64 kv_budget, GError **error);
/* Asks still in the batch leave it as by ivl_batch_remove. */
void ivl_batch_free(ivl_batch *batch);

/* Adds an ask of session (not in a batch already; until its ask ends the session is not to
 * be asked otherwise or freed) as ivl_session_ask would run it: the
 * question is rendered and its media run through the vision encoder now; its prompt is read
 * in the next steps. params, callback, user_data and cancellable are kept until done is
 * called (params->logit_bias borrowed as long). Errors: INVALID_ARGUMENT (the question does
 * not fit the media or the context), OUT_OF_MEMORY when its KV cache does not fit the
 * budget beside the asks already admitted (they are not disturbed), CANCELLED, the vision
 * encoder's. */
gboolean ivl_batch_add(ivl_batch *batch, ivl_session *session, const char *question,
                       ivl_media *const *media, int n_media, ivl_image_layout layout,
                       const ivl_generation_params *params, ivl_token_cb callback,
                       ivl_batch_done_cb done, void *user_data, GCancellable *cancellable,
                       GError **error);
/* Takes session's ask out of the batch without calling done, as if it had been cancelled;
 * the history stays as it was. Nothing for a session not in the batch. */
void ivl_batch_remove(ivl_batch *batch, ivl_session *session);
/* One forward pass over the batch; done is called for the asks that end in it. FALSE on a
 * failure of the model: every ask then ends with that error (done called) and the batch is
 * empty, but usable. */
gboolean ivl_batch_step(ivl_batch *batch, GError **error);
/* Lets one ask at a time run in the model's own KV cache, outside the budget, as
 * ivl_session_ask does: a session's follow-up then reads only what is new since its last
 * ask (the history's prompt, answers and images stay in the cache). Off by default. While
 * an ask holds the cache, ivl_session_ask and ivl_session_complete on the model fail
 * (INVALID_ARGUMENT). */
void ivl_batch_set_model_cache(ivl_batch *batch, gboolean use);
/* Asks in the batch. */
int ivl_batch_get_n_asks(const ivl_batch *batch);
/* How many more asks of n_tokens positions (prompt + answer) the KV budget admits now. */
int ivl_batch_get_room(const ivl_batch *batch, int n_tokens);

G_END_DECLS

#endif /* IVL_H */
