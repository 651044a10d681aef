/* test-model-load — ivl_model_load on good and bad model directories: every failure is a
 * GError with a code a caller can act on and a message that names the problem. */
#include "ivl-config.h" /* IVL_HAVE_CUDA */

#include <glib/gstdio.h>
#include <string.h>

#include "ivl.h"
#include "tiny-model.h"
#include "test-util.h"

typedef struct {
  char *dir;
} fixture;

static char *tokenizer_dir(void)
{
  const char *root = g_getenv("IVL_SOURCE_ROOT");
  return g_build_filename(root ? root : ".", "tests", "data", "tokenizer", "qwen2.5", NULL);
}

static void setup(fixture *f, gconstpointer data)
{
  const ivl_tiny_model_params *params = data;
  g_autoptr(GError) error = NULL;
  f->dir = g_dir_make_tmp("ivl-load-XXXXXX", &error);
  g_assert_no_error(error);
  ivl_tiny_model_params p = params ? *params : ivl_tiny_model_default_params();
  g_autofree char *tok = tokenizer_dir();
  p.tokenizer_dir = tok;
  g_assert_true(ivl_tiny_model_write(f->dir, &p, &error));
}

static void teardown(fixture *f, gconstpointer data)
{
  (void)data;
  ivl_test_remove_tree(f->dir);
  g_free(f->dir);
}

static ivl_model *load(const char *dir, GError **error)
{
  ivl_model_params p = ivl_model_default_params();
  p.backend = IVL_BACKEND_CPU;
  p.n_threads = 1;
  p.context_length = 256;
  return ivl_model_load(dir, &p, NULL, error);
}

static void expect_error(const char *dir, int code, const char *needle)
{
  g_autoptr(GError) error = NULL;
  ivl_model *m = load(dir, &error);
  g_assert_null(m);
  g_assert_error(error, IVL_ERROR, code);
  if (needle && !strstr(error->message, needle))
    g_error("message '%s' does not mention '%s'", error->message, needle);
  g_test_message("%s", error->message);
}

static void test_loads(fixture *f, gconstpointer data)
{
  (void)data;
  g_autoptr(GError) error = NULL;
  ivl_model *m = load(f->dir, &error);
  g_assert_no_error(error);
  g_assert_cmpstr(ivl_model_get_backend_name(m), ==, "cpu");
  ivl_model_free(m);
  ivl_model_free(NULL);
}

static void test_missing_dir(void)
{
  expect_error("/nonexistent/ivl-model", IVL_ERROR_NOT_FOUND, "config.json");
}

static void test_missing_weights(fixture *f, gconstpointer data)
{
  (void)data;
  g_autofree char *st = g_build_filename(f->dir, "model.safetensors", NULL);
  g_assert_cmpint(g_remove(st), ==, 0);
  expect_error(f->dir, IVL_ERROR_NOT_FOUND, "model.safetensors");
}

static void test_truncated_weights(fixture *f, gconstpointer data)
{
  (void)data;
  g_autofree char *st = g_build_filename(f->dir, "model.safetensors", NULL);
  g_autofree char *bytes = NULL;
  gsize len;
  g_assert_true(g_file_get_contents(st, &bytes, &len, NULL));
  g_assert_true(g_file_set_contents(st, bytes, len / 2, NULL));
  expect_error(f->dir, IVL_ERROR_CORRUPT, NULL);
}

/* A config that promises more layers than the weights hold names the missing tensor. */
static void test_config_weights_disagree(fixture *f, gconstpointer data)
{
  (void)data;
  g_autofree char *path = g_build_filename(f->dir, "config.json", NULL);
  g_autofree char *json = NULL;
  g_assert_true(g_file_get_contents(path, &json, NULL, NULL));
  char *at = strstr(json, "\"num_hidden_layers\": 2");
  g_assert_nonnull(at);
  at[strlen("\"num_hidden_layers\": ")] = '3';
  g_assert_true(g_file_set_contents(path, json, -1, NULL));
  expect_error(f->dir, IVL_ERROR_NOT_FOUND, "layers.2");
}

static void test_no_cuda(fixture *f, gconstpointer data)
{
  (void)data;
#if IVL_HAVE_CUDA
  (void)f;
  g_test_skip("built with CUDA");
#else
  g_autoptr(GError) error = NULL;
  ivl_model_params p = ivl_model_default_params();
  p.backend = IVL_BACKEND_CUDA;
  g_assert_null(ivl_model_load(f->dir, &p, NULL, &error));
  g_assert_error(error, IVL_ERROR, IVL_ERROR_UNSUPPORTED);
#endif
}

static void test_cancelled(fixture *f, gconstpointer data)
{
  (void)data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GCancellable) c = g_cancellable_new();
  g_cancellable_cancel(c);
  g_assert_null(ivl_model_load(f->dir, NULL, c, &error));
  g_assert_error(error, IVL_ERROR, IVL_ERROR_CANCELLED);
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  static ivl_tiny_model_params internlm2;
  internlm2 = ivl_tiny_model_default_params();
  internlm2.llm_arch = IVL_LLM_INTERNLM2;
  g_test_add("/model-load/ok", fixture, NULL, setup, test_loads, teardown);
  g_test_add("/model-load/internlm2", fixture, &internlm2, setup, test_loads, teardown);
  g_test_add_func("/model-load/missing-dir", test_missing_dir);
  g_test_add("/model-load/missing-weights", fixture, NULL, setup, test_missing_weights, teardown);
  g_test_add("/model-load/truncated", fixture, NULL, setup, test_truncated_weights, teardown);
  g_test_add("/model-load/config-disagrees", fixture, NULL, setup, test_config_weights_disagree,
             teardown);
  g_test_add("/model-load/no-cuda", fixture, NULL, setup, test_no_cuda, teardown);
  g_test_add("/model-load/cancelled", fixture, NULL, setup, test_cancelled, teardown);
  return g_test_run();
}
