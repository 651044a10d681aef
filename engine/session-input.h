/* session-input.h — a turn's text and media as the session needs them: the question with its
 * <image> placeholders, the rendered and tokenized conversation, the image rows, and the
 * decoded answer (internal; built on tokenizer, prompt and media). */
#ifndef IVL_SESSION_INPUT_H
#define IVL_SESSION_INPUT_H

#include "model.h"
#include "prompt.h"

typedef struct {
  char *question;     /* as shown to the model: with one <image> per entry of tiles */
  char *answer;       /* post-processed; NULL until generated */
  GArray *tiles;      /* int: the tile count behind each <image>, in order */
  ivl_tensor *embeds; /* [sum(tiles) * num_image_token, Dl] image rows, or NULL */
} ivl_turn;

/* The turn for question and its media, with chat()'s conventions (spec 6): one image ->
 * "<image>\n" + question unless it has its <image>; several -> "Image-1: <image>\n…"
 * (separate) or one <image> for all tiles (combined); a video -> "Frame1: <image>\n…", one
 * tile a frame. first_turn: chat() adds the prefix only without history; a later turn with
 * media gets it too, as its images would otherwise have no place. Errors:
 * INVALID_ARGUMENT when the question's <image> count does not fit the media. */
ivl_turn *ivl_turn_new(ivl_model *model, const char *question, ivl_media *const *media, int n_media,
                       ivl_image_layout layout, gboolean first_turn, GError **error);
void ivl_turn_free(ivl_turn *turn);

/* The whole conversation (system, history, the current question, the open assistant turn)
 * with every <image> expanded, tokenized into ids; checks the image token count. */
gboolean ivl_session_render(ivl_model *model, const char *system_message, GPtrArray *history,
                            const ivl_turn *current, GArray *ids, GError **error);

/* The tiles of the media, in order, through InternViT and mlp1. */
ivl_tensor *ivl_session_encode_media(ivl_model *model, ivl_media *const *media, int n_media,
                                     GCancellable *cancellable, GError **error);

/* chat()'s post-processing of the generated ids (spec 6.8). Caller frees. */
char *ivl_session_decode_answer(ivl_model *model, const int32_t *ids, int n);

#endif /* IVL_SESSION_INPUT_H */
