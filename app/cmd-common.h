/* cmd-common.h — the options every generation command shares (-m, --backend, --threads,
 * --context) and loading the model they name. */
#ifndef IVL_CMD_COMMON_H
#define IVL_CMD_COMMON_H

#include "ivl.h"

typedef struct {
  char *model;   /* -m: a model directory or name */
  char *backend; /* auto | cpu | cuda */
  int threads;   /* 0 = one per core */
  int context;   /* KV cache tokens; 0 = default */
} ivl_cli_model_options;

/* Adds the entries to the context's main group; values land in opts. */
void ivl_cli_add_model_options(GOptionContext *ctx, ivl_cli_model_options *opts);
void ivl_cli_model_options_clear(ivl_cli_model_options *opts);

/* Resolves -m, loads the model and says on stderr which backend runs it. */
ivl_model *ivl_cli_load_model(const ivl_cli_model_options *opts, GError **error);

/* Parses argv with ctx; on a usage error prints it and returns FALSE (exit status 2). */
gboolean ivl_cli_parse(GOptionContext *ctx, int *argc, char ***argv);

#endif /* IVL_CMD_COMMON_H */
