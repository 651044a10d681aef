/* test-cuda-graph — a decode-like step (embedding gather, RMSNorm, GEMV, RoPE, KV-cache
 * writes, split-key attention, residual add, and a 3-row matmul, which runs cuBLAS) recorded
 * once as a CUDA graph and replayed at later positions with other token ids and another RoPE
 * theta each step (dynamic NTK) must give bit for bit what running the same ops eagerly
 * gives. Also: the waits refused inside a recording, a replay with the wrong id count
 * refused. Exit 77 (skipped) without a CUDA device. */
#include "ivl-config.h"

#include "backend.h"
#include "cpu-kernels.h"
#include "ivl.h"

#include <stdio.h>
#include <string.h>

#define D 128 /* 2 heads of 64 */
#define VOCAB 50
#define CACHE 64
#define STEPS 6
#define POS0 3

typedef struct {
  ivl_tensor *x, *xn, *kq, *out, *kc, *vc, *rows3, *y3;
} step_tensors;

typedef struct {
  ivl_backend *be;
  ivl_tensor *emb, *norm_w, *wk;
} model;

/* The RoPE base of step t: as dynamic NTK makes it grow with the length. */
static double theta_at(int64_t pos)
{
  return 1e6 * (1.0 + 0.25 * (double)(pos - POS0));
}

static void run_step(model *m, step_tensors *s, int64_t pos, int32_t id)
{
  const ivl_backend_ops *o = m->be->ops;
  o->get_rows(m->be, s->x, m->emb, &id, 1);
  o->rms_norm(m->be, s->xn, s->x, m->norm_w, 1e-6f);
  o->matmul(m->be, s->kq, s->xn, m->wk, NULL);
  o->matmul(m->be, s->y3, s->rows3, m->wk, NULL);
  o->rope(m->be, s->kq, 2, 64, pos, theta_at(pos));
  o->copy_rows(m->be, s->kc, pos, s->kq, 0, 1);
  o->copy_rows(m->be, s->vc, pos, s->xn, 0, 1);
  o->attention(m->be, s->out, s->kq, s->kc, s->vc, 1, 2, 2, 64, TRUE, pos, 0.125f);
  o->add(m->be, s->out, s->out, s->x);
}

static gboolean alloc_step(ivl_backend *be, step_tensors *s, GError **error)
{
  const ivl_dtype a = be->act_dtype;
  ivl_tensor **slots[] = {&s->x, &s->xn, &s->kq, &s->out, &s->kc, &s->vc, &s->rows3, &s->y3};
  const int rows[] = {1, 1, 1, 1, CACHE, CACHE, 3, 3};
  for (gsize i = 0; i < G_N_ELEMENTS(slots); i++) {
    *slots[i] = be->ops->tensor_new(be, a, rows[i], D, error);
    if (*slots[i] == NULL)
      return FALSE;
  }
  /* Zeroed caches, so both runs start alike. */
  g_autofree float *zero = g_new0(float, CACHE *D);
  return be->ops->upload_f32(be, s->kc, 0, CACHE, zero, error) &&
         be->ops->upload_f32(be, s->vc, 0, CACHE, zero, error) &&
         be->ops->upload_f32(be, s->rows3, 0, 3, zero, error);
}

static void free_step(ivl_backend *be, step_tensors *s)
{
  ivl_tensor *all[] = {s->x, s->xn, s->kq, s->out, s->kc, s->vc, s->rows3, s->y3};
  for (gsize i = 0; i < G_N_ELEMENTS(all); i++)
    be->ops->tensor_free(be, all[i]);
}

static gboolean fail(const char *what, GError *error)
{
  printf("FAIL %s%s%s\n", what, error ? ": " : "", error ? error->message : "");
  return FALSE;
}

/* The recording refuses waits without spoiling itself; a bad replay is refused. */
static gboolean check_refusals(model *m, step_tensors *g, int32_t *ids)
{
  g_autoptr(GError) error = NULL;
  if (m->be->ops->synchronize(m->be, &error) || error->code != IVL_ERROR_INVALID_ARGUMENT)
    return fail("synchronize inside a recording was not refused", NULL);
  g_clear_error(&error);
  run_step(m, g, POS0, ids[0]);
  if (!m->be->ops->graph_end(m->be, &error))
    return fail("graph_end", error);
  int32_t two[2] = {1, 2};
  if (m->be->ops->graph_replay(m->be, 0, POS0, two, 2, theta_at(POS0), &error))
    return fail("a replay with 2 ids was accepted for a graph of 1", NULL);
  g_clear_error(&error);
  int32_t bad = VOCAB;
  if (m->be->ops->graph_replay(m->be, 0, POS0, &bad, 1, theta_at(POS0), &error))
    return fail("a replay with an id past the table was accepted", NULL);
  return TRUE;
}

static gboolean compare_runs(model *m, step_tensors *e, step_tensors *g, const int32_t *ids)
{
  g_autoptr(GError) error = NULL;
  float a[D], b[D];
  for (int t = 0; t < STEPS; t++) {
    run_step(m, e, POS0 + t, ids[t]);
    if (!m->be->ops->download_f32(m->be, e->out, 0, 1, a, &error))
      return fail("eager step", error);
    if (!m->be->ops->graph_replay(m->be, 0, POS0 + t, &ids[t], 1, theta_at(POS0 + t), &error) ||
        !m->be->ops->download_f32(m->be, g->out, 0, 1, b, &error))
      return fail("graph replay", error);
    if (memcmp(a, b, sizeof a) != 0)
      return fail("replayed step differs from the eager one", NULL);
    printf("ok   step %d at position %d (token %d, theta %.3g): replay equals eager run\n", t,
           POS0 + t, ids[t], theta_at(POS0 + t));
  }
  g_autofree float *ca = g_new(float, CACHE *D);
  g_autofree float *cb = g_new(float, CACHE *D);
  if (!m->be->ops->download_f32(m->be, e->kc, 0, CACHE, ca, &error) ||
      !m->be->ops->download_f32(m->be, g->kc, 0, CACHE, cb, &error))
    return fail("cache download", error);
  if (memcmp(ca, cb, CACHE * D * sizeof(float)) != 0)
    return fail("K caches differ", NULL);
  printf("ok   K caches equal after %d steps\n", STEPS);
  return TRUE;
}

static gboolean make_model(model *m, GRand *rng, guint16 *host, GError **error)
{
  for (int i = 0; i < VOCAB * D + D + D * D; i++)
    host[i] = cpu_f32_to_bf16((float)g_rand_double_range(rng, -1.0, 1.0));
  const ivl_backend_ops *o = m->be->ops;
  m->emb = o->weight_from_host(m->be, IVL_DTYPE_BF16, VOCAB, D, host, error);
  m->norm_w =
      m->emb ? o->weight_from_host(m->be, IVL_DTYPE_BF16, 1, D, host + VOCAB * D, error) : NULL;
  m->wk = m->norm_w ? o->weight_from_host(m->be, IVL_DTYPE_BF16, D, D, host + VOCAB * D + D, error)
                    : NULL;
  return m->wk != NULL;
}

#define SEED 20261127

int main(void)
{
  g_autoptr(GError) error = NULL;
  model m = {0};
  m.be = ivl_backend_cuda_new(0, &error);
  if (m.be == NULL) {
    printf("no CUDA device: skipping the graph record/replay check (%s)\n", error->message);
    return 77;
  }
  printf("seed %d\n", SEED);
  g_autoptr(GRand) rng = g_rand_new_with_seed(SEED);
  g_autofree guint16 *host = g_new(guint16, VOCAB * D + D + D * D);
  step_tensors eager = {0}, graph = {0};
  int32_t ids[STEPS];
  for (int t = 0; t < STEPS; t++)
    ids[t] = g_rand_int_range(rng, 0, VOCAB);
  gboolean ok = make_model(&m, rng, host, &error) && alloc_step(m.be, &eager, &error) &&
                alloc_step(m.be, &graph, &error);
  if (!ok)
    fail("setup", error);
  g_clear_error(&error);
  ok = ok && (m.be->ops->graph_begin(m.be, 0, POS0, &error) || fail("graph_begin", error)) &&
       check_refusals(&m, &graph, ids) && compare_runs(&m, &eager, &graph, ids);
  free_step(m.be, &eager);
  free_step(m.be, &graph);
  m.be->ops->tensor_free(m.be, m.emb);
  m.be->ops->tensor_free(m.be, m.norm_w);
  m.be->ops->tensor_free(m.be, m.wk);
  m.be->ops->free(m.be);
  return ok ? 0 : 1;
}
