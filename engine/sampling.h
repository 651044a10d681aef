/* sampling.h — choosing the next token from logits, in transformers' order (internal). */
#ifndef IVL_SAMPLING_H
#define IVL_SAMPLING_H

#include "ivl.h"

typedef struct ivl_sampler ivl_sampler;

ivl_sampler *ivl_sampler_new(const ivl_generation_params *params, int vocab_size);
void ivl_sampler_free(ivl_sampler *s);

/* Whether the choice needs the logits on the host; FALSE = plain argmax suffices. */
gboolean ivl_sampler_needs_logits(const ivl_sampler *s);

/* Records a generated token (the repetition penalty looks at these). */
void ivl_sampler_accept(ivl_sampler *s, int32_t token);

/* Picks a token from logits[vocab_size], which it overwrites as scratch:
 * repetition penalty -> (when sampling) temperature -> top-k -> top-p -> softmax ->
 * multinomial; greedy = argmax after the penalty. */
int32_t ivl_sampler_sample(ivl_sampler *s, float *logits);

/* The part of the choice a device can make over the whole row (the backend's top_k op):
 * penalty for the seen ids, temperature, and the top-k cut. */
typedef struct {
  const int32_t *seen; /* owned by the sampler, valid until the next accept */
  int n_seen;
  float penalty, temperature;
  int k;
} ivl_sampler_device_part;

/* FALSE when the choice needs the whole row on the host (sampling without a top-k cut) or
 * no row at all (plain greedy). Greedy with a repetition penalty is a top-1 cut. */
gboolean ivl_sampler_device_part_get(const ivl_sampler *s, ivl_sampler_device_part *part);

/* Picks a token from the device's candidates (values and ids of every logit that survived
 * the device part, in index order, n of them) exactly as ivl_sampler_sample would from the
 * whole row; scratch holds vocab_size floats. */
int32_t ivl_sampler_sample_candidates(ivl_sampler *s, const float *values, const int32_t *ids,
                                      int n, float *scratch);

/* The log-probability of chosen under logits (the model's raw row) and the params'
 * top_logprobs most likely tokens with theirs, most likely first; returns how many. */
int ivl_sampler_logprobs(ivl_sampler *s, const float *logits, int32_t chosen, float *logprob,
                         int32_t *top_ids, float *top_logprobs);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(ivl_sampler, ivl_sampler_free)

#endif /* IVL_SAMPLING_H */
