/* cmd-run.c — `ivl run`: one question, with images or a video, answered as it streams. */
#include "ivl-config.h"

#include <glib/gi18n.h>
#include <json-glib/json-glib.h>
#include <stdio.h>

#include "answerer.h"
#include "cmd-common.h"
#include "commands.h"
#include "file-io.h"

typedef struct {
  ivl_cli_model_options model;
  ivl_cli_remote_options remote;
  ivl_cli_generation_options gen;
  ivl_cli_media_options media;
  char *system;
  gboolean json;
  char *logits_out;
} run_options;

static void run_options_clear(run_options *o)
{
  ivl_cli_model_options_clear(&o->model);
  ivl_cli_remote_options_clear(&o->remote);
  ivl_cli_media_options_clear(&o->media);
  g_free(o->system);
  g_free(o->logits_out);
}

static void add_ids(JsonBuilder *b, const char *name, const int32_t *ids, int n)
{
  json_builder_set_member_name(b, name);
  json_builder_begin_array(b);
  for (int i = 0; i < n; i++)
    json_builder_add_int_value(b, ids[i]);
  json_builder_end_array(b);
}

static void add_double(JsonBuilder *b, const char *name, double v)
{
  json_builder_set_member_name(b, name);
  json_builder_add_double_value(b, v);
}

static void print_json(ivl_session *session, const char *answer, const char *backend)
{
  g_autoptr(JsonBuilder) b = json_builder_new();
  ivl_generation_stats st;
  int n;
  const int32_t *ids;

  ivl_session_get_stats(session, &st);
  json_builder_begin_object(b);
  ids = ivl_session_get_prompt_ids(session, &n);
  add_ids(b, "prompt_ids", ids, n);
  ids = ivl_session_get_generated_ids(session, &n);
  add_ids(b, "generated_ids", ids, n);
  json_builder_set_member_name(b, "text");
  json_builder_add_string_value(b, answer);
  json_builder_set_member_name(b, "backend");
  json_builder_add_string_value(b, backend);
  json_builder_set_member_name(b, "timings");
  json_builder_begin_object(b);
  add_double(b, "vision_ms", st.vision_ms);
  add_double(b, "prefill_ms", st.prefill_ms);
  add_double(b, "first_token_ms", st.first_token_ms);
  add_double(b, "decode_ms", st.decode_ms);
  add_double(b, "image_tiles", st.n_image_tiles);
  add_double(b, "cached_tokens", st.n_cached_tokens);
  add_double(b, "decode_tokens_per_s",
             st.n_generated > 1 && st.decode_ms > 0 ? (st.n_generated - 1) * 1e3 / st.decode_ms
                                                    : 0);
  json_builder_end_object(b);
  json_builder_end_object(b);
  g_autoptr(JsonGenerator) gen = json_generator_new();
  g_autoptr(JsonNode) root = json_builder_get_root(b);
  json_generator_set_root(gen, root);
  g_autofree char *text = json_generator_to_data(gen, NULL);
  printf("%s\n", text);
}

/* A server's answer: its text and what the server told of it (no token ids: servers do not
 * send the prompt's). */
static void print_remote_json(const IvlRemoteAnswer *r, const char *backend)
{
  g_autoptr(JsonBuilder) b = json_builder_new();
  json_builder_begin_object(b);
  json_builder_set_member_name(b, "text");
  json_builder_add_string_value(b, r->text);
  json_builder_set_member_name(b, "backend");
  json_builder_add_string_value(b, backend);
  json_builder_set_member_name(b, "model");
  json_builder_add_string_value(b, r->model);
  json_builder_set_member_name(b, "finish_reason");
  json_builder_add_string_value(b, r->finish_reason);
  if (r->has_usage) {
    json_builder_set_member_name(b, "usage");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "prompt_tokens");
    json_builder_add_int_value(b, r->prompt_tokens);
    json_builder_set_member_name(b, "completion_tokens");
    json_builder_add_int_value(b, r->completion_tokens);
    json_builder_end_object(b);
  }
  json_builder_set_member_name(b, "timings");
  json_builder_begin_object(b);
  add_double(b, "first_token_ms", r->first_piece_ms);
  add_double(b, "total_ms", r->total_ms);
  json_builder_end_object(b);
  json_builder_end_object(b);
  g_autoptr(JsonGenerator) gen = json_generator_new();
  g_autoptr(JsonNode) root = json_builder_get_root(b);
  json_generator_set_root(gen, root);
  g_autofree char *text = json_generator_to_data(gen, NULL);
  printf("%s\n", text);
}

static gboolean write_logits(ivl_session *session, const char *path, GError **error)
{
  int n;
  const float *logits = ivl_session_get_prompt_logits(session, &n);
  if (!ivl_file_write(path, logits, (gsize)n * sizeof(float), error)) {
    g_prefix_error(error, "--logits-out: ");
    return FALSE;
  }
  return TRUE;
}

/* The files of the media, in ivl_cli_load_media's order; a video sampled between bounds has
 * none (a server is then sent the frames, not the file it would sample whole). */
static GPtrArray *media_paths(const ivl_cli_media_options *m)
{
  GPtrArray *paths = g_ptr_array_new();
  for (char **f = m->images; f && *f; f++)
    g_ptr_array_add(paths, *f);
  if (m->video)
    g_ptr_array_add(paths, m->start == IVL_CLI_UNSET_DOUBLE && m->end == IVL_CLI_UNSET_DOUBLE
                               ? m->video
                               : NULL);
  return paths;
}

static gboolean run(run_options *o, const char *question, GError **error)
{
  ivl_generation_params gp;
  if (!ivl_cli_generation_params(&o->gen, &gp, error))
    return FALSE;
  if (o->remote.server && o->logits_out) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_INVALID_ARGUMENT,
                _("--logits-out needs a model loaded here: servers do not send logits"));
    return FALSE;
  }
  ivl_answerer *a = ivl_answerer_open(&o->model, &o->remote, o->system, error);
  if (!a)
    return FALSE;
  ivl_session *session = ivl_answerer_get_session(a);
  g_autoptr(GPtrArray) media = ivl_cli_load_media(&o->media, ivl_answerer_get_model(a), error);
  g_autoptr(GPtrArray) paths = media_paths(&o->media);
  g_autofree char *answer = NULL;
  if (media) {
    ivl_cli_catch_interrupt();
    answer = ivl_answerer_ask(a, question, (ivl_media *const *)media->pdata,
                              (const char *const *)paths->pdata, (int)media->len,
                              ivl_cli_media_layout(&o->media), &gp,
                              o->json ? NULL : ivl_cli_print_piece, NULL, error);
  }
  gboolean ok = answer != NULL;
  /* What a server sent before it failed was printed: the line is ended all the same. */
  if (!o->json && (ok || (!session && ivl_answerer_get_remote_answer(a)->text &&
                          *ivl_answerer_get_remote_answer(a)->text))) {
    printf("\n");
    ivl_cli_flush_stdout();
  }
  if (ok)
    ivl_answerer_note_cut(a, "ivl run");
  if (ok && o->json && session)
    print_json(session, answer, ivl_answerer_get_backend(a));
  else if (ok && o->json)
    print_remote_json(ivl_answerer_get_remote_answer(a), ivl_answerer_get_backend(a));
  if (ok && o->logits_out)
    ok = write_logits(session, o->logits_out, error);
  ivl_answerer_free(a);
  return ok;
}

int ivl_cmd_run(int argc, char **argv)
{
  run_options o = {0};
  ivl_cli_generation_options_init(&o.gen);
  ivl_cli_media_options_init(&o.media);
  const GOptionEntry entries[] = {
      {"system", 0, 0, G_OPTION_ARG_STRING, &o.system, N_("System message (default: the model's)"),
       "TEXT"},
      {"json", 0, 0, G_OPTION_ARG_NONE, &o.json,
       N_("Print prompt ids, generated ids, text and timings as JSON"), NULL},
      {"logits-out", 0, 0, G_OPTION_ARG_FILENAME, &o.logits_out,
       N_("Write the last prompt position's logits as raw float32"), "FILE"},
      {NULL},
  };
  g_autoptr(GOptionContext) ctx = g_option_context_new(_("QUESTION"));
  g_option_context_set_summary(ctx, _("Answer one question about images, a video or "
                                      "nothing, streaming the answer."));
  ivl_cli_add_model_options(ctx, &o.model);
  ivl_cli_add_remote_options(ctx, &o.remote);
  ivl_cli_add_media_options(ctx, &o.media);
  ivl_cli_add_generation_options(ctx, &o.gen);
  g_option_context_add_main_entries(ctx, entries, GETTEXT_PACKAGE);
  gboolean parsed = ivl_cli_parse(ctx, &argc, &argv);
  if (!parsed || argc != 2) {
    if (parsed)
      fprintf(stderr, "ivl run: %s\n", _("give exactly one QUESTION"));
    run_options_clear(&o);
    return 2;
  }
  g_autoptr(GError) error = NULL;
  gboolean ok = run(&o, argv[1], &error);
  if (!ok)
    fprintf(stderr, "ivl run: %s\n", error->message);
  run_options_clear(&o);
  return ok ? 0 : 1;
}
