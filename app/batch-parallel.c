/* batch-parallel.c — see batch-parallel.h.
 *
 * Lines are admitted into the batch in input order while it has room (--parallel, and the
 * memory of their KV caches: a line that does not fit beside the running ones waits for
 * them), and answered lines are printed as soon as every line before them is. Each line is a
 * fresh conversation, so its greedy answer is the one `ivl batch --parallel 1` or `ivl run`
 * gives.
 */
#include "ivl-config.h"

#include "batch-parallel.h"

#include <glib/gi18n.h>
#include <stdio.h>

#include "batch-line.h"
#include "batch-output.h"
#include "cmd-common.h"

typedef struct {
  char *label;
  const char *line;
  char *question, *image; /* parsed */
  ivl_session *session;
  char *answer;
  GError *error;
  gboolean done;
} line_job;

typedef struct {
  ivl_model *model;
  const char *system;
  int max_num;
  const ivl_generation_params *gp;
  ivl_batch *batch;
} run_state;

static void job_free(line_job *j)
{
  g_free(j->label);
  g_free(j->question);
  g_free(j->image);
  ivl_session_free(j->session);
  g_free(j->answer);
  g_clear_error(&j->error);
  g_free(j);
}

static void job_fail(line_job *j, GError *error)
{
  g_prefix_error(&error, "%s: ", j->label);
  j->error = error;
  j->done = TRUE;
}

static void on_done(ivl_session *session, const char *answer, const GError *error, void *user_data)
{
  line_job *j = user_data;
  if (error) {
    job_fail(j, g_error_copy(error));
    return;
  }
  j->answer = g_strdup(answer);
  j->done = TRUE;
  ivl_cli_note_context_full(j->label, session);
}

/* Puts the line into the batch, or ends it with its error; FALSE when it must wait for room. */
static gboolean admit(run_state *st, line_job *j)
{
  GError *error = NULL;
  if (!j->question && !ivl_batch_line_parse(j->line, j->label, &j->question, &j->image, &error)) {
    j->error = error; /* the parser names the line already */
    j->done = TRUE;
    return TRUE;
  }
  ivl_media *media = NULL;
  if (j->image) {
    ivl_image_params ip = ivl_image_default_params();
    ip.max_num = st->max_num;
    if (!(media = ivl_media_from_image_file(j->image, &ip, &error))) {
      job_fail(j, error);
      return TRUE;
    }
  }
  if (!j->session && !(j->session = ivl_session_new(st->model, st->system, &error))) {
    job_fail(j, error);
    return TRUE;
  }
  /* the batch keeps the image's rows, not the media */
  gboolean added = ivl_batch_add(st->batch, j->session, j->question, &media, media ? 1 : 0,
                                 IVL_IMAGES_COMBINED, st->gp, NULL, on_done, j, NULL, &error);
  ivl_media_free(media);
  if (added)
    return TRUE;
  if (g_error_matches(error, IVL_ERROR, IVL_ERROR_OUT_OF_MEMORY) &&
      ivl_batch_get_n_asks(st->batch) > 0) {
    g_error_free(error); /* room comes back as the running lines end */
    return FALSE;
  }
  job_fail(j, error);
  return TRUE;
}

gboolean ivl_batch_run_parallel(ivl_model *model, const char *system, const char *path,
                                char **lines, int max_num, const ivl_generation_params *gp,
                                int parallel, int *n_failed, GError **error)
{
  g_autoptr(GPtrArray) jobs = g_ptr_array_new_with_free_func((GDestroyNotify)job_free);
  for (int i = 0; lines[i]; i++) {
    if (!*g_strstrip(lines[i]))
      continue;
    line_job *j = g_new0(line_job, 1);
    j->label = g_strdup_printf("%s:%d", path, i + 1);
    j->line = lines[i];
    g_ptr_array_add(jobs, j);
  }
  run_state st = {model, system, max_num, gp, ivl_batch_new(model, 0, error)};
  if (!st.batch)
    return FALSE;
  gboolean ok = TRUE;
  guint next_add = 0, next_print = 0;
  while (ok && next_print < jobs->len) {
    while (next_add < jobs->len && (parallel <= 0 || ivl_batch_get_n_asks(st.batch) < parallel) &&
           ivl_batch_get_room(st.batch, 1) > 0 && admit(&st, g_ptr_array_index(jobs, next_add)))
      next_add++;
    for (; next_print < jobs->len; next_print++) {
      line_job *j = g_ptr_array_index(jobs, next_print);
      if (!j->done)
        break;
      ok = ivl_batch_output_print(j->image, j->question, j->answer,
                                  j->error ? j->error->message : NULL, error);
      if (!ok)
        break;
      if (j->error) {
        fprintf(stderr, "ivl batch: %s\n", j->error->message);
        (*n_failed)++;
      }
      g_clear_pointer(&j->session, ivl_session_free);
    }
    /* a failed step ends its lines with the error, each reported on its own line */
    if (ok && ivl_batch_get_n_asks(st.batch) > 0)
      ivl_batch_step(st.batch, NULL);
  }
  ivl_batch_free(st.batch);
  return ok;
}
