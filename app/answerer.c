/* answerer.c — local or remote answers for the CLI (answerer.h). */
#include "ivl-config.h"

#include "answerer.h"

#include <glib/gi18n.h>
#include <stdio.h>

struct ivl_answerer {
  /* local */
  ivl_model *model;
  ivl_session *session;
  /* remote */
  IvlRemoteClient *client;
  IvlRemoteChat *chat;
  IvlRemoteAnswer answer;
  int max_tokens; /* of the last ask */
  char *backend;
};

void ivl_cli_add_remote_options(GOptionContext *ctx, ivl_cli_remote_options *opts)
{
  opts->stall_timeout = IVL_CLI_UNSET_DOUBLE;
  const GOptionEntry entries[] = {
      {"server", 0, 0, G_OPTION_ARG_STRING, &opts->server,
       N_("Ask the model on this OpenAI-compatible server (vLLM, LMDeploy, llama-server, ivl "
          "serve) instead of loading it here; -m names the served model (default: the first)"),
       "URL"},
      {"api-key", 0, 0, G_OPTION_ARG_STRING, &opts->api_key,
       N_("The server's API key (default: the one in the keyring for this URL)"), "KEY"},
      {"dialect", 0, 0, G_OPTION_ARG_STRING, &opts->dialect,
       N_("The server's software: auto, openai, vllm, lmdeploy, llama-server or ivl (default "
          "auto: asked from the server)"),
       "NAME"},
      {"stall-timeout", 0, 0, G_OPTION_ARG_DOUBLE, &opts->stall_timeout,
       N_("Give up on a server that sends nothing for this many seconds (default 300)"), "S"},
      {NULL},
  };
  g_option_context_add_main_entries(ctx, entries, GETTEXT_PACKAGE);
}

void ivl_cli_remote_options_clear(ivl_cli_remote_options *opts)
{
  g_clear_pointer(&opts->server, g_free);
  g_clear_pointer(&opts->api_key, g_free);
  g_clear_pointer(&opts->dialect, g_free);
}

static gboolean refuse_local_options(const ivl_cli_model_options *mo, GError **error)
{
  const char *option = mo->backend                        ? "--backend"
                       : mo->precision                    ? "--precision"
                       : mo->threads != IVL_CLI_UNSET_INT ? "--threads"
                       : mo->context != IVL_CLI_UNSET_INT ? "--context"
                       : mo->gpus                         ? "--gpus"
                       : mo->split                        ? "--split"
                                                          : NULL;
  if (option)
    g_set_error(error, IVL_ERROR, IVL_ERROR_INVALID_ARGUMENT,
                _("%s is for a model loaded here; with --server the server decides"), option);
  return option == NULL;
}

static char *keyring_key(const char *base_url)
{
  g_autoptr(GError) error = NULL;
  char *key = ivl_remote_key_lookup(base_url, NULL, &error);
  /* No keyring (a server, a container) is the common case, not a failure. */
  if (error)
    g_debug("ivl: no key from the keyring: %s", error->message);
  return key;
}

/* The library's message is for any front end; here the fix is an option. */
static void hint_key(GError *error)
{
  if (!g_error_matches(error, IVL_REMOTE_ERROR, IVL_REMOTE_ERROR_UNAUTHORIZED))
    return;
  char *message = g_strdup_printf(_("%s: give the right one with --api-key"), error->message);
  g_free(error->message);
  error->message = message;
}

IvlRemoteClient *ivl_cli_remote_client(const ivl_cli_remote_options *ro, GError **error)
{
  IvlRemoteDialect dialect = IVL_REMOTE_DIALECT_AUTO;
  IvlRemoteClient *client;
  if (ro->dialect && !ivl_remote_dialect_from_name(ro->dialect, &dialect)) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_INVALID_ARGUMENT,
                _("unknown dialect '%s' (expected auto, openai, vllm, lmdeploy, llama-server or "
                  "ivl)"),
                ro->dialect);
    return NULL;
  }
  if (ro->stall_timeout != IVL_CLI_UNSET_DOUBLE &&
      !(ro->stall_timeout > 0 && ro->stall_timeout <= 86400)) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_INVALID_ARGUMENT,
                _("--stall-timeout must be between 0 and 86400 seconds"));
    return NULL;
  }
  client = ivl_remote_client_new(ro->server, ro->api_key, error);
  if (!client)
    return NULL;
  if (!ro->api_key) {
    g_autofree char *key = keyring_key(ivl_remote_client_get_base_url(client));
    if (key) {
      ivl_remote_client_unref(client);
      client = ivl_remote_client_new(ro->server, key, error);
    }
  }
  ivl_remote_client_set_dialect(client, dialect);
  if (ro->stall_timeout != IVL_CLI_UNSET_DOUBLE)
    ivl_remote_client_set_timeouts(client, 0, ro->stall_timeout, -1);
  return client;
}

GPtrArray *ivl_cli_remote_models(IvlRemoteClient *client, GError **error)
{
  GPtrArray *models = ivl_remote_client_list_models(client, NULL, error);
  if (!models)
    hint_key(error ? *error : NULL);
  return models;
}

static gboolean open_remote(ivl_answerer *a, const ivl_cli_model_options *mo,
                            const ivl_cli_remote_options *ro, const char *system, GError **error)
{
  if (!refuse_local_options(mo, error))
    return FALSE;
  a->client = ivl_cli_remote_client(ro, error);
  if (!a->client)
    return FALSE;
  g_autoptr(GPtrArray) models = ivl_cli_remote_models(a->client, error);
  if (!models)
    return FALSE;
  const char *model = ((IvlRemoteModel *)models->pdata[0])->id;
  if (mo->model) {
    model = NULL;
    for (guint i = 0; i < models->len && !model; i++)
      if (g_str_equal(((IvlRemoteModel *)models->pdata[i])->id, mo->model))
        model = mo->model;
    /* llama-server answers whatever model is named; others list adapters and aliases
     * they would also take, so an unlisted name is left for the server to judge. */
    if (!model)
      model = mo->model;
  }
  a->chat = ivl_remote_chat_new(model);
  ivl_remote_chat_set_system(a->chat, system);
  a->backend = g_strdup_printf("server %s", ivl_remote_client_get_host(a->client));
  fprintf(stderr, _("ivl: %s on the server %s (%s)\n"), model,
          ivl_remote_client_get_host(a->client),
          ivl_remote_dialect_name(ivl_remote_client_get_dialect(a->client)));
  return TRUE;
}

ivl_answerer *ivl_answerer_open(const ivl_cli_model_options *mo, const ivl_cli_remote_options *ro,
                                const char *system, GError **error)
{
  ivl_answerer *a = g_new0(ivl_answerer, 1);
  gboolean ok;
  if (ro && ro->server)
    ok = open_remote(a, mo, ro, system, error);
  else {
    ok = (a->model = ivl_cli_load_model(mo, error)) &&
         (a->session = ivl_session_new(a->model, system, error));
    if (ok)
      a->backend = g_strdup(ivl_model_get_backend_name(a->model));
  }
  if (!ok) {
    ivl_answerer_free(a);
    return NULL;
  }
  return a;
}

void ivl_answerer_free(ivl_answerer *a)
{
  if (!a)
    return;
  ivl_session_free(a->session);
  ivl_model_free(a->model);
  ivl_remote_chat_free(a->chat);
  g_clear_pointer(&a->client, ivl_remote_client_unref);
  ivl_remote_answer_clear(&a->answer);
  g_free(a->backend);
  g_free(a);
}

ivl_model *ivl_answerer_get_model(ivl_answerer *a)
{
  return a->model;
}

ivl_session *ivl_answerer_get_session(ivl_answerer *a)
{
  return a->session;
}

const IvlRemoteAnswer *ivl_answerer_get_remote_answer(ivl_answerer *a)
{
  return a->client ? &a->answer : NULL;
}

const char *ivl_answerer_get_backend(ivl_answerer *a)
{
  return a->backend;
}

typedef struct {
  ivl_token_cb callback;
  void *user_data;
  gboolean stopped;
} piece_relay;

static gboolean relay_piece(const char *piece, gpointer data)
{
  piece_relay *r = data;
  if (r->callback && !r->callback(piece, 0, r->user_data))
    r->stopped = TRUE;
  return !r->stopped;
}

/* Ctrl-C sets only a flag (a signal handler may not take locks); this thread turns it into a
 * cancel, so that the stream is closed even while the server sends nothing. */
typedef struct {
  GCancellable *cancellable;
  gint done;
} interrupt_watch;

static gpointer watch_interrupt(gpointer data)
{
  interrupt_watch *w = data;
  while (!g_atomic_int_get(&w->done)) {
    if (ivl_cli_interrupted()) {
      g_cancellable_cancel(w->cancellable);
      break;
    }
    g_usleep(50000);
  }
  return NULL;
}

static char *ask_remote(ivl_answerer *a, const char *question, ivl_media *const *media,
                        const char *const *paths, int n_media, const ivl_generation_params *gp,
                        ivl_token_cb callback, void *user_data, GError **error)
{
  guint before = ivl_remote_chat_get_length(a->chat);
  ivl_remote_chat_add_user(a->chat, question);
  gboolean ok = TRUE;
  for (int i = 0; ok && i < n_media; i++)
    ok = ivl_media_is_video(media[i])
             ? ivl_remote_chat_add_video(a->chat, media[i], paths[i], error)
             : ivl_remote_chat_add_image_file(a->chat, paths[i], error);
  ivl_remote_chat_set_params(a->chat, gp);
  a->max_tokens = gp->max_new_tokens;
  piece_relay relay = {callback, user_data, FALSE};
  ivl_remote_answer_clear(&a->answer);
  GError *local = NULL;
  interrupt_watch watch = {g_cancellable_new(), 0};
  GThread *watcher = g_thread_new("ivl-interrupt", watch_interrupt, &watch);
  if (ok)
    ok = ivl_remote_client_chat(a->client, a->chat, relay_piece, &relay, &a->answer,
                                watch.cancellable, &local);
  g_atomic_int_set(&watch.done, 1);
  g_thread_join(watcher);
  g_object_unref(watch.cancellable);
  /* Stopped (by the callback or Ctrl-C): the answer so far stands, as a local model's does. */
  if (!ok && (relay.stopped || ivl_cli_interrupted()) &&
      g_error_matches(local, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
    g_clear_error(&local);
    ok = TRUE;
  }
  if (local) {
    hint_key(local);
    g_propagate_error(error, local);
  }
  if (!ok) {
    ivl_remote_chat_truncate(a->chat, before);
    return NULL;
  }
  ivl_remote_chat_add_assistant(a->chat, a->answer.text);
  return g_strdup(a->answer.text);
}

char *ivl_answerer_ask(ivl_answerer *a, const char *question, ivl_media *const *media,
                       const char *const *paths, int n_media, ivl_image_layout layout,
                       const ivl_generation_params *gp, ivl_token_cb callback, void *user_data,
                       GError **error)
{
  if (a->client)
    return ask_remote(a, question, media, paths, n_media, gp, callback, user_data, error);
  return ivl_session_ask(a->session, question, media, n_media, layout, gp, callback, user_data,
                         NULL, error);
}

void ivl_answerer_reset(ivl_answerer *a)
{
  if (a->session)
    ivl_session_reset(a->session);
  if (a->chat)
    ivl_remote_chat_truncate(a->chat, 0);
}

void ivl_answerer_note_cut(ivl_answerer *a, const char *cmd)
{
  if (a->session)
    ivl_cli_note_context_full(cmd, a->session);
  /* "length" also ends an answer at max_tokens, which a local model does not remark on
   * either: only fewer tokens than asked for mean the context was full. */
  else if (g_strcmp0(a->answer.finish_reason, "length") == 0 && a->answer.has_usage &&
           a->answer.completion_tokens < a->max_tokens)
    fprintf(stderr, "%s: %s\n", cmd,
            _("the answer was cut short: "
              "the context on the server is full"));
}
