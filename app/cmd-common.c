/* cmd-common.c — shared options of the generation commands (cmd-common.h). */
#include "ivl-config.h"

#include "cmd-common.h"

#include <glib/gi18n.h>
#include <stdio.h>

void ivl_cli_add_model_options(GOptionContext *ctx, ivl_cli_model_options *opts)
{
  const GOptionEntry entries[] = {
      {"model", 'm', 0, G_OPTION_ARG_STRING, &opts->model,
       N_("Model directory or name (required)"), "MODEL"},
      {"backend", 0, 0, G_OPTION_ARG_STRING, &opts->backend,
       N_("Compute backend: auto, cpu or cuda (default auto)"), "NAME"},
      {"threads", 0, 0, G_OPTION_ARG_INT, &opts->threads,
       N_("CPU threads (default: one per core)"), "N"},
      {"context", 0, 0, G_OPTION_ARG_INT, &opts->context,
       N_("Tokens the KV cache holds (default 8192)"), "N"},
      {NULL},
  };
  g_option_context_add_main_entries(ctx, entries, GETTEXT_PACKAGE);
}

void ivl_cli_model_options_clear(ivl_cli_model_options *opts)
{
  g_clear_pointer(&opts->model, g_free);
  g_clear_pointer(&opts->backend, g_free);
}

gboolean ivl_cli_parse(GOptionContext *ctx, int *argc, char ***argv)
{
  g_autoptr(GError) error = NULL;
  if (!g_option_context_parse(ctx, argc, argv, &error)) {
    fprintf(stderr, "ivl: %s\n", error->message);
    return FALSE;
  }
  return TRUE;
}

static gboolean parse_backend(const char *name, ivl_backend_kind *kind, GError **error)
{
  if (!name || g_str_equal(name, "auto"))
    *kind = IVL_BACKEND_AUTO;
  else if (g_str_equal(name, "cpu"))
    *kind = IVL_BACKEND_CPU;
  else if (g_str_equal(name, "cuda"))
    *kind = IVL_BACKEND_CUDA;
  else {
    g_set_error(error, IVL_ERROR, IVL_ERROR_INVALID_ARGUMENT,
                _("unknown backend '%s' (expected auto, cpu or cuda)"), name);
    return FALSE;
  }
  return TRUE;
}

ivl_model *ivl_cli_load_model(const ivl_cli_model_options *opts, GError **error)
{
  ivl_model_params params = ivl_model_default_params();
  if (!opts->model) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_INVALID_ARGUMENT, _("no model given (-m MODEL)"));
    return NULL;
  }
  if (!parse_backend(opts->backend, &params.backend, error))
    return NULL;
  params.n_threads = opts->threads;
  params.context_length = opts->context;
  ivl_model *model = ivl_model_load(opts->model, &params, NULL, error);
  if (model)
    fprintf(stderr, _("ivl: %s on the %s backend\n"), opts->model,
            ivl_model_get_backend_name(model));
  return model;
}
