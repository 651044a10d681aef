/* prompt.h — chat() and batch_chat() semantics (spec section 6): where images go in the
 * question, how each <image> becomes <img> + <IMG_CONTEXT> x (num_image_token x tiles) + </img>,
 * the token ids with the positions image features fill, and the answer's post-processing.
 *
 * A session keeps every turn with the question as the model saw it (placeholders included)
 * and the tile count of each of its images; each new prompt re-renders the whole history and
 * re-expands the images of earlier turns too, as upstream chat() does. */
#ifndef IVL_PROMPT_H
#define IVL_PROMPT_H

#include <glib.h>

#include "template.h"
#include "tokenizer.h"

G_BEGIN_DECLS

#define IVL_PROMPT_IMAGE "<image>"

/* One turn of a conversation. */
typedef struct {
  const char *question; /* as the model saw it, <image> placeholders included */
  const char *answer;   /* NULL in the new, last turn */
  const int *n_tiles;   /* tiles of each image of this turn, in placeholder order */
  gsize n_images;
} ivl_prompt_turn;

/* chat() step 1: "<image>\n" + question when n_images > 0 on the first turn and question holds
 * no <image>; otherwise a copy of question. Combined images use this with one count (their
 * tiles summed). */
char *ivl_prompt_chat_question(const char *question, gsize n_images, gboolean first_turn);
/* Separate images: "Image-1: <image>\nImage-2: <image>\n…" + question (the -hf template:
 * "<image>\n" per image, as its Jinja renders a message of images then text); with one
 * image, the chat() prefix. A question that already holds <image> is returned as it is. */
char *ivl_prompt_separate_images_question(const ivl_template *tpl, const char *question,
                                           gsize n_images);
/* Video: "Frame1: <image>\nFrame2: <image>\n…" + question, one tile per frame (model card
 * spelling). A question that already holds <image> is returned as it is. */
char *ivl_prompt_video_question(const char *question, gsize n_frames);

/* The rendered prompt text of turns (the last one open), each <image> replaced, in order over
 * the whole prompt, by the next image's tokens. abbreviate writes "<IMG_CONTEXT>×N" instead of
 * N tokens. INVALID_ARGUMENT when the number of <image> differs from the number of images, or a
 * tile count is below 1. system_message NULL = the template's default. */
char *ivl_prompt_render(const ivl_template *tpl, const char *system_message,
                        const ivl_prompt_turn *turns, gsize n_turns, int num_image_token,
                        gboolean abbreviate, GError **error);

typedef struct {
  GArray *ids;             /* gint32 token ids of the prompt (BOS first if the tokenizer has one) */
  GArray *image_positions; /* gint32 index in ids of each <IMG_CONTEXT>, in order: row k of the
                              flattened [tiles x num_image_token] features goes to the k-th */
} ivl_prompt;

/* Tokenizes the prompt of ivl_prompt_render(). INVALID_ARGUMENT also when the text itself
 * holds <IMG_CONTEXT> tokens (their count would not match the features); UNSUPPORTED when the
 * tokenizer has no <IMG_CONTEXT> and there are images. */
ivl_prompt *ivl_prompt_build(const ivl_tokenizer *tok, const ivl_template *tpl,
                             const char *system_message, const ivl_prompt_turn *turns,
                             gsize n_turns, int num_image_token, GError **error);
void ivl_prompt_free(ivl_prompt *prompt);

/* batch_chat(): n_rows single-turn prompts with one image each, left-padded to one length. */
typedef struct {
  gsize n_rows, n_cols;
  GArray *ids;             /* gint32 [n_rows x n_cols] row-major, pads = the pad token */
  GArray *attention_mask;  /* gint32 [n_rows x n_cols]: 0 on pads, 1 elsewhere */
  GArray *position_ids;    /* gint32 [n_rows x n_cols]: cumsum(mask) - 1, pads 1, as HF
                              generate sets them: each row's first real token is at 0 */
  GArray *image_positions; /* gint32 flat indices of every <IMG_CONTEXT>, row by row */
} ivl_prompt_batch;

/* n_tiles[i] is the tile count of question i's image; n_tiles NULL = text only, no images.
 * "<image>\n" is prepended to a question without one; each must then hold exactly one.
 * UNSUPPORTED when the tokenizer has no pad token. */
ivl_prompt_batch *ivl_prompt_build_batch(const ivl_tokenizer *tok, const ivl_template *tpl,
                                         const char *system_message, const char *const *questions,
                                         const int *n_tiles, gsize n_rows, int num_image_token,
                                         GError **error);
void ivl_prompt_batch_free(ivl_prompt_batch *batch);

/* chat()'s answer from the generated ids: decoded without special tokens, cut at the
 * template's stop text, stripped as Python's str.strip(). Returns a new string. */
char *ivl_prompt_postprocess(const ivl_tokenizer *tok, const ivl_template *tpl, const gint32 *ids,
                             gsize n_ids);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(ivl_prompt, ivl_prompt_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ivl_prompt_batch, ivl_prompt_batch_free)

G_END_DECLS

#endif /* IVL_PROMPT_H */
