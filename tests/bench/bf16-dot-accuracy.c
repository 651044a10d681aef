/* bf16-dot-accuracy — what the CPU's bf16 dot products (cpu-gemm-bf16dot.c: activations
 * rounded to bf16 in the products of bf16 weights, IVL_CPU_BF16_DOT) change, against the f32
 * products (IVL_CPU_BF16_DOT=0), with bf16 weights:
 *   - decode: a prompt of PROMPT tokens, then STEPS greedy tokens of the f32 run; the bf16-dot
 *     run is teacher-forced on them. Only products of more than a few rows take bf16 dot
 *     products (the GEMV of one token stays f32), so this is the prompt's prefill seen through
 *     the KV cache, as a user's answer sees it;
 *   - prefill: the same tokens fed in chunks of CHUNK (every product on the bf16 dot path),
 *     the logits after each chunk;
 *   - vision: one 448 tile's hidden states, where the model has a vision tower.
 * Per run: the largest and the mean |Δlogit| over the vocabulary and the steps, the mean
 * |logit|, and the share of steps whose top-1 token agrees; for vision, max and mean |Δ| over
 * the max and mean |value|. Prints markdown rows (tools/bf16-dot-accuracy.sh runs it on
 * several models): the language model's, or with --vision the vision tower's.
 * Usage: bf16-dot-accuracy [--steps N] [--threads N] [--vision] MODEL_DIR [NAME] */
#include "config.h"
#include "ivl.h"
#include "language.h"
#include "logits-compare.h"
#include "model-loader.h"
#include "vision.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROMPT 64
#define CHUNK 16

typedef struct {
  int n, vocab;  /* n logit vectors */
  float *logits; /* [n][vocab] */
  float *vision; /* [vision_n] hidden states of one tile, or NULL */
  int64_t vision_n;
} run;

typedef struct {
  ivl_config *config;
  ivl_backend *be;
  ivl_loader *loader;
} parts;

static void parts_clear(parts *p)
{
  ivl_loader_free(p->loader);
  if (p->be)
    p->be->ops->free(p->be);
  ivl_config_free(p->config);
}

static gboolean parts_load(parts *p, const char *dir, gboolean bf16_dot, int n_threads,
                           GError **error)
{
  *p = (parts){0};
  g_setenv("IVL_CPU_BF16_DOT", bf16_dot ? "1" : "0", TRUE); /* read by the backend */
  return (p->config = ivl_config_load(dir, error)) &&
         (p->be = ivl_backend_cpu_new(n_threads, error)) &&
         (p->loader = ivl_loader_new(p->be, dir, p->config, IVL_PRECISION_BF16, error));
}

/* tokens[0..steps): generated when !force, else fed. chunked: PROMPT + steps tokens in chunks
 * of CHUNK, logits after each; else the prompt, then one token at a time. */
static gboolean language(const char *dir, gboolean bf16_dot, int n_threads, int steps,
                         int32_t *tokens, gboolean force, gboolean chunked, run *r, GError **error)
{
  parts p;
  ivl_language *lm = NULL;
  if (!parts_load(&p, dir, bf16_dot, n_threads, error) ||
      !(lm = ivl_language_new(p.be, &p.config->llm, p.loader, PROMPT + steps + 1, NULL, error))) {
    parts_clear(&p);
    return FALSE;
  }
  int total = PROMPT + steps;
  g_autofree int32_t *seq = g_new(int32_t, total);
  r->vocab = p.config->llm.vocab_size;
  for (int i = 0; i < PROMPT; i++)
    seq[i] = (int32_t)((100 + 37 * i) % MIN(5000, r->vocab));
  memcpy(seq + PROMPT, tokens, (size_t)steps * sizeof(int32_t));
  r->n = chunked ? total / CHUNK : steps + 1;
  r->logits = g_new(float, (size_t)r->n * r->vocab);
  gboolean ok = TRUE;
  if (chunked) {
    for (int c = 0; ok && c < r->n; c++)
      ok = ivl_language_forward(lm, seq + c * CHUNK, CHUNK, c * CHUNK, -1, NULL, error) &&
           ivl_language_get_logits(lm, r->logits + (size_t)c * r->vocab, error);
  } else {
    ok = ivl_language_forward(lm, seq, PROMPT, 0, -1, NULL, error);
    for (int s = 0; ok && s <= steps; s++) {
      ok = ivl_language_get_logits(lm, r->logits + (size_t)s * r->vocab, error);
      if (!ok || s == steps)
        break;
      if (!force)
        tokens[s] = ivl_language_argmax(lm);
      ok = ivl_language_forward(lm, &tokens[s], 1, PROMPT + s, -1, NULL, error);
    }
  }
  ivl_language_free(lm);
  parts_clear(&p);
  return ok;
}

/* The hidden states of one tile of a fixed pattern, or r->vision NULL without a vision tower. */
static gboolean vision(const char *dir, gboolean bf16_dot, int n_threads, run *r, GError **error)
{
  parts p;
  ivl_vision *v = NULL;
  if (!parts_load(&p, dir, bf16_dot, n_threads, error)) {
    parts_clear(&p);
    return FALSE;
  }
  if (p.config->vision.hidden_size <= 0) {
    parts_clear(&p);
    return TRUE;
  }
  int size = p.config->vision.image_size;
  g_autofree float *px = g_new(float, (size_t)3 * size * size);
  for (int64_t i = 0; i < (int64_t)3 * size * size; i++)
    px[i] = (float)((i * 7 + i / size * 3) % 29) / 14.0f - 1.0f;
  ivl_tensor *out = NULL;
  gboolean ok =
      (v = ivl_vision_new(p.be, &p.config->vision, p.config->select_layer, p.loader, error)) &&
      (out = ivl_vision_encode(v, px, 1, error)) != NULL;
  if (ok) {
    r->vision_n = out->rows * out->cols;
    r->vision = g_new(float, r->vision_n);
    ok = p.be->ops->download_f32(p.be, out, 0, out->rows, r->vision, error);
    p.be->ops->tensor_free(p.be, out);
  }
  ivl_vision_free(v);
  parts_clear(&p);
  return ok;
}

static void compare(const char *model, const char *what, const run *ref, const run *got)
{
  logits_diff_row(model, what, ref->logits, got->logits, ref->n, ref->vocab);
}

static void compare_vision(const char *model, const run *ref, const run *got)
{
  double max_d = 0, sum_d = 0, max_ref = 0, sum_ref = 0;
  for (int64_t i = 0; i < ref->vision_n; i++) {
    double d = fabs((double)got->vision[i] - ref->vision[i]);
    max_d = MAX(max_d, d);
    sum_d += d;
    max_ref = MAX(max_ref, fabs(ref->vision[i]));
    sum_ref += fabs(ref->vision[i]);
  }
  printf("| %s | %.3g | %.3g | %.2e | %.3g | %.3g | %.2e |\n", model, max_d, max_ref,
         max_d / MAX(max_ref, 1e-30), sum_d / ref->vision_n, sum_ref / ref->vision_n,
         sum_d / MAX(sum_ref, 1e-30));
}

int main(int argc, char **argv)
{
  int steps = 256, n_threads = 2;
  gboolean only_vision = FALSE;
  GOptionEntry entries[] = {
      {"vision", 0, 0, G_OPTION_ARG_NONE, &only_vision,
       "The vision tower's row only: max |Δ|, max |h|, their ratio, the same for the means", NULL},
      {"steps", 0, 0, G_OPTION_ARG_INT, &steps, "Greedy tokens after the prompt (256)", "N"},
      {"threads", 0, 0, G_OPTION_ARG_INT, &n_threads, "CPU threads (default 2)", "N"},
      {NULL, 0, 0, 0, NULL, NULL, NULL},
  };
  g_autoptr(GOptionContext) ctx = g_option_context_new("MODEL_DIR [NAME]");
  g_option_context_add_main_entries(ctx, entries, NULL);
  g_autoptr(GError) error = NULL;
  if (!g_option_context_parse(ctx, &argc, &argv, &error) || argc < 2 || steps < CHUNK) {
    fprintf(stderr, "usage: bf16-dot-accuracy [--steps N>=%d] [--threads N] MODEL_DIR [NAME]%s%s\n",
            CHUNK, error ? ": " : "", error ? error->message : "");
    return 2;
  }
  const char *dir = argv[1], *name = argc > 2 ? argv[2] : argv[1];
  g_autofree int32_t *tokens = g_new(int32_t, steps);
  run f32 = {0}, dot = {0}, f32c = {0}, dotc = {0}, f32v = {0}, dotv = {0};
  if (only_vision) {
    if (!vision(dir, FALSE, n_threads, &f32v, &error) ||
        !vision(dir, TRUE, n_threads, &dotv, &error)) {
      fprintf(stderr, "%s: %s\n", dir, error->message);
      return 1;
    }
    if (f32v.vision != NULL)
      compare_vision(name, &f32v, &dotv);
    g_free(f32v.vision), g_free(dotv.vision);
    return 0;
  }
  if (!language(dir, FALSE, n_threads, steps, tokens, FALSE, FALSE, &f32, &error) ||
      !language(dir, TRUE, n_threads, steps, tokens, TRUE, FALSE, &dot, &error) ||
      !language(dir, FALSE, n_threads, steps, tokens, TRUE, TRUE, &f32c, &error) ||
      !language(dir, TRUE, n_threads, steps, tokens, TRUE, TRUE, &dotc, &error)) {
    fprintf(stderr, "%s: %s\n", dir, error->message);
    return 1;
  }
  g_autofree char *decode = g_strdup_printf("decode after a %d-token prefill", PROMPT);
  g_autofree char *prefill = g_strdup_printf("prefill in chunks of %d", CHUNK);
  compare(name, decode, &f32, &dot);
  compare(name, prefill, &f32c, &dotc);
  g_free(f32.logits), g_free(dot.logits), g_free(f32c.logits), g_free(dotc.logits);
  return 0;
}
