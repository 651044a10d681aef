/* sampling.c — the logits processors of transformers' generate(), in its order (spec 9):
 * RepetitionPenalty, then for do_sample Temperature, TopK, TopP, softmax, multinomial.
 *
 * chat() generates from inputs_embeds, so generate()'s input_ids start empty and the
 * repetition penalty sees only the generated tokens, never the prompt.
 */
#include "sampling.h"

#include <math.h>

#include "splitmix.h"

ivl_generation_params ivl_generation_default_params(void)
{
  /* transformers' defaults for the inner LM (spec 9), greedy unless asked. */
  return (ivl_generation_params){
      .max_new_tokens = 1024,
      .do_sample = FALSE,
      .temperature = 1.0f,
      .top_k = 50,
      .top_p = 1.0f,
      .repetition_penalty = 1.0f,
      .seed = 0,
  };
}

struct ivl_sampler {
  ivl_generation_params params;
  int vocab_size;
  int *seen;      /* [vocab_size]: times generated so far (the penalties) */
  GArray *seen_ids; /* int32_t: the same, as a list for a device */
  int32_t *order; /* [vocab_size] scratch: candidate indices, by logit descending */
  guint64 rng;    /* splitmix64 state */
};

ivl_sampler *ivl_sampler_new(const ivl_generation_params *params, int vocab_size)
{
  ivl_sampler *s = g_new0(ivl_sampler, 1);
  s->params = *params;
  s->vocab_size = vocab_size;
  s->seen = g_new0(int, vocab_size);
  s->seen_ids = g_array_new(FALSE, FALSE, sizeof(int32_t));
  s->order = g_new(int32_t, vocab_size);
  s->rng = params->seed;
  return s;
}

void ivl_sampler_free(ivl_sampler *s)
{
  if (!s)
    return;
  g_free(s->seen);
  g_array_unref(s->seen_ids);
  g_free(s->order);
  g_free(s);
}

/* The OpenAI penalties, bias and log-probabilities need the whole row on the host. */
static gboolean host_only(const ivl_sampler *s)
{
  const ivl_generation_params *p = &s->params;
  return p->presence_penalty != 0 || p->frequency_penalty != 0 || p->n_logit_bias > 0 ||
         p->logprobs;
}

gboolean ivl_sampler_needs_logits(const ivl_sampler *s)
{
  return s->params.do_sample || s->params.repetition_penalty != 1.0f || host_only(s);
}

void ivl_sampler_accept(ivl_sampler *s, int32_t token)
{
  if (token >= 0 && token < s->vocab_size && s->seen[token]++ == 0)
    g_array_append_val(s->seen_ids, token);
}

/* Uniform in [0, 1): the top 53 bits of the next splitmix64 output. */
static double next_uniform(ivl_sampler *s)
{
  return (double)(ivl_splitmix64(&s->rng) >> 11) * (1.0 / 9007199254740992.0);
}

static int32_t argmax(const float *x, int n)
{
  int32_t best = 0;
  for (int i = 1; i < n; i++)
    if (x[i] > x[best])
      best = i;
  return best;
}

static void repetition_penalty(ivl_sampler *s, float *logits)
{
  float p = s->params.repetition_penalty;
  if (p == 1.0f)
    return;
  for (int i = 0; i < s->vocab_size; i++)
    if (s->seen[i])
      logits[i] = logits[i] < 0 ? logits[i] * p : logits[i] / p;
}

/* OpenAI's presence and frequency penalties over the generated tokens, then logit_bias. */
static void openai_adjust(ivl_sampler *s, float *logits)
{
  const ivl_generation_params *p = &s->params;
  for (guint i = 0; i < s->seen_ids->len; i++) {
    int32_t id = g_array_index(s->seen_ids, int32_t, i);
    logits[id] -= p->presence_penalty + p->frequency_penalty * (float)s->seen[id];
  }
  for (int i = 0; i < p->n_logit_bias; i++)
    if (p->logit_bias[i].token >= 0 && p->logit_bias[i].token < s->vocab_size)
      logits[p->logit_bias[i].token] += p->logit_bias[i].bias;
}

static gint by_logit_desc(gconstpointer a, gconstpointer b, gpointer user_data)
{
  const float *logits = user_data;
  float x = logits[*(const int32_t *)a], y = logits[*(const int32_t *)b];
  if (x != y)
    return x > y ? -1 : 1;
  return *(const int32_t *)a - *(const int32_t *)b;
}

/* Candidates with a finite logit, sorted descending; returns how many. */
static int sort_candidates(ivl_sampler *s, const float *logits)
{
  int n = 0;
  for (int i = 0; i < s->vocab_size; i++)
    if (logits[i] != -INFINITY)
      s->order[n++] = i;
  g_qsort_with_data(s->order, n, sizeof *s->order, by_logit_desc, (gpointer)logits);
  return n;
}

/* Restores the min-heap order of heap[0..n) below position i. */
static void sift_down(float *heap, int n, int i)
{
  for (;;) {
    int least = i, l = 2 * i + 1, r = l + 1;
    if (l < n && heap[l] < heap[least])
      least = l;
    if (r < n && heap[r] < heap[least])
      least = r;
    if (least == i)
      return;
    float t = heap[i];
    heap[i] = heap[least];
    heap[least] = t;
    i = least;
  }
}

/* The k-th largest finite logit, by a min-heap of the k largest seen: one pass over the
 * vocabulary instead of sorting it (which cost ~20 ms a token for 151674 logits). FALSE
 * when there are at most k finite logits. */
static gboolean kth_largest(const float *logits, int n, int k, float *kth)
{
  g_autofree float *heap = g_new(float, k);
  int size = 0;
  for (int i = 0; i < n; i++) {
    float x = logits[i];
    if (x == -INFINITY)
      continue;
    if (size < k) {
      heap[size++] = x;
      if (size == k)
        for (int j = k / 2 - 1; j >= 0; j--)
          sift_down(heap, k, j);
    } else if (x > heap[0]) {
      heap[0] = x;
      sift_down(heap, k, 0);
    }
  }
  if (size < k)
    return FALSE;
  *kth = heap[0];
  return TRUE;
}

/* TopK keeps every logit >= the k-th largest (ties at the threshold survive, as with
 * torch.topk's value threshold). */
static void top_k(ivl_sampler *s, float *logits)
{
  int k = s->params.top_k;
  float threshold;
  if (k <= 0 || k >= s->vocab_size || !kth_largest(logits, s->vocab_size, k, &threshold))
    return;
  for (int i = 0; i < s->vocab_size; i++)
    if (logits[i] < threshold)
      logits[i] = -INFINITY;
}

/* TopP: over the ascending sort, drop tokens whose cumulative probability is <= 1 - top_p,
 * always keeping the most likely one. */
static void top_p(ivl_sampler *s, float *logits)
{
  float p = s->params.top_p;
  if (p >= 1.0f)
    return;
  int n = sort_candidates(s, logits);
  float max = logits[s->order[0]];
  double sum = 0;
  for (int i = 0; i < n; i++)
    sum += exp((double)logits[s->order[i]] - max);
  double cum = 0;
  for (int i = n - 1; i >= 1; i--) {
    cum += exp((double)logits[s->order[i]] - max) / sum;
    if (cum <= 1.0 - p)
      logits[s->order[i]] = -INFINITY;
    else
      break;
  }
}

static int32_t multinomial(ivl_sampler *s, const float *logits)
{
  int32_t best = argmax(logits, s->vocab_size);
  float max = logits[best];
  double sum = 0;
  for (int i = 0; i < s->vocab_size; i++)
    if (logits[i] != -INFINITY)
      sum += exp((double)logits[i] - max);
  double u = next_uniform(s) * sum, acc = 0;
  int32_t last = best;
  for (int i = 0; i < s->vocab_size; i++) {
    if (logits[i] == -INFINITY)
      continue;
    acc += exp((double)logits[i] - max);
    last = i;
    if (u < acc)
      return i;
  }
  return last; /* u within rounding of sum */
}

int32_t ivl_sampler_sample(ivl_sampler *s, float *logits)
{
  repetition_penalty(s, logits);
  openai_adjust(s, logits);
  if (!s->params.do_sample)
    return argmax(logits, s->vocab_size);
  if (s->params.temperature > 0 && s->params.temperature != 1.0f)
    for (int i = 0; i < s->vocab_size; i++)
      logits[i] /= s->params.temperature;
  top_k(s, logits);
  top_p(s, logits);
  return multinomial(s, logits);
}

gboolean ivl_sampler_device_part_get(const ivl_sampler *s, ivl_sampler_device_part *part)
{
  const ivl_generation_params *p = &s->params;
  if (!ivl_sampler_needs_logits(s) || host_only(s) ||
      (p->do_sample && (p->top_k <= 0 || p->top_k >= s->vocab_size)))
    return FALSE;
  part->seen = p->repetition_penalty != 1.0f ? (const int32_t *)s->seen_ids->data : NULL;
  part->n_seen = part->seen ? (int)s->seen_ids->len : 0;
  part->penalty = p->repetition_penalty;
  /* greedy: the argmax after the penalty, the first of the top-1 (lowest index on ties) */
  part->temperature = p->do_sample ? p->temperature : 1.0f;
  part->k = p->do_sample ? p->top_k : 1;
  return TRUE;
}

int32_t ivl_sampler_sample_candidates(ivl_sampler *s, const float *values, const int32_t *ids,
                                      int n, float *scratch)
{
  if (!s->params.do_sample || n == 0)
    return n > 0 ? ids[0] : 0; /* as argmax and multinomial over an all -inf row */
  for (int i = 0; i < s->vocab_size; i++)
    scratch[i] = -INFINITY;
  for (int i = 0; i < n; i++)
    scratch[ids[i]] = values[i];
  top_p(s, scratch);
  return multinomial(s, scratch);
}

int ivl_sampler_logprobs(ivl_sampler *s, const float *logits, int32_t chosen, float *logprob,
                         int32_t *top_ids, float *top_logprobs)
{
  int k = CLAMP(s->params.top_logprobs, 0, IVL_MAX_TOP_LOGPROBS);
  int32_t best = argmax(logits, s->vocab_size);
  double sum = 0;
  for (int i = 0; i < s->vocab_size; i++)
    sum += exp((double)logits[i] - logits[best]);
  double log_z = logits[best] + log(sum);
  *logprob = (float)(logits[chosen] - log_z);
  /* the k best by insertion: k is at most 20 */
  int n = 0;
  for (int i = 0; i < s->vocab_size && k > 0; i++) {
    if (n == k && logits[i] <= logits[top_ids[n - 1]])
      continue;
    int at = n < k ? n++ : n - 1;
    while (at > 0 && logits[top_ids[at - 1]] < logits[i]) {
      top_ids[at] = top_ids[at - 1];
      at--;
    }
    top_ids[at] = i;
  }
  for (int i = 0; i < n; i++)
    top_logprobs[i] = (float)(logits[top_ids[i]] - log_z);
  return n;
}
