/* int-dot-accuracy — what the CPU's integer dot products (cpu-int-dot.c) change in a model's
 * logits: for int8 and 4-bit weights, the integer path and the float path (IVL_CPU_INT_DOT=0)
 * against bf16 weights, and against each other.
 *
 * A fixed prompt, then STEPS greedy tokens of the bf16 model; every other run is teacher-forced
 * on those tokens, so one near-tie cannot derail the comparison. Per run: the largest and the
 * mean |Δlogit| over all steps and the vocabulary, and the share of steps whose top-1 token is
 * the reference's. Prints a markdown table (tools/int-dot-accuracy.sh runs it on several
 * models). Usage: int-dot-accuracy [--steps N] [--threads N] MODEL_DIR [NAME] */
#include "config.h"
#include "ivl.h"
#include "language.h"
#include "logits-compare.h"
#include "model-loader.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROMPT 16

typedef struct {
  int steps, vocab;
  float *logits; /* [steps + 1][vocab]: after the prompt, then after each token */
} run;

static gboolean generate(const char *dir, ivl_precision precision, gboolean int_dot, int n_threads,
                         int32_t *tokens, gboolean force, run *r, GError **error)
{
  /* the language model alone (no tokenizer, no vision), as test-model-golden loads it */
  g_setenv("IVL_CPU_INT_DOT", int_dot ? "1" : "0", TRUE);
  ivl_config *config = ivl_config_load(dir, error);
  ivl_backend *be = config ? ivl_backend_cpu_new(n_threads, error) : NULL;
  ivl_loader *loader = be ? ivl_loader_new(be, dir, config, precision, error) : NULL;
  ivl_language *lm =
      loader ? ivl_language_new(be, &config->llm, loader, PROMPT + r->steps + 1, NULL, error)
             : NULL;
  if (lm == NULL) {
    ivl_loader_free(loader);
    if (be)
      be->ops->free(be);
    ivl_config_free(config);
    return FALSE;
  }
  r->vocab = config->llm.vocab_size;
  r->logits = g_new(float, (size_t)(r->steps + 1) * r->vocab);
  int32_t prompt[PROMPT];
  for (int i = 0; i < PROMPT; i++)
    prompt[i] = (int32_t)((100 + 37 * i) % MIN(5000, r->vocab));
  gboolean ok = ivl_language_forward(lm, prompt, PROMPT, 0, -1, NULL, error);
  for (int s = 0; ok && s <= r->steps; s++) {
    ok = ivl_language_get_logits(lm, r->logits + (size_t)s * r->vocab, error);
    if (!ok || s == r->steps)
      break;
    if (!force)
      tokens[s] = ivl_language_argmax(lm);
    ok = ivl_language_forward(lm, &tokens[s], 1, PROMPT + s, -1, NULL, error);
  }
  ivl_language_free(lm);
  ivl_loader_free(loader);
  be->ops->free(be);
  ivl_config_free(config);
  return ok;
}

static void compare(const char *model, const char *what, const run *ref, const run *got)
{
  logits_diff_row(model, what, ref->logits, got->logits, ref->steps + 1, ref->vocab);
}

int main(int argc, char **argv)
{
  int steps = 200, n_threads = 2;
  GOptionEntry entries[] = {
      {"steps", 0, 0, G_OPTION_ARG_INT, &steps, "Greedy tokens after the prompt (200)", "N"},
      {"threads", 0, 0, G_OPTION_ARG_INT, &n_threads, "CPU threads (default 2)", "N"},
      {NULL, 0, 0, 0, NULL, NULL, NULL},
  };
  g_autoptr(GOptionContext) ctx = g_option_context_new("MODEL_DIR [NAME]");
  g_option_context_add_main_entries(ctx, entries, NULL);
  g_autoptr(GError) error = NULL;
  if (!g_option_context_parse(ctx, &argc, &argv, &error) || argc < 2 || steps < 1) {
    fprintf(stderr, "usage: int-dot-accuracy [--steps N] [--threads N] MODEL_DIR [NAME]%s%s\n",
            error ? ": " : "", error ? error->message : "");
    return 2;
  }
  const char *dir = argv[1], *name = argc > 2 ? argv[2] : argv[1];
  int32_t *tokens = g_new(int32_t, steps);
  run bf16 = {.steps = steps};
  if (!generate(dir, IVL_PRECISION_BF16, FALSE, n_threads, tokens, FALSE, &bf16, &error)) {
    fprintf(stderr, "%s bf16: %s\n", dir, error->message);
    return 1;
  }
  static const ivl_precision precisions[] = {IVL_PRECISION_INT8, IVL_PRECISION_Q4};
  for (gsize p = 0; p < G_N_ELEMENTS(precisions); p++) {
    run fl = {.steps = steps}, in = {.steps = steps};
    const char *pn = ivl_precision_name(precisions[p]);
    if (!generate(dir, precisions[p], FALSE, n_threads, tokens, TRUE, &fl, &error) ||
        !generate(dir, precisions[p], TRUE, n_threads, tokens, TRUE, &in, &error)) {
      fprintf(stderr, "%s %s: %s\n", dir, pn, error->message);
      return 1;
    }
    g_autofree char *a = g_strdup_printf("%s float vs bf16", pn);
    g_autofree char *b = g_strdup_printf("%s int-dot vs bf16", pn);
    g_autofree char *c = g_strdup_printf("%s int-dot vs %s float", pn, pn);
    compare(name, a, &bf16, &fl);
    compare(name, b, &bf16, &in);
    compare(name, c, &fl, &in);
    fflush(stdout);
    g_free(fl.logits);
    g_free(in.logits);
  }
  g_free(bf16.logits);
  g_free(tokens);
  return 0;
}
