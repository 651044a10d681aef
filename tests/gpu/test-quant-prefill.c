/* test-quant-prefill — a quantized prompt longer than one 256-row chunk: CUDA's logits and
 * greedy tokens against the CPU's (int8 and 4-bit), and, under the CPU emulation, which
 * counts launches, each weight expanded to bf16 once for the whole prompt rather than once
 * per chunk (issue 16, item 4). Exit 77 without a device. Tolerances as test-greedy-cuda's. */
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
#include <stdlib.h>
#include <string.h>

#define PROMPT 600 /* three chunks: 256, 256, 88 */
#define STEPS 3
#define LAYERS 2
#define CLEAR_MARGIN 0.03f

static ivl_model *load(const char *dir, ivl_backend_kind kind, ivl_precision precision)
{
  g_autoptr(GError) error = NULL;
  ivl_model_params p = ivl_model_default_params();
  p.backend = kind;
  p.precision = precision;
  p.context_length = 1024;
  ivl_model *m = ivl_model_load(dir, &p, NULL, &error);
  g_assert_no_error(error);
  return m;
}

/* Launches of the dequantize kernel in the forward call (the emulation's profile); -1 on a
 * GPU, where nothing counts them. */
static int forward_counting_dequantize(ivl_language *lm, const int32_t *ids, int n, int pos0)
{
  g_autoptr(GError) error = NULL;
#if IVL_CUDA_EMULATION
  const ivl_emu_roofline roof = {1e12, 1e15, 1e14, 1e10, 1e-6};
  ivl_emu_profile_start(&roof);
#endif
  g_assert_true(ivl_language_forward(lm, ids, n, pos0, -1, NULL, &error));
  g_assert_no_error(error);
#if IVL_CUDA_EMULATION
  ivl_emu_profile_stop();
  ivl_emu_profile_entry e[256];
  const size_t got = ivl_emu_profile_read(e, G_N_ELEMENTS(e));
  int launches = 0;
  for (size_t i = 0; i < got && i < G_N_ELEMENTS(e); i++)
    if (strncmp(e[i].name, "dequantize", 10) == 0)
      launches += (int)e[i].launches;
  return launches;
#else
  return -1;
#endif
}

static gboolean check(ivl_precision precision, const char *name)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp("ivl-quant-prefill-XXXXXX", &error);
  g_assert_no_error(error);
  ivl_tiny_model_params p = ivl_tiny_model_default_params();
  p.seed = 11;
  p.vision_heads = 1, p.vision_hidden = 64, p.vision_ffn = 128, p.vision_layers = 1;
  p.llm_hidden = 256, p.llm_heads = 4, p.llm_kv_heads = 2, p.llm_ffn = 512;
  p.llm_layers = LAYERS;
  g_autofree char *tok = g_build_filename(g_getenv("IVL_SOURCE_ROOT") ?: ".", "tests", "data",
                                          "tokenizer", "qwen2.5", NULL);
  p.tokenizer_dir = tok;
  g_assert_true(ivl_tiny_model_write(dir, &p, &error));
  g_assert_no_error(error);
  ivl_model *cpu = load(dir, IVL_BACKEND_CPU, precision);
  ivl_model *cuda = load(dir, IVL_BACKEND_CUDA, precision);
  const int vocab = cpu->config->llm.vocab_size;

  int32_t ids[PROMPT];
  for (int i = 0; i < PROMPT; i++)
    ids[i] = (int32_t)((100 + 37 * i) % 5000);
  g_assert_true(ivl_language_forward(cpu->language, ids, PROMPT, 0, -1, NULL, &error));
  const int dequantized = forward_counting_dequantize(cuda->language, ids, PROMPT, 0);
  gboolean ok = TRUE;
  if (dequantized >= 0) {
    /* q, k, v, o, gate, up, down of each layer, once for the three chunks */
    const gboolean once = dequantized == 7 * LAYERS;
    printf("%-4s %s: %d weight expansions for a %d-token prompt (want %d)\n", once ? "ok" : "FAIL",
           name, dequantized, PROMPT, 7 * LAYERS);
    ok = once;
  }
  g_autofree float *ref = g_new(float, vocab);
  g_autofree float *got = g_new(float, vocab);
  for (int s = 0; s <= STEPS; s++) {
    g_assert_true(ivl_language_get_logits(cpu->language, ref, &error));
    g_assert_true(ivl_language_get_logits(cuda->language, got, &error));
    const double e = logits_nmse(ref, got, vocab);
    const int top = logits_clear_top(ref, vocab, CLEAR_MARGIN);
    const gboolean step_ok = e <= 1e-3 && (top < 0 || logits_top1(got, vocab) == top);
    printf("%-4s %s step %d: logits nmse %.2e (tol 1e-03), greedy %d / %d\n",
           step_ok ? "ok" : "FAIL", name, s, e, logits_top1(got, vocab), logits_top1(ref, vocab));
    ok = ok && step_ok;
    if (s == STEPS)
      break;
    /* Teacher-forced on the CPU's greedy token. */
    const int32_t next = logits_top1(ref, vocab);
    g_assert_true(ivl_language_forward(cpu->language, &next, 1, PROMPT + s, -1, NULL, &error));
    g_assert_true(ivl_language_forward(cuda->language, &next, 1, PROMPT + s, -1, NULL, &error));
  }
  ivl_model_free(cpu);
  ivl_model_free(cuda);
  g_autofree char *rm = g_strdup_printf("rm -rf '%s'", dir);
  g_assert_cmpint(system(rm), ==, 0);
  return ok;
}

int main(void)
{
  g_autoptr(GError) error = NULL;
  ivl_backend *probe = ivl_backend_cuda_new(0, &error);
  if (probe == NULL) {
    printf("no CUDA device: skipping the quantized prefill check (%s)\n", error->message);
    return 77;
  }
  probe->ops->free(probe);
  const gboolean ok = check(IVL_PRECISION_INT8, "int8") & check(IVL_PRECISION_Q4, "4-bit");
  return ok ? 0 : 1;
}
