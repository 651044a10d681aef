/* cmd-common.h — the options every generation command shares (-m, --backend, --threads,
 * --context, --precision) and loading the model they name. */
#ifndef IVL_CMD_COMMON_H
#define IVL_CMD_COMMON_H

#include "ivl.h"

#include <float.h>

/* What an option holds when not given: values no one types, so that every value a user does
 * type (0, -3, nan) is checked rather than taken for "the default". */
#define IVL_CLI_UNSET_INT G_MININT
#define IVL_CLI_UNSET_DOUBLE (-DBL_MAX)

typedef struct {
  char *model;     /* -m: a model directory or name */
  char *backend;   /* auto | cpu | cuda */
  int threads;     /* IVL_CLI_UNSET_INT: one per core */
  int context;     /* KV cache tokens; IVL_CLI_UNSET_INT: the default */
  char *precision; /* bf16 | int8 | 4bit */
  char *gpus;      /* "0,1,3": the CUDA devices to split the model over */
  char *split;     /* layers | auto */
} ivl_cli_model_options;

/* --gpus and --split into params (n_gpus, gpus, split); FALSE with
 * IVL_ERROR_INVALID_ARGUMENT for a malformed list or an unknown mode. */
gboolean ivl_cli_parse_gpus(const char *gpus, const char *split, ivl_model_params *params,
                            GError **error);

/* Generation options; a sampling option without --greedy turns sampling on. */
typedef struct {
  int max_new_tokens;
  gboolean greedy;
  double temperature, top_p, repetition_penalty; /* IVL_CLI_UNSET_DOUBLE: not given */
  int top_k;                                     /* IVL_CLI_UNSET_INT: not given */
  gint64 seed;
} ivl_cli_generation_options;

void ivl_cli_generation_options_init(ivl_cli_generation_options *opts);
void ivl_cli_add_generation_options(GOptionContext *ctx, ivl_cli_generation_options *opts);
/* FALSE with an error for out-of-range values. */
gboolean ivl_cli_generation_params(const ivl_cli_generation_options *opts,
                                   ivl_generation_params *params, GError **error);

/* Media options: --image (repeatable), --separate, --video with its sampling, --max-num. */
typedef struct {
  char **images;
  gboolean separate;
  char *video;
  int segments;
  double start, end; /* seconds; IVL_CLI_UNSET_DOUBLE: not given */
  int max_num;
} ivl_cli_media_options;

void ivl_cli_media_options_init(ivl_cli_media_options *opts);
void ivl_cli_add_media_options(GOptionContext *ctx, ivl_cli_media_options *opts);
void ivl_cli_media_options_clear(ivl_cli_media_options *opts);
/* The media the options name (ivl_media*, freed with the array), possibly none. A video whose
 * frames cannot fit model's context is refused before it is decoded; with model NULL (a
 * server answers) the server judges that. */
GPtrArray *ivl_cli_load_media(const ivl_cli_media_options *opts, const ivl_model *model,
                              GError **error);
ivl_image_layout ivl_cli_media_layout(const ivl_cli_media_options *opts);

/* Ctrl-C while generating stops the answer (the token callback asks ivl_cli_interrupted);
 * a second Ctrl-C ends the program as usual. */
void ivl_cli_catch_interrupt(void);
gboolean ivl_cli_interrupted(void);
/* An ivl_token_cb that prints each piece to stdout as it comes, until Ctrl-C. */
gboolean ivl_cli_print_piece(const char *piece, int token_id, void *user_data);

/* fflush(stdout) that keeps the errno of the first failure for ivl's exit report: a later
 * flush of the emptied buffer succeeds and leaves none. */
void ivl_cli_flush_stdout(void);
int ivl_cli_stdout_errno(void);

/* Adds the entries to the context's main group; values land in opts (threads and context
 * start unset). */
void ivl_cli_add_model_options(GOptionContext *ctx, ivl_cli_model_options *opts);
void ivl_cli_model_options_clear(ivl_cli_model_options *opts);

/* Tells on stderr, after "cmd: ", when the session's last answer was cut short because the
 * context was full. */
void ivl_cli_note_context_full(const char *cmd, const ivl_session *session);

/* Resolves -m, loads the model and says on stderr which backend runs it; a --threads or
 * --context out of range is an IVL_ERROR_INVALID_ARGUMENT. */
ivl_model *ivl_cli_load_model(const ivl_cli_model_options *opts, GError **error);

/* Parses argv with ctx; on a usage error prints it and returns FALSE (exit status 2). */
gboolean ivl_cli_parse(GOptionContext *ctx, int *argc, char ***argv);

#endif /* IVL_CMD_COMMON_H */
