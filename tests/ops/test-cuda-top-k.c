/* test-cuda-top-k — sampling's candidates chosen on the GPU (kernels/top-k.cu through the
 * backend's top_k op) equal the plain host reference bit for bit: values and ids in index
 * order, with the repetition penalty, temperature, ties, -inf, signed zeros, fewer finite
 * logits than k, and more candidates than fit. An argument runs only the cases whose name
 * contains it. Exit 77 (skipped) without a CUDA device. */
#include "ivl-config.h"

#include "backend.h"
#include "ivl.h"
#include "top-k-reference.h"

#include <stdio.h>
#include <string.h>

#define CAP 4096

typedef struct {
  const char *what;
  int n, k;
  float penalty, temperature;
  int n_seen;
  int cap;
} top_k_case;

static void fill(float *x, int n, GRand *rng)
{
  for (int i = 0; i < n; i++)
    x[i] = (float)g_rand_int_range(rng, -3000, 3000) / 128.0f; /* many exact ties */
  for (int i = 0; i < n; i += 89)
    x[i] = -INFINITY;
  x[n / 3] = -0.0f;
  x[n / 2] = 0.0f;
}

static gboolean run_case(ivl_backend *be, const top_k_case *c, GRand *rng)
{
  g_autoptr(GError) error = NULL;
  g_autofree float *x = g_new(float, c->n), *want_v = g_new(float, c->n);
  g_autofree float *got_v = g_new(float, CAP);
  g_autofree int32_t *want_i = g_new(int32_t, c->n), *got_i = g_new(int32_t, CAP);
  g_autofree int32_t *seen = g_new(int32_t, MAX(c->n_seen, 1));
  fill(x, c->n, rng);
  for (int j = 0; j < c->n_seen; j++)
    seen[j] = (j * 7919) % c->n; /* distinct for n_seen < n and n prime to 7919 */
  ivl_tensor *t = be->ops->tensor_new(be, IVL_DTYPE_F32, 1, c->n, &error);
  if (!t || !be->ops->upload_f32(be, t, 0, 1, x, &error)) {
    fprintf(stderr, "FAIL %s: %s\n", c->what, error->message);
    return FALSE;
  }
  int got = 0;
  gboolean ok = be->ops->top_k(be, t, 0, seen, c->n_seen, c->penalty, c->temperature, c->k, got_v,
                               got_i, c->cap, &got, &error);
  be->ops->tensor_free(be, t);
  int want =
      top_k_reference(x, c->n, seen, c->n_seen, c->penalty, c->temperature, c->k, want_v, want_i);
  if (!ok) {
    fprintf(stderr, "FAIL %s: %s\n", c->what, error->message);
    return FALSE;
  }
  if (got != want) {
    fprintf(stderr, "FAIL %s: %d candidates, expected %d\n", c->what, got, want);
    return FALSE;
  }
  for (int i = 0; i < MIN(got, c->cap); i++)
    if (got_i[i] != want_i[i] || memcmp(&got_v[i], &want_v[i], sizeof(float)) != 0) {
      fprintf(stderr, "FAIL %s: candidate %d is %d = %.9g, expected %d = %.9g\n", c->what, i,
              got_i[i], got_v[i], want_i[i], want_v[i]);
      return FALSE;
    }
  printf("ok   %s (%d candidates)\n", c->what, got);
  return TRUE;
}

int main(int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  ivl_backend *be = ivl_backend_cuda_new(0, &error);
  if (!be) {
    printf("SKIP: %s\n", error->message);
    return 77;
  }
  const top_k_case cases[] = {
      {"vocabulary, k 50, temperature 0.7, penalty 1.3 on 40 ids", 151674, 50, 1.3f, 0.7f, 40, CAP},
      {"vocabulary, greedy with a penalty (k 1)", 151674, 1, 1.5f, 1.0f, 200, CAP},
      {"vocabulary, k 1000, penalty below 1", 151674, 1000, 0.8f, 1.0f, 10, CAP},
      {"vocabulary, no penalty, temperature 1.3", 151674, 7, 1.0f, 1.3f, 0, CAP},
      {"k above the finite count", 300, 400, 1.0f, 1.0f, 0, CAP},
      {"more candidates than fit", 151674, 3000, 1.0f, 1.0f, 0, 1000},
      {"a short row, one thread's run each", 1000, 10, 1.2f, 0.5f, 5, CAP},
  };
  g_autoptr(GRand) rng = g_rand_new_with_seed(11);
  int failed = 0;
  for (gsize i = 0; i < G_N_ELEMENTS(cases); i++)
    if (argc < 2 || strstr(cases[i].what, argv[1]))
      failed += !run_case(be, &cases[i], rng);
  be->ops->free(be);
  printf("%d failure(s)\n", failed);
  return failed ? 1 : 0;
}
