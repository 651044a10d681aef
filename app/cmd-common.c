/* cmd-common.c — shared options of the generation commands (cmd-common.h). */
#include "ivl-config.h"

#include "cmd-common.h"
#include "model-path.h"

#include <glib/gi18n.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>

void ivl_cli_add_model_options(GOptionContext *ctx, ivl_cli_model_options *opts)
{
  opts->threads = opts->context = IVL_CLI_UNSET_INT;
  const GOptionEntry entries[] = {
      {"model", 'm', 0, G_OPTION_ARG_STRING, &opts->model, N_("Model directory or name (required)"),
       "MODEL"},
      {"backend", 0, 0, G_OPTION_ARG_STRING, &opts->backend,
       N_("Compute backend: auto, cpu or cuda (default auto)"), "NAME"},
      {"threads", 0, 0, G_OPTION_ARG_INT, &opts->threads, N_("CPU threads (default: one per core)"),
       "N"},
      {"context", 0, 0, G_OPTION_ARG_INT, &opts->context,
       N_("Tokens the KV cache holds (default 8192)"), "N"},
      {"precision", 0, 0, G_OPTION_ARG_STRING, &opts->precision,
       N_("Weights in memory: bf16 (as published), int8 (half the memory) or 4bit (about a "
          "quarter); default bf16"),
       "NAME"},
      {"gpus", 0, 0, G_OPTION_ARG_STRING, &opts->gpus,
       N_("CUDA devices to split the model over, the first holding the vision tower (default: "
          "GPU 0, or every GPU when the model does not fit there)"),
       "0,1,..."},
      {"split", 0, 0, G_OPTION_ARG_STRING, &opts->split,
       N_("How layers spread over several GPUs: layers (InternVL3's split_model, the default) "
          "or auto (by free memory)"),
       "MODE"},
      {NULL},
  };
  g_option_context_add_main_entries(ctx, entries, GETTEXT_PACKAGE);
}

void ivl_cli_model_options_clear(ivl_cli_model_options *opts)
{
  g_clear_pointer(&opts->model, g_free);
  g_clear_pointer(&opts->backend, g_free);
  g_clear_pointer(&opts->precision, g_free);
  g_clear_pointer(&opts->gpus, g_free);
  g_clear_pointer(&opts->split, g_free);
}

gboolean ivl_cli_parse_gpus(const char *gpus, const char *split, ivl_model_params *params,
                            GError **error)
{
  if (split && g_strcmp0(split, "layers") != 0 && g_strcmp0(split, "auto") != 0) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_INVALID_ARGUMENT,
                _("unknown split '%s' (expected layers or auto)"), split);
    return FALSE;
  }
  params->split = g_strcmp0(split, "auto") == 0 ? IVL_SPLIT_AUTO : IVL_SPLIT_LAYERS;
  params->n_gpus = 0;
  if (!gpus)
    return TRUE;
  g_auto(GStrv) items = g_strsplit(gpus, ",", -1);
  for (int i = 0; items[i]; i++) {
    guint64 d = 0;
    if (params->n_gpus == IVL_MAX_GPUS ||
        !g_ascii_string_to_unsigned(g_strstrip(items[i]), 10, 0, 255, &d, NULL)) {
      g_set_error(error, IVL_ERROR, IVL_ERROR_INVALID_ARGUMENT,
                  _("--gpus takes up to %d device numbers separated by commas, not '%s'"),
                  IVL_MAX_GPUS, gpus);
      return FALSE;
    }
    params->gpus[params->n_gpus++] = (int)d;
  }
  return TRUE;
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
  if (opts->precision && !ivl_precision_from_name(opts->precision, &params.precision)) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_INVALID_ARGUMENT,
                _("unknown precision '%s' (expected bf16, int8 or 4bit)"), opts->precision);
    return NULL;
  }
  if (opts->threads != IVL_CLI_UNSET_INT &&
      (opts->threads < 1 || opts->threads > IVL_MAX_THREADS)) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_INVALID_ARGUMENT,
                _("--threads must be between 1 and %d"), IVL_MAX_THREADS);
    return NULL;
  }
  if (opts->context != IVL_CLI_UNSET_INT && opts->context < 1) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_INVALID_ARGUMENT,
                _("--context must be a positive number of tokens"));
    return NULL;
  }
  if (!ivl_cli_parse_gpus(opts->gpus, opts->split, &params, error))
    return NULL;
  params.n_threads = opts->threads == IVL_CLI_UNSET_INT ? 0 : opts->threads;
  params.context_length = opts->context == IVL_CLI_UNSET_INT ? 0 : opts->context;
  g_autofree char *dir = ivl_model_path_resolve(opts->model, error);
  if (!dir)
    return NULL;
  ivl_model *model = ivl_model_load(dir, &params, NULL, error);
  if (model && ivl_model_get_n_gpus(model) > 1)
    fprintf(stderr, _("ivl: %s on the %s backend over %d GPUs, %s weights\n"), dir,
            ivl_model_get_backend_name(model), ivl_model_get_n_gpus(model),
            ivl_precision_name(params.precision));
  else if (model)
    fprintf(stderr, _("ivl: %s on the %s backend, %s weights\n"), dir,
            ivl_model_get_backend_name(model), ivl_precision_name(params.precision));
  return model;
}

void ivl_cli_note_context_full(const char *cmd, const ivl_session *session)
{
  ivl_generation_stats st;
  ivl_session_get_stats(session, &st);
  if (st.context_full)
    fprintf(stderr, "%s: %s\n", cmd,
            _("the answer was cut short: the context is full (a larger --context holds more)"));
}

void ivl_cli_generation_options_init(ivl_cli_generation_options *opts)
{
  *opts = (ivl_cli_generation_options){.max_new_tokens = 1024,
                                       .temperature = IVL_CLI_UNSET_DOUBLE,
                                       .top_p = IVL_CLI_UNSET_DOUBLE,
                                       .repetition_penalty = IVL_CLI_UNSET_DOUBLE,
                                       .top_k = IVL_CLI_UNSET_INT,
                                       .seed = 0};
}

void ivl_cli_add_generation_options(GOptionContext *ctx, ivl_cli_generation_options *opts)
{
  const GOptionEntry entries[] = {
      {"max-new-tokens", 0, 0, G_OPTION_ARG_INT, &opts->max_new_tokens,
       N_("Most tokens to generate (default 1024)"), "N"},
      {"greedy", 0, 0, G_OPTION_ARG_NONE, &opts->greedy,
       N_("Always take the most likely token (the default)"), NULL},
      {"temperature", 0, 0, G_OPTION_ARG_DOUBLE, &opts->temperature,
       N_("Sample with this temperature (default 1.0 when sampling)"), "T"},
      {"top-k", 0, 0, G_OPTION_ARG_INT, &opts->top_k,
       N_("Sample from the K most likely tokens (default 50; 0 = all)"), "K"},
      {"top-p", 0, 0, G_OPTION_ARG_DOUBLE, &opts->top_p,
       N_("Sample from the smallest set with probability P (default 1.0)"), "P"},
      {"seed", 0, 0, G_OPTION_ARG_INT64, &opts->seed, N_("Sampling seed (default 0)"), "S"},
      {"repetition-penalty", 0, 0, G_OPTION_ARG_DOUBLE, &opts->repetition_penalty,
       N_("Penalise generated tokens (default 1.0 = off)"), "R"},
      {NULL},
  };
  g_option_context_add_main_entries(ctx, entries, GETTEXT_PACKAGE);
}

gboolean ivl_cli_generation_params(const ivl_cli_generation_options *o, ivl_generation_params *p,
                                   GError **error)
{
  *p = ivl_generation_default_params();
  p->max_new_tokens = o->max_new_tokens;
  gboolean has_t = o->temperature != IVL_CLI_UNSET_DOUBLE, has_p = o->top_p != IVL_CLI_UNSET_DOUBLE;
  gboolean has_r = o->repetition_penalty != IVL_CLI_UNSET_DOUBLE;
  gboolean has_k = o->top_k != IVL_CLI_UNSET_INT;
  p->do_sample = !o->greedy && (has_t || has_k || has_p);
  /* Written as "not in range" so that NaN, which compares false, is out of range too. */
  if (p->max_new_tokens < 1 || (has_t && !(o->temperature > 0 && o->temperature < 1e6)) ||
      (has_p && !(o->top_p > 0 && o->top_p <= 1)) ||
      (has_r && !(o->repetition_penalty > 0 && o->repetition_penalty < 1e6)) ||
      (has_k && o->top_k < 0)) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_INVALID_ARGUMENT,
                _("generation options out of range (max-new-tokens >= 1, temperature > 0, "
                  "top-k >= 0, 0 < top-p <= 1, repetition-penalty > 0)"));
    return FALSE;
  }
  if (has_t)
    p->temperature = (float)o->temperature;
  if (has_k)
    p->top_k = o->top_k;
  if (has_p)
    p->top_p = (float)o->top_p;
  if (has_r)
    p->repetition_penalty = (float)o->repetition_penalty;
  p->seed = (guint64)o->seed;
  return TRUE;
}

static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig)
{
  (void)sig;
  interrupted = 1;
}

void ivl_cli_catch_interrupt(void)
{
  struct sigaction sa = {0};
  sa.sa_handler = on_interrupt;
  sa.sa_flags = SA_RESETHAND;
  sigemptyset(&sa.sa_mask);
  interrupted = 0;
  sigaction(SIGINT, &sa, NULL);
}

gboolean ivl_cli_interrupted(void)
{
  return interrupted != 0;
}

gboolean ivl_cli_print_piece(const char *piece, int token_id, void *user_data)
{
  (void)token_id;
  (void)user_data;
  fputs(piece, stdout);
  ivl_cli_flush_stdout();
  return !ivl_cli_interrupted();
}

static int stdout_errno;

void ivl_cli_flush_stdout(void)
{
  if (fflush(stdout) != 0 && stdout_errno == 0)
    stdout_errno = errno;
}

int ivl_cli_stdout_errno(void)
{
  return stdout_errno;
}
