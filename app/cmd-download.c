/* ivl download MODEL — fetch a model from the Hugging Face Hub (or HF_ENDPOINT), resumable:
 * Ctrl+C pauses, keeping the partial files, and the same command resumes. */
#include "ivl-config.h"

#include <glib-unix.h>
#include <glib/gi18n.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include "catalog.h"
#include "hub-client.h"
#include "cmd-common.h"
#include "commands.h"
#include "hub-download.h"
#include "ivl.h"
#include "model-path.h"

typedef struct {
  GMainLoop *loop;
  GCancellable *cancel;
  gboolean tty;
  gint64 last_line; /* when the last plain progress line was printed (µs) */
  char *commit;
  GError *error;
} download_cli;

static char *format_duration(double s)
{
  if (s < 0)
    return g_strdup("--:--");
  guint64 t = (guint64)(s + 0.5);
  if (t >= 3600)
    return g_strdup_printf("%" G_GUINT64_FORMAT ":%02u:%02u", t / 3600, (guint)(t / 60 % 60),
                           (guint)(t % 60));
  return g_strdup_printf("%02u:%02u", (guint)(t / 60), (guint)(t % 60));
}

static void on_progress(const IvlHubProgress *p, gpointer data)
{
  download_cli *cli = data;
  if (p->phase == IVL_HUB_PHASE_LISTING || p->total == 0)
    return;
  g_autofree char *done = g_format_size(p->done);
  g_autofree char *total = g_format_size(p->total);
  g_autofree char *rate = p->rate > 0 ? g_format_size((guint64)p->rate) : g_strdup("-");
  g_autofree char *eta = format_duration(p->eta_s);
  double frac = (double)p->done / (double)p->total;
  if (cli->tty) {
    enum { WIDTH = 30 };
    char bar[WIDTH + 1];
    int fill = (int)(frac * WIDTH);
    for (int i = 0; i < WIDTH; i++)
      bar[i] = i < fill ? '#' : '-';
    bar[WIDTH] = '\0';
    fprintf(stderr, "\r[%s] %5.1f%%  %s / %s  %s/s  ETA %s  (%u/%u files)\033[K", bar,
            100 * frac, done, total, rate, eta, p->files_done, p->files_total);
    if (p->phase == IVL_HUB_PHASE_DONE)
      fputc('\n', stderr);
    return;
  }
  /* Not a terminal (a log, a pipe): a line every 2 s and at the end, no carriage returns. */
  gint64 now = g_get_monotonic_time();
  if (p->phase != IVL_HUB_PHASE_DONE && now - cli->last_line < 2 * G_USEC_PER_SEC)
    return;
  cli->last_line = now;
  fprintf(stderr, _("%5.1f%%  %s / %s  %s/s  ETA %s  (%u/%u files)\n"), 100 * frac, done, total,
          rate, eta, p->files_done, p->files_total);
}

static void on_done(GObject *source, GAsyncResult *result, gpointer data)
{
  (void)source;
  download_cli *cli = data;
  cli->commit = ivl_hub_download_finish(result, &cli->error);
  g_main_loop_quit(cli->loop);
}

static gboolean on_sigint(gpointer data)
{
  download_cli *cli = data;
  g_cancellable_cancel(cli->cancel);
  return G_SOURCE_CONTINUE;
}

static int run_download(const char *repo_id, const char *revision, const char *dir)
{
  download_cli cli = {0};
  cli.loop = g_main_loop_new(NULL, FALSE);
  cli.cancel = g_cancellable_new();
  cli.tty = isatty(STDERR_FILENO);
  guint sig = g_unix_signal_add(SIGINT, on_sigint, &cli);
  fprintf(stderr, _("Downloading %s (%s) to %s\n"), repo_id, revision, dir);
  IvlHubDownloadOptions options = {.repo_id = repo_id, .revision = revision, .dir = dir};
  ivl_hub_download_async(&options, on_progress, &cli, cli.cancel, on_done, &cli);
  g_main_loop_run(cli.loop);
  g_source_remove(sig);
  int status = 0;
  if (cli.error) {
    if (cli.tty)
      fputc('\n', stderr);
    fprintf(stderr, "ivl download: %s\n", cli.error->message);
    status = 1;
    g_error_free(cli.error);
  } else {
    printf(_("%s (commit %s) is in %s\n"), repo_id, cli.commit, dir);
  }
  g_free(cli.commit);
  g_object_unref(cli.cancel);
  g_main_loop_unref(cli.loop);
  return status;
}

int ivl_cmd_download(int argc, char **argv)
{
  g_autofree char *revision = NULL;
  g_autofree char *dir = NULL;
  GOptionEntry entries[] = {
      {"revision", 'r', 0, G_OPTION_ARG_STRING, &revision,
       N_("Branch, tag or commit to download (main)"), "REV"},
      {"dir", 'd', 0, G_OPTION_ARG_FILENAME, &dir,
       N_("Folder to download into (default: pretrained/NAME if ./pretrained exists, else "
          "the user's models folder)"),
       "DIR"},
      {NULL}};
  g_autoptr(GOptionContext) ctx = g_option_context_new(_("MODEL"));
  g_option_context_set_summary(
      ctx, _("Download MODEL (InternVL3-1B … InternVL3-78B, or any Org/Name repo) from the "
             "Hugging Face Hub, or from HF_ENDPOINT. Ctrl+C pauses; run again to resume.\n"
             "A token for gated repos comes from HF_TOKEN or ~/.cache/huggingface/token."));
  g_option_context_add_main_entries(ctx, entries, GETTEXT_PACKAGE);
  g_option_context_set_translation_domain(ctx, GETTEXT_PACKAGE);
  if (!ivl_cli_parse(ctx, &argc, &argv))
    return 2;
  if (argc != 2) {
    fprintf(stderr, _("ivl download: name one model, e.g. 'ivl download InternVL3-1B'\n"));
    return 2;
  }
  const IvlCatalogModel *known = ivl_catalog_find(argv[1]);
  g_autofree char *repo_id = known ? g_strdup(known->repo_id) : ivl_model_path_repo_id(argv[1]);
  if (!ivl_hub_repo_id_is_valid(repo_id)) {
    fprintf(stderr, "ivl download: ");
    fprintf(stderr, _("“%s” is not a Hub repository name (Org/Name of letters, digits, . _ -)."),
            argv[1]);
    fprintf(stderr, "\n");
    return 2;
  }
  if (!dir && !revision) {
    /* A model the official client already put in the Hugging Face cache is used in place. */
    g_autofree char *hub_cache = ivl_model_path_hub_cache_dir();
    g_autofree char *installed = ivl_model_path_hub_snapshot(hub_cache, repo_id);
    g_autofree char *config = installed ? g_build_filename(installed, "config.json", NULL) : NULL;
    if (config && g_file_test(config, G_FILE_TEST_EXISTS)) {
      printf(_("%s is already in the Hugging Face cache: %s\n"), repo_id, installed);
      return 0;
    }
  }
  if (!dir)
    dir = ivl_catalog_download_dir(repo_id);
  return run_download(repo_id, revision ? revision : "main", dir);
}
