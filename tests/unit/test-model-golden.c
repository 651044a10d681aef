/* test-model-golden — the engine's forward passes against the PyTorch reference's goldens.
 *
 * Each golden file (tests/reference/goldens) names a tiny model (the parameters of
 * engine/tiny-model, whose weight files are pinned by sha256), deterministic test tiles and prompt
 * ids, and what tests/reference/internvl_ref.py computed from them in f32: vision hidden
 * states, projected embeddings, last-position logits and 32 greedy tokens.
 *
 *   test-model-golden GOLDEN.json…           compare (the meson test); each model also
 *                                            written in the "-hf" layout must give the very
 *                                            same outputs

 *   test-model-golden --write-model DIR GOLDEN.json   write the model (make_goldens.py)
 *
 * Tolerance. Both sides compute in f32 from the same (exactly widened) weights; they differ
 * only in summation order. A dot product of K terms then differs by about
 * sqrt(K) * 2^-24 * sum|terms|, ~1e-6 relative for these widths, and the ~10 sequential
 * matmul/norm/softmax steps of a tiny model compound that to ~1e-5 of the values' scale.
 * We allow 2e-4 of the scale (max |value| of the compared vector, at least 1): 20x margin
 * over the expected error while still catching any wrong index, scale or missing term,
 * which moves values by >=1e-2 of their scale. Greedy tokens must agree exactly, except
 * that at a step where the reference's top-two logits lie within the tolerance a different
 * (tied) choice is accepted and the comparison stops there.
 */
#include <json-glib/json-glib.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "language.h"
#include "model-loader.h"
#include "projector.h"
#include "golden-common.h"
#include "vision.h"

#define REL_TOL 2e-4

typedef struct {
  ivl_config *config;
  ivl_backend *be;
  ivl_loader *loader;
  ivl_vision *vision;
  ivl_projector *projector;
  ivl_language *language;
} parts;

static void parts_clear(parts *p)
{
  ivl_language_free(p->language);
  ivl_projector_free(p->projector);
  ivl_vision_free(p->vision);
  ivl_loader_free(p->loader);
  if (p->be)
    p->be->ops->free(p->be);
  ivl_config_free(p->config);
}

static gboolean parts_load(parts *p, const char *dir, int n_ctx, ivl_precision precision,
                           GError **error)
{
  *p = (parts){0};
  return (p->config = ivl_config_load(dir, error)) && (p->be = ivl_backend_cpu_new(2, error)) &&
         (p->loader = ivl_loader_new(p->be, dir, p->config, precision, error)) &&
         (p->vision = ivl_vision_new(p->be, &p->config->vision, p->config->select_layer, p->loader,
                                     error)) &&
         (p->projector = ivl_projector_new(p->be, p->config, p->loader, error)) &&
         (p->language = ivl_language_new(p->be, &p->config->llm, p->loader, n_ctx, NULL, error));
}

/* ---- golden file ---------------------------------------------------------------------- */

static float *test_pixels(int n_tiles, int size)
{
  float *px = g_new(float, (size_t)n_tiles * 3 * size * size);
  size_t i = 0;
  for (int t = 0; t < n_tiles; t++)
    for (int c = 0; c < 3; c++)
      for (int y = 0; y < size; y++)
        for (int x = 0; x < size; x++)
          px[i++] = (float)((t * 7 + c * 5 + y * 3 + x) % 29) / 14.0f - 1.0f;
  return px;
}

static GArray *prompt_ids(JsonArray *rle)
{
  GArray *ids = g_array_new(FALSE, FALSE, sizeof(int32_t));
  for (guint i = 0; i < json_array_get_length(rle); i++) {
    JsonArray *run = json_array_get_array_element(rle, i);
    int32_t id = json_array_get_int_element(run, 0);
    for (gint64 k = 0; k < json_array_get_int_element(run, 1); k++)
      g_array_append_val(ids, id);
  }
  return ids;
}

/* ---- comparisons ---------------------------------------------------------------------- */

static double scale_of(const float *x, size_t n)
{
  double m = 1.0;
  for (size_t i = 0; i < n; i++)
    m = MAX(m, fabs(x[i]));
  return m;
}

/* Checks sum and sum |x| (whole tensor) and the listed rows' leading values. */
static void check_summary(const char *what, const float *x, int64_t rows, int64_t cols,
                          JsonObject *g)
{
  double sum = 0, abs_sum = 0;
  size_t n = (size_t)rows * cols;
  for (size_t i = 0; i < n; i++)
    sum += x[i], abs_sum += fabs(x[i]);
  double scale = scale_of(x, n);
  /* Sums of n values carry n times the per-value tolerance at most. */
  double tol = REL_TOL * scale * sqrt((double)n);
  g_assert_cmpint(rows, ==, json_object_get_int_member(g, "rows"));
  g_assert_cmpint(cols, ==, json_object_get_int_member(g, "cols"));
  if (fabs(sum - json_object_get_double_member(g, "sum")) > tol ||
      fabs(abs_sum - json_object_get_double_member(g, "abs_sum")) > tol)
    g_error("%s: sum %.6f |sum| %.6f, reference %.6f %.6f (tol %.2g)", what, sum, abs_sum,
            json_object_get_double_member(g, "sum"), json_object_get_double_member(g, "abs_sum"),
            tol);
  JsonObject *r = json_object_get_object_member(g, "rows_head");
  GList *names = json_object_get_members(r);
  for (GList *l = names; l; l = l->next) {
    int64_t row = g_ascii_strtoll(l->data, NULL, 10);
    JsonArray *vals = json_object_get_array_member(r, l->data);
    for (guint j = 0; j < json_array_get_length(vals); j++) {
      double want = json_array_get_double_element(vals, j), got = x[row * cols + j];
      if (fabs(got - want) > REL_TOL * scale)
        g_error("%s[%" G_GINT64_FORMAT "][%u] = %.7f, reference %.7f", what, row, j, got, want);
    }
  }
  g_list_free(names);
}

static void check_logits(const float *logits, int vocab, JsonObject *g)
{
  JsonArray *samples = json_object_get_array_member(g, "samples");
  int stride = json_object_get_int_member(g, "stride");
  double scale = MAX(1.0, json_object_get_double_member(g, "max_abs"));
  double worst = 0;
  for (int i = 0, k = 0; i < vocab; i += stride, k++)
    worst = MAX(worst, fabs(logits[i] - json_array_get_double_element(samples, k)));
  JsonArray *top = json_object_get_array_member(g, "top");
  for (guint k = 0; k < json_array_get_length(top); k++) {
    JsonArray *e = json_array_get_array_element(top, k);
    int id = json_array_get_int_element(e, 0);
    worst = MAX(worst, fabs(logits[id] - json_array_get_double_element(e, 1)));
  }
  g_test_message("logits: worst |diff| %.3g (scale %.3g)", worst, scale);
  if (worst > REL_TOL * scale)
    g_error("logits differ from the reference by %.3g (tolerance %.3g)", worst, REL_TOL * scale);
}

static float *download(ivl_backend *be, const ivl_tensor *t)
{
  float *x = g_new(float, (size_t)t->rows * t->cols);
  g_autoptr(GError) error = NULL;
  if (!be->ops->download_f32(be, t, 0, t->rows, x, &error))
    g_error("download: %s", error->message);
  return x;
}

/* ---- the test ------------------------------------------------------------------------- */

static void greedy_and_cache(parts *p, GArray *ids, int32_t image_token, const ivl_tensor *embeds,
                             JsonObject *g);

static void run_golden(gconstpointer data)
{
  const char *path = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonParser) parser = json_parser_new();
  g_assert_true(json_parser_load_from_file(parser, path, &error));
  JsonObject *g = json_node_get_object(json_parser_get_root(parser));

  g_autofree char *dir = g_dir_make_tmp("ivl-golden-XXXXXX", &error);
  g_assert_no_error(error);
  ivl_tiny_model_params tp = golden_tiny_params(json_object_get_object_member(g, "model"));
  g_assert_true(ivl_tiny_model_write(dir, &tp, &error));
  golden_check_files(dir, json_object_get_object_member(g, "sha256"));

  /* goldens of quantized models name their precision; the others are bf16 */
  ivl_precision precision = IVL_PRECISION_BF16;
  if (json_object_has_member(g, "precision"))
    g_assert_true(
        ivl_precision_from_name(json_object_get_string_member(g, "precision"), &precision));
  parts p;
  if (!parts_load(&p, dir, 4096, precision, &error))
    g_error("loading %s: %s", dir, error->message);
  int n_tiles = json_object_get_int_member(g, "n_tiles");
  int size = p.config->vision.image_size;
  g_autofree float *px = test_pixels(n_tiles, size);

  ivl_tensor *vit = ivl_vision_encode(p.vision, px, n_tiles, &error);
  g_assert_no_error(error);
  g_autofree float *vit_h = download(p.be, vit);
  check_summary("vision", vit_h, vit->rows, vit->cols, json_object_get_object_member(g, "vision"));

  int64_t n_img = (int64_t)n_tiles * p.config->num_image_token;
  ivl_tensor *emb =
      p.be->ops->tensor_new(p.be, p.be->act_dtype, n_img, p.config->llm.hidden_size, &error);
  g_assert_true(ivl_projector_forward(p.projector, vit, n_tiles, emb, 0, &error));
  g_autofree float *emb_h = download(p.be, emb);
  check_summary("embeds", emb_h, emb->rows, emb->cols, json_object_get_object_member(g, "embeds"));

  g_autoptr(GArray) ids = prompt_ids(json_object_get_array_member(g, "prompt_ids_rle"));
  greedy_and_cache(&p, ids, json_object_get_int_member(g, "image_token"), emb, g);

  p.be->ops->tensor_free(p.be, emb);
  p.be->ops->tensor_free(p.be, vit);
  parts_clear(&p);
  golden_remove_tree(dir);
}

/* Greedy decoding with the KV cache, token by token against the reference; then the cached
 * decode step's logits against a full recomputation of the same sequence from position 0. */
static void greedy_and_cache(parts *p, GArray *ids, int32_t image_token, const ivl_tensor *embeds,
                             JsonObject *g)
{
  g_autoptr(GError) error = NULL;
  int vocab = p->config->llm.vocab_size;
  g_autofree float *logits = g_new(float, vocab);
  g_autofree float *again = g_new(float, vocab);
  JsonObject *gr = json_object_get_object_member(g, "greedy");
  JsonArray *tokens = json_object_get_array_member(gr, "tokens");
  JsonArray *gaps = json_object_get_array_member(gr, "gaps");
  double scale = MAX(
      1.0, json_object_get_double_member(json_object_get_object_member(g, "logits"), "max_abs"));

  g_assert_true(ivl_language_forward(p->language, (int32_t *)ids->data, ids->len, 0, image_token,
                                     embeds, &error));
  g_assert_true(ivl_language_get_logits(p->language, logits, &error));
  check_logits(logits, vocab, json_object_get_object_member(g, "logits"));

  GArray *seq = g_array_copy(ids);
  for (guint i = 0; i < json_array_get_length(tokens); i++) {
    int32_t want = json_array_get_int_element(tokens, i);
    int32_t got = ivl_language_argmax(p->language);
    if (got != want) {
      if (json_array_get_double_element(gaps, i) <= REL_TOL * scale) {
        g_test_message("step %u: near tie (%d vs %d), stopping the comparison", i, got, want);
        break;
      }
      g_error("greedy step %u: token %d, reference %d", i, got, want);
    }
    g_array_append_val(seq, got);
    g_assert_true(
        ivl_language_forward(p->language, &got, 1, seq->len - 1, image_token, NULL, &error));
  }
  /* KV-cache decoding equals full recomputation (positions below max_position_embeddings
   * only: beyond it dynamic NTK makes the cached keys differ by design, as in transformers). */
  if (seq->len <= (guint)p->config->llm.max_position_embeddings) {
    g_assert_true(ivl_language_get_logits(p->language, logits, &error));
    g_assert_true(ivl_language_forward(p->language, (int32_t *)seq->data, seq->len, 0, image_token,
                                       embeds, &error));
    g_assert_true(ivl_language_get_logits(p->language, again, &error));
    double worst = 0;
    for (int i = 0; i < vocab; i++)
      worst = MAX(worst, fabs(logits[i] - again[i]));
    g_test_message("cached vs recomputed: worst |diff| %.3g", worst);
    g_assert_cmpfloat(worst, <=, REL_TOL * scale);
  }
  g_array_unref(seq);
}

/* Everything one forward pass gives: ViT states, projected rows, last-position logits. */
typedef struct {
  float *vit, *emb, *logits;
  gsize n_vit, n_emb, n_logits;
} forward_out;

static void forward_out_clear(forward_out *o)
{
  g_free(o->vit);
  g_free(o->emb);
  g_free(o->logits);
}

static forward_out forward_once(const char *dir, int n_tiles, GArray *ids, int32_t image_token)
{
  g_autoptr(GError) error = NULL;
  parts p;
  if (!parts_load(&p, dir, 4096, IVL_PRECISION_BF16, &error))
    g_error("loading %s: %s", dir, error->message);
  forward_out o = {0};
  g_autofree float *px = test_pixels(n_tiles, p.config->vision.image_size);
  ivl_tensor *vit = ivl_vision_encode(p.vision, px, n_tiles, &error);
  g_assert_no_error(error);
  o.vit = download(p.be, vit);
  o.n_vit = (gsize)vit->rows * vit->cols;
  int64_t n_img = (int64_t)n_tiles * p.config->num_image_token;
  ivl_tensor *emb =
      p.be->ops->tensor_new(p.be, p.be->act_dtype, n_img, p.config->llm.hidden_size, &error);
  g_assert_true(ivl_projector_forward(p.projector, vit, n_tiles, emb, 0, &error));
  o.emb = download(p.be, emb);
  o.n_emb = (gsize)emb->rows * emb->cols;
  g_assert_true(ivl_language_forward(p.language, (int32_t *)ids->data, ids->len, 0, image_token,
                                     emb, &error));
  o.n_logits = (gsize)p.config->llm.vocab_size;
  o.logits = g_new(float, o.n_logits);
  g_assert_true(ivl_language_get_logits(p.language, o.logits, &error));
  p.be->ops->tensor_free(p.be, emb);
  p.be->ops->tensor_free(p.be, vit);
  parts_clear(&p);
  return o;
}

/* The same model written in the "-hf" layout (renamed tensors, vision qkv and InternLM2's
 * wqkv stored split, an InternVLForConditionalGeneration config) runs through the same code
 * from the same numbers: every output must be bit for bit the original layout's. */
static void run_hf_layout(gconstpointer data)
{
  const char *path = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonParser) parser = json_parser_new();
  g_assert_true(json_parser_load_from_file(parser, path, &error));
  JsonObject *g = json_node_get_object(json_parser_get_root(parser));
  g_autoptr(GArray) ids = prompt_ids(json_object_get_array_member(g, "prompt_ids_rle"));
  int n_tiles = json_object_get_int_member(g, "n_tiles");
  int32_t image_token = json_object_get_int_member(g, "image_token");
  forward_out out[2];
  for (int hf = 0; hf < 2; hf++) {
    g_autofree char *dir = g_dir_make_tmp("ivl-layout-XXXXXX", &error);
    g_assert_no_error(error);
    ivl_tiny_model_params tp = golden_tiny_params(json_object_get_object_member(g, "model"));
    tp.layout = hf ? IVL_LAYOUT_HF : IVL_LAYOUT_ORIGINAL;
    g_assert_true(ivl_tiny_model_write(dir, &tp, &error));
    g_autoptr(ivl_config) c = ivl_config_load(dir, &error);
    g_assert_no_error(error);
    g_assert_cmpint(c->layout, ==, tp.layout);
    out[hf] = forward_once(dir, n_tiles, ids, image_token);
    golden_remove_tree(dir);
  }
  g_assert_cmpuint(out[0].n_vit, ==, out[1].n_vit);
  g_assert_cmpuint(out[0].n_emb, ==, out[1].n_emb);
  g_assert_cmpuint(out[0].n_logits, ==, out[1].n_logits);
  g_assert_true(memcmp(out[0].vit, out[1].vit, out[0].n_vit * sizeof(float)) == 0);
  g_assert_true(memcmp(out[0].emb, out[1].emb, out[0].n_emb * sizeof(float)) == 0);
  g_assert_true(memcmp(out[0].logits, out[1].logits, out[0].n_logits * sizeof(float)) == 0);
  forward_out_clear(&out[0]);
  forward_out_clear(&out[1]);
}

static int write_model(const char *dir, const char *golden)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonParser) parser = json_parser_new();
  if (!json_parser_load_from_file(parser, golden, &error)) {
    fprintf(stderr, "%s: %s\n", golden, error->message);
    return 1;
  }
  JsonObject *g = json_node_get_object(json_parser_get_root(parser));
  ivl_tiny_model_params tp = golden_tiny_params(json_object_get_object_member(g, "model"));
  if (!ivl_tiny_model_write(dir, &tp, &error)) {
    fprintf(stderr, "%s: %s\n", dir, error->message);
    return 1;
  }
  return 0;
}

int main(int argc, char **argv)
{
  if (argc == 4 && g_str_equal(argv[1], "--write-model"))
    return write_model(argv[2], argv[3]);
  g_test_init(&argc, &argv, NULL);
  for (int i = 1; i < argc; i++) {
    g_autofree char *base = g_path_get_basename(argv[i]);
    g_autofree char *name = g_strdup_printf("/golden/%s", base);
    g_test_add_data_func(name, argv[i], run_golden);
    /* The quantized goldens' models are the bf16 ones again. */
    if (!strstr(base, "int8") && !strstr(base, "4bit")) {
      g_autofree char *hf_name = g_strdup_printf("/hf-layout/%s", base);
      g_test_add_data_func(hf_name, argv[i], run_hf_layout);
    }
  }
  return g_test_run();
}
