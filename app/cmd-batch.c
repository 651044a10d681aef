/* cmd-batch.c — `ivl batch`: batch_chat() over a JSONL file of {"image": PATH, "question":
 * TEXT} lines, one JSON answer line per input line.
 *
 * batch_chat pads the prompts on the left and masks the pads, with positions counted from
 * each row's first real token (spec 6): each row then computes exactly what it would alone.
 * A local model answers --parallel lines at once in an ivl_batch (batch-parallel.c), whose
 * sequences need no padding; a server is asked one line after another, each in a fresh
 * conversation.
 */
#include "ivl-config.h"

#include <glib/gi18n.h>
#include <stdio.h>
#include <string.h>

#include "answerer.h"
#include "batch-line.h"
#include "batch-output.h"
#include "batch-parallel.h"
#include "cmd-common.h"
#include "commands.h"
#include "file-io.h"

/* The most bytes of a JSONL file read; lines hold paths and questions, not media. */
#define MAX_JSONL_BYTES ((gsize)256 << 20)

/* Answers one line, or reports in *line_error why the line cannot be run; FALSE only when the
 * answers cannot be written. */
static gboolean run_line(ivl_answerer *answerer, const char *line, const char *label, int max_num,
                         const ivl_generation_params *gp, GError **line_error, GError **error)
{
  g_autofree char *question = NULL, *image = NULL;
  if (!ivl_batch_line_parse(line, label, &question, &image, line_error))
    return ivl_batch_output_print(NULL, NULL, NULL, (*line_error)->message, error);
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
  return ivl_batch_output_print(image, question, answer,
                                *line_error ? (*line_error)->message : NULL, error);
}

/* Runs every line; a line that fails is reported (its answer line holds the error) and the
 * others still run. *n_failed counts those lines. */
static gboolean run_file(ivl_answerer *answerer, const char *path, const char *system, int max_num,
                         const ivl_generation_params *gp, int parallel, int *n_failed,
                         GError **error)
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
  ivl_model *model = ivl_answerer_get_model(answerer);
  if (model)
    return ivl_batch_run_parallel(model, system, path, lines, max_num, gp, parallel, n_failed,
                                  error);
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
  int max_num = 12, parallel = 0;
  ivl_cli_generation_options_init(&go);
  const GOptionEntry entries[] = {
      {"jsonl", 0, 0, G_OPTION_ARG_FILENAME, &jsonl,
       N_("Input: one {\"image\": PATH, \"question\": TEXT} per line"), "FILE"},
      {"max-num", 0, 0, G_OPTION_ARG_INT, &max_num,
       N_("Most tiles per image, thumbnail not counted (default 12)"), "N"},
      {"system", 0, 0, G_OPTION_ARG_STRING, &system, N_("System message (default: the model's)"),
       "TEXT"},
      {"parallel", 0, 0, G_OPTION_ARG_INT, &parallel,
       N_("Questions answered at once by a local model (default: as many as memory holds)"), "N"},
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
  if (parallel < 0) {
    fprintf(stderr, "ivl batch: %s\n", _("--parallel must be 1 or more"));
    goto out;
  }
  if (ro.server && parallel > 1) {
    fprintf(stderr, "ivl batch: %s\n",
            _("--parallel above 1 needs a local model: a --server is asked one question at a "
              "time"));
    goto out;
  }
  status = 1;
  int n_failed = 0;
  if (ivl_cli_generation_params(&go, &gp, &error) &&
      (answerer = ivl_answerer_open(&mo, &ro, system, &error)) &&
      run_file(answerer, jsonl, system, max_num, &gp, parallel, &n_failed, &error)) {
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
