/* cmd-serve.c — `ivl serve`: the OpenAI-compatible API over one model, until Ctrl-C. */
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

static gboolean is_loopback(const char *host)
{
  g_autoptr(GInetAddress) ip = g_inet_address_new_from_string(host);
  return g_ascii_strcasecmp(host, "localhost") == 0 || (ip && g_inet_address_get_is_loopback(ip));
}

/* Listens (so that a bad address or a busy port is told before the model loads), loads the
 * model and serves it until a signal; the exit status. */
static int serve(const ivl_cli_model_options *mo, IvlServeOptions *so, const char *host, int port)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *model_id = g_path_get_basename(mo->model);
  if (!so->model_id)
    so->model_id = model_id;
  IvlServer *server = ivl_server_new(so);
  if (!ivl_server_listen(server, host, port, &error)) {
    fprintf(stderr, "ivl serve: %s\n", error->message);
    ivl_server_free(server);
    return 1;
  }
  if (!is_loopback(host) && !so->api_key)
    fprintf(stderr, _("ivl serve: warning: %s is reachable from other machines and no "
                      "--api-key is set: anyone who can reach it can use the model\n"),
            host);
  ivl_model *model = ivl_cli_load_model(mo, &error);
  if (!model) {
    fprintf(stderr, "ivl serve: %s\n", error->message);
    ivl_server_free(server);
    return 1;
  }
  ivl_server_start(server, model);
  g_autoptr(GMainLoop) loop = g_main_loop_new(NULL, FALSE);
  guint sigint = g_unix_signal_add(SIGINT, on_signal, loop);
  guint sigterm = g_unix_signal_add(SIGTERM, on_signal, loop);
  /* the address on stdout, for scripts; the rest on stderr */
  printf("http://%s:%d/v1\n", host, ivl_server_get_port(server));
  ivl_cli_flush_stdout();
  fprintf(stderr, _("ivl serve: %s answers at http://%s:%d/v1/chat/completions; Ctrl-C stops\n"),
          so->model_id, host, ivl_server_get_port(server));
  g_main_loop_run(loop);
  g_source_remove(sigint);
  g_source_remove(sigterm);
  ivl_server_free(server);
  ivl_model_free(model);
  return 0;
}

int ivl_cmd_serve(int argc, char **argv)
{
  ivl_cli_model_options mo = {0};
  g_autofree char *host = NULL, *api_key = NULL, *served_name = NULL;
  g_auto(GStrv) origins = NULL;
  int port = 8000, max_num = 12, max_body_mb = 64, max_queue = 16, receive_timeout = 60,
      parallel = 1;
  gboolean any_model = FALSE;
  const GOptionEntry entries[] = {
      {"host", 0, 0, G_OPTION_ARG_STRING, &host,
       N_("Address to listen on: an IP address or localhost (default 127.0.0.1: this machine "
          "only)"),
       "IP"},
      {"port", 0, 0, G_OPTION_ARG_INT, &port, N_("Port to listen on (default 8000; 0: any free)"),
       "N"},
      {"max-num", 0, 0, G_OPTION_ARG_INT, &max_num, N_("Most tiles per image (default 12)"), "N"},
      {"api-key", 0, 0, G_OPTION_ARG_STRING, &api_key,
       N_("Require \"Authorization: Bearer KEY\" (default: $IVL_API_KEY; none if unset)"), "KEY"},
      {"allowed-origins", 0, 0, G_OPTION_ARG_STRING_ARRAY, &origins,
       N_("A web page origin allowed to use the API from a browser, besides pages on this "
          "machine (repeatable; * for any)"),
       "ORIGIN"},
      {"served-model-name", 0, 0, G_OPTION_ARG_STRING, &served_name,
       N_("The model's name in the API (default: the model directory's name)"), "NAME"},
      {"any-model", 0, 0, G_OPTION_ARG_NONE, &any_model,
       N_("Answer requests naming any model (default: 404 for another name)"), NULL},
      {"max-body-mb", 0, 0, G_OPTION_ARG_INT, &max_body_mb,
       N_("Largest request body in MiB (default 64)"), "N"},
      {"max-queue", 0, 0, G_OPTION_ARG_INT, &max_queue,
       N_("Most requests waiting behind the running one; more get 429 (default 16)"), "N"},
      {"parallel", 0, 0, G_OPTION_ARG_INT, &parallel,
       N_("Requests answered at once, each streamed as it is generated (default 1)"), "N"},
      {"receive-timeout", 0, 0, G_OPTION_ARG_INT, &receive_timeout,
       N_("Seconds a client has to send its whole request (default 60)"), "S"},
      {NULL},
  };
  g_autoptr(GOptionContext) ctx = g_option_context_new(NULL);
  g_option_context_set_summary(
      ctx, _("Serve the model over the OpenAI API: POST /v1/chat/completions (images and "
             "video clips as data: URLs, \"stream\": true for server-sent events), "
             "POST /v1/completions, GET /v1/models."));
  g_option_context_add_main_entries(ctx, entries, GETTEXT_PACKAGE);
  ivl_cli_add_model_options(ctx, &mo);
  int status = 2;
  gboolean parsed = ivl_cli_parse(ctx, &argc, &argv);
  if (parsed && !api_key && g_getenv("IVL_API_KEY") && *g_getenv("IVL_API_KEY"))
    api_key = g_strdup(g_getenv("IVL_API_KEY"));
  if (!parsed)
    ;
  else if (parallel < 1 || parallel > 256)
    fprintf(stderr, "ivl serve: %s\n", _("--parallel must be between 1 and 256"));
  else if (argc > 1 || port < 0 || port > 65535 || max_num < 1 || max_body_mb < 1 ||
           max_body_mb > 4096 || max_queue < 0 || receive_timeout < 1 || (api_key && !*api_key))
    fprintf(stderr, _("ivl serve: bad arguments (see ivl serve --help)\n"));
  else {
    IvlServeOptions so = {
        .model_id = served_name,
        .any_model = any_model,
        .max_num = max_num,
        .api_key = api_key,
        .allowed_origins = origins,
        .max_body = (gsize)max_body_mb << 20,
        .max_queue = max_queue,
        .parallel = parallel,
        .receive_timeout = receive_timeout,
    };
    status = serve(&mo, &so, host ? host : "127.0.0.1", port);
  }
  ivl_cli_model_options_clear(&mo);
  return status;
}
