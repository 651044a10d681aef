/* cmd-bench.c — `ivl bench`: prefill and decode speed, time to first token with a 13-tile
 * image, vision time per tile and peak memory, each speed beside the machine's measured
 * ceiling (memory bandwidth for decode, FMA peak for prefill and vision; where the CPU's
 * products of the weights take bf16 or int8 dot products, their peak instead: "compute_peak"
 * says which).
 *
 * Inputs are synthetic (fixed token ids, patterned tiles): speed does not depend on what
 * the tokens say, and the benchmark then needs neither a tokenizer nor an image file.
 *
 * --parallel 1,2,4,8 decodes that many streams at once (one forward pass a step over all of
 * them): reading the weights is the bound of a decode step, so the tokens of all streams
 * together grow with the count while the bandwidth allows.
 *
 * --compare FILE.json divides each figure by the same figure of a saved `ivl bench --json`
 * run: the machine's speed drifts over the day, so a change is judged by ratios measured
 * minutes apart rather than by absolute figures from different days.
 */
#include "ivl-config.h"

#include <glib/gi18n.h>
#include <stdio.h>
#include <string.h>

#include "bench-projection.h"
#include "cmd-common.h"
#include "commands.h"
#include "json-check.h"
#include "model.h"
#include "roofline.h"
#include "safetensors.h"

/* Decode of several streams stepped together (--parallel). */
typedef struct {
  int streams;
  double tps;            /* tokens of all streams per second */
  double per_stream_tps; /* of each stream */
  double gbps;           /* weights once a step, and every stream's KV cache */
} bench_parallel;

#define MAX_PARALLEL_RUNS 16
#define MAX_STREAMS 256

typedef struct {
  double load_s;
  double vision_ms_per_tile, vision_gflops;
  double ttft_ms;
  int ttft_tokens, ttft_tiles;
  double prefill_tps, prefill_gflops;
  double decode_tps, decode_gbps, decode_weight_bytes;
  double peak_rss_mib;
  double roof_gbps, roof_gflops;
  /* the bf16 and int8 dot products' peaks (0: not measured), and the one the vision and
   * prefill fractions are of (roof_gflops, or one of these: compute_peak) */
  double roof_bf16_gflops, roof_int8_gops, compute_gflops;
  const char *compute_peak;
  bench_parallel parallel[MAX_PARALLEL_RUNS];
  int n_parallel;
} bench_result;

static double now_s(void)
{
  return (double)g_get_monotonic_time() / 1e6;
}

static double peak_rss_mib(void)
{
  g_autofree char *status = NULL;
  if (!g_file_get_contents("/proc/self/status", &status, NULL, NULL))
    return 0;
  const char *p = strstr(status, "VmHWM:");
  return p ? g_ascii_strtod(p + 6, NULL) / 1024.0 : 0;
}

/* Multiply-adds x2 of one language-model token at context length ctx (lm_head excluded). */
static double lm_flops_per_token(const ivl_llm_config *c, double ctx)
{
  double d = c->hidden_size, qd = (double)c->num_heads * c->head_dim;
  double kvd = (double)c->num_kv_heads * c->head_dim, f = c->intermediate_size;
  double per_layer = d * qd * 2 + d * kvd * 2 + 3 * d * f + 2 * qd * ctx;
  return 2 * per_layer * c->num_layers;
}

static double vision_flops_per_tile(const ivl_config *c)
{
  double dv = c->vision.hidden_size, f = c->vision.intermediate_size, dl = c->llm.hidden_size;
  double g = (double)c->vision.image_size / c->vision.patch_size, t = g * g + 1;
  double per_layer = t * (4 * dv * dv + 2 * dv * f) + 2 * t * t * dv;
  double proj = (g * g / 4) * (4 * dv * dl + dl * dl);
  return 2 * (per_layer * c->vision.num_layers + g * g * 3 * 196 * dv + proj);
}

/* Bytes a decode step streams: every language weight as the backend holds it (quantized,
 * or bf16 on CUDA) but the embedding table (embed_tokens, tok_embeddings), of which it reads
 * one row. */
static double lm_weight_bytes(ivl_model *m)
{
  return (double)ivl_loader_bytes_held(m->loader, "language_model.", "embed");
}

static float *bench_tiles(int n, int size)
{
  size_t per = (size_t)3 * size * size;
  float *px = g_new(float, n *per);
  for (size_t i = 0; i < n * per; i++)
    px[i] = (float)(i % 251) / 125.0f - 1.0f;
  return px;
}

static int32_t *bench_ids(int n, int vocab)
{
  int32_t *ids = g_new(int32_t, n);
  for (int i = 0; i < n; i++)
    ids[i] = (int32_t)((i * 7919u + 13u) % (guint)(vocab - 1));
  return ids;
}

static gboolean run_vision_and_ttft(ivl_model *m, int n_tiles, bench_result *r,
                                    ivl_bench_projection *proj, GError **error)
{
  const ivl_config *c = m->config;
  int vocab = c->llm.vocab_size, per = c->num_image_token;
  g_autofree float *px = bench_tiles(n_tiles, c->vision.image_size);
  int n_text = 40, n = n_text + n_tiles * per;
  g_autofree int32_t *ids = bench_ids(n, vocab);
  int32_t image_token = vocab - 1;
  for (int i = 20; i < 20 + n_tiles * per; i++)
    ids[i] = image_token;

  double t0 = now_s();
  ivl_bench_projection_begin(proj);
  ivl_tensor *emb = ivl_model_encode_tiles(m, px, n_tiles, NULL, error);
  ivl_bench_projection_end(proj, IVL_PHASE_VISION, n_tiles);
  if (!emb)
    return FALSE;
  double t1 = now_s();
  ivl_bench_projection_begin(proj);
  gboolean ok = ivl_language_forward(m->language, ids, n, 0, image_token, emb, error);
  if (ok)
    (void)ivl_language_argmax(m->language);
  ivl_bench_projection_end(proj, IVL_PHASE_TTFT, 1);
  double t2 = now_s();
  emb->backend->ops->tensor_free(emb->backend, emb);
  r->vision_ms_per_tile = (t1 - t0) * 1e3 / n_tiles;
  r->vision_gflops = vision_flops_per_tile(c) * n_tiles / (t1 - t0) / 1e9;
  r->ttft_ms = (t2 - t0) * 1e3;
  r->ttft_tokens = n;
  r->ttft_tiles = n_tiles;
  return ok;
}

static gboolean run_text(ivl_model *m, int n_prompt, int n_decode, bench_result *r,
                         ivl_bench_projection *proj, GError **error)
{
  const ivl_llm_config *c = &m->config->llm;
  g_autofree int32_t *ids = bench_ids(n_prompt, c->vocab_size);
  double t0 = now_s();
  ivl_bench_projection_begin(proj);
  if (!ivl_language_forward(m->language, ids, n_prompt, 0, -1, NULL, error))
    return FALSE;
  int32_t tok = ivl_language_argmax(m->language);
  ivl_bench_projection_end(proj, IVL_PHASE_PREFILL, n_prompt);
  double t1 = now_s();
  ivl_bench_projection_begin(proj);
  for (int i = 0; i < n_decode; i++) {
    if (!ivl_language_forward(m->language, &tok, 1, n_prompt + i, -1, NULL, error))
      return FALSE;
    tok = ivl_language_argmax(m->language);
  }
  ivl_bench_projection_end(proj, IVL_PHASE_DECODE, n_decode);
  double t2 = now_s();
  double lm_head = 2.0 * c->hidden_size * c->vocab_size;
  r->prefill_tps = n_prompt / (t1 - t0);
  r->prefill_gflops =
      (lm_flops_per_token(c, n_prompt / 2.0) * n_prompt + lm_head) / (t1 - t0) / 1e9;
  r->decode_tps = n_decode / (t2 - t1);
  double kv_bytes =
      2.0 * c->num_layers * c->num_kv_heads * c->head_dim * 4 * (n_prompt + n_decode / 2.0);
  r->decode_weight_bytes = lm_weight_bytes(m);
  r->decode_gbps = (r->decode_weight_bytes + kv_bytes) * r->decode_tps / 1e9;
  return TRUE;
}

/* KV bytes a decode step reads at context ctx. */
static double kv_read_bytes(const ivl_llm_config *c, double ctx, ivl_model *m)
{
  return 2.0 * c->num_layers * c->num_kv_heads * c->head_dim *
         ivl_dtype_size(m->backend->act_dtype) * ctx;
}

/* n_prompt tokens then n_decode decode steps of `streams` sequences stepped together (one
 * forward pass a step, ivl_language_forward_batch), each with its own cache; the prompts are
 * read first, one after another, and only the decode is timed. */
static gboolean run_parallel(ivl_model *m, int streams, int n_prompt, int n_decode,
                             bench_parallel *out, GError **error)
{
  const ivl_llm_config *c = &m->config->llm;
  ivl_language *lm = m->language;
  int max_rows = ivl_language_get_max_rows(lm);
  g_autofree ivl_kv_cache **kv = g_new0(ivl_kv_cache *, streams);
  g_autofree ivl_lm_rows *rows = g_new0(ivl_lm_rows, streams);
  g_autofree int32_t *tok = g_new0(int32_t, streams);
  g_autofree int32_t *ids = bench_ids(n_prompt + streams, c->vocab_size);
  double theta = ivl_language_rope_theta(c, n_prompt);
  gboolean ok = TRUE;
  for (int s = 0; ok && s < streams; s++) {
    ok = (kv[s] = ivl_kv_cache_new(lm, n_prompt + n_decode, error)) != NULL;
    for (int p = 0; ok && p < n_prompt; p += max_rows) {
      ivl_lm_rows r = {.kv = kv[s],
                       .ids = ids + s + p,
                       .n = MIN(max_rows, n_prompt - p),
                       .pos0 = p,
                       .image_token = -1,
                       .theta = theta};
      r.logits = p + r.n == n_prompt;
      ok = ivl_language_forward_batch(lm, &r, 1, error);
    }
    if (ok)
      tok[s] = ivl_language_argmax_row(lm, 0);
  }
  double t0 = now_s();
  for (int i = 0; ok && i < n_decode; i++) {
    for (int s = 0; s < streams; s++)
      rows[s] = (ivl_lm_rows){.kv = kv[s],
                              .ids = &tok[s],
                              .n = 1,
                              .pos0 = n_prompt + i,
                              .image_token = -1,
                              .theta = ivl_language_rope_theta(c, n_prompt + i + 1),
                              .logits = TRUE};
    ok = ivl_language_forward_batch(lm, rows, streams, error);
    for (int s = 0; ok && s < streams; s++)
      tok[s] = ivl_language_argmax_row(lm, s);
  }
  double t = now_s() - t0;
  for (int s = 0; s < streams; s++)
    ivl_kv_cache_free(kv[s]);
  if (!ok)
    return FALSE;
  out->streams = streams;
  out->per_stream_tps = n_decode / t;
  out->tps = out->per_stream_tps * streams;
  out->gbps = (lm_weight_bytes(m) + streams * kv_read_bytes(c, n_prompt + n_decode / 2.0, m)) *
              out->per_stream_tps / 1e9;
  return TRUE;
}

/* "1,2,4,8" into counts[], each 1 to MAX_STREAMS. */
static gboolean parse_parallel(const char *list, int *counts, int *n, GError **error)
{
  g_auto(GStrv) parts = g_strsplit(list, ",", -1);
  *n = 0;
  for (int i = 0; parts[i]; i++) {
    guint64 v = 0;
    if (*n == MAX_PARALLEL_RUNS ||
        !g_ascii_string_to_unsigned(g_strstrip(parts[i]), 10, 1, MAX_STREAMS, &v, NULL)) {
      g_set_error(error, IVL_ERROR, IVL_ERROR_INVALID_ARGUMENT,
                  _("--parallel takes up to %d stream counts between 1 and %d, such as 1,2,4,8"),
                  MAX_PARALLEL_RUNS, MAX_STREAMS);
      return FALSE;
    }
    counts[(*n)++] = (int)v;
  }
  if (*n == 0) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_INVALID_ARGUMENT,
                _("--parallel takes up to %d stream counts between 1 and %d, such as 1,2,4,8"),
                MAX_PARALLEL_RUNS, MAX_STREAMS);
    return FALSE;
  }
  return TRUE;
}

static gboolean measure_ceilings(ivl_model *m, bench_result *r, int n_threads, GError **error)
{
  ivl_roofline roof;
  if (g_str_equal(ivl_model_get_backend_name(m), "cpu")) {
    if (!ivl_roofline_measure(n_threads, &roof, error))
      return FALSE;
    r->roof_gbps = roof.read_bytes_per_s / 1e9;
    r->roof_gflops = roof.f32_flops_per_s / 1e9;
    r->roof_bf16_gflops = roof.bf16_flops_per_s / 1e9;
    r->roof_int8_gops = roof.int8_ops_per_s / 1e9;
    /* the weights' products then run at the bf16 or int8 dot products' rate (attention's
     * parts in f32): a fraction of the FMA peak would read above 1 */
    ivl_precision precision = ivl_model_get_precision(m);
    if (precision == IVL_PRECISION_BF16 && r->roof_bf16_gflops > 0) {
      r->compute_peak = "bf16_dot";
      r->compute_gflops = r->roof_bf16_gflops;
    } else if (precision != IVL_PRECISION_BF16 && r->roof_int8_gops > 0) {
      r->compute_peak = "int8_dot";
      r->compute_gflops = r->roof_int8_gops;
    } else {
      r->compute_peak = "f32_fma";
      r->compute_gflops = r->roof_gflops;
    }
    return TRUE;
  }
  /* engine/roofline measures the host; a device's ceilings are not measured here, and the
   * fractions are then reported as unknown (0 ceilings). */
  (void)error;
  r->roof_gbps = r->roof_gflops = r->roof_bf16_gflops = r->roof_int8_gops = r->compute_gflops = 0;
  return TRUE;
}

/* The peak the vision and prefill fractions are of, for the JSON. */
static const char *compute_peak_name(const bench_result *r)
{
  if (r->compute_gflops <= 0)
    return "unknown";
  return r->compute_peak;
}

/* x as a fraction of its ceiling, or -1 when the ceiling is unknown. */
static double fraction(double x, double ceiling)
{
  return ceiling > 0 ? x / ceiling : -1;
}

/* The figures --compare divides: the JSON key, the label of the text output and the value. */
typedef struct {
  const char *key, *label;
  double value;
} bench_figure;

#define N_FIGURES 14

static void bench_figures(const bench_result *r, bench_figure out[N_FIGURES])
{
  const bench_figure f[N_FIGURES] = {
      {"load_s", N_("load (s)"), r->load_s},
      {"vision_ms_per_tile", N_("vision (ms per tile)"), r->vision_ms_per_tile},
      {"vision_gflops", N_("vision (GFLOP/s)"), r->vision_gflops},
      {"vision_fraction_of_peak", N_("vision (fraction of peak)"),
       fraction(r->vision_gflops, r->compute_gflops)},
      {"ttft_ms", N_("first token (ms)"), r->ttft_ms},
      {"prefill_tokens_per_s", N_("prefill (tokens/s)"), r->prefill_tps},
      {"prefill_gflops", N_("prefill (GFLOP/s)"), r->prefill_gflops},
      {"prefill_fraction_of_peak", N_("prefill (fraction of peak)"),
       fraction(r->prefill_gflops, r->compute_gflops)},
      {"decode_tokens_per_s", N_("decode (tokens/s)"), r->decode_tps},
      {"decode_gb_per_s", N_("decode (GB/s)"), r->decode_gbps},
      {"decode_fraction_of_bandwidth", N_("decode (fraction of bandwidth)"),
       fraction(r->decode_gbps, r->roof_gbps)},
      {"peak_rss_mib", N_("peak memory (MiB)"), r->peak_rss_mib},
      {"machine_bandwidth_gb_per_s", N_("machine bandwidth (GB/s)"), r->roof_gbps},
      {"machine_peak_gflops", N_("machine FMA peak (GFLOP/s)"), r->roof_gflops},
  };
  memcpy(out, f, sizeof f);
}

/* The ratio of value to the saved figure, or -1 when either is unknown (absent, zero, or
 * the -1 of an unmeasured fraction). */
static double figure_ratio(JsonObject *saved, const bench_figure *f)
{
  double was = ivl_json_number_or(saved, f->key, -1);
  return was > 0 && f->value > 0 ? f->value / was : -1;
}

/* The saved run of --compare, read before the benchmark so a bad file costs no minutes. */
static JsonParser *load_saved_run(const char *path, GError **error)
{
  g_autoptr(JsonParser) parser = ivl_json_load_file(path, 1 << 20, path, error);
  if (!parser)
    return NULL;
  JsonNode *root = json_parser_get_root(parser);
  if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_CORRUPT,
                _("%s: not the JSON object of `ivl bench --json`"), path);
    return NULL;
  }
  return g_steal_pointer(&parser);
}

static void print_comparison_json(const bench_result *r, JsonObject *saved, const char *path)
{
  bench_figure f[N_FIGURES];
  bench_figures(r, f);
  /* The path as a JSON string: UTF-8 (as the user's locale displays it), escaped. */
  g_autofree char *display = g_filename_display_name(path);
  g_autoptr(JsonNode) node = json_node_init_string(json_node_alloc(), display);
  g_autofree char *quoted = json_to_string(node, FALSE);
  printf(",\"compare_file\":%s,\"compare\":{", quoted);
  for (int i = 0; i < N_FIGURES; i++) {
    double ratio = figure_ratio(saved, &f[i]);
    printf(i ? ",\"%s\":" : "\"%s\":", f[i].key);
    if (ratio > 0)
      printf("%.4f", ratio);
    else
      printf("null");
  }
  printf("}");
}

static void print_comparison_text(const bench_result *r, JsonObject *saved, const char *path)
{
  bench_figure f[N_FIGURES];
  bench_figures(r, f);
  printf("\n");
  g_autofree char *display = g_filename_display_name(path);
  printf(_("compared with %s (%s, %s weights): now / then\n"), display,
         ivl_json_string_or(saved, "backend", "?"), ivl_json_string_or(saved, "precision", "?"));
  for (int i = 0; i < N_FIGURES; i++) {
    double ratio = figure_ratio(saved, &f[i]);
    if (ratio > 0)
      printf("  %-32s %.3f\n", _(f[i].label), ratio);
    else
      printf("  %-32s %s\n", _(f[i].label), _("unknown"));
  }
}

static void print_result(const bench_result *r, const char *backend, const char *precision,
                         gboolean json, JsonObject *saved, const char *saved_path,
                         const ivl_bench_projection *proj)
{
  if (json) {
    printf("{\"backend\":\"%s\",\"precision\":\"%s\",\"decode_weight_bytes\":%.0f,"
           "\"load_s\":%.3f,\"vision_ms_per_tile\":%.2f,"
           "\"vision_gflops\":%.2f,\"vision_fraction_of_peak\":%.3f,"
           "\"ttft_ms\":%.1f,\"ttft_tokens\":%d,\"ttft_tiles\":%d,"
           "\"prefill_tokens_per_s\":%.2f,\"prefill_gflops\":%.2f,"
           "\"prefill_fraction_of_peak\":%.3f,\"decode_tokens_per_s\":%.2f,"
           "\"decode_gb_per_s\":%.2f,\"decode_fraction_of_bandwidth\":%.3f,"
           "\"peak_rss_mib\":%.1f,\"machine_bandwidth_gb_per_s\":%.2f,"
           "\"machine_peak_gflops\":%.2f,\"machine_bf16_dot_peak_gflops\":%.2f,"
           "\"machine_int8_dot_peak_gops\":%.2f,"
           "\"compute_peak\":\"%s\"",
           backend, precision, r->decode_weight_bytes, r->load_s, r->vision_ms_per_tile,
           r->vision_gflops, fraction(r->vision_gflops, r->compute_gflops), r->ttft_ms,
           r->ttft_tokens, r->ttft_tiles, r->prefill_tps, r->prefill_gflops,
           fraction(r->prefill_gflops, r->compute_gflops), r->decode_tps, r->decode_gbps,
           fraction(r->decode_gbps, r->roof_gbps), r->peak_rss_mib, r->roof_gbps, r->roof_gflops,
           r->roof_bf16_gflops, r->roof_int8_gops, compute_peak_name(r));
    if (r->n_parallel > 0) {
      printf(",\"parallel\":[");
      for (int i = 0; i < r->n_parallel; i++) {
        const bench_parallel *p = &r->parallel[i];
        printf("%s{\"streams\":%d,\"decode_tokens_per_s\":%.2f,"
               "\"per_stream_tokens_per_s\":%.2f,\"decode_gb_per_s\":%.2f,"
               "\"decode_fraction_of_bandwidth\":%.3f}",
               i ? "," : "", p->streams, p->tps, p->per_stream_tps, p->gbps,
               fraction(p->gbps, r->roof_gbps));
      }
      printf("]");
    }
    if (saved)
      print_comparison_json(r, saved, saved_path);
    if (proj)
      ivl_bench_projection_print_json(proj, r->decode_weight_bytes, r->ttft_tiles, stdout);
    printf("}\n");
    return;
  }
  printf(_("backend            %s, %s weights (model loaded in %.2f s)\n"), backend, precision,
         r->load_s);
  printf(_("machine            %.1f GB/s memory bandwidth, %.1f GFLOP/s FMA peak\n"), r->roof_gbps,
         r->roof_gflops);
  if (g_strcmp0(r->compute_peak, "bf16_dot") == 0)
    printf(_("bf16 products      %.1f GFLOP/s bf16 dot-product peak, which the vision and prefill "
             "fractions are of\n"),
           r->compute_gflops);
  else if (g_strcmp0(r->compute_peak, "int8_dot") == 0)
    printf(_("integer products   %.1f GOP/s int8 dot-product peak, which the vision and prefill "
             "fractions are of\n"),
           r->compute_gflops);
  printf(_("vision             %.1f ms per tile, %.1f GFLOP/s (%.0f%% of peak)\n"),
         r->vision_ms_per_tile, r->vision_gflops,
         100 * fraction(r->vision_gflops, r->compute_gflops));
  printf(_("first token        %.0f ms with a %d-tile image (%d prompt tokens)\n"), r->ttft_ms,
         r->ttft_tiles, r->ttft_tokens);
  printf(_("prefill            %.1f tokens/s, %.1f GFLOP/s (%.0f%% of peak)\n"), r->prefill_tps,
         r->prefill_gflops, 100 * fraction(r->prefill_gflops, r->compute_gflops));
  printf(_("decode             %.2f tokens/s, %.1f GB/s (%.0f%% of bandwidth)\n"), r->decode_tps,
         r->decode_gbps, 100 * fraction(r->decode_gbps, r->roof_gbps));
  for (int i = 0; i < r->n_parallel; i++) {
    const bench_parallel *p = &r->parallel[i];
    printf(_("decode %3d streams %.2f tokens/s (%.2f each), %.1f GB/s (%.0f%% of bandwidth)\n"),
           p->streams, p->tps, p->per_stream_tps, p->gbps, 100 * fraction(p->gbps, r->roof_gbps));
  }
  printf(_("peak memory        %.0f MiB (VmHWM)\n"), r->peak_rss_mib);
  if (proj)
    ivl_bench_projection_print_text(proj, r->decode_weight_bytes, r->ttft_tiles, stdout);
  if (saved)
    print_comparison_text(r, saved, saved_path);
}

#define MAX_TOKENS (1 << 20)
#define MAX_TILES 256

int ivl_cmd_bench(int argc, char **argv)
{
  ivl_cli_model_options mo = {0};
  gboolean json = FALSE;
  g_autofree char *compare = NULL, *parallel = NULL;
  int n_prompt = 512, n_decode = 32, n_tiles = 13;
  const GOptionEntry entries[] = {
      {"json", 0, 0, G_OPTION_ARG_NONE, &json, N_("Print one JSON object"), NULL},
      {"prompt-tokens", 0, 0, G_OPTION_ARG_INT, &n_prompt,
       N_("Text prompt length for prefill (default 512)"), "N"},
      {"decode-tokens", 0, 0, G_OPTION_ARG_INT, &n_decode, N_("Tokens to decode (default 32)"),
       "N"},
      {"tiles", 0, 0, G_OPTION_ARG_INT, &n_tiles,
       N_("Image tiles for time to first token (default 13)"), "N"},
      {"compare", 0, 0, G_OPTION_ARG_FILENAME, &compare,
       N_("Print each figure's ratio to a run saved with --json"), "FILE.json"},
      {"parallel", 0, 0, G_OPTION_ARG_STRING, &parallel,
       N_("Also decode this many streams at once, each count in turn (such as 1,2,4,8)"), "LIST"},
      {NULL},
  };
  g_autoptr(GOptionContext) ctx = g_option_context_new(NULL);
  g_option_context_set_summary(ctx, _("Measure prefill, decode and vision speed against the "
                                      "machine's bandwidth and FMA peak."));
  ivl_cli_add_model_options(ctx, &mo);
  g_option_context_add_main_entries(ctx, entries, GETTEXT_PACKAGE);
  if (!ivl_cli_parse(ctx, &argc, &argv)) {
    ivl_cli_model_options_clear(&mo);
    return 2;
  }
  /* The bounds keep the synthetic inputs (2.4 MB a tile) and the KV cache they size within a
   * machine; InternVL3 itself sees at most 40 tiles an image. */
  if (n_prompt < 1 || n_prompt > MAX_TOKENS || n_decode < 1 || n_decode > MAX_TOKENS ||
      n_tiles < 1 || n_tiles > MAX_TILES) {
    fprintf(stderr, "ivl bench: ");
    fprintf(stderr,
            _("--prompt-tokens and --decode-tokens must be between 1 and %d, --tiles "
              "between 1 and %d"),
            MAX_TOKENS, MAX_TILES);
    fprintf(stderr, "\n");
    ivl_cli_model_options_clear(&mo);
    return 2;
  }
  if (mo.context == IVL_CLI_UNSET_INT)
    mo.context = MAX(n_prompt + n_decode, 64 + n_tiles * 256);

  g_autoptr(GError) error = NULL;
  g_autoptr(JsonParser) saved = NULL;
  int streams[MAX_PARALLEL_RUNS], n_runs = 0;
  if ((parallel && !parse_parallel(parallel, streams, &n_runs, &error)) ||
      (compare && !(saved = load_saved_run(compare, &error)))) {
    fprintf(stderr, "ivl bench: %s\n", error->message);
    ivl_cli_model_options_clear(&mo);
    return 2;
  }
  bench_result r = {0};
  double t0 = now_s();
  ivl_model *model = ivl_cli_load_model(&mo, &error);
  r.load_s = now_s() - t0;
  ivl_bench_projection *proj =
      model ? ivl_bench_projection_new(ivl_model_get_backend_name(model)) : NULL;
  gboolean ok = model && run_vision_and_ttft(model, n_tiles, &r, proj, &error) &&
                run_text(model, n_prompt, n_decode, &r, proj, &error);
  for (int i = 0; ok && i < n_runs; i++)
    ok = run_parallel(model, streams[i], n_prompt, n_decode, &r.parallel[r.n_parallel++], &error);
  if (ok) {
    r.peak_rss_mib = peak_rss_mib();
    ok = measure_ceilings(model, &r, mo.threads == IVL_CLI_UNSET_INT ? 0 : mo.threads, &error);
  }
  if (ok)
    print_result(&r, ivl_model_get_backend_name(model),
                 ivl_precision_name(ivl_model_get_precision(model)), json,
                 saved ? json_node_get_object(json_parser_get_root(saved)) : NULL, compare, proj);
  else
    fprintf(stderr, "ivl bench: %s\n", error->message);
  ivl_bench_projection_free(proj);
  ivl_model_free(model);
  ivl_cli_model_options_clear(&mo);
  return ok ? 0 : 1;
}
