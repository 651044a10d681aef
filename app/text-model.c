/* text-model.c — opening a model's text side for the text commands. */
#include "text-model.h"

#include <stdio.h>
#include <string.h>

#include "config.h"
#include "ivl.h"
#include "model-path.h"

/* Spec section 6: (448 / 14)^2 * 0.5^2 for every InternVL3 size. */
#define DEFAULT_NUM_IMAGE_TOKEN 256

gboolean ivl_text_model_open(ivl_text_model *m, const char *arg, GError **error)
{
  memset(m, 0, sizeof *m);
  m->dir =
      g_file_test(arg, G_FILE_TEST_IS_DIR) ? g_strdup(arg) : ivl_model_path_resolve(arg, error);
  if (!m->dir)
    return FALSE;
  /* Without a config.json (a bare tokenizer folder) the original template. */
  const char *template_name = "internvl2_5";
  m->num_image_token = DEFAULT_NUM_IMAGE_TOKEN;
  g_autofree char *config_path = g_build_filename(m->dir, "config.json", NULL);
  g_autoptr(ivl_config) config = NULL;
  if (g_file_test(config_path, G_FILE_TEST_EXISTS)) {
    config = ivl_config_load(m->dir, error);
    if (!config)
      return FALSE;
    template_name = config->template_name;
    m->num_image_token = config->num_image_token;
  }
  m->tpl = ivl_template_for_model(m->dir, template_name, error);
  m->tok = m->tpl ? ivl_tokenizer_load(m->dir, error) : NULL;
  return m->tok != NULL;
}

void ivl_text_model_clear(ivl_text_model *m)
{
  g_clear_pointer(&m->dir, g_free);
  g_clear_pointer(&m->tok, ivl_tokenizer_free);
  m->tpl = NULL;
}

void ivl_text_print_ids(const gint32 *ids, gsize n)
{
  GString *s = g_string_new("[");
  for (gsize i = 0; i < n; i++)
    g_string_append_printf(s, i ? ", %d" : "%d", ids[i]);
  g_string_append(s, "]\n");
  fputs(s->str, stdout);
  g_string_free(s, TRUE);
}
