/* test-batch — asks generated together in an ivl_batch give what each gives alone: the same
 * greedy tokens and prompt logits within 1e-4 (test-session's tolerance: the same f32
 * arithmetic, the rows grouped otherwise), for text, image and video questions of different
 * lengths whose prompts are read in chunks beside answering asks, and for asks that join and
 * leave mid-way. An ask whose KV cache does not fit is refused and the others go on.
 * With --cuda the model runs on the CUDA backend (the emulation in CI) and the questions all
 * at once are checked against its own answers alone; exit 77 without one. */
#include "session-fixture.h"

#include <math.h>
#include <string.h>

typedef struct {
  const char *question;
  int media; /* 0 none, 1 an image, 2 a video */
  int max_new_tokens;
} question;

static const question questions[] = {
    {"Hi.", 0, 9},
    {"What is in the image?", 1, 6},
    {"Describe every detail of this picture of a red panda, slowly and with care, in three "
     "sentences at least, then say what it eats.",
     0, 12},
    {"What happens in the video?", 2, 5},
    {"Name two animals.", 0, 1},
    {"And one more thing: what colour is it?", 1, 7},
};
#define N_Q G_N_ELEMENTS(questions)
/* Questions asked: under --cuda the last (a second image) is left out, as the emulation
 * spends seconds on each tile. */
static guint n_q = N_Q;

typedef struct {
  GArray *ids;
  float *logits;
  int n_vocab;
  GString *text; /* streamed pieces */
  char *answer;
  gboolean done;
  GError *error;
} result;

static ivl_media *media_for(int kind)
{
  g_autoptr(GError) error = NULL;
  ivl_media *m = NULL;
  if (kind == 1) {
    g_autofree char *path = fixture_source_path("data/demo/red-panda.jpg");
    ivl_image_params ip = ivl_image_default_params();
    ip.max_num = 1;
    m = ivl_media_from_image_file(path, &ip, &error);
  } else if (kind == 2) {
    g_autofree char *path = fixture_source_path("tests/data/engine/video_0.mov");
    ivl_video_params vp = ivl_video_default_params();
    /* each tile costs the emulation seconds in the vision encoder */
    vp.n_segments = fixture_backend == IVL_BACKEND_CPU ? 2 : 1;
    m = ivl_media_from_video_file(path, &vp, &error);
  }
  g_assert_no_error(error);
  return m;
}

static void result_clear(result *r)
{
  if (r->ids)
    g_array_unref(r->ids);
  g_free(r->logits);
  if (r->text)
    g_string_free(r->text, TRUE);
  g_free(r->answer);
  g_clear_error(&r->error);
  memset(r, 0, sizeof *r);
}

static void take_session(result *r, ivl_session *s)
{
  int n;
  const int32_t *gen = ivl_session_get_generated_ids(s, &n);
  r->ids = g_array_new(FALSE, FALSE, sizeof(int32_t));
  g_array_append_vals(r->ids, gen, n);
  const float *l = ivl_session_get_prompt_logits(s, &n);
  g_assert_nonnull(l);
  r->logits = g_memdup2(l, n * sizeof(float));
  r->n_vocab = n;
}

static gboolean on_token(const char *piece, int token_id, void *user_data)
{
  (void)token_id;
  result *r = user_data;
  g_string_append(r->text, piece);
  return TRUE;
}

static void on_done(ivl_session *s, const char *answer, const GError *error, void *user_data)
{
  result *r = user_data;
  g_assert_false(r->done);
  r->done = TRUE;
  if (error) {
    r->error = g_error_copy(error);
    return;
  }
  r->answer = g_strdup(answer);
  take_session(r, s);
}

/* Each question asked alone, on a fresh session; asked once for every test (the vision
 * encoder is the emulation's slowest part). */
static result alone_results[N_Q];

static const result *alone(void)
{
  result *out = alone_results;
  if (out[0].done)
    return out;
  for (guint i = 0; i < n_q; i++) {
    g_autoptr(GError) error = NULL;
    ivl_media *m = media_for(questions[i].media);
    ivl_session *s = ivl_session_new(fixture_model, NULL, &error);
    ivl_generation_params p = fixture_greedy(questions[i].max_new_tokens);
    out[i].text = g_string_new(NULL);
    out[i].answer = ivl_session_ask(s, questions[i].question, &m, m ? 1 : 0, IVL_IMAGES_COMBINED,
                                    &p, on_token, &out[i], NULL, &error);
    g_assert_no_error(error);
    take_session(&out[i], s);
    out[i].done = TRUE;
    ivl_session_free(s);
    ivl_media_free(m);
  }
  return out;
}

static void add(ivl_batch *b, ivl_session *s, guint i, result *r)
{
  g_autoptr(GError) error = NULL;
  ivl_media *m = media_for(questions[i].media);
  ivl_generation_params p = fixture_greedy(questions[i].max_new_tokens);
  r->text = g_string_new(NULL);
  g_assert_true(ivl_batch_add(b, s, questions[i].question, &m, m ? 1 : 0, IVL_IMAGES_COMBINED, &p,
                              on_token, on_done, r, NULL, &error));
  g_assert_no_error(error);
  ivl_media_free(m); /* the batch holds the rows, not the media */
}

static void step(ivl_batch *b)
{
  g_autoptr(GError) error = NULL;
  g_assert_true(ivl_batch_step(b, &error));
  g_assert_no_error(error);
}

static void same(const result *want, const result *got, const char *what)
{
  g_assert_true(got->done);
  g_assert_no_error(got->error);
  g_assert_cmpuint(got->ids->len, ==, want->ids->len);
  g_assert_cmpmem(got->ids->data, got->ids->len * sizeof(int32_t), want->ids->data,
                  want->ids->len * sizeof(int32_t));
  g_assert_cmpstr(got->answer, ==, want->answer);
  g_assert_cmpstr(got->text->str, ==, want->text->str);
  g_assert_cmpint(got->n_vocab, ==, want->n_vocab);
  double worst = 0;
  for (int i = 0; i < got->n_vocab; i++)
    worst = MAX(worst, fabs(got->logits[i] - want->logits[i]));
  g_test_message("%s: %u tokens, prompt logits worst |diff| %.3g", what, got->ids->len, worst);
  g_assert_cmpfloat(worst, <, 1e-4);
}

/* Every question at once: prompts of 20 to 540 tokens (one tile less under --cuda) read in
 * chunks beside the answers. */
static void test_all_at_once(void)
{
  const result *want = alone();
  result got[N_Q] = {0};
  ivl_session *s[N_Q];
  g_autoptr(GError) error = NULL;
  ivl_batch *b = ivl_batch_new(fixture_model, 0, &error);
  g_assert_no_error(error);
  for (guint i = 0; i < n_q; i++) {
    s[i] = ivl_session_new(fixture_model, NULL, &error);
    add(b, s[i], i, &got[i]);
  }
  g_assert_cmpint(ivl_batch_get_n_asks(b), ==, n_q);
  int steps = 0;
  while (ivl_batch_get_n_asks(b) > 0 && steps++ < 100)
    step(b);
  g_assert_cmpint(ivl_batch_get_n_asks(b), ==, 0);
  for (guint i = 0; i < n_q; i++) {
    same(&want[i], &got[i], questions[i].question);
    ivl_generation_stats st;
    ivl_session_get_stats(s[i], &st);
    g_assert_cmpint(st.n_generated, ==, got[i].ids->len);
    ivl_session_free(s[i]);
    result_clear(&got[i]);
  }
  ivl_batch_free(b);
}

/* Asks join while others answer, one leaves (removed) and one is cancelled mid-way: the rest
 * answer as alone, and the two that left keep their history as it was. */
static void test_join_and_leave(void)
{
  const result *want = alone();
  result got[N_Q] = {0};
  ivl_session *s[N_Q];
  g_autoptr(GError) error = NULL;
  ivl_batch *b = ivl_batch_new(fixture_model, 0, &error);
  for (guint i = 0; i < N_Q; i++)
    s[i] = ivl_session_new(fixture_model, NULL, &error);
  GCancellable *cancel = g_cancellable_new();

  add(b, s[0], 0, &got[0]);
  add(b, s[2], 2, &got[2]);
  step(b);
  step(b);
  add(b, s[1], 1, &got[1]); /* an image joins two answering asks */
  step(b);
  ivl_batch_remove(b, s[2]); /* leaves half-way through its answer */
  g_assert_false(got[2].done);
  add(b, s[3], 3, &got[3]); /* a video joins */
  {
    ivl_generation_params p = fixture_greedy(50);
    got[4].text = g_string_new(NULL);
    g_assert_true(ivl_batch_add(b, s[4], "Count to fifty.", NULL, 0, IVL_IMAGES_COMBINED, &p,
                                on_token, on_done, &got[4], cancel, &error));
  }
  step(b);
  step(b);
  g_cancellable_cancel(cancel);
  step(b);
  g_assert_true(got[4].done);
  g_assert_error(got[4].error, IVL_ERROR, IVL_ERROR_CANCELLED);
  add(b, s[5], 5, &got[5]);
  int steps = 0;
  while (ivl_batch_get_n_asks(b) > 0 && steps++ < 100)
    step(b);
  for (guint i = 0; i < N_Q; i++) {
    if (i != 2 && i != 4)
      same(&want[i], &got[i], questions[i].question);
    ivl_session_free(s[i]);
    result_clear(&got[i]);
  }
  g_object_unref(cancel);
  ivl_batch_free(b);
}

/* The session that left can ask again, alone, and answers as a fresh one. */
static void test_left_session_usable(void)
{
  g_autoptr(GError) error = NULL;
  ivl_batch *b = ivl_batch_new(fixture_model, 0, &error);
  ivl_session *s = ivl_session_new(fixture_model, NULL, &error);
  result r = {0};
  add(b, s, 2, &r);
  step(b);
  step(b);
  ivl_batch_remove(b, s);
  g_assert_cmpint(ivl_batch_get_n_asks(b), ==, 0);
  g_autofree char *again = fixture_ask(s, "Hi.", NULL, 0, IVL_IMAGES_COMBINED, 3);
  ivl_session *fresh = ivl_session_new(fixture_model, NULL, &error);
  g_autofree char *want = fixture_ask(fresh, "Hi.", NULL, 0, IVL_IMAGES_COMBINED, 3);
  g_assert_cmpstr(again, ==, want);
  result_clear(&r);
  ivl_session_free(fresh);
  ivl_session_free(s);
  ivl_batch_free(b);
}

/* A budget for one short ask: the second is refused with OUT_OF_MEMORY and the first answers
 * as alone; its room comes back when it is done. */
static void test_memory_refusal(void)
{
  g_autoptr(GError) error = NULL;
  const result *want = alone();
  result got = {0};
  guint64 lo = 1, hi = 1ull << 32; /* the least budget that admits 100 positions */
  while (lo < hi) {
    guint64 mid = lo + (hi - lo) / 2;
    ivl_batch *probe = ivl_batch_new(fixture_model, mid, &error);
    if (ivl_batch_get_room(probe, 100) >= 1)
      hi = mid;
    else
      lo = mid + 1;
    ivl_batch_free(probe);
  }
  guint64 per_100 = lo;
  ivl_batch *b = ivl_batch_new(fixture_model, per_100 * 3 / 2, &error);
  g_assert_cmpint(ivl_batch_get_room(b, 100), ==, 1);
  ivl_session *s0 = ivl_session_new(fixture_model, NULL, &error);
  ivl_session *s1 = ivl_session_new(fixture_model, NULL, &error);
  add(b, s0, 0, &got);
  ivl_generation_params p = fixture_greedy(64);
  g_assert_false(ivl_batch_add(b, s1, questions[2].question, NULL, 0, IVL_IMAGES_COMBINED, &p, NULL,
                               on_done, NULL, NULL, &error));
  g_assert_error(error, IVL_ERROR, IVL_ERROR_OUT_OF_MEMORY);
  g_test_message("%s", error->message);
  g_assert_cmpint(ivl_batch_get_n_asks(b), ==, 1);
  while (ivl_batch_get_n_asks(b) > 0)
    step(b);
  same(&want[0], &got, questions[0].question);
  g_assert_cmpint(ivl_batch_get_room(b, 100), ==, 1);
  result_clear(&got);
  ivl_session_free(s0);
  ivl_session_free(s1);
  ivl_batch_free(b);
}

/* With the model's cache lent (ivl_chat's worker), a follow-up reads only its new turn: as
 * many cached tokens and the same answer as ivl_session_ask's follow-up, while another
 * conversation answers in a cache of its own; ivl_session_ask is refused while the cache is
 * lent, and reuses what the batch left once it is back. */
static void test_model_cache_follow_up(void)
{
  g_autoptr(GError) error = NULL;
  const char *follow_up = "And what colour is it?";
  ivl_media *image = media_for(1);
  ivl_generation_params p = fixture_greedy(6);

  ivl_session *ref = ivl_session_new(fixture_model, NULL, &error);
  g_autofree char *first = ivl_session_ask(ref, questions[1].question, &image, 1,
                                           IVL_IMAGES_COMBINED, &p, NULL, NULL, NULL, &error);
  g_assert_no_error(error);
  result want = {.text = g_string_new(NULL)};
  want.answer = ivl_session_ask(ref, follow_up, NULL, 0, IVL_IMAGES_COMBINED, &p, on_token, &want,
                                NULL, &error);
  g_assert_no_error(error);
  take_session(&want, ref);
  want.done = TRUE;
  ivl_generation_stats ref_st;
  ivl_session_get_stats(ref, &ref_st);
  g_assert_cmpint(ref_st.n_cached_tokens, >, 0);

  ivl_batch *b = ivl_batch_new(fixture_model, 0, &error);
  ivl_batch_set_model_cache(b, TRUE);
  ivl_session *s = ivl_session_new(fixture_model, NULL, &error);
  ivl_session *other = ivl_session_new(fixture_model, NULL, &error);
  result r1 = {0}, r2 = {0}, ro = {0};
  add(b, s, 1, &r1);
  add(b, other, 2, &ro); /* in a cache of its own */
  ivl_session *third = ivl_session_new(fixture_model, NULL, &error);
  g_assert_null(
      ivl_session_ask(third, "Hi.", NULL, 0, IVL_IMAGES_COMBINED, &p, NULL, NULL, NULL, &error));
  g_assert_error(error, IVL_ERROR, IVL_ERROR_INVALID_ARGUMENT);
  g_clear_error(&error);
  while (!r1.done)
    step(b);
  g_assert_cmpstr(r1.answer, ==, first);
  r2.text = g_string_new(NULL);
  g_assert_true(ivl_batch_add(b, s, follow_up, NULL, 0, IVL_IMAGES_COMBINED, &p, on_token, on_done,
                              &r2, NULL, &error));
  g_assert_no_error(error);
  while (ivl_batch_get_n_asks(b) > 0)
    step(b);
  same(&want, &r2, follow_up);
  ivl_generation_stats st;
  ivl_session_get_stats(s, &st);
  g_assert_cmpint(st.n_cached_tokens, ==, ref_st.n_cached_tokens);
  same(&alone()[2], &ro, questions[2].question);

  /* back with the session: a third turn asked alone reads only its own tokens */
  g_autofree char *third_ref = fixture_ask(ref, "Why?", NULL, 0, IVL_IMAGES_COMBINED, 4);
  g_autofree char *third_got = fixture_ask(s, "Why?", NULL, 0, IVL_IMAGES_COMBINED, 4);
  g_assert_cmpstr(third_got, ==, third_ref);
  ivl_session_get_stats(s, &st);
  ivl_session_get_stats(ref, &ref_st);
  g_assert_cmpint(st.n_cached_tokens, ==, ref_st.n_cached_tokens);

  result_clear(&want);
  result_clear(&r1);
  result_clear(&r2);
  result_clear(&ro);
  ivl_session_free(third);
  ivl_session_free(other);
  ivl_session_free(s);
  ivl_session_free(ref);
  ivl_batch_free(b);
  ivl_media_free(image);
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  if (argc > 1 && strcmp(argv[1], "--cuda") == 0) {
    g_autoptr(GError) error = NULL;
    guint64 free_bytes, total;
    if (!ivl_gpu_get_memory(0, NULL, &free_bytes, &total, &error)) {
      g_print("no CUDA device: %s\n", error->message);
      return 77;
    }
    fixture_backend = IVL_BACKEND_CUDA;
    n_q = N_Q - 1;
  }
  fixture_setup();
  g_test_add_func("/batch/all-at-once", test_all_at_once);
  if (fixture_backend == IVL_BACKEND_CPU) { /* the rest is the same on every backend */
    g_test_add_func("/batch/join-and-leave", test_join_and_leave);
    g_test_add_func("/batch/left-session-usable", test_left_session_usable);
    g_test_add_func("/batch/memory-refusal", test_memory_refusal);
    g_test_add_func("/batch/model-cache-follow-up", test_model_cache_follow_up);
  }
  int status = g_test_run();
  for (guint i = 0; i < N_Q; i++)
    result_clear(&alone_results[i]);
  fixture_teardown();
  return status;
}
