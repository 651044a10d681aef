/* cmd-serve.c — `ivl serve`: the OpenAI-compatible chat API over one model, until Ctrl-C. */
#include "ivl-config.h"

#include <glib-unix.h>
#include <glib/gi18n.h>
#include <signal.h>
#include <stdio.h>

#include "cmd-common.h"
#include "commands.h"
#include "serve-server.h"

static gboolean on_signal(gpointer loop)
{
  g_main_loop_quit(loop);
  return G_SOURCE_CONTINUE; /* removed with the loop's end */
}

/* Loads the model and serves it until a signal; the exit status. */
static int serve(const ivl_cli_model_options *mo, const char *host, int port, int max_num)
{
  g_autoptr(GError) error = NULL;
  ivl_model *model = ivl_cli_load_model(mo, &error);
  if (!model) {
    fprintf(stderr, "ivl serve: %s\n", error->message);
    return 1;
  }
  g_autofree char *model_id = g_path_get_basename(mo->model);
  IvlServer *server = ivl_server_new(model, model_id, max_num);
  int status = 1;
  if (!ivl_server_listen(server, host, port, &error)) {
    fprintf(stderr, "ivl serve: %s\n", error->message);
  } else {
    g_autoptr(GMainLoop) loop = g_main_loop_new(NULL, FALSE);
    guint sigint = g_unix_signal_add(SIGINT, on_signal, loop);
    guint sigterm = g_unix_signal_add(SIGTERM, on_signal, loop);
    /* the address on stdout, for scripts; the rest on stderr */
    printf("http://%s:%d/v1\n", host, ivl_server_get_port(server));
    fflush(stdout);
    fprintf(stderr, _("ivl serve: %s answers at http://%s:%d/v1/chat/completions; Ctrl-C stops\n"),
            model_id, host, ivl_server_get_port(server));
    g_main_loop_run(loop);
    g_source_remove(sigint);
    g_source_remove(sigterm);
    status = 0;
  }
  ivl_server_free(server);
  ivl_model_free(model);
  return status;
}

int ivl_cmd_serve(int argc, char **argv)
{
  ivl_cli_model_options mo = {0};
  g_autofree char *host = NULL;
  int port = 8000, max_num = 12;
  const GOptionEntry entries[] = {
      {"host", 0, 0, G_OPTION_ARG_STRING, &host,
       N_("Address to listen on (default 127.0.0.1: this machine only)"), "IP"},
      {"port", 0, 0, G_OPTION_ARG_INT, &port, N_("Port to listen on (default 8000; 0: any free)"),
       "N"},
      {"max-num", 0, 0, G_OPTION_ARG_INT, &max_num, N_("Most tiles per image (default 12)"), "N"},
      {NULL},
  };
  g_autoptr(GOptionContext) ctx = g_option_context_new(NULL);
  g_option_context_set_summary(
      ctx, _("Serve the model over the OpenAI chat API: POST /v1/chat/completions (images and "
             "video clips as data: URLs, \"stream\": true for server-sent events), "
             "GET /v1/models."));
  g_option_context_add_main_entries(ctx, entries, GETTEXT_PACKAGE);
  ivl_cli_add_model_options(ctx, &mo);
  int status = 2;
  if (!ivl_cli_parse(ctx, &argc, &argv))
    ;
  else if (argc > 1 || port < 0 || port > 65535 || max_num < 1)
    fprintf(stderr, _("ivl serve: bad arguments (see ivl serve --help)\n"));
  else
    status = serve(&mo, host ? host : "127.0.0.1", port, max_num);
  ivl_cli_model_options_clear(&mo);
  return status;
}
