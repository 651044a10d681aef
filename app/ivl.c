/* ivl — the command-line tool: dispatches to one subcommand per cmd-*.c file. */
#include "ivl-config.h"

#include <errno.h>
#include <glib.h>
#include <glib/gi18n.h>
#include <locale.h>
#include <stdio.h>
#include <string.h>

#include "cmd-common.h"
#include "commands.h"

static const ivl_command commands[] = {
  /* --- model files (issue 2) --- */
  {"info", ivl_cmd_info, N_("Describe a model: sizes, parameters, memory needed")},
  {"make-tiny-model", ivl_cmd_make_tiny_model, N_("Write a tiny random model for tests")},

  /* --- text (issue 3) --- */
  {"tokenize", ivl_cmd_tokenize, N_("Turn text into token ids and back")},
  {"prompt", ivl_cmd_prompt, N_("Show the prompt a question gives the model")},

  /* --- media (issue 4) --- */
  {"preprocess", ivl_cmd_preprocess, N_("Cut an image into the tiles the model sees")},
  {"frames", ivl_cmd_frames, N_("Sample a video's frames as the model sees them")},

  /* --- generation (issue 5) --- */
  {"run", ivl_cmd_run, N_("Answer one question about images, a video or nothing")},
  {"chat", ivl_cmd_chat, N_("Talk with a model on the terminal")},
  {"batch", ivl_cmd_batch, N_("Answer a JSONL file of questions, one image each")},
  {"demo", ivl_cmd_demo, N_("Run the whole pipeline once on a tiny demo model")},
  {"bench", ivl_cmd_bench, N_("Measure prefill, decode and vision speed of a model")},

  /* --- downloads (issue 7) --- */
  {"download", ivl_cmd_download, N_("Download a model from the Hugging Face Hub (resumable)")},
  {"models", ivl_cmd_models, N_("List the downloadable models, their memory needs, installed")},

  /* --- serving the OpenAI chat API --- */
  {"serve", ivl_cmd_serve, N_("Answer the OpenAI chat API over HTTP (for other programs)")},

  {NULL, NULL, NULL},
};

static void print_usage(FILE *out)
{
  fprintf(out, "Usage: ivl COMMAND [OPTIONS…]\n\n%s\n\n", _("Run InternVL3 vision-language models locally."));
  fprintf(out, "%s\n", _("Commands:"));
  for (const ivl_command *c = commands; c->name; c++)
    fprintf(out, "  %-16s %s\n", c->name, _(c->summary));
  fprintf(out, "\n%s\n", _("Run 'ivl COMMAND --help' for the options of a command."));
}

/* An answer that could not be written (a full disk, /dev/full, a closed pipe) is a failure,
 * as with cat or echo: stdio keeps the error until the final flush. */
static int close_stdout(int status)
{
  ivl_cli_flush_stdout();
  /* A command that failed has said why already. */
  if (!ferror(stdout) || status != 0)
    return status;
  int err = ivl_cli_stdout_errno();
  fprintf(stderr, "ivl: %s: %s\n", _("cannot write the output"), g_strerror(err ? err : EIO));
  return status == 0 ? 1 : status;
}

int main(int argc, char **argv)
{
  setlocale(LC_ALL, "");
  bindtextdomain(GETTEXT_PACKAGE, IVL_LOCALEDIR);
  bind_textdomain_codeset(GETTEXT_PACKAGE, "UTF-8");
  textdomain(GETTEXT_PACKAGE);

  if (argc < 2) {
    print_usage(stderr);
    return 2;
  }
  if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
      strcmp(argv[1], "help") == 0) {
    print_usage(stdout);
    return 0;
  }
  if (strcmp(argv[1], "--version") == 0) {
    printf("ivl %s\n", IVL_VERSION);
    return 0;
  }
  for (const ivl_command *c = commands; c->name; c++) {
    if (strcmp(argv[1], c->name) == 0)
      return close_stdout(c->run(argc - 1, argv + 1));
  }
  fprintf(stderr, _("ivl: unknown command '%s'\n\n"), argv[1]);
  print_usage(stderr);
  return 2;
}
