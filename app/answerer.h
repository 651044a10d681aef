/* answerer.h — who answers the generation commands' questions: a model loaded here (an engine
 * session) or a model on an OpenAI-compatible server (--server). The commands ask through
 * this one interface, so `ivl run`, `ivl chat` and `ivl batch` have one code path each. */
#ifndef IVL_ANSWERER_H
#define IVL_ANSWERER_H

#include "cmd-common.h"
#include "remote-client.h"

/* --server URL, --api-key KEY, --dialect NAME, --stall-timeout S. */
typedef struct {
  char *server;
  char *api_key;
  char *dialect;
  double stall_timeout; /* seconds; IVL_CLI_UNSET_DOUBLE: the client's default */
} ivl_cli_remote_options;

/* Adds the entries to the context's main group (stall_timeout starts unset). */
void ivl_cli_add_remote_options(GOptionContext *ctx, ivl_cli_remote_options *opts);
void ivl_cli_remote_options_clear(ivl_cli_remote_options *opts);

/* A client of --server: the key from --api-key, else the keyring; --dialect and
 * --stall-timeout applied. Errors: INVALID_URL, and IVL_ERROR_INVALID_ARGUMENT for a bad
 * --dialect or --stall-timeout. */
IvlRemoteClient *ivl_cli_remote_client(const ivl_cli_remote_options *ro, GError **error);
/* The server's models (ivl_remote_client_list_models), a refused key's error saying to give
 * --api-key. */
GPtrArray *ivl_cli_remote_models(IvlRemoteClient *client, GError **error);

typedef struct ivl_answerer ivl_answerer;

/* With --server, a client of that server (the key from --api-key, else the keyring; the
 * model -m, else the first the server lists), checked by asking for its models; else the
 * local model mo names (ivl_cli_load_model). system: NULL for the model's default.
 * Errors: those of ivl_cli_load_model, IVL_REMOTE_ERROR_*, and IVL_ERROR_INVALID_ARGUMENT for
 * a local-only option given with --server. */
ivl_answerer *ivl_answerer_open(const ivl_cli_model_options *mo, const ivl_cli_remote_options *ro,
                                const char *system, GError **error);
void ivl_answerer_free(ivl_answerer *a);

/* The local model, or NULL when a server answers. */
ivl_model *ivl_answerer_get_model(ivl_answerer *a);
/* The local session, or NULL when a server answers. */
ivl_session *ivl_answerer_get_session(ivl_answerer *a);
/* What the server said about the last answer, or NULL for a local model. */
const IvlRemoteAnswer *ivl_answerer_get_remote_answer(ivl_answerer *a);
/* "cpu", "cuda", or "server HOST". */
const char *ivl_answerer_get_backend(ivl_answerer *a);

/* Asks question with media (ivl_media*, n of them) in the conversation; paths[i] is media[i]'s
 * file (a video's NULL when it was sampled between bounds: a server then gets its frames),
 * used by servers, which are sent the original image files. callback gets the pieces as they
 * come. Returns the answer and adds the turn to the history; on failure NULL and the history
 * is as it was, but the text a server sent before failing was given to callback. A callback
 * that returns FALSE stops the answer, which is kept as it is. */
char *ivl_answerer_ask(ivl_answerer *a, const char *question, ivl_media *const *media,
                       const char *const *paths, int n_media, ivl_image_layout layout,
                       const ivl_generation_params *gp, ivl_token_cb callback, void *user_data,
                       GError **error);

/* Forgets the conversation. */
void ivl_answerer_reset(ivl_answerer *a);

/* Tells on stderr, after "cmd: ", when the last answer was cut short (a full local context,
 * or a server that stopped at max tokens without saying so is not told). */
void ivl_answerer_note_cut(ivl_answerer *a, const char *cmd);

#endif /* IVL_ANSWERER_H */
