/* template.c — the conversation templates (upstream internvl/conversation.py). */
#include "template.h"

#include "ivl.h"

#include <string.h>

struct ivl_template {
  const char *name;
  const char *system_template; /* "{system_message}" is replaced by the message */
  const char *default_system_message; /* NULL: no system block unless one is given */
  const char *user_role;
  const char *assistant_role;
  const char *sep;
  const char *stop_text;
  /* FALSE: MPT, an empty message adds only its role; TRUE: the Jinja template's
   * role + content + sep for any content, even "" */
  gboolean sep_after_empty;
  const char *jinja; /* the chat_template text a repo carries for this template, or NULL */
};

/* The chat template of the "-hf" repos, character for character as transformers'
 * convert_internvl_weights_to_hf.py defines it (chat_template) and saves it with the
 * processor and tokenizer. */
static const char hf_jinja[] =
    "{% for message in messages %}"
    "{{'<|im_start|>' + message['role'] + '\n'}}"
    "{% if message['content'] is string %}"
    "{{ message['content'] }}"
    "{% else %}"
    "{% for content in message['content'] %}"
    "{% if content['type'] == 'image' %}"
    "{{ '<image>\n' }}"
    "{% elif content['type'] == 'video' %}"
    "{{ '<video>\n' }}"
    "{% elif content['type'] == 'text' %}"
    "{{ content['text'] }}"
    "{% endif %}"
    "{% endfor %}"
    "{% endif %}"
    "{{'<|im_end|>\n'}}"
    "{% endfor %}"
    "{% if add_generation_prompt %}"
    "{{'<|im_start|>assistant\n' }}"
    "{% endif %}";

/* Spec section 5: upstream get_conv_template('internvl2_5'), SeparatorStyle.MPT. */
static const ivl_template templates[] = {
    {
        .name = "internvl2_5",
        .system_template = "<|im_start|>system\n{system_message}",
        .default_system_message =
            "你是书生·万象，英文名是InternVL，是由上海人工智能实验室、清华大学及多家"
            "合作单位联合开发的多模态大语言模型。",
        .user_role = "<|im_start|>user\n",
        .assistant_role = "<|im_start|>assistant\n",
        .sep = "<|im_end|>\n",
        .stop_text = "<|im_end|>",
    },
    /* The -hf repos' own template (hf_jinja): the same markers, but no system turn unless
     * the messages have one, and a message's content, images first as "<image>\n", between
     * its role and <|im_end|>. Images and videos go where chat() puts them. */
    {
        .name = "internvl_hf",
        .system_template = "<|im_start|>system\n{system_message}",
        .default_system_message = NULL,
        .user_role = "<|im_start|>user\n",
        .assistant_role = "<|im_start|>assistant\n",
        .sep = "<|im_end|>\n",
        .stop_text = "<|im_end|>",
        .sep_after_empty = TRUE,
        .jinja = hf_jinja,
    },
};

const ivl_template *ivl_template_lookup(const char *name, GError **error)
{
  for (gsize i = 0; name && i < G_N_ELEMENTS(templates); i++) {
    if (strcmp(templates[i].name, name) == 0)
      return &templates[i];
  }
  g_set_error(error, IVL_ERROR, IVL_ERROR_UNSUPPORTED,
              "conversation template '%s' is not supported (ivl has internvl2_5, internvl_hf)",
              name ? name : "(none)");
  return NULL;
}

const ivl_template *ivl_template_from_jinja(const char *chat_template, GError **error)
{
  for (gsize i = 0; chat_template && i < G_N_ELEMENTS(templates); i++) {
    if (templates[i].jinja && strcmp(templates[i].jinja, chat_template) == 0)
      return &templates[i];
  }
  g_set_error(error, IVL_ERROR, IVL_ERROR_UNSUPPORTED,
              chat_template ? "the model's chat template is not the one the InternVL3 -hf repos "
                              "publish (ivl renders only that one)"
                            : "the model has no chat template");
  return NULL;
}

const char *ivl_template_get_jinja(const ivl_template *tpl)
{
  return tpl->jinja;
}

const char *ivl_template_get_name(const ivl_template *tpl)
{
  return tpl->name;
}

const char *ivl_template_get_default_system_message(const ivl_template *tpl)
{
  return tpl->default_system_message;
}

const char *ivl_template_get_stop_text(const ivl_template *tpl)
{
  return tpl->stop_text;
}

/* MPT: a message that is empty adds only its role, with no separator. */
static void append_message(GString *out, const ivl_template *tpl, const char *role,
                           const char *message)
{
  g_string_append(out, role);
  if (message && (*message || tpl->sep_after_empty)) {
    g_string_append(out, message);
    g_string_append(out, tpl->sep);
  }
}

char *ivl_template_render(const ivl_template *tpl, const char *system_message,
                          const ivl_template_turn *turns, gsize n_turns)
{
  GString *out = g_string_new(NULL);
  const char *system = system_message ? system_message : tpl->default_system_message;
  if (system) {
    g_string_append(out, tpl->system_template);
    g_string_replace(out, "{system_message}", system, 1);
    g_string_append(out, tpl->sep);
  }
  for (gsize i = 0; i < n_turns; i++) {
    append_message(out, tpl, tpl->user_role, turns[i].question);
    append_message(out, tpl, tpl->assistant_role, turns[i].answer);
  }
  return g_string_free(out, FALSE);
}
