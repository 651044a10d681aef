/* test-session-media — conversations with images and video on a tiny random model: every
 * chat() input layout puts 256 image tokens per tile in the prompt, a follow-up question
 * does not run the vision encoder again, and a cancelled turn's image rows are never
 * reused, nor those of a turn cut from the history. An image encoded ahead of its ask gives
 * the same answer and logits with no vision time in the ask. */
#include "session-fixture.h"

static ivl_media *image(int max_num)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = fixture_source_path("data/demo/red-panda.jpg");
  ivl_image_params ip = ivl_image_default_params();
  ip.max_num = max_num;
  ivl_media *m = ivl_media_from_image_file(path, &ip, &error);
  g_assert_no_error(error);
  return m;
}

static void test_follow_up_keeps_image(void)
{
  g_autoptr(GError) error = NULL;
  ivl_media *img = image(6);
  ivl_session *s = ivl_session_new(fixture_model, NULL, &error);
  g_autofree char *a1 = fixture_ask(s, "What is in the image?", &img, 1, IVL_IMAGES_COMBINED, 4);
  ivl_generation_stats st;
  ivl_session_get_stats(s, &st);
  g_assert_cmpint(st.n_image_tiles, ==, ivl_media_get_n_tiles(img));
  g_autofree char *a2 = fixture_ask(s, "And its colour?", NULL, 0, IVL_IMAGES_COMBINED, 4);
  ivl_session_get_stats(s, &st);
  g_assert_cmpint(st.n_image_tiles, ==, 0);
  g_assert_cmpint(st.n_cached_tokens, >, 256 * ivl_media_get_n_tiles(img));
  g_assert_cmpint(fixture_count_image_tokens(s), ==, 256 * ivl_media_get_n_tiles(img));
  ivl_session_free(s);
  ivl_media_free(img);
}

static int first_image_token(const ivl_session *s)
{
  int n;
  const int32_t *ids = ivl_session_get_prompt_ids(s, &n);
  for (int i = 0; i < n; i++)
    if (ids[i] == IMG_CONTEXT)
      return i;
  return -1;
}

/* All image tokens share one id: after a cancelled ask, the cache must not offer that
 * turn's image rows to the next ask (which may bring other media of the same size). */
static void test_cancel_forgets_images(void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GCancellable) c = g_cancellable_new();
  ivl_media *img = image(1);
  ivl_generation_params p = fixture_greedy(20);
  ivl_session *s = ivl_session_new(fixture_model, NULL, &error);
  g_assert_null(ivl_session_ask(s, "What is it?", &img, 1, IVL_IMAGES_COMBINED, &p,
                                fixture_cancel_every_two, c, c, &error));
  g_assert_error(error, IVL_ERROR, IVL_ERROR_CANCELLED);
  g_clear_error(&error);
  g_autofree char *a = fixture_ask(s, "What is it?", &img, 1, IVL_IMAGES_COMBINED, 2);
  ivl_generation_stats st;
  ivl_session_get_stats(s, &st);
  g_assert_cmpint(st.n_cached_tokens, >, 0);
  g_assert_cmpint(st.n_cached_tokens, <=, first_image_token(s));
  ivl_session_free(s);
  ivl_media_free(img);
}

/* A forgotten turn's image rows are not reused for the next turn's other image of the same
 * size (an edited question with another picture); the text before them is. */
static void test_truncate_forgets_images(void)
{
  g_autoptr(GError) error = NULL;
  ivl_media *img = image(1);
  ivl_session *s = ivl_session_new(fixture_model, NULL, &error);
  g_autofree char *a1 = fixture_ask(s, "Hello.", NULL, 0, IVL_IMAGES_COMBINED, 2);
  g_autofree char *a2 = fixture_ask(s, "What is it?", &img, 1, IVL_IMAGES_COMBINED, 2);
  ivl_session_truncate(s, 1);
  g_autofree char *a3 = fixture_ask(s, "What is this?", &img, 1, IVL_IMAGES_COMBINED, 2);
  ivl_generation_stats st;
  ivl_session_get_stats(s, &st);
  g_assert_cmpint(st.n_cached_tokens, >, 0);
  g_assert_cmpint(st.n_cached_tokens, <=, first_image_token(s));
  ivl_session_free(s);
  ivl_media_free(img);
}

static void test_layouts(void)
{
  g_autoptr(GError) error = NULL;
  ivl_media *m[2] = {image(2), image(2)};
  int tiles = ivl_media_get_n_tiles(m[0]);
  ivl_session *s = ivl_session_new(fixture_model, NULL, &error);

  g_autofree char *one = fixture_ask(s, "Describe.", m, 1, IVL_IMAGES_COMBINED, 2);
  g_assert_cmpint(fixture_count_image_tokens(s), ==, 256 * tiles);
  ivl_session_reset(s);
  g_autofree char *comb = fixture_ask(s, "Compare.", m, 2, IVL_IMAGES_COMBINED, 2);
  g_assert_cmpint(fixture_count_image_tokens(s), ==, 512 * tiles);
  ivl_session_reset(s);
  g_autofree char *sep = fixture_ask(s, "Compare.", m, 2, IVL_IMAGES_SEPARATE, 2);
  g_assert_cmpint(fixture_count_image_tokens(s), ==, 512 * tiles);

  /* A question naming more <image> places than there are images is refused. */
  ivl_session_reset(s);
  ivl_generation_params p = fixture_greedy(2);
  g_assert_null(ivl_session_ask(s, "<image> and <image>", m, 1, IVL_IMAGES_COMBINED, &p, NULL, NULL,
                                NULL, &error));
  g_assert_error(error, IVL_ERROR, IVL_ERROR_INVALID_ARGUMENT);
  ivl_session_free(s);
  ivl_media_free(m[0]);
  ivl_media_free(m[1]);
}

static void test_video(void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = fixture_source_path("tests/data/engine/video_0.mov");
  ivl_video_params vp = ivl_video_default_params();
  vp.n_segments = 2;
  ivl_media *v = ivl_media_from_video_file(path, &vp, &error);
  g_assert_no_error(error);
  ivl_session *s = ivl_session_new(fixture_model, NULL, &error);
  g_autofree char *a = fixture_ask(s, "What happens?", &v, 1, IVL_IMAGES_COMBINED, 2);
  g_assert_cmpint(fixture_count_image_tokens(s), ==, 512);
  ivl_session_free(s);
  ivl_media_free(v);
}

/* Greedy ids and prompt logits of one ask with img on a fresh session, encoded ahead first
 * when ahead; the stats in *st. */
static void ask_once(ivl_media *img, gboolean ahead, GArray *ids, float **logits, int *vocab,
                     ivl_generation_stats *st)
{
  g_autoptr(GError) error = NULL;
  ivl_session *s = ivl_session_new(fixture_model, NULL, &error);
  if (ahead) {
    g_assert_true(ivl_model_encode_ahead(fixture_model, img, NULL, &error));
    g_assert_no_error(error);
    /* A second call for the same tiles finds them waiting. */
    g_assert_true(ivl_model_encode_ahead(fixture_model, img, NULL, &error));
  }
  g_autofree char *a = fixture_ask(s, "What is in the image?", &img, 1, IVL_IMAGES_COMBINED, 8);
  ivl_session_get_stats(s, st);
  int n;
  const int32_t *gen = ivl_session_get_generated_ids(s, &n);
  g_array_append_vals(ids, gen, n);
  *logits = fixture_copy_logits(s);
  (void)ivl_session_get_prompt_logits(s, vocab);
  ivl_session_free(s);
}

static void test_encode_ahead(void)
{
  ivl_media *img = image(2);
  int tiles = ivl_media_get_n_tiles(img), vocab;
  g_autoptr(GArray) plain_ids = g_array_new(FALSE, FALSE, sizeof(int32_t));
  g_autoptr(GArray) ahead_ids = g_array_new(FALSE, FALSE, sizeof(int32_t));
  g_autofree float *plain = NULL, *ahead = NULL;
  ivl_generation_stats st;

  ask_once(img, FALSE, plain_ids, &plain, &vocab, &st);
  g_assert_cmpint(st.n_cached_tiles, ==, 0);
  g_assert_cmpfloat(st.vision_ms, >, 0);
  ask_once(img, TRUE, ahead_ids, &ahead, &vocab, &st);
  g_assert_cmpint(st.n_image_tiles, ==, tiles);
  g_assert_cmpint(st.n_cached_tiles, ==, tiles);
  g_assert_cmpfloat(st.vision_ms, ==, 0);

  g_assert_cmpuint(plain_ids->len, ==, ahead_ids->len);
  g_assert_cmpmem(plain_ids->data, plain_ids->len * sizeof(int32_t), ahead_ids->data,
                  ahead_ids->len * sizeof(int32_t));
  for (int i = 0; i < vocab; i++)
    g_assert_cmpfloat_with_epsilon(plain[i], ahead[i], 1e-6);
  ivl_media_free(img);
}

/* Rows encoded ahead and then forgotten, or whose encode was cancelled, are not used; rows
 * an ask used are gone after it. */
static void test_encode_ahead_forget_cancel(void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GCancellable) c = g_cancellable_new();
  ivl_media *img = image(1);
  ivl_generation_stats st;
  ivl_session *s = ivl_session_new(fixture_model, NULL, &error);

  g_assert_true(ivl_model_encode_ahead(fixture_model, img, NULL, &error));
  ivl_model_forget_encoded(fixture_model, img);
  g_free(fixture_ask(s, "What is it?", &img, 1, IVL_IMAGES_COMBINED, 1));
  ivl_session_get_stats(s, &st);
  g_assert_cmpint(st.n_cached_tiles, ==, 0);
  g_assert_cmpfloat(st.vision_ms, >, 0);

  g_cancellable_cancel(c);
  g_assert_false(ivl_model_encode_ahead(fixture_model, img, c, &error));
  g_assert_error(error, IVL_ERROR, IVL_ERROR_CANCELLED);
  g_clear_error(&error);
  ivl_session_reset(s);
  g_free(fixture_ask(s, "What is it?", &img, 1, IVL_IMAGES_COMBINED, 1));
  ivl_session_get_stats(s, &st);
  g_assert_cmpint(st.n_cached_tiles, ==, 0);

  g_assert_true(ivl_model_encode_ahead(fixture_model, img, NULL, &error));
  g_free(fixture_ask(s, "And this?", &img, 1, IVL_IMAGES_COMBINED, 1));
  ivl_session_get_stats(s, &st);
  g_assert_cmpint(st.n_cached_tiles, ==, 1);
  g_free(fixture_ask(s, "And again?", &img, 1, IVL_IMAGES_COMBINED, 1));
  ivl_session_get_stats(s, &st);
  g_assert_cmpint(st.n_cached_tiles, ==, 0);
  ivl_session_free(s);
  ivl_media_free(img);
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  fixture_setup();
  g_test_add_func("/session-media/follow-up-keeps-image", test_follow_up_keeps_image);
  g_test_add_func("/session-media/cancel-forgets-images", test_cancel_forgets_images);
  g_test_add_func("/session-media/truncate-forgets-images", test_truncate_forgets_images);
  g_test_add_func("/session-media/layouts", test_layouts);
  g_test_add_func("/session-media/video", test_video);
  g_test_add_func("/session-media/encode-ahead", test_encode_ahead);
  g_test_add_func("/session-media/encode-ahead-forget-cancel", test_encode_ahead_forget_cancel);
  int status = g_test_run();
  fixture_teardown();
  return status;
}
