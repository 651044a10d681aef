/* test-session — text conversations on a tiny random model: KV-cache reuse across turns gives
 * what a full recomputation gives, a restored history (add_turn) gives what the live one
 * gave, a history cut back to an edited question keeps its cache, and cancellation and stop
 * requests leave the session usable. */
#include <math.h>

#include "session-fixture.h"

static void test_text_only(void)
{
  g_autoptr(GError) error = NULL;
  ivl_session *s = ivl_session_new(fixture_model, NULL, &error);
  g_autofree char *a = fixture_ask(s, "Hello, who are you?", NULL, 0, IVL_IMAGES_COMBINED, 5);
  int n;
  const int32_t *ids = ivl_session_get_prompt_ids(s, &n);
  g_assert_cmpint(ids[0], ==, 151644); /* <|im_start|> system … */
  g_assert_cmpint(fixture_count_image_tokens(s), ==, 0);
  ivl_session_get_generated_ids(s, &n);
  g_assert_cmpint(n, <=, 5);
  ivl_session_free(s);
}

/* Reused against recomputed prompt logits, largest |difference| allowed (see its use). */
#define WORST_DIFF 1e-3

static double worst_diff(const float *a, const ivl_session *s)
{
  int n;
  const float *b = ivl_session_get_prompt_logits(s, &n);
  double worst = 0;
  for (int i = 0; i < n; i++)
    worst = MAX(worst, fabs(a[i] - b[i]));
  return worst;
}

/* The follow-up reuses the cache (only the new suffix is prefilled) and still gives exactly
 * what a session that recomputes the whole conversation gives; so does a session whose
 * history was restored with add_turn. */
static void test_multi_turn_reuse(void)
{
  g_autoptr(GError) error = NULL;
  const char *q1 = "Tell me about red pandas.", *q2 = "And what do they eat?";
  ivl_session *a = ivl_session_new(fixture_model, NULL, &error);
  g_autofree char *a1 = fixture_ask(a, q1, NULL, 0, IVL_IMAGES_COMBINED, 6);
  int n_first;
  ivl_session_get_prompt_ids(a, &n_first);
  g_autofree char *a2 = fixture_ask(a, q2, NULL, 0, IVL_IMAGES_COMBINED, 6);
  ivl_generation_stats st;
  ivl_session_get_stats(a, &st);
  g_assert_cmpint(st.n_cached_tokens, >=, n_first);
  g_autofree float *la = fixture_copy_logits(a);

  ivl_session *b = ivl_session_new(fixture_model, NULL, &error);
  g_assert_true(ivl_session_add_turn(b, q1, NULL, 0, IVL_IMAGES_COMBINED, a1, &error));
  g_autofree char *b2 = fixture_ask(b, q2, NULL, 0, IVL_IMAGES_COMBINED, 6);
  ivl_session_get_stats(b, &st);
  g_assert_cmpint(st.n_cached_tokens, ==, 0); /* a's tokens were in the cache */
  g_assert_cmpstr(a2, ==, b2);
  double worst = worst_diff(la, b);
  g_test_message("reused vs recomputed prompt logits: worst |diff| %.3g", worst);
  /* Same f32 arithmetic in other row groupings (matmul chunks), except where the CPU rounds
   * the activations of bf16 products to bf16 (cpu-gemm-bf16dot.c): in products of more than
   * a few rows, so in the full prefill but not in a short reused suffix (3e-5 to 1.2e-4
   * measured; 0 with IVL_CPU_BF16_DOT=0). */
  g_assert_cmpfloat(worst, <, WORST_DIFF);
  ivl_session_free(a);
  ivl_session_free(b);
}

/* An edited second question: the session keeps the first turn and its cached tokens, and
 * answers what a session restored with only the first turn answers. */
static void test_truncate_reuse(void)
{
  g_autoptr(GError) error = NULL;
  const char *q1 = "Tell me about red pandas.", *q2 = "And what do they eat?";
  const char *edited = "Where do they live?";
  ivl_session *a = ivl_session_new(fixture_model, NULL, &error);
  g_autofree char *a1 = fixture_ask(a, q1, NULL, 0, IVL_IMAGES_COMBINED, 6);
  int n_first;
  ivl_session_get_prompt_ids(a, &n_first);
  g_autofree char *a2 = fixture_ask(a, q2, NULL, 0, IVL_IMAGES_COMBINED, 6);
  ivl_session_truncate(a, 5); /* past the history: nothing changes */
  ivl_session_truncate(a, 1);
  g_autofree char *e2 = fixture_ask(a, edited, NULL, 0, IVL_IMAGES_COMBINED, 6);
  ivl_generation_stats st;
  ivl_session_get_stats(a, &st);
  g_assert_cmpint(st.n_cached_tokens, >=, n_first);
  int n_edited;
  ivl_session_get_prompt_ids(a, &n_edited);
  g_autofree float *la = fixture_copy_logits(a);

  ivl_session *b = ivl_session_new(fixture_model, NULL, &error);
  g_assert_true(ivl_session_add_turn(b, q1, NULL, 0, IVL_IMAGES_COMBINED, a1, &error));
  g_autofree char *b2 = fixture_ask(b, edited, NULL, 0, IVL_IMAGES_COMBINED, 6);
  int n_b;
  ivl_session_get_prompt_ids(b, &n_b);
  g_assert_cmpint(n_b, ==, n_edited); /* the forgotten turn is not in the prompt */
  g_assert_cmpstr(e2, ==, b2);
  g_assert_cmpfloat(worst_diff(la, b), <, WORST_DIFF); /* as in test_multi_turn_reuse */
  ivl_session_free(a);
  ivl_session_free(b);
}

static gboolean stop_after_three(const char *piece, int token_id, void *user_data)
{
  (void)piece;
  int *count = user_data;
  return token_id < 0 || ++*count < 3;
}

static void test_cancel_and_stop(void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GCancellable) c = g_cancellable_new();
  ivl_generation_params p = fixture_greedy(20);
  ivl_session *s = ivl_session_new(fixture_model, NULL, &error);
  char *none = ivl_session_ask(s, "Tell me a story.", NULL, 0, IVL_IMAGES_COMBINED, &p,
                               fixture_cancel_every_two, c, c, &error);
  g_assert_null(none);
  g_assert_error(error, IVL_ERROR, IVL_ERROR_CANCELLED);
  g_clear_error(&error);

  /* Still usable, and the cancelled turn is not in the history. */
  int count = 0;
  g_autofree char *a = ivl_session_ask(s, "Tell me a story.", NULL, 0, IVL_IMAGES_COMBINED, &p,
                                       stop_after_three, &count, NULL, &error);
  g_assert_no_error(error);
  int n_s, n_f;
  ivl_session_get_generated_ids(s, &n_s);
  g_assert_cmpint(n_s, ==, 3);
  const int32_t *ids = ivl_session_get_prompt_ids(s, &n_s);
  ivl_session *fresh = ivl_session_new(fixture_model, NULL, &error);
  g_autofree char *f = fixture_ask(fresh, "Tell me a story.", NULL, 0, IVL_IMAGES_COMBINED, 1);
  const int32_t *fids = ivl_session_get_prompt_ids(fresh, &n_f);
  g_assert_cmpmem(ids, n_s * sizeof *ids, fids, n_f * sizeof *fids);
  ivl_session_free(fresh);
  ivl_session_free(s);
}

/* A prompt longer than the context is refused, and the session still answers after it. */
static void test_context_overflow(void)
{
  g_autoptr(GError) error = NULL;
  GString *q = g_string_new(NULL);
  for (int i = 0; i < 5000; i++)
    g_string_append(q, "panda ");
  ivl_generation_params p = fixture_greedy(2);
  ivl_session *s = ivl_session_new(fixture_model, NULL, &error);
  g_assert_null(
      ivl_session_ask(s, q->str, NULL, 0, IVL_IMAGES_COMBINED, &p, NULL, NULL, NULL, &error));
  g_assert_error(error, IVL_ERROR, IVL_ERROR_INVALID_ARGUMENT);
  g_autofree char *a = fixture_ask(s, "Short one.", NULL, 0, IVL_IMAGES_COMBINED, 2);
  g_string_free(q, TRUE);
  ivl_session_free(s);
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  fixture_setup();
  g_test_add_func("/session/text-only", test_text_only);
  g_test_add_func("/session/multi-turn-reuse", test_multi_turn_reuse);
  g_test_add_func("/session/truncate-reuse", test_truncate_reuse);
  g_test_add_func("/session/cancel-and-stop", test_cancel_and_stop);
  g_test_add_func("/session/context-overflow", test_context_overflow);
  int status = g_test_run();
  fixture_teardown();
  return status;
}
