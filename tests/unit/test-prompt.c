/* Template and chat() prompt tests: every expected string is written here from the rules of
 * spec sections 5 and 6, byte for byte. */
#include <string.h>

#include "ivl.h"
#include "prompt.h"
#include "template.h"
#include "tokenizer.h"

static ivl_tokenizer *tok;
static const ivl_template *tpl;

/* Spec section 5: the default system message as UTF-8 hex. */
static const char default_system_hex[] =
    "e4bda0e698afe4b9a6e7949fc2b7e4b887e8b1a1efbc8ce88bb1e69687e5908de698af496e7465726e564cefbc8c"
    "e698afe794b1e4b88ae6b5b7e4babae5b7a5e699bae883bde5ae9ee9aa8ce5aea4e38081e6b885e58d8ee5a4a7e5"
    "ada6e58f8ae5a49ae5aeb6e59088e4bd9ce58d95e4bd8de88194e59088e5bc80e58f91e79a84e5a49ae6a8a1e680"
    "81e5a4a7e8afade8a880e6a8a1e59e8be38082";

#define SYS_OPEN "<|im_start|>system\n"
#define SEP "<|im_end|>\n"
#define USER "<|im_start|>user\n"
#define ASSISTANT "<|im_start|>assistant\n"

static char *default_system(void)
{
  gsize n = strlen(default_system_hex) / 2;
  char *s = g_malloc(n + 1);
  for (gsize i = 0; i < n; i++)
    s[i] = (char)(g_ascii_xdigit_value(default_system_hex[2 * i]) * 16 +
                  g_ascii_xdigit_value(default_system_hex[2 * i + 1]));
  s[n] = '\0';
  return s;
}

/* "<img>" + "<IMG_CONTEXT>" x n + "</img>" */
static char *image_tokens(int n)
{
  GString *s = g_string_new("<img>");
  for (int i = 0; i < n; i++)
    g_string_append(s, "<IMG_CONTEXT>");
  g_string_append(s, "</img>");
  return g_string_free(s, FALSE);
}

static char *render(const char *system, const ivl_prompt_turn *turns, gsize n)
{
  g_autoptr(GError) error = NULL;
  char *text = ivl_prompt_render(tpl, system, turns, n, 256, FALSE, &error);
  g_assert_no_error(error);
  return text;
}

static void expect_render_error(const ivl_prompt_turn *turns, gsize n)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *text = ivl_prompt_render(tpl, NULL, turns, n, 256, FALSE, &error);
  g_assert_null(text);
  g_assert_error(error, IVL_ERROR, IVL_ERROR_INVALID_ARGUMENT);
}

/* ---- template ---------------------------------------------------------------------------- */

static void test_template(void)
{
  g_autofree char *sys = default_system();
  g_assert_cmpstr(ivl_template_get_default_system_message(tpl), ==, sys);
  g_assert_cmpint(g_utf8_strlen(sys, -1), ==, 58);
  g_assert_cmpstr(ivl_template_get_name(tpl), ==, "internvl2_5");
  g_assert_cmpstr(ivl_template_get_stop_text(tpl), ==, "<|im_end|>");

  ivl_template_turn one = {"Hello", NULL};
  g_autofree char *a = ivl_template_render(tpl, NULL, &one, 1);
  g_autofree char *want_a = g_strconcat(SYS_OPEN, sys, SEP USER "Hello" SEP ASSISTANT, NULL);
  g_assert_cmpstr(a, ==, want_a);

  g_autofree char *b = ivl_template_render(tpl, "Be brief.", &one, 1);
  g_assert_cmpstr(b, ==, SYS_OPEN "Be brief." SEP USER "Hello" SEP ASSISTANT);
  g_autofree char *c = ivl_template_render(tpl, "", &one, 1);
  g_assert_cmpstr(c, ==, SYS_OPEN SEP USER "Hello" SEP ASSISTANT);

  ivl_template_turn history[] = {{"Q1", "A1"}, {"Q2", "A2"}, {"Q3", NULL}};
  g_autofree char *d = ivl_template_render(tpl, "S", history, 3);
  g_assert_cmpstr(d, ==,
                  SYS_OPEN "S" SEP USER "Q1" SEP ASSISTANT "A1" SEP USER "Q2" SEP ASSISTANT
                           "A2" SEP USER "Q3" SEP ASSISTANT);

  /* An empty answer (and an empty question) adds only its role: upstream's truthiness test. */
  ivl_template_turn empty[] = {{"Q1", ""}, {"", NULL}};
  g_autofree char *e = ivl_template_render(tpl, "S", empty, 2);
  g_assert_cmpstr(e, ==, SYS_OPEN "S" SEP USER "Q1" SEP ASSISTANT USER ASSISTANT);

  g_autofree char *f = ivl_template_render(tpl, "S", NULL, 0);
  g_assert_cmpstr(f, ==, SYS_OPEN "S" SEP);

  g_autoptr(GError) error = NULL;
  g_assert_null(ivl_template_lookup("Hermes-2", &error));
  g_assert_error(error, IVL_ERROR, IVL_ERROR_UNSUPPORTED);
  g_clear_error(&error);
  g_assert_null(ivl_template_lookup(NULL, &error));
  g_assert_error(error, IVL_ERROR, IVL_ERROR_UNSUPPORTED);
}

/* The -hf repos' template, as their Jinja text renders messages (check_hf_template.py runs
 * the Jinja itself): no system turn unless given, every message role + content + sep, an
 * empty one included; the open assistant turn last. */
static void test_template_hf(void)
{
  g_autoptr(GError) error = NULL;
  const ivl_template *hf = ivl_template_lookup("internvl_hf", &error);
  g_assert_no_error(error);
  g_assert_null(ivl_template_get_default_system_message(hf));
  g_assert_cmpstr(ivl_template_get_stop_text(hf), ==, "<|im_end|>");
  g_assert_true(ivl_template_from_jinja(ivl_template_get_jinja(hf), &error) == hf);
  g_assert_null(ivl_template_get_jinja(tpl));

  ivl_template_turn one = {"Hello", NULL};
  g_autofree char *a = ivl_template_render(hf, NULL, &one, 1);
  g_assert_cmpstr(a, ==, USER "Hello" SEP ASSISTANT);
  g_autofree char *b = ivl_template_render(hf, "", &one, 1);
  g_assert_cmpstr(b, ==, SYS_OPEN SEP USER "Hello" SEP ASSISTANT);
  ivl_template_turn history[] = {{"Q1", "A1"}, {"Q2", ""}, {"Q3", NULL}};
  g_autofree char *c = ivl_template_render(hf, NULL, history, 3);
  g_assert_cmpstr(c, ==,
                  USER "Q1" SEP ASSISTANT "A1" SEP USER "Q2" SEP ASSISTANT SEP USER "Q3" SEP
                      ASSISTANT);

  /* Any other Jinja text is refused rather than rendered some other way. */
  g_assert_null(ivl_template_from_jinja("{{ messages }}", &error));
  g_assert_error(error, IVL_ERROR, IVL_ERROR_UNSUPPORTED);
  g_clear_error(&error);
  g_assert_null(ivl_template_from_jinja(NULL, &error));
  g_assert_error(error, IVL_ERROR, IVL_ERROR_UNSUPPORTED);
}

/* ---- chat() questions -------------------------------------------------------------------- */

static void test_questions(void)
{
  g_autofree char *a = ivl_prompt_chat_question("What is it?", 1, TRUE);
  g_assert_cmpstr(a, ==, "<image>\nWhat is it?");
  g_autofree char *b = ivl_prompt_chat_question("Look: <image> what?", 1, TRUE);
  g_assert_cmpstr(b, ==, "Look: <image> what?");
  g_autofree char *c = ivl_prompt_chat_question("And now?", 1, FALSE);
  g_assert_cmpstr(c, ==, "And now?");
  g_autofree char *d = ivl_prompt_chat_question("Text only", 0, TRUE);
  g_assert_cmpstr(d, ==, "Text only");

  g_autofree char *e = ivl_prompt_separate_images_question("Compare.", 2);
  g_assert_cmpstr(e, ==, "Image-1: <image>\nImage-2: <image>\nCompare.");
  g_autofree char *f = ivl_prompt_separate_images_question("One.", 1);
  g_assert_cmpstr(f, ==, "<image>\nOne.");
  g_autofree char *g = ivl_prompt_separate_images_question("<image> and <image>?", 2);
  g_assert_cmpstr(g, ==, "<image> and <image>?");

  g_autofree char *h = ivl_prompt_video_question("What happens?", 3);
  g_assert_cmpstr(h, ==, "Frame1: <image>\nFrame2: <image>\nFrame3: <image>\nWhat happens?");
}

/* ---- rendering --------------------------------------------------------------------------- */

static void test_render_text_only(void)
{
  ivl_prompt_turn t = {"Hi there", NULL, NULL, 0};
  g_autofree char *text = render("S", &t, 1);
  g_assert_cmpstr(text, ==, SYS_OPEN "S" SEP USER "Hi there" SEP ASSISTANT);
}

static void test_render_one_image(void)
{
  const int tiles[] = {2};
  g_autofree char *q = ivl_prompt_chat_question("Describe.", 1, TRUE);
  ivl_prompt_turn t = {q, NULL, tiles, 1};
  g_autofree char *text = render("S", &t, 1);
  g_autofree char *img = image_tokens(512);
  g_autofree char *want =
      g_strconcat(SYS_OPEN "S" SEP USER, img, "\nDescribe." SEP ASSISTANT, NULL);
  g_assert_cmpstr(text, ==, want);

  g_autoptr(GError) error = NULL;
  g_autofree char *brief = ivl_prompt_render(tpl, "S", &t, 1, 256, TRUE, &error);
  g_assert_no_error(error);
  g_assert_cmpstr(brief, ==,
                  SYS_OPEN "S" SEP USER "<img><IMG_CONTEXT>\xC3\x97"
                           "512</img>\nDescribe." SEP ASSISTANT);

  /* A placeholder the user wrote stays where it is. */
  g_autofree char *q2 = ivl_prompt_chat_question("Look: <image> what?", 1, TRUE);
  ivl_prompt_turn t2 = {q2, NULL, tiles, 1};
  g_autofree char *text2 = render("S", &t2, 1);
  g_autofree char *want2 =
      g_strconcat(SYS_OPEN "S" SEP USER "Look: ", img, " what?" SEP ASSISTANT, NULL);
  g_assert_cmpstr(text2, ==, want2);
}

/* History images are expanded again, before the new turn's, in prompt order. */
static void test_render_history(void)
{
  const int first[] = {3}, third[] = {1};
  ivl_prompt_turn turns[] = {
      {"<image>\nDescribe.", "A cat.", first, 1},
      {"And the color?", "Grey.", NULL, 0},
      {"<image>\nAnd this one?", NULL, third, 1},
  };
  g_autofree char *text = render(NULL, turns, 3);
  g_autofree char *sys = default_system();
  g_autofree char *img3 = image_tokens(768);
  g_autofree char *img1 = image_tokens(256);
  g_autofree char *want = g_strconcat(SYS_OPEN, sys, SEP USER, img3,
                                      "\nDescribe." SEP ASSISTANT "A cat." SEP USER
                                      "And the color?" SEP ASSISTANT "Grey." SEP USER,
                                      img1, "\nAnd this one?" SEP ASSISTANT, NULL);
  g_assert_cmpstr(text, ==, want);
}

static void test_render_combined_separate_video(void)
{
  /* Combined: two images of 2 and 3 tiles behind one <image>. */
  const int combined[] = {5};
  g_autofree char *qc = ivl_prompt_chat_question("Both?", 1, TRUE);
  ivl_prompt_turn tc = {qc, NULL, combined, 1};
  g_autofree char *c = render("S", &tc, 1);
  g_autofree char *img5 = image_tokens(1280);
  g_autofree char *want_c = g_strconcat(SYS_OPEN "S" SEP USER, img5, "\nBoth?" SEP ASSISTANT, NULL);
  g_assert_cmpstr(c, ==, want_c);

  const int separate[] = {2, 3};
  g_autofree char *qs = ivl_prompt_separate_images_question("Compare.", 2);
  ivl_prompt_turn ts = {qs, NULL, separate, 2};
  g_autofree char *s = render("S", &ts, 1);
  g_autofree char *img2 = image_tokens(512);
  g_autofree char *img3 = image_tokens(768);
  g_autofree char *want_s = g_strconcat(SYS_OPEN "S" SEP USER "Image-1: ", img2,
                                        "\nImage-2: ", img3, "\nCompare." SEP ASSISTANT, NULL);
  g_assert_cmpstr(s, ==, want_s);

  const int frames[] = {1, 1};
  g_autofree char *qv = ivl_prompt_video_question("Why?", 2);
  ivl_prompt_turn tv = {qv, NULL, frames, 2};
  g_autofree char *v = render("S", &tv, 1);
  g_autofree char *img1 = image_tokens(256);
  g_autofree char *want_v = g_strconcat(SYS_OPEN "S" SEP USER "Frame1: ", img1, "\nFrame2: ", img1,
                                        "\nWhy?" SEP ASSISTANT, NULL);
  g_assert_cmpstr(v, ==, want_v);
}

static void test_render_mismatch(void)
{
  const int one[] = {1}, two[] = {1, 1}, zero[] = {0};
  ivl_prompt_turn more_placeholders = {"<image> <image>", NULL, one, 1};
  expect_render_error(&more_placeholders, 1);
  ivl_prompt_turn fewer_placeholders = {"<image> x", NULL, two, 2};
  expect_render_error(&fewer_placeholders, 1);
  /* Without any image, upstream's chat() replaces nothing: the placeholder stays text. */
  ivl_prompt_turn text_only = {"what is <image>?", NULL, NULL, 0};
  g_autofree char *literal = render(NULL, &text_only, 1);
  g_assert_nonnull(strstr(literal, "what is <image>?"));
  ivl_prompt_turn no_placeholder = {"later turn, no prefix", NULL, one, 1};
  expect_render_error(&no_placeholder, 1);
  ivl_prompt_turn no_tiles = {"<image>", NULL, zero, 1};
  expect_render_error(&no_tiles, 1);
  g_autoptr(GError) error = NULL;
  ivl_prompt_turn ok = {"<image>", NULL, one, 1};
  g_assert_null(ivl_prompt_render(tpl, NULL, &ok, 1, 0, FALSE, &error));
  g_assert_error(error, IVL_ERROR, IVL_ERROR_INVALID_ARGUMENT);
}

/* ---- ids --------------------------------------------------------------------------------- */

static void test_build(void)
{
  const int tiles[] = {2, 1};
  ivl_prompt_turn turns[] = {
      {"<image>\nDescribe.", "A dog.", tiles, 1},
      {"Image-1: <image>\nNow?", NULL, tiles + 1, 1},
  };
  g_autoptr(GError) error = NULL;
  g_autoptr(ivl_prompt) p = ivl_prompt_build(tok, tpl, "S", turns, 2, 256, &error);
  g_assert_no_error(error);
  g_autofree char *text = render("S", turns, 2);
  g_autoptr(GArray) want = ivl_tokenizer_encode(tok, text, -1);
  g_assert_cmpmem(p->ids->data, p->ids->len * 4, want->data, want->len * 4);
  const gint32 *ids = (const gint32 *)p->ids->data;
  /* <|im_start|> system \n S <|im_end|> \n <|im_start|> user \n <img> */
  const gint32 head[] = {151644, 8948, 198, 50, 151645, 198, 151644, 872, 198, 151665};
  g_assert_cmpmem(ids, sizeof head, head, sizeof head);
  g_assert_cmpuint(p->image_positions->len, ==, 768);
  const gint32 *pos = (const gint32 *)p->image_positions->data;
  for (guint k = 0; k < 768; k++)
    g_assert_cmpint(ids[pos[k]], ==, 151667);
  g_assert_cmpint(pos[0], ==, 10);
  g_assert_cmpint(pos[511], ==, 10 + 511);
  g_assert_cmpint(ids[pos[511] + 1], ==, 151666);
  g_assert_cmpint(ids[pos[512] - 1], ==, 151665);
  g_assert_cmpint(pos[767], ==, pos[512] + 255);
  const gint32 tail[] = {151645, 198, 151644, 77091, 198};
  g_assert_cmpmem(ids + p->ids->len - 5, sizeof tail, tail, sizeof tail);
}

static void test_build_rejects_context_in_text(void)
{
  const int one[] = {1};
  ivl_prompt_turn t = {"<image>\nwhat is <IMG_CONTEXT>?", NULL, one, 1};
  g_autoptr(GError) error = NULL;
  g_assert_null(ivl_prompt_build(tok, tpl, NULL, &t, 1, 256, &error));
  g_assert_error(error, IVL_ERROR, IVL_ERROR_INVALID_ARGUMENT);
}

static void check_row(const ivl_prompt_batch *b, gsize r, const char *question, int tiles)
{
  ivl_prompt_turn t = {question, NULL, tiles ? &tiles : NULL, tiles ? 1 : 0};
  g_autoptr(GError) error = NULL;
  g_autoptr(ivl_prompt) p = ivl_prompt_build(tok, tpl, NULL, &t, 1, 256, &error);
  g_assert_no_error(error);
  gsize n_pad = b->n_cols - p->ids->len;
  for (gsize c = 0; c < b->n_cols; c++) {
    gsize k = r * b->n_cols + c;
    gint32 id = g_array_index(b->ids, gint32, k);
    gint32 mask = g_array_index(b->attention_mask, gint32, k);
    gint32 position = g_array_index(b->position_ids, gint32, k);
    if (c < n_pad) {
      g_assert_cmpint(id, ==, 151643);
      g_assert_cmpint(mask, ==, 0);
      g_assert_cmpint(position, ==, 1);
    } else {
      g_assert_cmpint(id, ==, g_array_index(p->ids, gint32, c - n_pad));
      g_assert_cmpint(mask, ==, 1);
      g_assert_cmpint(position, ==, (gint32)(c - n_pad));
    }
  }
}

static void test_batch(void)
{
  const char *const questions[] = {"Hi", "<image>\nDescribe this picture in great detail, please."};
  const int tiles[] = {1, 2};
  g_autoptr(GError) error = NULL;
  g_autoptr(ivl_prompt_batch) b =
      ivl_prompt_build_batch(tok, tpl, NULL, questions, tiles, 2, 256, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(b->n_rows, ==, 2);
  check_row(b, 0, "<image>\nHi", 1);
  check_row(b, 1, questions[1], 2);
  g_assert_cmpuint(b->image_positions->len, ==, 768);
  const gint32 *pos = (const gint32 *)b->image_positions->data;
  for (guint k = 0; k < 768; k++) {
    g_assert_cmpint(g_array_index(b->ids, gint32, pos[k]), ==, 151667);
    if (k > 0)
      g_assert_cmpint(pos[k], >, pos[k - 1]);
  }
  g_assert_cmpint(pos[255], <, (gint32)b->n_cols);
  g_assert_cmpint(pos[256], >=, (gint32)b->n_cols);

  /* Text only: no prefix, no images. */
  g_autoptr(ivl_prompt_batch) t =
      ivl_prompt_build_batch(tok, tpl, NULL, questions, NULL, 1, 256, &error);
  g_assert_no_error(error);
  check_row(t, 0, "Hi", 0);
  g_assert_cmpuint(t->image_positions->len, ==, 0);

  const char *const two[] = {"ok", "<image> and <image>"};
  g_assert_null(ivl_prompt_build_batch(tok, tpl, NULL, two, tiles, 2, 256, &error));
  g_assert_error(error, IVL_ERROR, IVL_ERROR_INVALID_ARGUMENT);
  g_assert_true(strstr(error->message, "question 2") != NULL);
}

/* ---- the answer -------------------------------------------------------------------------- */

static void append_text(GArray *ids, const char *text)
{
  g_autoptr(GArray) part = ivl_tokenizer_encode(tok, text, -1);
  g_array_append_vals(ids, part->data, part->len);
}

static void test_postprocess(void)
{
  g_autoptr(GArray) ids = g_array_new(FALSE, FALSE, sizeof(gint32));
  append_text(ids, " \n A red panda.\u3000\x1c\n");
  gint32 im_end = 151645;
  g_array_append_val(ids, im_end);
  g_autofree char *a = ivl_prompt_postprocess(tok, tpl, (gint32 *)ids->data, ids->len);
  g_assert_cmpstr(a, ==, "A red panda.");

  /* The stop text spelled by ordinary tokens ends the answer too. */
  append_text(ids, "<|im");
  append_text(ids, "_end|>");
  append_text(ids, "tail");
  g_autofree char *b = ivl_prompt_postprocess(tok, tpl, (gint32 *)ids->data, ids->len);
  g_assert_cmpstr(b, ==, "A red panda.");
  g_autofree char *c = ivl_prompt_postprocess(tok, tpl, NULL, 0);
  g_assert_cmpstr(c, ==, "");
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  const char *root = g_getenv("IVL_SOURCE_ROOT");
  g_autofree char *dir =
      g_build_filename(root ? root : ".", "tests", "data", "tokenizer", "qwen2.5", NULL);
  g_autoptr(GError) error = NULL;
  tok = ivl_tokenizer_load(dir, &error);
  g_assert_no_error(error);
  tpl = ivl_template_lookup("internvl2_5", &error);
  g_assert_no_error(error);
  g_test_add_func("/template/internvl2_5", test_template);
  g_test_add_func("/template/internvl_hf", test_template_hf);
  g_test_add_func("/prompt/questions", test_questions);
  g_test_add_func("/prompt/text-only", test_render_text_only);
  g_test_add_func("/prompt/one-image", test_render_one_image);
  g_test_add_func("/prompt/history", test_render_history);
  g_test_add_func("/prompt/combined-separate-video", test_render_combined_separate_video);
  g_test_add_func("/prompt/mismatch", test_render_mismatch);
  g_test_add_func("/prompt/build", test_build);
  g_test_add_func("/prompt/context-in-text", test_build_rejects_context_in_text);
  g_test_add_func("/prompt/batch", test_batch);
  g_test_add_func("/prompt/postprocess", test_postprocess);
  int status = g_test_run();
  ivl_tokenizer_free(tok);
  return status;
}
