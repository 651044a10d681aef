/* test-sampling-openai — OpenAI's presence and frequency penalties, logit_bias and the
 * log-probabilities of generated tokens (engine/sampling.c), as `ivl serve` offers them. */
#include <math.h>

#include "sampling.h"

#define V 6

static int32_t sample(ivl_sampler *s, const float *logits, float *out)
{
  for (int i = 0; i < V; i++)
    out[i] = logits[i];
  return ivl_sampler_sample(s, out);
}

/* logit[j] -= count[j] * frequency_penalty + (count[j] > 0) * presence_penalty */
static void test_penalties(void)
{
  const float logits[V] = {0, 3.0f, 2.5f, 1.0f, 0, 0};
  float out[V];
  ivl_generation_params p = ivl_generation_default_params();
  p.presence_penalty = 0.25f;
  p.frequency_penalty = 0.5f;
  g_autoptr(ivl_sampler) s = ivl_sampler_new(&p, V);
  g_assert_true(ivl_sampler_needs_logits(s));
  ivl_sampler_device_part part;
  g_assert_false(ivl_sampler_device_part_get(s, &part)); /* the host applies them */
  g_assert_cmpint(sample(s, logits, out), ==, 1);
  ivl_sampler_accept(s, 1);
  g_assert_cmpint(sample(s, logits, out), ==, 2); /* 3 - 0.5 - 0.25 = 2.25 < 2.5 */
  g_assert_cmpfloat_with_epsilon(out[1], 2.25f, 1e-6);
  ivl_sampler_accept(s, 1);
  sample(s, logits, out);
  g_assert_cmpfloat_with_epsilon(out[1], 3.0f - 2 * 0.5f - 0.25f, 1e-6);
  g_assert_cmpfloat(out[2], ==, 2.5f);
}

static void test_logit_bias(void)
{
  const float logits[V] = {0, 3.0f, 2.5f, 1.0f, 0, 0};
  const ivl_logit_bias bias[] = {{1, -100}, {4, 2.75f}, {99, 5}}; /* 99: outside, ignored */
  float out[V];
  ivl_generation_params p = ivl_generation_default_params();
  p.logit_bias = bias;
  p.n_logit_bias = G_N_ELEMENTS(bias);
  g_autoptr(ivl_sampler) s = ivl_sampler_new(&p, V);
  g_assert_cmpint(sample(s, logits, out), ==, 4);
  g_assert_cmpfloat(out[1], ==, -97.0f);
}

static void test_logprobs(void)
{
  const float logits[V] = {0, 3.0f, 2.5f, 1.0f, 0, 0};
  ivl_generation_params p = ivl_generation_default_params();
  p.logprobs = TRUE;
  p.top_logprobs = 3;
  g_autoptr(ivl_sampler) s = ivl_sampler_new(&p, V);
  double z = 0;
  for (int i = 0; i < V; i++)
    z += exp(logits[i]);
  float lp, top[IVL_MAX_TOP_LOGPROBS];
  int32_t ids[IVL_MAX_TOP_LOGPROBS];
  g_assert_cmpint(ivl_sampler_logprobs(s, logits, 3, &lp, ids, top), ==, 3);
  g_assert_cmpfloat_with_epsilon(lp, 1.0 - log(z), 1e-5);
  g_assert_cmpint(ids[0], ==, 1);
  g_assert_cmpint(ids[1], ==, 2);
  g_assert_cmpint(ids[2], ==, 3);
  g_assert_cmpfloat_with_epsilon(top[0], 3.0 - log(z), 1e-5);
  /* more alternatives than tokens: all of them, most likely first */
  p.top_logprobs = IVL_MAX_TOP_LOGPROBS;
  g_autoptr(ivl_sampler) all = ivl_sampler_new(&p, V);
  g_assert_cmpint(ivl_sampler_logprobs(all, logits, 0, &lp, ids, top), ==, V);
  for (int i = 1; i < V; i++)
    g_assert_cmpfloat(top[i], <=, top[i - 1]);
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/sampling-openai/penalties", test_penalties);
  g_test_add_func("/sampling-openai/logit-bias", test_logit_bias);
  g_test_add_func("/sampling-openai/logprobs", test_logprobs);
  return g_test_run();
}
