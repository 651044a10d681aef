/* session-sample.c — choosing each generated token from a row of the language model's logits,
 * on the device where it can pick the candidates, else on the host. */
#include <string.h>

#include "session-private.h"

ivl_sample_scratch *ivl_sample_scratch_new(const ivl_generation_params *params, int vocab)
{
  ivl_sample_scratch *scratch = g_new(ivl_sample_scratch, 1);
  scratch->logits = g_new(float, vocab);
  scratch->raw = params->logprobs ? g_new(float, vocab) : NULL;
  return scratch;
}

void ivl_sample_scratch_free(ivl_sample_scratch *scratch)
{
  if (!scratch)
    return;
  g_free(scratch->logits);
  g_free(scratch->raw);
  g_free(scratch);
}

/* The token drawn from the device's candidates when it can choose them (the 600 KB
 * vocabulary row then stays on the GPU); FALSE with no error when the host must sample. */
static gboolean sample_on_device(ivl_session *s, int row, ivl_sampler *sampler,
                                 ivl_sample_scratch *scratch, int32_t *token, GError **error)
{
  ivl_sampler_device_part part;
  g_autoptr(GError) local = NULL;
  int n = 0;
  if (!ivl_sampler_device_part_get(sampler, &part))
    return FALSE;
  if (!ivl_language_top_k_row(s->model->language, row, &part, scratch->values, scratch->ids,
                              IVL_DEVICE_CANDIDATES, &n, &local)) {
    if (!g_error_matches(local, IVL_ERROR, IVL_ERROR_UNSUPPORTED))
      g_propagate_error(error, g_steal_pointer(&local));
    return FALSE;
  }
  if (n > IVL_DEVICE_CANDIDATES)
    return FALSE;
  *token =
      ivl_sampler_sample_candidates(sampler, scratch->values, scratch->ids, n, scratch->logits);
  return TRUE;
}

gboolean ivl_session_next_token(ivl_session *s, int row, ivl_sampler *sampler,
                                ivl_sample_scratch *scratch, int32_t *token, GError **error)
{
  ivl_language *lm = s->model->language;
  float *logits = scratch->logits;
  if (!ivl_sampler_needs_logits(sampler)) {
    *token = ivl_language_argmax_row(lm, row);
    return ivl_backend_take_error(s->model->backend, error);
  }
  if (sample_on_device(s, row, sampler, scratch, token, error))
    return TRUE;
  if ((error && *error) || !ivl_language_get_logits_row(lm, row, logits, error))
    return FALSE;
  if (scratch->raw)
    memcpy(scratch->raw, logits, (size_t)s->model->config->llm.vocab_size * sizeof *logits);
  *token = ivl_sampler_sample(sampler, logits);
  if (scratch->raw)
    s->n_top = ivl_sampler_logprobs(sampler, scratch->raw, *token, &s->logprob, s->top_ids,
                                    s->top_logprobs);
  return TRUE;
}
