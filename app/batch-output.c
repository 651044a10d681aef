/* batch-output.c — see batch-output.h. */
#include "ivl-config.h"

#include "batch-output.h"

#include <errno.h>
#include <glib/gi18n.h>
#include <json-glib/json-glib.h>
#include <stdio.h>

#include "ivl.h"

static char *answer_line(const char *image, const char *question, const char *answer,
                         const char *error)
{
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "image");
  if (image)
    json_builder_add_string_value(b, image);
  else
    json_builder_add_null_value(b);
  json_builder_set_member_name(b, "question");
  json_builder_add_string_value(b, question ? question : "");
  json_builder_set_member_name(b, error ? "error" : "answer");
  json_builder_add_string_value(b, error ? error : answer);
  json_builder_end_object(b);
  g_autoptr(JsonGenerator) gen = json_generator_new();
  g_autoptr(JsonNode) root = json_builder_get_root(b);
  json_generator_set_root(gen, root);
  return json_generator_to_data(gen, NULL);
}

gboolean ivl_batch_output_print(const char *image, const char *question, const char *answer,
                                const char *message, GError **error)
{
  g_autofree char *out = answer_line(image, question, answer, message);
  if (printf("%s\n", out) < 0 || fflush(stdout) != 0) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_IO, _("cannot write the answers: %s"),
                g_strerror(errno));
    return FALSE;
  }
  return TRUE;
}
