/* test-sampling — the logits processors in transformers' order (engine/sampling.c). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sampling.h"
#include "top-k-reference.h"

#define V 8

static ivl_generation_params sampling(float temperature, int top_k, float top_p)
{
  ivl_generation_params p = ivl_generation_default_params();
  p.do_sample = TRUE;
  p.temperature = temperature;
  p.top_k = top_k;
  p.top_p = top_p;
  p.seed = 42;
  return p;
}

static int32_t sample(ivl_sampler *s, const float *logits)
{
  float scratch[V];
  for (int i = 0; i < V; i++)
    scratch[i] = logits[i];
  return ivl_sampler_sample(s, scratch);
}

static void test_greedy(void)
{
  const float logits[V] = {0.1f, 2.0f, -1.0f, 2.0f, 0.5f, 0, 0, 0};
  ivl_generation_params p = ivl_generation_default_params();
  g_autoptr(ivl_sampler) s = ivl_sampler_new(&p, V);
  g_assert_false(ivl_sampler_needs_logits(s));
  /* ties go to the lowest index, as torch.argmax */
  g_assert_cmpint(sample(s, logits), ==, 1);
}

/* HF RepetitionPenaltyLogitsProcessor: positive logits are divided, negative multiplied;
 * it applies to greedy decoding too. */
static void test_repetition_penalty(void)
{
  const float logits[V] = {0, 2.0f, -1.0f, 1.5f, 0, 0, 0, 0};
  ivl_generation_params p = ivl_generation_default_params();
  p.repetition_penalty = 2.0f;
  g_autoptr(ivl_sampler) s = ivl_sampler_new(&p, V);
  g_assert_true(ivl_sampler_needs_logits(s));
  g_assert_cmpint(sample(s, logits), ==, 1);
  ivl_sampler_accept(s, 1); /* 2.0 -> 1.0 < 1.5 */
  g_assert_cmpint(sample(s, logits), ==, 3);
  float scratch[V] = {0, 2.0f, -1.0f, 1.5f, 0, 0, 0, 0};
  ivl_sampler_accept(s, 2);
  ivl_sampler_sample(s, scratch);
  g_assert_cmpfloat(scratch[2], ==, -2.0f);
}

static void test_top_k_one_is_greedy(void)
{
  const float logits[V] = {0.1f, 0.2f, 0.3f, 0.25f, 0, 0, 0, 0};
  ivl_generation_params p = sampling(1.0f, 1, 1.0f);
  g_autoptr(ivl_sampler) s = ivl_sampler_new(&p, V);
  for (int i = 0; i < 200; i++)
    g_assert_cmpint(sample(s, logits), ==, 2);
}

/* TopK keeps values tied with the k-th (a threshold, as torch.topk(...)[..., -1]). */
static void test_top_k_keeps_ties(void)
{
  const float logits[V] = {1, 5, 5, 5, -3, -3, -3, -3};
  ivl_generation_params p = sampling(1.0f, 2, 1.0f);
  g_autoptr(ivl_sampler) s = ivl_sampler_new(&p, V);
  gboolean seen[V] = {0};
  for (int i = 0; i < 600; i++)
    seen[sample(s, logits)] = TRUE;
  g_assert_true(seen[1] && seen[2] && seen[3]);
  g_assert_false(seen[0] || seen[4]);
}

static int by_desc(const void *a, const void *b)
{
  float x = *(const float *)a, y = *(const float *)b;
  return (x < y) - (x > y);
}

/* On a whole vocabulary of random logits (ties, -inf among them), TopK's mask keeps exactly
 * the logits >= the k-th largest of a plain sort. */
static void test_top_k_full_vocabulary(void)
{
  enum { N = 151674 };
  g_autoptr(GRand) rng = g_rand_new_with_seed(3);
  g_autofree float *logits = g_new(float, N), *sorted = g_new(float, N), *work = g_new(float, N);
  for (int i = 0; i < N; i++)
    logits[i] = i % 97 == 0 ? -INFINITY : (float)g_rand_int_range(rng, -4000, 4000) / 100.0f;
  int n_finite = 0;
  for (int i = 0; i < N; i++)
    if (logits[i] != -INFINITY)
      sorted[n_finite++] = logits[i];
  qsort(sorted, n_finite, sizeof(float), by_desc);
  const int ks[] = {1, 50, 1000, n_finite, n_finite + 1};
  for (guint t = 0; t < G_N_ELEMENTS(ks); t++) {
    ivl_generation_params p = sampling(1.0f, ks[t], 1.0f);
    g_autoptr(ivl_sampler) smp = ivl_sampler_new(&p, N);
    memcpy(work, logits, N * sizeof(float));
    ivl_sampler_sample(smp, work);
    float threshold = ks[t] <= n_finite ? sorted[ks[t] - 1] : -INFINITY;
    for (int i = 0; i < N; i++)
      g_assert_true((work[i] != -INFINITY) == (logits[i] != -INFINITY && logits[i] >= threshold));
  }
}

/* A device's candidates (tests/common/top-k-reference.h) give the very tokens the host
 * draws from the whole row: sampling with penalty, temperature, top-k and top-p, and greedy
 * with a penalty, the same seed on both sides. */
static void test_candidates_match_whole_row(void)
{
  enum { N = 151674, DRAWS = 60 };
  g_autoptr(GRand) rng = g_rand_new_with_seed(9);
  g_autofree float *logits = g_new(float, N), *row = g_new(float, N), *scratch = g_new(float, N);
  g_autofree float *values = g_new(float, N);
  g_autofree int32_t *ids = g_new(int32_t, N);
  for (int i = 0; i < N; i++)
    logits[i] = (float)g_rand_double_range(rng, -8, 8) + (i % 101 == 0 ? 6 : 0);
  const ivl_generation_params configs[] = {
      {.max_new_tokens = DRAWS, .do_sample = TRUE, .temperature = 0.7f, .top_k = 50, .top_p = 0.9f,
       .repetition_penalty = 1.3f, .seed = 4},
      {.max_new_tokens = DRAWS, .do_sample = TRUE, .temperature = 1.0f, .top_k = 3, .top_p = 1.0f,
       .repetition_penalty = 0.8f, .seed = 5},
      {.max_new_tokens = DRAWS, .do_sample = FALSE, .temperature = 1.0f, .top_k = 50,
       .top_p = 1.0f, .repetition_penalty = 1.5f, .seed = 0},
  };
  for (guint c = 0; c < G_N_ELEMENTS(configs); c++) {
    g_autoptr(ivl_sampler) host = ivl_sampler_new(&configs[c], N);
    g_autoptr(ivl_sampler) device = ivl_sampler_new(&configs[c], N);
    for (int d = 0; d < DRAWS; d++) {
      memcpy(row, logits, N * sizeof(float));
      int32_t want = ivl_sampler_sample(host, row);
      ivl_sampler_device_part part;
      g_assert_true(ivl_sampler_device_part_get(device, &part));
      int n = top_k_reference(logits, N, part.seen, part.n_seen, part.penalty, part.temperature,
                              part.k, values, ids);
      g_assert_cmpint(ivl_sampler_sample_candidates(device, values, ids, n, scratch), ==, want);
      ivl_sampler_accept(host, want);
      ivl_sampler_accept(device, want);
    }
  }
  /* sampling with no top-k cut needs the whole row */
  ivl_generation_params p = sampling(1.0f, 0, 0.9f);
  g_autoptr(ivl_sampler) s = ivl_sampler_new(&p, N);
  ivl_sampler_device_part part;
  g_assert_false(ivl_sampler_device_part_get(s, &part));
}

/* probs 0.5, 0.3, 0.2: top_p 0.6 drops the 0.2 (ascending cumsum 0.2 <= 0.4) and keeps
 * 0.3 (0.5 > 0.4). */
static void test_top_p(void)
{
  float logits[V];
  for (int i = 0; i < V; i++)
    logits[i] = -INFINITY;
  logits[0] = logf(0.5f), logits[1] = logf(0.3f), logits[2] = logf(0.2f);
  ivl_generation_params p = sampling(1.0f, 0, 0.6f);
  g_autoptr(ivl_sampler) s = ivl_sampler_new(&p, V);
  int count[V] = {0};
  for (int i = 0; i < 4000; i++)
    count[sample(s, logits)]++;
  g_assert_cmpint(count[2], ==, 0);
  /* renormalised 0.5 / 0.8 = 0.625 */
  g_assert_cmpfloat(fabs(count[0] / 4000.0 - 0.625), <, 0.03);
}

/* Temperature 0.5 on logits (0, ln 3): probabilities 1:9. */
static void test_temperature_and_seed(void)
{
  float logits[V];
  for (int i = 0; i < V; i++)
    logits[i] = -INFINITY;
  logits[4] = 0, logits[6] = logf(3.0f);
  ivl_generation_params p = sampling(0.5f, 0, 1.0f);
  g_autoptr(ivl_sampler) a = ivl_sampler_new(&p, V);
  g_autoptr(ivl_sampler) b = ivl_sampler_new(&p, V);
  int n6 = 0;
  for (int i = 0; i < 10000; i++) {
    int32_t t = sample(a, logits);
    g_assert_cmpint(t, ==, sample(b, logits)); /* same seed, same draws */
    g_assert_true(t == 4 || t == 6);
    n6 += t == 6;
  }
  g_assert_cmpfloat(fabs(n6 / 10000.0 - 0.9), <, 0.015);
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/sampling/greedy", test_greedy);
  g_test_add_func("/sampling/repetition-penalty", test_repetition_penalty);
  g_test_add_func("/sampling/top-k-one", test_top_k_one_is_greedy);
  g_test_add_func("/sampling/top-k-ties", test_top_k_keeps_ties);
  g_test_add_func("/sampling/top-k-full-vocabulary", test_top_k_full_vocabulary);
  g_test_add_func("/sampling/device-candidates", test_candidates_match_whole_row);
  g_test_add_func("/sampling/top-p", test_top_p);
  g_test_add_func("/sampling/temperature-seed", test_temperature_and_seed);
  return g_test_run();
}
