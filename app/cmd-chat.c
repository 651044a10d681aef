/* cmd-chat.c — `ivl chat`: an interactive conversation on the terminal. Lines are
 * questions; /image PATH and /video PATH attach media to the next question, /reset starts
 * over, /quit (or end of input) leaves. Ctrl-C stops the answer being generated.
 *
 * Attached media go through the vision encoder on a thread of their own while the question
 * is typed (ivl_model_encode_ahead), so the answer's first token waits only for the
 * prefill. The main thread leaves the model alone until that thread is joined. With
 * --server the server does all that: the media go to it with the question. */
#include "ivl-config.h"

#include <glib/gi18n.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "answerer.h"
#include "cmd-common.h"
#include "commands.h"

typedef struct {
  ivl_answerer *answerer;
  ivl_model *model;         /* the answerer's local model, or NULL */
  GPtrArray *pending;       /* ivl_media* for the next question */
  GPtrArray *pending_paths; /* their files */
  ivl_cli_media_options *media_opts;
  ivl_generation_params gen;
  GThreadPool *encoder;      /* one thread encoding pending media in turn; NULL when idle */
  GCancellable *encode_stop; /* stops it at /reset */
} chat_state;

static void encode_ahead(gpointer media, gpointer user_data)
{
  chat_state *st = user_data;
  g_autoptr(GError) error = NULL;
  /* A failure is not reported here: the ask encodes the media again and reports its own. */
  if (!ivl_model_encode_ahead(st->model, media, st->encode_stop, &error))
    g_debug("ivl chat: encoding ahead: %s", error->message);
}

/* Waits for the media being encoded ahead; with stop, cancels them first. */
static void join_encoder(chat_state *st, gboolean stop)
{
  if (!st->encoder)
    return;
  if (stop)
    g_cancellable_cancel(st->encode_stop);
  g_thread_pool_free(g_steal_pointer(&st->encoder), FALSE, TRUE);
  g_cancellable_reset(st->encode_stop);
}

static void attach(chat_state *st, const char *path, gboolean video)
{
  g_autoptr(GError) error = NULL;
  ivl_media *m;
  if (video) {
    ivl_video_params vp = ivl_video_default_params();
    vp.n_segments = st->media_opts->segments;
    m = ivl_media_from_video_file(path, &vp, &error);
  } else {
    ivl_image_params ip = ivl_image_default_params();
    ip.max_num = st->media_opts->max_num;
    m = ivl_media_from_image_file(path, &ip, &error);
  }
  if (!m) {
    fprintf(stderr, "%s\n", error->message);
    return;
  }
  g_ptr_array_add(st->pending, m);
  g_ptr_array_add(st->pending_paths, g_strdup(path));
  if (!st->model) {
    /* The server cuts images into tiles its own way: our count would not be its. */
    fprintf(stderr, "%s\n", _("(attached to the next question)"));
    return;
  }
  fprintf(stderr, _("(%d tiles attached to the next question)\n"), ivl_media_get_n_tiles(m));
  if (!st->encoder)
    st->encoder = g_thread_pool_new(encode_ahead, st, 1, TRUE, NULL);
  /* An exclusive pool of one thread cannot fail to take the job. */
  g_thread_pool_push(st->encoder, m, NULL);
}

static void ask(chat_state *st, const char *question)
{
  g_autoptr(GError) error = NULL;
  join_encoder(st, FALSE);
  ivl_cli_catch_interrupt();
  g_autofree char *answer = ivl_answerer_ask(
      st->answerer, question, (ivl_media *const *)st->pending->pdata,
      (const char *const *)st->pending_paths->pdata, (int)st->pending->len,
      ivl_cli_media_layout(st->media_opts), &st->gen, ivl_cli_print_piece, NULL, &error);
  printf("\n");
  ivl_cli_flush_stdout();
  if (!answer) {
    fprintf(stderr, "%s\n", error->message);
    /* The media go with the failed question: their rows would wait for nothing. */
    for (guint i = 0; st->model && i < st->pending->len; i++)
      ivl_model_forget_encoded(st->model, st->pending->pdata[i]);
  } else
    ivl_answerer_note_cut(st->answerer, "ivl chat");
  if (st->model) {
    ivl_generation_stats gs;
    ivl_session_get_stats(ivl_answerer_get_session(st->answerer), &gs);
    g_debug("ivl chat: %d of %d tiles encoded ahead, %.0f ms of vision in the ask",
            gs.n_cached_tiles, gs.n_image_tiles, gs.vision_ms);
  }
  g_ptr_array_set_size(st->pending, 0);
  g_ptr_array_set_size(st->pending_paths, 0);
}

/* Returns FALSE on /quit. */
static gboolean handle_line(chat_state *st, const char *line)
{
  if (g_str_equal(line, "/quit"))
    return FALSE;
  if (g_str_equal(line, "/reset")) {
    join_encoder(st, TRUE);
    for (guint i = 0; st->model && i < st->pending->len; i++)
      ivl_model_forget_encoded(st->model, st->pending->pdata[i]);
    ivl_answerer_reset(st->answerer);
    g_ptr_array_set_size(st->pending, 0);
    g_ptr_array_set_size(st->pending_paths, 0);
    fprintf(stderr, "%s\n", _("(conversation reset)"));
  } else if (g_str_has_prefix(line, "/image ")) {
    attach(st, g_strstrip((char *)line + 7), FALSE);
  } else if (g_str_has_prefix(line, "/video ")) {
    attach(st, g_strstrip((char *)line + 7), TRUE);
  } else if (line[0] == '/') {
    fprintf(stderr, "%s\n", _("commands: /image PATH, /video PATH, /reset, /quit"));
  } else if (*line) {
    ask(st, line);
  }
  return TRUE;
}

/* A question longer than this is refused rather than held: 1 MiB is far past any context. */
#define MAX_LINE (1 << 20)

/* Reads one whole line of any length into line (without its end); FALSE at end of input.
 * *too_long is set when the line was longer than MAX_LINE (its rest is skipped). */
static gboolean read_line(GString *line, gboolean *too_long)
{
  char buf[8192];
  g_string_truncate(line, 0);
  *too_long = FALSE;
  gboolean any = FALSE;
  while (fgets(buf, sizeof buf, stdin)) {
    any = TRUE;
    gsize n = strlen(buf);
    gboolean end = n > 0 && buf[n - 1] == '\n';
    if (!*too_long && line->len + n <= MAX_LINE)
      g_string_append_len(line, buf, (gssize)n);
    else
      *too_long = TRUE;
    if (end)
      break;
  }
  if (*too_long)
    g_string_truncate(line, 0);
  g_string_truncate(line, strcspn(line->str, "\r\n"));
  return any;
}

static void chat_loop(chat_state *st)
{
  gboolean tty = isatty(STDIN_FILENO);
  g_autoptr(GString) line = g_string_new(NULL);
  gboolean too_long;
  if (tty)
    fprintf(stderr, "%s\n", _("Ask a question; /image PATH, /video PATH, /reset, /quit."));
  for (;;) {
    if (tty) {
      fputs("> ", stderr);
      fflush(stderr);
    }
    if (!read_line(line, &too_long))
      break;
    if (too_long)
      fprintf(stderr, _("(a line longer than %d bytes was skipped)\n"), MAX_LINE);
    else if (!handle_line(st, line->str))
      break;
  }
}

int ivl_cmd_chat(int argc, char **argv)
{
  ivl_cli_model_options mo = {0};
  ivl_cli_remote_options ro = {0};
  ivl_cli_generation_options go;
  ivl_cli_media_options media;
  char *system = NULL;
  ivl_cli_generation_options_init(&go);
  ivl_cli_media_options_init(&media);
  const GOptionEntry entries[] = {
      {"system", 0, 0, G_OPTION_ARG_STRING, &system, N_("System message (default: the model's)"),
       "TEXT"},
      {NULL},
  };
  g_autoptr(GOptionContext) ctx = g_option_context_new(NULL);
  g_option_context_set_summary(ctx, _("Talk with a model on the terminal."));
  ivl_cli_add_model_options(ctx, &mo);
  ivl_cli_add_remote_options(ctx, &ro);
  ivl_cli_add_media_options(ctx, &media);
  ivl_cli_add_generation_options(ctx, &go);
  g_option_context_add_main_entries(ctx, entries, GETTEXT_PACKAGE);
  int status = 2;
  chat_state st = {.media_opts = &media};
  g_autoptr(GError) error = NULL;
  if (!ivl_cli_parse(ctx, &argc, &argv))
    goto out;
  status = 1;
  if (!ivl_cli_generation_params(&go, &st.gen, &error) ||
      !(st.answerer = ivl_answerer_open(&mo, &ro, system, &error))) {
    fprintf(stderr, "ivl chat: %s\n", error->message);
    goto out;
  }
  st.pending = g_ptr_array_new_with_free_func((GDestroyNotify)ivl_media_free);
  st.pending_paths = g_ptr_array_new_with_free_func(g_free);
  st.model = ivl_answerer_get_model(st.answerer);
  st.encode_stop = g_cancellable_new();
  chat_loop(&st);
  join_encoder(&st, TRUE);
  status = 0;
out:
  g_clear_object(&st.encode_stop);
  if (st.pending)
    g_ptr_array_unref(st.pending);
  if (st.pending_paths)
    g_ptr_array_unref(st.pending_paths);
  ivl_answerer_free(st.answerer);
  ivl_cli_model_options_clear(&mo);
  ivl_cli_remote_options_clear(&ro);
  ivl_cli_media_options_clear(&media);
  g_free(system);
  return status;
}
