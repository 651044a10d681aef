/* test-greedy-cuda — end to end on tiny random models, one per layout and precision (Qwen2
 * and InternLM2 language models, InternViT-300M and -6B vision, bf16, int8 and 4-bit
 * weights): the CUDA backend's image embeddings and language model against the CPU's, and
 * CUDA decode through the recorded graph against CUDA decode op by op. Teacher-forced on the
 * CPU's greedy tokens, so one near-tie cannot derail the comparison: every step's logits must
 * agree within a normalised MSE, and CUDA's greedy token must equal the CPU's wherever the
 * CPU's top two logits are clearly apart. Exit 77 without a device.
 *
 * Tolerances: CUDA keeps activations in bf16 (nmse ~2.5e-6 per rounding); through two layers
 * of ~10 roundings each plus the lm_head sum, 1e-3 leaves a wide margin. Graph and eager
 * decode run the same kernels but split the keys differently (the graph over the cache
 * capacity), so f32 sums round differently: 1e-4. */
#include "ivl-config.h"

#include "language.h"
#include "logits-compare.h"
#include "model.h"
#include "tiny-model.h"
#if IVL_CUDA_EMULATION
#include "ivl-emu.h"
#endif

#include <math.h>
#include <stdio.h>

#define PROMPT 12
#define STEPS 4
#define CLEAR_MARGIN 0.03f /* of the top logit: bf16's ~1% drift through the layers cannot swap */

typedef struct {
  ivl_model *model;
  float *logits[STEPS + 1];
} run;

typedef struct {
  const char *name;
  gboolean vision_6b;
  ivl_llm_arch llm_arch;
  ivl_precision precision;
  int vision_heads; /* of 64 dims (300M) or 128 (6B) */
  gboolean graph;   /* also compare graph and op-by-op decode */
  int max_pos;      /* max_position_embeddings: dynamic NTK changes theta past it */
} layout;

static const layout layouts[] = {
    {"qwen2 + vit-300m, bf16, decode past max_position_embeddings", FALSE, IVL_LLM_QWEN2,
     IVL_PRECISION_BF16, 2, TRUE, PROMPT + 1},
    {"internlm2 + vit-6b, int8", TRUE, IVL_LLM_INTERNLM2, IVL_PRECISION_INT8, 1, FALSE, 32768},
    {"qwen2 + vit-6b, 4-bit", TRUE, IVL_LLM_QWEN2, IVL_PRECISION_Q4, 1, FALSE, 32768},
};

static gboolean load(const char *dir, ivl_backend_kind kind, const layout *l, run *r,
                     GError **error)
{
  ivl_model_params p = ivl_model_default_params();
  p.backend = kind;
  p.precision = l->precision;
  p.context_length = 512;
  r->model = ivl_model_load(dir, &p, NULL, error);
  return r->model != NULL;
}

/* Prefill, then STEPS tokens: forced[] when given, else greedy (written to forced). */
static gboolean generate(run *r, int32_t *forced, gboolean force, int vocab, GError **error)
{
  ivl_language *lm = r->model->language;
  int32_t prompt[PROMPT];
  for (int i = 0; i < PROMPT; i++)
    prompt[i] = (int32_t)(100 + 37 * i) % 5000;
  if (!ivl_language_forward(lm, prompt, PROMPT, 0, -1, NULL, error))
    return FALSE;
  for (int s = 0; s <= STEPS; s++) {
    r->logits[s] = g_new(float, vocab);
    if (!ivl_language_get_logits(lm, r->logits[s], error))
      return FALSE;
    if (s == STEPS)
      break;
    if (!force)
      forced[s] = ivl_language_argmax(lm);
    if (!ivl_language_forward(lm, &forced[s], 1, PROMPT + s, -1, NULL, error))
      return FALSE;
  }
  return TRUE;
}

static gboolean compare(const char *what, run *ref, run *got, int vocab, double tol)
{
  gboolean ok = TRUE;
  for (int s = 0; s <= STEPS; s++) {
    const double e = logits_nmse(ref->logits[s], got->logits[s], vocab);
    const int top = logits_clear_top(ref->logits[s], vocab, CLEAR_MARGIN);
    const gboolean token_ok = top < 0 || logits_top1(got->logits[s], vocab) == top;
    const gboolean step_ok = e <= tol && token_ok;
    printf("%-4s %s step %2d: logits nmse %.2e (tol %.0e)%s\n", step_ok ? "ok" : "FAIL", what, s, e,
           tol, token_ok ? "" : ", greedy token differs where the reference is clear");
    ok = ok && step_ok;
  }
  return ok;
}

static void run_clear(run *r)
{
  ivl_model_free(r->model);
  for (int s = 0; s <= STEPS; s++)
    g_free(r->logits[s]);
}

static gboolean write_model(const char *dir, const layout *l, GError **error)
{
  ivl_tiny_model_params p = ivl_tiny_model_default_params();
  p.seed = 7;
  /* head dims of 64 and 128, as every InternVL3 size has (the CUDA kernels take those two) */
  p.vision_6b = l->vision_6b;
  p.vision_heads = l->vision_heads;
  p.vision_hidden = l->vision_heads * (l->vision_6b ? 128 : 64);
  p.vision_ffn = 2 * p.vision_hidden;
  p.vision_layers = 1; /* 1025 rows of attention per tile: the emulation's slowest step */
  p.llm_arch = l->llm_arch;
  p.llm_hidden = 256, p.llm_heads = 4, p.llm_kv_heads = 2, p.llm_ffn = 512;
  p.max_position_embeddings = l->max_pos;
  g_autofree char *tok = g_build_filename(g_getenv("IVL_SOURCE_ROOT") ?: ".", "tests", "data",
                                          "tokenizer", "qwen2.5", NULL);
  p.tokenizer_dir = tok;
  return ivl_tiny_model_write(dir, &p, error);
}

/* One tile of random pixels through InternViT and mlp1 on both backends. */
static gboolean compare_vision(run *cpu, run *cuda, GError **error)
{
  const ivl_config *cfg = cpu->model->config;
  const int size = cfg->vision.image_size;
  g_autofree float *pixels = g_new(float, 3 * size * size);
  g_autoptr(GRand) rng = g_rand_new_with_seed(5);
  for (int i = 0; i < 3 * size * size; i++)
    pixels[i] = (float)g_rand_double_range(rng, -1.8, 1.8);
  float *out[2] = {NULL, NULL};
  int64_t n = 0;
  gboolean ok = TRUE;
  for (int s = 0; s < 2 && ok; s++) {
    ivl_model *m = (s == 0 ? cpu : cuda)->model;
    ivl_tensor *t = ivl_model_encode_tiles(m, pixels, 1, NULL, error);
    ok = t != NULL;
    if (ok) {
      n = t->rows * t->cols;
      out[s] = g_new(float, n);
      ok = m->backend->ops->download_f32(m->backend, t, 0, t->rows, out[s], error);
      m->backend->ops->tensor_free(m->backend, t);
    }
  }
  if (ok) {
    const double e = logits_nmse(out[0], out[1], (int)n);
    ok = e <= 1e-3;
    printf("%-4s image embeddings: nmse %.2e (tol 1e-03)\n", ok ? "ok" : "FAIL", e);
    fflush(stdout);
  }
  g_free(out[0]);
  g_free(out[1]);
  return ok;
}

/* Graphs instantiated so far (counted by the CPU emulation only; 0 on a GPU). */
static guint64 graph_instantiations(void)
{
#if IVL_CUDA_EMULATION
  ivl_emu_stats s;
  ivl_emu_get_stats(&s);
  return s.graph_instantiations;
#else
  return 0;
#endif
}

static void remove_dir(const char *dir)
{
  g_autoptr(GFile) d = g_file_new_for_path(dir);
  g_autoptr(GFileEnumerator) en = g_file_enumerate_children(d, "standard::name", 0, NULL, NULL);
  for (GFileInfo *fi; en && (fi = g_file_enumerator_next_file(en, NULL, NULL));) {
    g_autoptr(GFile) child = g_file_get_child(d, g_file_info_get_name(fi));
    g_file_delete(child, NULL, NULL);
    g_object_unref(fi);
  }
  g_file_delete(d, NULL, NULL);
}

static gboolean check_layout(const layout *l)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp("ivl-greedy-XXXXXX", &error);
  run cpu = {0}, eager = {0}, graph = {0};
  int32_t tokens[STEPS];
  printf("# %s\n", l->name);
  if (dir == NULL || !write_model(dir, l, &error) || !load(dir, IVL_BACKEND_CPU, l, &cpu, &error) ||
      !load(dir, IVL_BACKEND_CUDA, l, &eager, &error)) {
    printf("FAIL setup: %s\n", error->message);
    run_clear(&cpu);
    if (dir)
      remove_dir(dir);
    return FALSE;
  }
  const int vocab = cpu.model->config->llm.vocab_size;
  gboolean ok =
      compare_vision(&cpu, &eager, &error) && generate(&cpu, tokens, FALSE, vocab, &error);
  g_setenv("IVL_CUDA_GRAPHS", "0", TRUE);
  ok = ok && generate(&eager, tokens, TRUE, vocab, &error);
  g_unsetenv("IVL_CUDA_GRAPHS");
  /* The same CUDA model again: the prefill at position 0 starts the cache over. */
  graph.model = eager.model;
  const guint64 instantiations = graph_instantiations();
  ok = ok && (!l->graph || generate(&graph, tokens, TRUE, vocab, &error));
  graph.model = NULL;
  /* One recording for the whole decode, though dynamic NTK changed theta at every step. */
  if (ok && l->graph && graph_instantiations() - instantiations > 1) {
    printf("FAIL the decode graph was recorded %" G_GUINT64_FORMAT " times\n",
           graph_instantiations() - instantiations);
    ok = FALSE;
  }
  if (!ok && error != NULL)
    printf("FAIL generation: %s\n", error->message);
  ok = ok && compare("cuda vs cpu", &cpu, &eager, vocab, 1e-3);
  ok = ok && (!l->graph || compare("graph vs op by op", &eager, &graph, vocab, 1e-4));
  run_clear(&graph);
  run_clear(&eager);
  run_clear(&cpu);
  remove_dir(dir);
  return ok;
}

int main(void)
{
  /* the CPU reference in f32 activations, as the CUDA kernels (not cpu-int-dot.c's int8, nor
   * cpu-gemm-bf16dot.c's bf16) */
  g_setenv("IVL_CPU_INT_DOT", "0", FALSE);
  g_setenv("IVL_CPU_BF16_DOT", "0", FALSE);
  g_autoptr(GError) error = NULL;
  ivl_backend *probe = ivl_backend_cuda_new(0, &error);
  if (probe == NULL) {
    printf("no CUDA device: skipping the end-to-end CUDA check (%s)\n", error->message);
    return 77;
  }
  probe->ops->free(probe);
  int failed = 0;
  for (gsize i = 0; i < G_N_ELEMENTS(layouts); i++)
    failed += !check_layout(&layouts[i]);
  printf("%d of %zu layouts failed\n", failed, G_N_ELEMENTS(layouts));
  return failed ? 1 : 0;
}
