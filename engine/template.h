/* template.h — conversation templates: how a system message, earlier turns and a new question
 * become the prompt text. InternVL3 uses `internvl2_5` (MPT style, spec section 5); its -hf
 * repos carry a Jinja chat template of their own (`internvl_hf`). */
#ifndef IVL_TEMPLATE_H
#define IVL_TEMPLATE_H

#include <glib.h>

G_BEGIN_DECLS

/* A built-in template; never freed. */
typedef struct ivl_template ivl_template;

/* One question and its answer. An answer that is NULL or "" renders as the bare assistant role
 * with no separator, as upstream's truthiness test does: NULL in the last turn is the open
 * assistant turn that generation continues. */
typedef struct {
  const char *question;
  const char *answer;
} ivl_template_turn;

/* The template named by config.json's "template" ("internvl2_5"); UNSUPPORTED otherwise. */
const ivl_template *ivl_template_lookup(const char *name, GError **error);
/* The template whose Jinja text a repo's chat_template is ("internvl_hf" for the -hf repos);
 * UNSUPPORTED for any other text or NULL (ivl has no Jinja engine, so it renders only
 * templates it knows, exactly). */
const ivl_template *ivl_template_from_jinja(const char *chat_template, GError **error);
/* The template of the model in dir: config.json's "template", or for an -hf config (no such
 * key) the chat template of its files (chat_template.jinja, chat_template.json,
 * tokenizer_config.json or processor_config.json, the first that has one). */
const ivl_template *ivl_template_for_model(const char *dir, const char *template_name,
                                           GError **error);
const char *ivl_template_get_name(const ivl_template *tpl);
/* The Jinja text a repo carries for this template; NULL for the original ones. */
const char *ivl_template_get_jinja(const ivl_template *tpl);
/* The system message used when the caller gives none; NULL: none, no system block. */
const char *ivl_template_get_default_system_message(const ivl_template *tpl);
/* The text whose token ends an answer: the separator stripped ("<|im_end|>"). */
const char *ivl_template_get_stop_text(const ivl_template *tpl);

/* Renders the prompt: the system block (internvl2_5: always, even for ""; internvl_hf: only
 * when there is a system message), then every turn in order. system_message NULL = the
 * template's default. Returns a new string. */
char *ivl_template_render(const ivl_template *tpl, const char *system_message,
                          const ivl_template_turn *turns, gsize n_turns);

G_END_DECLS

#endif /* IVL_TEMPLATE_H */
