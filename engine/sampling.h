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

G_DEFINE_AUTOPTR_CLEANUP_FUNC(ivl_sampler, ivl_sampler_free)

#endif /* IVL_SAMPLING_H */
