/* session-private.h — the session's state and the steps of an ask, shared by the session
 * alone (session.c) and a batch of sessions (batch.c). Internal to libivl. */
#ifndef IVL_SESSION_PRIVATE_H
#define IVL_SESSION_PRIVATE_H

#include "model.h"
#include "sampling.h"
#include "session-input.h"

struct ivl_session {
  ivl_model *model;
  char *system_message; /* NULL = the template's default */
  GPtrArray *turns;     /* ivl_turn*: the history */
  GArray *cached;       /* int32: tokens whose K/V the model holds while we own it */
  /* the last ask */
  GArray *prompt_ids;    /* int32 */
  GArray *generated_ids; /* int32 */
  float *prompt_logits;  /* [vocab] */
  ivl_generation_stats stats;
  /* the token just generated, with params->logprobs */
  float logprob;
  int32_t top_ids[IVL_MAX_TOP_LOGPROBS];
  float top_logprobs[IVL_MAX_TOP_LOGPROBS];
  int n_top;
  gboolean in_batch; /* an ask of this session runs in an ivl_batch */
};

double ivl_session_now_ms(void);
int64_t ivl_session_count_token(const int32_t *ids, int64_t n, int32_t token);

/* Clears the last ask's ids, logits and stats. */
void ivl_session_clear_last_ask(ivl_session *s);
/* INVALID_ARGUMENT when the prompt leaves no room in the context to answer. */
gboolean ivl_session_prompt_fits(ivl_session *s, GError **error);
/* Image rows [row0, total) of all turns (history then current) in one tensor, or NULL with
 * *error unset when there are none. */
ivl_tensor *ivl_session_image_rows(ivl_session *s, ivl_turn *current, int64_t row0, int64_t total,
                                   GError **error);
/* After a failed or cancelled turn: the cache keeps only what precedes its first image. */
void ivl_session_forget_turn_images(ivl_session *s);

/* Candidates a device may hand back for sampling; more (a top-k this large, or many ties)
 * and the whole row comes to the host instead. */
#define IVL_DEVICE_CANDIDATES 4096

/* Per-ask buffers for choosing tokens. */
typedef struct {
  float *logits; /* [vocab] */
  float *raw;    /* [vocab]: the row before sampling, with logprobs; else NULL */
  float values[IVL_DEVICE_CANDIDATES];
  int32_t ids[IVL_DEVICE_CANDIDATES];
} ivl_sample_scratch;

ivl_sample_scratch *ivl_sample_scratch_new(const ivl_generation_params *params, int vocab);
void ivl_sample_scratch_free(ivl_sample_scratch *scratch);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ivl_sample_scratch, ivl_sample_scratch_free)

/* The next token from row `row` of the language model's last logits, with the session's
 * logprobs recorded where params asked for them. */
gboolean ivl_session_next_token(ivl_session *s, int row, ivl_sampler *sampler,
                                ivl_sample_scratch *scratch, int32_t *token, GError **error);

#endif /* IVL_SESSION_PRIVATE_H */
