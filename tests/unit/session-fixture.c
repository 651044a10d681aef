/* session-fixture.c — see session-fixture.h. */
#include "session-fixture.h"

#include <glib/gstdio.h>

#include "tiny-model.h"

ivl_model *fixture_model;
ivl_backend_kind fixture_backend = IVL_BACKEND_CPU;
static char *model_dir;

char *fixture_source_path(const char *rel)
{
  const char *root = g_getenv("IVL_SOURCE_ROOT");
  return g_build_filename(root ? root : ".", rel, NULL);
}

void fixture_setup(void)
{
  g_autoptr(GError) error = NULL;
  model_dir = g_dir_make_tmp("ivl-session-XXXXXX", &error);
  g_assert_no_error(error);
  g_autofree char *tok = fixture_source_path("tests/data/tokenizer/qwen2.5");
  ivl_tiny_model_params tp = ivl_tiny_model_default_params();
  tp.tokenizer_dir = tok;
  tp.seed = 7;
  if (fixture_backend != IVL_BACKEND_CPU) {
    /* head dims the CUDA kernels have (64), one vision layer: the emulation is slow */
    tp.vision_heads = 1, tp.vision_hidden = 64, tp.vision_ffn = 128, tp.vision_layers = 1;
    tp.llm_hidden = 256, tp.llm_heads = 4, tp.llm_kv_heads = 2, tp.llm_ffn = 512;
  }
  g_assert_true(ivl_tiny_model_write(model_dir, &tp, &error));
  ivl_model_params mp = ivl_model_default_params();
  mp.backend = fixture_backend;
  mp.context_length = 4096;
  fixture_model = ivl_model_load(model_dir, &mp, NULL, &error);
  g_assert_no_error(error);
}

void fixture_teardown(void)
{
  ivl_model_free(fixture_model);
  g_autoptr(GDir) d = g_dir_open(model_dir, 0, NULL);
  for (const char *name; d && (name = g_dir_read_name(d));) {
    g_autofree char *path = g_build_filename(model_dir, name, NULL);
    g_remove(path);
  }
  g_rmdir(model_dir);
  g_free(model_dir);
}

ivl_generation_params fixture_greedy(int max_new_tokens)
{
  ivl_generation_params p = ivl_generation_default_params();
  p.max_new_tokens = max_new_tokens;
  return p;
}

char *fixture_ask(ivl_session *s, const char *question, ivl_media **media, int n_media,
                  ivl_image_layout layout, int max_new_tokens)
{
  g_autoptr(GError) error = NULL;
  ivl_generation_params p = fixture_greedy(max_new_tokens);
  char *answer = ivl_session_ask(s, question, media, n_media, layout, &p, NULL, NULL, NULL, &error);
  g_assert_no_error(error);
  g_assert_nonnull(answer);
  return answer;
}

int fixture_count_image_tokens(const ivl_session *s)
{
  int n, k = 0;
  const int32_t *ids = ivl_session_get_prompt_ids(s, &n);
  for (int i = 0; i < n; i++)
    k += ids[i] == IMG_CONTEXT;
  return k;
}

float *fixture_copy_logits(const ivl_session *s)
{
  int n;
  const float *l = ivl_session_get_prompt_logits(s, &n);
  g_assert_nonnull(l);
  return g_memdup2(l, n * sizeof(float));
}

gboolean fixture_cancel_every_two(const char *piece, int token_id, void *user_data)
{
  (void)piece;
  static int count;
  if (token_id >= 0 && ++count % 2 == 0)
    g_cancellable_cancel(user_data);
  return TRUE;
}
