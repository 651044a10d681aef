/* template-repo.c — a model folder's template: config.json's name, or the -hf repos' chat
 * template read from their files (template.h). */
#include "template.h"

#include <json-glib/json-glib.h>
#include <string.h>

#include "file-io.h"
#include "ivl.h"
#include "json-check.h"

/* Chat templates are a few KB; the JSON files that carry one are small too. */
#define MAX_TEMPLATE_FILE ((gsize)16 << 20)

/* A "chat_template" member: a string, or transformers' list of {"name", "template"} of which
 * "default" is the one apply_chat_template uses. */
static char *template_member(JsonObject *obj)
{
  JsonNode *n = obj ? json_object_get_member(obj, "chat_template") : NULL;
  if (n && JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING)
    return g_strdup(json_node_get_string(n));
  if (!n || !JSON_NODE_HOLDS_ARRAY(n))
    return NULL;
  JsonArray *a = json_node_get_array(n);
  for (guint i = 0; i < json_array_get_length(a); i++) {
    JsonNode *e = json_array_get_element(a, i);
    JsonObject *o = JSON_NODE_HOLDS_OBJECT(e) ? json_node_get_object(e) : NULL;
    if (o && g_strcmp0(ivl_json_string_or(o, "name", NULL), "default") == 0)
      return g_strdup(ivl_json_string_or(o, "template", NULL));
  }
  return NULL;
}

/* The chat template of dir, from the first file that has one: chat_template.jinja (newer
 * transformers), chat_template.json (the processor's), tokenizer_config.json, then
 * processor_config.json. *text NULL when none has. */
static gboolean read_chat_template(const char *dir, char **text, GError **error)
{
  *text = NULL;
  g_autofree char *jinja = g_build_filename(dir, "chat_template.jinja", NULL);
  if (g_file_test(jinja, G_FILE_TEST_EXISTS)) {
    gsize len;
    return ivl_file_read(jinja, MAX_TEMPLATE_FILE, text, &len, error);
  }
  static const char *const json_files[] = {"chat_template.json", "tokenizer_config.json",
                                           "processor_config.json"};
  for (gsize i = 0; i < G_N_ELEMENTS(json_files); i++) {
    g_autofree char *path = g_build_filename(dir, json_files[i], NULL);
    if (!g_file_test(path, G_FILE_TEST_EXISTS))
      continue;
    g_autoptr(JsonParser) parser = ivl_json_load_file(path, MAX_TEMPLATE_FILE, path, error);
    if (!parser)
      return FALSE;
    JsonNode *root = json_parser_get_root(parser);
    if ((*text = template_member(root && JSON_NODE_HOLDS_OBJECT(root)
                                     ? json_node_get_object(root)
                                     : NULL)))
      return TRUE;
  }
  return TRUE;
}

const ivl_template *ivl_template_for_model(const char *dir, const char *template_name,
                                           GError **error)
{
  if (template_name)
    return ivl_template_lookup(template_name, error);
  g_autofree char *text = NULL;
  if (!read_chat_template(dir, &text, error))
    return NULL;
  return ivl_template_from_jinja(text, error);
}
