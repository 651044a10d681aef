/* text-model.h — what the text commands (tokenize, prompt) need of a model: its tokenizer,
 * conversation template and image token count. */
#ifndef IVL_TEXT_MODEL_H
#define IVL_TEXT_MODEL_H

#include <glib.h>

#include "template.h"
#include "tokenizer.h"

typedef struct {
  char *dir;
  ivl_tokenizer *tok;
  const ivl_template *tpl;
  int num_image_token;
} ivl_text_model;

/* arg is a directory (used as it is, so a directory of tokenizer files alone will do) or a
 * catalog name (model-path.h). Without config.json the template is internvl2_5 and an image
 * tile is 256 tokens, as for every InternVL3 size. */
gboolean ivl_text_model_open(ivl_text_model *m, const char *arg, GError **error);
void ivl_text_model_clear(ivl_text_model *m);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(ivl_text_model, ivl_text_model_clear)

/* Prints ids as a one-line JSON array. */
void ivl_text_print_ids(const gint32 *ids, gsize n);

#endif /* IVL_TEXT_MODEL_H */
