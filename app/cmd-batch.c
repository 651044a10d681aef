/* cmd-batch.c — `ivl batch`: batch_chat() over a JSONL file of {"image": PATH, "question":
 * TEXT} lines, one JSON answer line per input line.
 *
 * batch_chat pads the prompts on the left and masks the pads, with positions counted from
 * each row's first real token (spec 6): each row then computes exactly what it would alone.
 * So the prompts run one after another, each in a fresh conversation, which gives the
 * padded batch's answers without its padding work.
 */
#include "ivl-config.h"

#include <errno.h>
#include <glib/gi18n.h>
#include <json-glib/json-glib.h>
#include <stdio.h>
#include <string.h>

#include "answerer.h"
#include "batch-line.h"
#include "cmd-common.h"
#include "commands.h"
#include "file-io.h"

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

/* The most bytes of a JSONL file read; lines hold paths and questions, not media. */
#define MAX_JSONL_BYTES ((gsize)256 << 20)

/* Prints one answer line; FALSE when stdout cannot take it (a full disk, a closed pipe). */
static gboolean print_line(const char *image, const char *question, const char *answer,
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

/* Answers one line, or reports in *line_error why the line cannot be run; FALSE only when the
 * answers cannot be written. */
static gboolean run_line(ivl_answerer *answerer, const char *line, const char *label, int max_num,
                         const ivl_generation_params *gp, GError **line_error, GError **error)
{
  g_autofree char *question = NULL, *image = NULL;
  if (!ivl_batch_line_parse(line, label, &question, &image, line_error))
    return print_line(NULL, NULL, NULL, (*line_error)->message, error);
  ivl_media *media = NULL;
  g_autofree char *answer = NULL;
  if (image) {
    ivl_image_params ip = ivl_image_default_params();
    ip.max_num = max_num;
    media = ivl_media_from_image_file(image, &ip, line_error);
  }
  if (!image || media) {
    ivl_answerer_reset(answerer);
    const char *path = image;
    answer = ivl_answerer_ask(answerer, question, &media, &path, media ? 1 : 0, IVL_IMAGES_COMBINED,
                              gp, NULL, NULL, line_error);
  }
  ivl_media_free(media);
  if (answer)
    ivl_answerer_note_cut(answerer, label);
  if (*line_error)
    g_prefix_error(line_error, "%s: ", label);
  return print_line(image, question, answer, *line_error ? (*line_error)->message : NULL, error);
}

/* Runs every line; a line that fails is reported (its answer line holds the error) and the
 * others still run. *n_failed counts those lines. */
static gboolean run_file(ivl_answerer *answerer, const char *path, int max_num,
                         const ivl_generation_params *gp, int *n_failed, GError **error)
{
  g_autofree char *text = NULL;
  gsize length = 0;
  if (!ivl_file_read(path, MAX_JSONL_BYTES, &text, &length, error))
    return FALSE;
  if (memchr(text, '\0', length)) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_INVALID_ARGUMENT, _("%s: holds a NUL byte"), path);
    return FALSE;
  }
  g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
  for (int i = 0; lines[i]; i++) {
    if (!*g_strstrip(lines[i]))
      continue;
    g_autofree char *label = g_strdup_printf("%s:%d", path, i + 1);
    g_autoptr(GError) line_error = NULL;
    if (!run_line(answerer, lines[i], label, max_num, gp, &line_error, error))
      return FALSE;
    if (line_error) {
      fprintf(stderr, "ivl batch: %s\n", line_error->message);
      (*n_failed)++;
    }
  }
  return TRUE;
}

int ivl_cmd_batch(int argc, char **argv)
{
  ivl_cli_model_options mo = {0};
  ivl_cli_remote_options ro = {0};
  ivl_cli_generation_options go;
  char *jsonl = NULL, *system = NULL;
  int max_num = 12;
  ivl_cli_generation_options_init(&go);
  const GOptionEntry entries[] = {
      {"jsonl", 0, 0, G_OPTION_ARG_FILENAME, &jsonl,
       N_("Input: one {\"image\": PATH, \"question\": TEXT} per line"), "FILE"},
      {"max-num", 0, 0, G_OPTION_ARG_INT, &max_num,
       N_("Most tiles per image, thumbnail not counted (default 12)"), "N"},
      {"system", 0, 0, G_OPTION_ARG_STRING, &system, N_("System message (default: the model's)"),
       "TEXT"},
      {NULL},
  };
  g_autoptr(GOptionContext) ctx = g_option_context_new(NULL);
  g_option_context_set_summary(ctx, _("Answer many questions, one image each (batch_chat)."));
  ivl_cli_add_model_options(ctx, &mo);
  ivl_cli_add_remote_options(ctx, &ro);
  ivl_cli_add_generation_options(ctx, &go);
  g_option_context_add_main_entries(ctx, entries, GETTEXT_PACKAGE);
  int status = 2;
  g_autoptr(GError) error = NULL;
  ivl_answerer *answerer = NULL;
  ivl_generation_params gp;
  if (!ivl_cli_parse(ctx, &argc, &argv))
    goto out;
  if (!jsonl) {
    fprintf(stderr, "ivl batch: %s\n", _("--jsonl FILE is required"));
    goto out;
  }
  status = 1;
  int n_failed = 0;
  if (ivl_cli_generation_params(&go, &gp, &error) &&
      (answerer = ivl_answerer_open(&mo, &ro, system, &error)) &&
      run_file(answerer, jsonl, max_num, &gp, &n_failed, &error)) {
    if (n_failed == 0)
      status = 0;
    else
      fprintf(stderr, "ivl batch: %s\n", _("some lines failed (see their \"error\")"));
  } else {
    fprintf(stderr, "ivl batch: %s\n", error->message);
  }
out:
  ivl_answerer_free(answerer);
  ivl_cli_model_options_clear(&mo);
  ivl_cli_remote_options_clear(&ro);
  g_free(jsonl);
  g_free(system);
  return status;
}
