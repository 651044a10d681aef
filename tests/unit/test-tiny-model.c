/* Unit tests of engine/tiny-model.c and engine/model-tensors.c: generated models of every
 * layout load back, pass the tensor check, are deterministic, and wrong or missing tensors
 * are named. */
#include <glib/gstdio.h>
#include <string.h>

#include "config.h"
#include "ivl.h"
#include "model-info.h"
#include "model-tensors.h"
#include "safetensors-write.h"
#include "safetensors.h"
#include "tiny-model.h"
#include "test-util.h"

static char *tmp_dir;

static char *write_model(const char *name, const ivl_tiny_model_params *p)
{
  char *dir = g_build_filename(tmp_dir, name, NULL);
  g_autoptr(GError) error = NULL;
  g_assert_true(ivl_tiny_model_write(dir, p, &error));
  g_assert_no_error(error);
  return dir;
}

/* Loads dir and checks it against its own config; returns the weights. */
static ivl_safetensors *load_checked(const char *dir, ivl_config **config_out)
{
  g_autoptr(GError) error = NULL;
  ivl_config *config = ivl_config_load(dir, &error);
  g_assert_no_error(error);
  ivl_safetensors *st = ivl_safetensors_open(dir, &error);
  g_assert_no_error(error);
  g_assert_true(ivl_safetensors_check(st, config, &error));
  g_assert_no_error(error);
  g_autoptr(GPtrArray) specs = ivl_model_tensor_specs(config);
  g_assert_cmpuint(specs->len, ==, ivl_safetensors_get_n_tensors(st));
  *config_out = config;
  return st;
}

static gboolean same_values(const ivl_safetensors *a, const ivl_safetensors *b)
{
  for (guint i = 0; i < ivl_safetensors_get_n_tensors(a); i++) {
    const ivl_st_tensor *x = ivl_safetensors_get_tensor(a, i);
    const ivl_st_tensor *y = ivl_safetensors_find(b, x->name);
    if (!y || x->nbytes != y->nbytes || memcmp(x->data, y->data, x->nbytes) != 0)
      return FALSE;
  }
  return TRUE;
}

static void test_default(void)
{
  ivl_tiny_model_params p = ivl_tiny_model_default_params();
  g_autofree char *dir = write_model("default", &p);
  g_autoptr(ivl_config) c = NULL;
  g_autoptr(ivl_safetensors) st = load_checked(dir, &c);
  g_assert_cmpint(c->llm.vocab_size, ==, 151674);
  g_assert_cmpstr(ivl_model_size_name(c), ==, "custom");
  /* A few MB: the real vocabulary's two matrices dominate. */
  g_assert_cmpuint(ivl_safetensors_get_file_bytes(st), <, 12 * 1024 * 1024);
  const ivl_st_tensor *ls = ivl_safetensors_find(st, "vision_model.encoder.layers.0.ls1");
  g_assert_cmpint(ls->dtype, ==, IVL_DTYPE_BF16);
  g_assert_cmphex(((const guint16 *)ls->data)[0], ==, 0x3dcd); /* bf16(0.1) */
  const ivl_st_tensor *norm = ivl_safetensors_find(st, "language_model.model.norm.weight");
  g_assert_cmphex(((const guint16 *)norm->data)[0] & 0xff00, ==, 0x3f00); /* near 1.0 */
  g_autofree char *gen = g_build_filename(dir, "generation_config.json", NULL);
  g_assert_true(g_file_test(gen, G_FILE_TEST_IS_REGULAR));
}

static void test_layouts(void)
{
  for (int layout = 0; layout < 4; layout++) {
    ivl_tiny_model_params p = ivl_tiny_model_default_params();
    p.vision_6b = layout & 1;
    p.llm_arch = (layout & 2) ? IVL_LLM_INTERNLM2 : IVL_LLM_QWEN2;
    p.dtype = layout == 3 ? IVL_DTYPE_F32 : IVL_DTYPE_BF16;
    p.llm_vocab = 1000;
    g_autofree char *name = g_strdup_printf("layout%d", layout);
    g_autofree char *dir = write_model(name, &p);
    g_autoptr(ivl_config) c = NULL;
    g_autoptr(ivl_safetensors) st = load_checked(dir, &c);
    g_assert_cmpint(c->vision.norm_type, ==, p.vision_6b ? IVL_NORM_RMS_NORM : IVL_NORM_LAYER_NORM);
    g_assert_cmpint(c->llm.arch, ==, p.llm_arch);
    const char *q_norm = "vision_model.encoder.layers.1.attn.q_norm.weight";
    const char *qkv_bias = "vision_model.encoder.layers.1.attn.qkv.bias";
    const char *wqkv = "language_model.model.layers.1.attention.wqkv.weight";
    g_assert_cmpint(ivl_safetensors_find(st, q_norm) != NULL, ==, p.vision_6b);
    g_assert_cmpint(ivl_safetensors_find(st, qkv_bias) != NULL, ==, !p.vision_6b);
    const ivl_st_tensor *t = ivl_safetensors_find(st, wqkv);
    g_assert_cmpint(t != NULL, ==, p.llm_arch == IVL_LLM_INTERNLM2);
    if (t) /* (H + 2 KV) * hd rows = (4 + 4) * 4 */
      g_assert_cmpint(t->shape[0], ==, 32);
    g_assert_cmpint(ivl_safetensors_get_tensor(st, 0)->dtype, ==, p.dtype);
  }
}

static void test_sharded_same_values(void)
{
  ivl_tiny_model_params p = ivl_tiny_model_default_params();
  p.llm_vocab = 500;
  g_autofree char *single = write_model("single", &p);
  p.n_shards = 3;
  g_autofree char *sharded = write_model("sharded", &p);
  g_autoptr(ivl_config) c1 = NULL, c2 = NULL;
  g_autoptr(ivl_safetensors) a = load_checked(single, &c1);
  g_autoptr(ivl_safetensors) b = load_checked(sharded, &c2);
  g_assert_cmpuint(ivl_safetensors_get_n_files(b), ==, 3);
  g_assert_true(same_values(a, b));
  g_autofree char *shard = g_build_filename(sharded, "model-00002-of-00003.safetensors", NULL);
  g_assert_true(g_file_test(shard, G_FILE_TEST_IS_REGULAR));
  /* Rewriting as one file removes the shards and the index. */
  p.n_shards = 0;
  g_autofree char *again = write_model("sharded", &p);
  g_autofree char *index = g_build_filename(again, "model.safetensors.index.json", NULL);
  g_assert_false(g_file_test(index, G_FILE_TEST_EXISTS));
  g_assert_false(g_file_test(shard, G_FILE_TEST_EXISTS));
}

static void test_seed(void)
{
  ivl_tiny_model_params p = ivl_tiny_model_default_params();
  p.llm_vocab = 300;
  p.seed = 7;
  g_autofree char *d1 = write_model("seed7a", &p);
  g_autofree char *d2 = write_model("seed7b", &p);
  p.seed = 8;
  g_autofree char *d3 = write_model("seed8", &p);
  g_autoptr(ivl_config) c1 = NULL, c2 = NULL, c3 = NULL;
  g_autoptr(ivl_safetensors) a = load_checked(d1, &c1);
  g_autoptr(ivl_safetensors) b = load_checked(d2, &c2);
  g_autoptr(ivl_safetensors) c = load_checked(d3, &c3);
  g_assert_true(same_values(a, b));
  g_assert_false(same_values(a, c));
}

static void test_tokenizer_copy(void)
{
  ivl_tiny_model_params p = ivl_tiny_model_default_params();
  p.llm_vocab = 300;
  g_autofree char *tok =
      g_build_filename(g_getenv("IVL_SOURCE_ROOT"), "tests", "data", "tokenizer", "qwen2.5", NULL);
  p.tokenizer_dir = tok;
  g_autofree char *dir = write_model("with-tokenizer", &p);
  g_autofree char *vocab = g_build_filename(dir, "vocab.json", NULL);
  g_autofree char *merges = g_build_filename(dir, "merges.txt", NULL);
  g_assert_true(g_file_test(vocab, G_FILE_TEST_IS_REGULAR));
  g_assert_true(g_file_test(merges, G_FILE_TEST_IS_REGULAR));
}

static void test_bad_params(void)
{
  ivl_tiny_model_params p = ivl_tiny_model_default_params();
  p.llm_kv_heads = 3;
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_build_filename(tmp_dir, "bad", NULL);
  g_assert_false(ivl_tiny_model_write(dir, &p, &error));
  g_assert_error(error, IVL_ERROR, IVL_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull(strstr(error->message, "num_key_value_heads (3)"));
}

/* A checkpoint whose config promises other shapes, or that lacks a tensor. */
static void test_check_errors(void)
{
  ivl_tiny_model_params p = ivl_tiny_model_default_params();
  p.llm_vocab = 300;
  g_autofree char *dir = write_model("check", &p);
  g_autoptr(GError) error = NULL;
  g_autoptr(ivl_safetensors) st = ivl_safetensors_open(dir, &error);
  g_assert_no_error(error);

  p.llm_ffn = 48;
  g_autofree char *json = ivl_tiny_model_config_json(&p);
  g_autoptr(ivl_config) wider = ivl_config_parse(json, -1, &error);
  g_assert_no_error(error);
  g_assert_false(ivl_safetensors_check(st, wider, &error));
  g_assert_error(error, IVL_ERROR, IVL_ERROR_CORRUPT);
  g_assert_cmpstr(error->message, ==,
                  "tensor \"language_model.model.layers.0.mlp.gate_proj.weight\" (in "
                  "model.safetensors) has shape [32, 16]; config.json implies [48, 16]");
  g_clear_error(&error);

  p = ivl_tiny_model_default_params();
  p.llm_vocab = 300;
  p.llm_layers = 3;
  g_autofree char *json3 = ivl_tiny_model_config_json(&p);
  g_autoptr(ivl_config) deeper = ivl_config_parse(json3, -1, &error);
  g_assert_false(ivl_safetensors_check(st, deeper, &error));
  g_assert_error(error, IVL_ERROR, IVL_ERROR_NOT_FOUND);
  g_assert_cmpstr(
      error->message, ==,
      "the weights lack tensor \"language_model.model.layers.2.input_layernorm.weight\"");
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  tmp_dir = g_dir_make_tmp("ivl-test-tiny-model-XXXXXX", NULL);
  g_assert_nonnull(tmp_dir);
  g_test_add_func("/tiny-model/default", test_default);
  g_test_add_func("/tiny-model/layouts", test_layouts);
  g_test_add_func("/tiny-model/sharded-same-values", test_sharded_same_values);
  g_test_add_func("/tiny-model/seed", test_seed);
  g_test_add_func("/tiny-model/tokenizer-copy", test_tokenizer_copy);
  g_test_add_func("/tiny-model/bad-params", test_bad_params);
  g_test_add_func("/model-tensors/check-errors", test_check_errors);
  int rc = g_test_run();
  ivl_test_remove_tree(tmp_dir);
  g_free(tmp_dir);
  return rc;
}
