/* prompt.c — chat() / batch_chat() prompt building (upstream modeling_internvl_chat.py). */
#include "prompt.h"

#include "ivl.h"
#include "utf8.h"

#include <string.h>

#define IMG_START "<img>"
#define IMG_END "</img>"
#define IMG_CONTEXT "<IMG_CONTEXT>"

char *ivl_prompt_chat_question(const char *question, gsize n_images, gboolean first_turn)
{
  if (first_turn && n_images > 0 && !strstr(question, IVL_PROMPT_IMAGE))
    return g_strconcat(IVL_PROMPT_IMAGE "\n", question, NULL);
  return g_strdup(question);
}

/* label(i) + "<image>\n" for each item, then the question. */
static char *prefixed_question(const char *question, gsize n, const char *label)
{
  if (strstr(question, IVL_PROMPT_IMAGE))
    return g_strdup(question);
  GString *out = g_string_new(NULL);
  for (gsize i = 0; i < n; i++)
    g_string_append_printf(out, "%s%zu: " IVL_PROMPT_IMAGE "\n", label, i + 1);
  g_string_append(out, question);
  return g_string_free(out, FALSE);
}

char *ivl_prompt_separate_images_question(const ivl_template *tpl, const char *question,
                                          gsize n_images)
{
  if (n_images == 1)
    return ivl_prompt_chat_question(question, 1, TRUE);
  if (ivl_template_get_jinja(tpl) && !strstr(question, IVL_PROMPT_IMAGE)) {
    /* The -hf template renders a message of n images and a text as "<image>\n" n times, then
     * the text. */
    GString *out = g_string_new(NULL);
    for (gsize i = 0; i < n_images; i++)
      g_string_append(out, IVL_PROMPT_IMAGE "\n");
    g_string_append(out, question);
    return g_string_free(out, FALSE);
  }
  return prefixed_question(question, n_images, "Image-");
}

char *ivl_prompt_video_question(const char *question, gsize n_frames)
{
  return prefixed_question(question, n_frames, "Frame");
}

static gsize count_images(const char *text)
{
  gsize n = 0;
  for (const char *p = strstr(text, IVL_PROMPT_IMAGE); p; p = strstr(p + 1, IVL_PROMPT_IMAGE))
    n++;
  return n;
}

static void append_image_tokens(GString *out, gsize n_context, gboolean abbreviate)
{
  g_string_append(out, IMG_START);
  if (abbreviate) {
    g_string_append_printf(out, IMG_CONTEXT "\xC3\x97%zu", n_context); /* U+00D7 × */
  } else {
    for (gsize i = 0; i < n_context; i++)
      g_string_append(out, IMG_CONTEXT);
  }
  g_string_append(out, IMG_END);
}

static gboolean check_counts(const ivl_prompt_turn *turns, gsize n_turns, int num_image_token,
                             gsize n_placeholders, GError **error)
{
  gsize n_images = 0;
  if (num_image_token < 1) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_INVALID_ARGUMENT,
                "num_image_token must be positive, not %d", num_image_token);
    return FALSE;
  }
  for (gsize t = 0; t < n_turns; t++) {
    for (gsize i = 0; i < turns[t].n_images; i++) {
      if (turns[t].n_tiles[i] < 1) {
        g_set_error(error, IVL_ERROR, IVL_ERROR_INVALID_ARGUMENT,
                    "image %zu of turn %zu has %d tiles", i + 1, t + 1, turns[t].n_tiles[i]);
        return FALSE;
      }
    }
    n_images += turns[t].n_images;
  }
  /* With no image at all, upstream replaces nothing and a literal <image> stays text. */
  if (n_images > 0 && n_placeholders != n_images) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_INVALID_ARGUMENT,
                "the prompt holds %zu " IVL_PROMPT_IMAGE " placeholders for %zu images",
                n_placeholders, n_images);
    return FALSE;
  }
  return TRUE;
}

char *ivl_prompt_render(const ivl_template *tpl, const char *system_message,
                        const ivl_prompt_turn *turns, gsize n_turns, int num_image_token,
                        gboolean abbreviate, GError **error)
{
  g_autofree ivl_template_turn *plain = g_new0(ivl_template_turn, n_turns + 1);
  for (gsize t = 0; t < n_turns; t++) {
    plain[t].question = turns[t].question;
    plain[t].answer = turns[t].answer;
  }
  g_autofree char *text = ivl_template_render(tpl, system_message, plain, n_turns);
  /* Upstream replaces the first remaining <image> of the whole prompt for each image in
   * turn order, so placeholders in the system message or answers count too. */
  if (!check_counts(turns, n_turns, num_image_token, count_images(text), error))
    return NULL;
  GString *out = g_string_sized_new(strlen(text));
  const char *p = text;
  for (gsize t = 0; t < n_turns; t++) {
    for (gsize i = 0; i < turns[t].n_images; i++) {
      const char *hit = strstr(p, IVL_PROMPT_IMAGE);
      g_string_append_len(out, p, hit - p);
      append_image_tokens(out, (gsize)turns[t].n_tiles[i] * (gsize)num_image_token, abbreviate);
      p = hit + strlen(IVL_PROMPT_IMAGE);
    }
  }
  g_string_append(out, p);
  return g_string_free(out, FALSE);
}

static gsize expected_context(const ivl_prompt_turn *turns, gsize n_turns, int num_image_token)
{
  gsize n = 0;
  for (gsize t = 0; t < n_turns; t++) {
    for (gsize i = 0; i < turns[t].n_images; i++)
      n += (gsize)turns[t].n_tiles[i] * (gsize)num_image_token;
  }
  return n;
}

ivl_prompt *ivl_prompt_build(const ivl_tokenizer *tok, const ivl_template *tpl,
                             const char *system_message, const ivl_prompt_turn *turns,
                             gsize n_turns, int num_image_token, GError **error)
{
  g_autofree char *text =
      ivl_prompt_render(tpl, system_message, turns, n_turns, num_image_token, FALSE, error);
  if (!text)
    return NULL;
  gsize want = expected_context(turns, n_turns, num_image_token);
  gint32 context_id = ivl_tokenizer_get_img_context_id(tok);
  if (want > 0 && context_id < 0) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_UNSUPPORTED, "the tokenizer has no " IMG_CONTEXT);
    return NULL;
  }
  g_autoptr(ivl_prompt) prompt = g_new0(ivl_prompt, 1);
  prompt->ids = g_array_new(FALSE, FALSE, sizeof(gint32));
  gint32 bos = ivl_tokenizer_get_bos_id(tok);
  if (bos >= 0)
    g_array_append_val(prompt->ids, bos);
  g_autoptr(GArray) body = ivl_tokenizer_encode(tok, text, -1);
  g_array_append_vals(prompt->ids, body->data, body->len);
  prompt->image_positions = g_array_new(FALSE, FALSE, sizeof(gint32));
  for (guint i = 0; context_id >= 0 && i < prompt->ids->len; i++) {
    if (g_array_index(prompt->ids, gint32, i) == context_id) {
      gint32 pos = (gint32)i;
      g_array_append_val(prompt->image_positions, pos);
    }
  }
  if (prompt->image_positions->len != want) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_INVALID_ARGUMENT,
                "the prompt holds %u " IMG_CONTEXT " tokens, not the %zu its images need "
                "(does the text contain " IMG_CONTEXT "?)",
                prompt->image_positions->len, want);
    return NULL;
  }
  return g_steal_pointer(&prompt);
}

void ivl_prompt_free(ivl_prompt *prompt)
{
  if (!prompt)
    return;
  if (prompt->ids)
    g_array_unref(prompt->ids);
  if (prompt->image_positions)
    g_array_unref(prompt->image_positions);
  g_free(prompt);
}

/* Lays one row out left-padded in the batch. */
static void place_row(ivl_prompt_batch *b, gsize row, const ivl_prompt *p, gint32 pad,
                      gint32 context_id)
{
  gsize n_pad = b->n_cols - p->ids->len;
  for (gsize c = 0; c < b->n_cols; c++) {
    gsize k = row * b->n_cols + c;
    gboolean real = c >= n_pad;
    gint32 id = real ? g_array_index(p->ids, gint32, c - n_pad) : pad;
    g_array_index(b->ids, gint32, k) = id;
    g_array_index(b->attention_mask, gint32, k) = real;
    g_array_index(b->position_ids, gint32, k) = real ? (gint32)(c - n_pad) : 1;
    if (real && id == context_id) {
      gint32 flat = (gint32)k;
      g_array_append_val(b->image_positions, flat);
    }
  }
}

ivl_prompt_batch *ivl_prompt_build_batch(const ivl_tokenizer *tok, const ivl_template *tpl,
                                         const char *system_message, const char *const *questions,
                                         const int *n_tiles, gsize n_rows, int num_image_token,
                                         GError **error)
{
  gint32 pad = ivl_tokenizer_get_pad_id(tok);
  if (pad < 0) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_UNSUPPORTED, "the tokenizer has no pad token");
    return NULL;
  }
  g_autoptr(GPtrArray) rows = g_ptr_array_new_with_free_func((GDestroyNotify)ivl_prompt_free);
  gsize n_cols = 0;
  for (gsize r = 0; r < n_rows; r++) {
    gsize n_images = n_tiles ? 1 : 0;
    g_autofree char *q = ivl_prompt_chat_question(questions[r], n_images, TRUE);
    ivl_prompt_turn turn = {q, NULL, n_tiles ? &n_tiles[r] : NULL, n_images};
    ivl_prompt *p = ivl_prompt_build(tok, tpl, system_message, &turn, 1, num_image_token, error);
    if (!p) {
      g_prefix_error(error, "question %zu: ", r + 1);
      return NULL;
    }
    g_ptr_array_add(rows, p);
    n_cols = MAX(n_cols, p->ids->len);
  }
  ivl_prompt_batch *b = g_new0(ivl_prompt_batch, 1);
  b->n_rows = n_rows;
  b->n_cols = n_cols;
  b->ids = g_array_sized_new(FALSE, TRUE, sizeof(gint32), n_rows * n_cols);
  g_array_set_size(b->ids, n_rows * n_cols);
  b->attention_mask = g_array_copy(b->ids);
  b->position_ids = g_array_copy(b->ids);
  b->image_positions = g_array_new(FALSE, FALSE, sizeof(gint32));
  for (gsize r = 0; r < n_rows; r++)
    place_row(b, r, g_ptr_array_index(rows, r), pad, ivl_tokenizer_get_img_context_id(tok));
  return b;
}

void ivl_prompt_batch_free(ivl_prompt_batch *batch)
{
  if (!batch)
    return;
  g_clear_pointer(&batch->ids, g_array_unref);
  g_clear_pointer(&batch->attention_mask, g_array_unref);
  g_clear_pointer(&batch->position_ids, g_array_unref);
  g_clear_pointer(&batch->image_positions, g_array_unref);
  g_free(batch);
}

char *ivl_prompt_postprocess(const ivl_tokenizer *tok, const ivl_template *tpl, const gint32 *ids,
                             gsize n_ids)
{
  g_autofree char *text = ivl_tokenizer_decode(tok, ids, n_ids, TRUE);
  char *stop = strstr(text, ivl_template_get_stop_text(tpl));
  if (stop)
    *stop = '\0';
  return ivl_utf8_strip_py(text);
}
