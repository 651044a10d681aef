/* test-cuda-split — a model split over several CUDA devices computes what one device does:
 * tiny random models (Qwen2 in bf16, InternLM2 in int8, Qwen2 in 4-bit) loaded on one device
 * and split over 2, 3 and 8 (split_model's placement; 3 also by free memory), a prompt and
 * greedy decode through the per-device graphs: the same greedy tokens and the same logits
 * (the same kernels run in the same order on every device, so the values are bit for bit
 * equal). Each layer's weights and KV cache must sit on its device: the emulation counts the
 * bytes per device and refuses a cuBLAS call that reads another device's memory.
 *
 * `--first-layout`: only the first model (the run with IVL_EMU_NO_PEER=1, copies through
 * the host, and IVL_CUDA_GRAPHS=0, decode op by op). `--fail-load` (run with IVL_EMU_FAIL_MALLOC=2:N): device 2 fails an allocation while
 * the model loads; the error must name it and every device must be left with nothing allocated.
 * Needs the CPU emulation with IVL_EMU_DEVICES=8 (the suite sets it); exits 77 on a GPU. */
#include "ivl-config.h"

#include "language.h"
#include "model.h"
#include "tiny-model.h"
#if IVL_CUDA_EMULATION
#include "ivl-emu.h"
#endif

#include <math.h>
#include <stdio.h>
#include <string.h>

#define PROMPT 12
#define STEPS 4
#define VOCAB 3072
#define LAYERS 8

typedef struct {
  const char *name;
  ivl_llm_arch arch;
  ivl_precision precision;
} layout;

static const layout layouts[] = {
    {"qwen2, bf16", IVL_LLM_QWEN2, IVL_PRECISION_BF16},
    {"internlm2, int8", IVL_LLM_INTERNLM2, IVL_PRECISION_INT8},
    {"qwen2, 4-bit", IVL_LLM_QWEN2, IVL_PRECISION_Q4},
};

typedef struct {
  int n_gpus;
  ivl_split_mode split;
} placement;

static const placement splits[] = {
    {2, IVL_SPLIT_LAYERS},
    {3, IVL_SPLIT_LAYERS},
    {8, IVL_SPLIT_LAYERS}, /* split_model leaves 4 of them without layers */
    {8, IVL_SPLIT_AUTO},   /* one layer each */
};

static gboolean write_model(const char *dir, const layout *l, GError **error)
{
  ivl_tiny_model_params p = ivl_tiny_model_default_params();
  p.seed = 11;
  p.vision_hidden = 64, p.vision_heads = 1, p.vision_layers = 1, p.vision_ffn = 128;
  p.llm_arch = l->arch;
  p.llm_hidden = 256, p.llm_heads = 4, p.llm_kv_heads = 2, p.llm_ffn = 512;
  p.llm_layers = LAYERS;
  p.llm_vocab = VOCAB;
  g_autofree char *tok = g_build_filename(g_getenv("IVL_SOURCE_ROOT") ?: ".", "tests", "data",
                                          "tokenizer", "internlm3-tiny", NULL);
  p.tokenizer_dir = tok;
  return ivl_tiny_model_write(dir, &p, error);
}

static ivl_model *load(const char *dir, const layout *l, int n_gpus, ivl_split_mode split,
                       GError **error)
{
  ivl_model_params p = ivl_model_default_params();
  p.backend = IVL_BACKEND_CUDA;
  p.precision = l->precision;
  p.context_length = 256;
  p.n_gpus = n_gpus;
  for (int d = 0; d < n_gpus; d++)
    p.gpus[d] = d;
  p.split = split;
  return ivl_model_load(dir, &p, NULL, error);
}

/* Prefill, then STEPS greedy tokens; logits[s] after each forward, tokens[s] chosen. */
static gboolean generate(ivl_model *m, float **logits, int32_t *tokens, GError **error)
{
  ivl_language *lm = m->language;
  int32_t prompt[PROMPT];
  for (int i = 0; i < PROMPT; i++)
    prompt[i] = (int32_t)(100 + 37 * i) % 3000;
  if (!ivl_language_forward(lm, prompt, PROMPT, 0, -1, NULL, error))
    return FALSE;
  for (int s = 0; s <= STEPS; s++) {
    logits[s] = g_new(float, VOCAB);
    if (!ivl_language_get_logits(lm, logits[s], error))
      return FALSE;
    if (s == STEPS)
      break;
    tokens[s] = ivl_language_argmax(lm);
    if (!ivl_language_forward(lm, &tokens[s], 1, PROMPT + s, -1, NULL, error))
      return FALSE;
  }
  return TRUE;
}

static void free_logits(float **logits)
{
  for (int s = 0; s <= STEPS; s++)
    g_clear_pointer(&logits[s], g_free);
}

static guint64 peer_copies(void)
{
#if IVL_CUDA_EMULATION
  ivl_emu_stats s;
  ivl_emu_get_stats(&s);
  return s.peer_copies;
#else
  return 0;
#endif
}

static size_t used_on(int device)
{
#if IVL_CUDA_EMULATION
  return ivl_emu_device_used(device);
#else
  (void)device;
  return 0;
#endif
}

/* The split model against the single-device reference: tokens equal, logits bit for bit. */
static gboolean check_split(const char *dir, const layout *l, const placement *sp,
                            float **ref_logits, const int32_t *ref_tokens)
{
  g_autoptr(GError) error = NULL;
  float *logits[STEPS + 1] = {NULL};
  int32_t tokens[STEPS];
  ivl_model *m = load(dir, l, sp->n_gpus, sp->split, &error);
  const guint64 copies = peer_copies();
  gboolean ok = m != NULL && generate(m, logits, tokens, &error);
  char what[64];
  g_snprintf(what, sizeof what, "%s over %d (%s)", l->name, sp->n_gpus,
             ivl_split_mode_name(sp->split));
  if (!ok) {
    printf("FAIL %s: %s\n", what, error->message);
    ivl_model_free(m);
    return FALSE;
  }
  /* every device the placement gave layers holds memory (its weights and KV cache) */
  int holding = 0;
  for (int d = 0; d < sp->n_gpus; d++)
    holding += used_on(d) > 0;
  double max_diff = 0;
  for (int s = 0; s <= STEPS; s++)
    for (int i = 0; i < VOCAB; i++)
      max_diff = MAX(max_diff, fabs((double)logits[s][i] - ref_logits[s][i]));
  const gboolean same_tokens = memcmp(tokens, ref_tokens, sizeof tokens) == 0;
  /* IVL_EMU_NO_PEER: every copy goes through the host */
  const gboolean peer_ok =
      getenv("IVL_EMU_NO_PEER") ? peer_copies() == copies : peer_copies() > copies;
  ok = same_tokens && max_diff == 0 && holding == m->split.n_backends && peer_ok;
  printf("%-4s %s: %d devices hold memory, tokens %s, logits max |diff| %.3g, %" G_GUINT64_FORMAT
         " peer copies\n",
         ok ? "ok" : "FAIL", what, holding, same_tokens ? "equal" : "DIFFER", max_diff,
         peer_copies() - copies);
  ivl_model_free(m);
  free_logits(logits);
  return ok;
}

static gboolean check_layout(const layout *l)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp("ivl-split-XXXXXX", &error);
  float *ref[STEPS + 1] = {NULL};
  int32_t tokens[STEPS];
  printf("# %s\n", l->name);
  ivl_model *single = NULL;
  gboolean ok = dir && write_model(dir, l, &error) &&
                (single = load(dir, l, 1, IVL_SPLIT_LAYERS, &error)) &&
                generate(single, ref, tokens, &error);
  ivl_model_free(single);
  if (!ok)
    printf("FAIL reference: %s\n", error->message);
  for (gsize i = 0; ok && i < G_N_ELEMENTS(splits); i++)
    ok = check_split(dir, l, &splits[i], ref, tokens);
  free_logits(ref);
  if (dir) {
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", dir);
    ok = system(cmd) == 0 && ok;
  }
  return ok;
}

/* Device 2 fails mid-load: a clear error naming it, and nothing left on any device. */
static int check_failed_load(void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp("ivl-split-XXXXXX", &error);
  if (!dir || !write_model(dir, &layouts[0], &error)) {
    printf("FAIL setup: %s\n", error->message);
    return 1;
  }
  ivl_model *m = load(dir, &layouts[0], 3, IVL_SPLIT_LAYERS, &error);
  gboolean ok = m == NULL && g_error_matches(error, IVL_ERROR, IVL_ERROR_OUT_OF_MEMORY) &&
                strstr(error->message, "GPU 2") != NULL;
  printf("%-4s load with device 2 failing: %s\n", ok ? "ok" : "FAIL",
         error ? error->message : "it loaded");
  for (int d = 0; d < 8; d++) {
    if (used_on(d) != 0) {
      printf("FAIL device %d keeps %zu bytes\n", d, used_on(d));
      ok = FALSE;
    }
  }
  ivl_model_free(m);
  g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", dir);
  return ok && system(cmd) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
  if (!IVL_CUDA_EMULATION) {
    printf("the split check runs on the emulated devices; tests/gpu/run.sh splits on a GPU\n");
    return 77;
  }
  int count = ivl_gpu_count(NULL);
  if (count < 8) {
    printf("needs 8 emulated devices (IVL_EMU_DEVICES=8), found %d\n", count);
    return 77;
  }
  if (argc > 1 && strcmp(argv[1], "--fail-load") == 0)
    return check_failed_load();
  const gsize n = argc > 1 && strcmp(argv[1], "--first-layout") == 0 ? 1 : G_N_ELEMENTS(layouts);
  int failed = 0;
  for (gsize i = 0; i < n; i++)
    failed += !check_layout(&layouts[i]);
  printf("%d of %zu layouts failed\n", failed, n);
  return failed ? 1 : 0;
}
