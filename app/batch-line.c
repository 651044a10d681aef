/* batch-line.c — see batch-line.h. Apart from cmd-batch.c so that the fuzzer can reach it. */
#include "ivl-config.h"

#include "batch-line.h"

#include <glib/gi18n.h>
#include <string.h>

#include "ivl.h"
#include "json-check.h"

gboolean ivl_batch_line_parse(const char *line, const char *label, char **question, char **image,
                              GError **error)
{
  *question = *image = NULL;
  g_autoptr(JsonParser) parser = ivl_json_parse_checked(line, strlen(line), label, error);
  if (!parser)
    return FALSE;
  JsonNode *root = json_parser_get_root(parser);
  JsonObject *o = JSON_NODE_HOLDS_OBJECT(root) ? json_node_get_object(root) : NULL;
  const char *q = NULL, *i = NULL;
  if (o && (!ivl_json_get_string(o, "question", &q, label, error) ||
            !ivl_json_get_string(o, "image", &i, label, error)))
    return FALSE;
  if (!q) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_INVALID_ARGUMENT,
                _("%s: each line must be an object with a \"question\" string"), label);
    return FALSE;
  }
  *question = g_strdup(q);
  *image = g_strdup(i);
  return TRUE;
}
