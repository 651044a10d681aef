/* hub-download.c — a repo into a folder: plan, space check, parallel fetch, progress. */
#include "hub-download.h"

#include <errno.h>
#include <glib/gi18n.h>
#include <glib/gstdio.h>

#include "hub-client.h"
#include "hub-fetch.h"
#include "ivl.h"

#define DEFAULT_PARALLEL 3
#define PROGRESS_INTERVAL_MS 250
#define RATE_SAMPLES 20 /* the rate is measured over the last 5 s */

typedef struct {
  IvlHubClient *client;
  char *repo_id, *revision, *dir;
  guint n_parallel;
  gboolean (*free_space)(const char *dir, guint64 *free_bytes, GError **error);

  /* Cancelled by the caller's cancellable or by the first failing file, so that the other
   * workers stop too. */
  GCancellable *cancel;
  GCancellable *user_cancel;
  gulong user_cancel_handler;

  /* Shared with the worker threads. */
  GMutex lock;
  char *commit;       /* under lock */
  GError *first_error; /* under lock */
  GPtrArray *files;   /* IvlHubFile*, written before the workers start */
  guint n_parallel_files; /* files[0..n) go to the workers; config.json, if any, after */
  gint64 bytes_done;  /* atomic */
  gint64 total;       /* atomic */
  gint files_done, files_total, phase, next_file; /* atomic */

  /* The caller's main context side. */
  GSource *timer;
  IvlHubProgressFunc progress;
  gpointer progress_data;
  gint64 sample_time[RATE_SAMPLES], sample_bytes[RATE_SAMPLES];
  guint n_samples;
  GAsyncReadyCallback callback;
  gpointer user_data;
} download_job;

static void job_free(gpointer data)
{
  download_job *job = data;
  if (job->user_cancel)
    g_cancellable_disconnect(job->user_cancel, job->user_cancel_handler);
  g_clear_object(&job->user_cancel);
  g_clear_object(&job->cancel);
  if (job->timer) {
    g_source_destroy(job->timer);
    g_source_unref(job->timer);
  }
  ivl_hub_client_free(job->client);
  g_free(job->repo_id);
  g_free(job->revision);
  g_free(job->dir);
  g_free(job->commit);
  g_clear_error(&job->first_error);
  g_clear_pointer(&job->files, g_ptr_array_unref);
  g_mutex_clear(&job->lock);
  g_free(job);
}

static gboolean query_free_space(const char *dir, guint64 *free_bytes, GError **error)
{
  g_autoptr(GFile) file = g_file_new_for_path(dir);
  g_autoptr(GFileInfo) info =
      g_file_query_filesystem_info(file, G_FILE_ATTRIBUTE_FILESYSTEM_FREE, NULL, error);
  if (!info)
    return FALSE;
  /* A file system that cannot tell (some network mounts) is not refused. */
  *free_bytes = g_file_info_has_attribute(info, G_FILE_ATTRIBUTE_FILESYSTEM_FREE)
                    ? g_file_info_get_attribute_uint64(info, G_FILE_ATTRIBUTE_FILESYSTEM_FREE)
                    : G_MAXUINT64;
  return TRUE;
}

/* Counts what is on disk already and refuses to start when the rest does not fit. */
static gboolean plan(download_job *job, GError **error)
{
  guint64 total = 0, done = 0;
  for (guint i = 0; i < job->files->len; i++) {
    const IvlHubFile *f = g_ptr_array_index(job->files, i);
    total += f->size;
    if (ivl_hub_file_is_complete(job->dir, f))
      done += f->size;
    else
      done += MIN(ivl_hub_file_partial_size(job->dir, f), f->size);
  }
  __atomic_store_n(&job->total, (gint64)total, __ATOMIC_RELAXED);
  __atomic_store_n(&job->bytes_done, (gint64)done, __ATOMIC_RELAXED);
  g_atomic_int_set(&job->files_total, job->files->len);
  /* files_done counts up as the workers pass each file, complete ones at once. */

  guint64 needed = total - done, free_bytes = 0;
  g_autoptr(GError) local = NULL;
  if (!(job->free_space ? job->free_space : query_free_space)(job->dir, &free_bytes, &local)) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_IO, _("Cannot tell the free space of %s: %s"),
                job->dir, local ? local->message : "?");
    return FALSE;
  }
  if (needed > free_bytes) {
    g_autofree char *need = g_format_size(needed);
    g_autofree char *have = g_format_size(free_bytes);
    g_autofree char *missing = g_format_size(needed - free_bytes);
    g_set_error(error, IVL_ERROR, IVL_ERROR_IO,
                _("Not enough free space in %s: the download needs %s more, but only %s is "
                  "free. Free %s there, or choose another folder, then download again."),
                job->dir, need, have, missing);
    return FALSE;
  }
  return TRUE;
}

static gpointer worker(gpointer data)
{
  download_job *job = data;
  g_autoptr(SoupSession) session = ivl_hub_client_new_session(job->client);
  g_mutex_lock(&job->lock);
  IvlHubFetch fetch = {job->client, job->repo_id, job->commit, job->dir, &job->bytes_done};
  g_mutex_unlock(&job->lock);
  for (;;) {
    guint i = g_atomic_int_add(&job->next_file, 1);
    if (i >= job->n_parallel_files)
      break;
    g_autoptr(GError) error = NULL;
    if (!ivl_hub_fetch_file(&fetch, session, g_ptr_array_index(job->files, i), job->cancel,
                            &error)) {
      g_mutex_lock(&job->lock);
      if (!job->first_error)
        job->first_error = g_steal_pointer(&error);
      g_mutex_unlock(&job->lock);
      g_cancellable_cancel(job->cancel);
      break;
    }
    g_atomic_int_inc(&job->files_done);
  }
  return NULL;
}

/* config.json goes last, alone: a model folder counts as a model once it holds config.json
 * (model-path.h), so a paused download must never look installed. */
static void put_config_last(download_job *job)
{
  job->n_parallel_files = job->files->len;
  for (guint i = 0; i < job->files->len; i++) {
    IvlHubFile *f = g_ptr_array_index(job->files, i);
    if (g_strcmp0(f->path, "config.json") == 0) {
      g_ptr_array_steal_index(job->files, i);
      g_ptr_array_add(job->files, f);
      job->n_parallel_files--;
      return;
    }
  }
}

static gboolean fetch_all(download_job *job, GError **error)
{
  put_config_last(job);
  guint n = MIN(job->n_parallel, MAX(job->n_parallel_files, 1));
  g_autoptr(GPtrArray) threads = g_ptr_array_new();
  for (guint i = 0; i < n; i++)
    g_ptr_array_add(threads, g_thread_new("ivl-hub-fetch", worker, job));
  for (guint i = 0; i < n; i++)
    g_thread_join(g_ptr_array_index(threads, i));
  if (!job->first_error && job->n_parallel_files < job->files->len &&
      !g_cancellable_is_cancelled(job->cancel)) {
    g_atomic_int_set(&job->next_file, job->n_parallel_files);
    job->n_parallel_files = job->files->len;
    worker(job);
  }
  if (g_cancellable_is_cancelled(job->user_cancel)) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_CANCELLED,
                _("Download paused. The partial files are kept in %s; run the same download "
                  "again to resume."),
                job->dir);
    return FALSE;
  }
  if (job->first_error) {
    g_propagate_error(error, g_steal_pointer(&job->first_error));
    return FALSE;
  }
  return TRUE;
}

static void download_thread(GTask *task, gpointer source, gpointer data, GCancellable *c)
{
  (void)source;
  (void)c;
  download_job *job = data;
  GError *error = NULL;
  g_autoptr(SoupSession) session = ivl_hub_client_new_session(job->client);
  char *commit = ivl_hub_client_resolve_commit(job->client, session, job->repo_id,
                                               job->revision, job->cancel, &error);
  if (!commit) {
    g_task_return_error(task, error);
    return;
  }
  g_mutex_lock(&job->lock);
  job->commit = commit;
  g_mutex_unlock(&job->lock);
  job->files = ivl_hub_client_list_files(job->client, session, job->repo_id, commit,
                                         job->cancel, &error);
  if (!job->files) {
    g_task_return_error(task, error);
    return;
  }
  if (g_mkdir_with_parents(job->dir, 0755) != 0) {
    g_task_return_new_error(task, IVL_ERROR, IVL_ERROR_IO, _("Cannot create %s: %s"), job->dir,
                            g_strerror(errno));
    return;
  }
  if (!plan(job, &error)) {
    g_rmdir(job->dir); /* only if empty: a refused first download leaves no trace */
    g_task_return_error(task, error);
    return;
  }
  g_atomic_int_set(&job->phase, IVL_HUB_PHASE_DOWNLOADING);
  if (!fetch_all(job, &error)) {
    g_task_return_error(task, error);
    return;
  }
  g_task_return_pointer(task, g_strdup(commit), g_free);
}

static void report(download_job *job, IvlHubPhase phase)
{
  if (!job->progress)
    return;
  gint64 now = g_get_monotonic_time();
  IvlHubProgress p = {
      .phase = phase,
      .done = (guint64)__atomic_load_n(&job->bytes_done, __ATOMIC_RELAXED),
      .total = (guint64)__atomic_load_n(&job->total, __ATOMIC_RELAXED),
      .files_done = g_atomic_int_get(&job->files_done),
      .files_total = g_atomic_int_get(&job->files_total),
      .eta_s = -1,
  };
  g_mutex_lock(&job->lock);
  g_autofree char *commit = g_strdup(job->commit);
  g_mutex_unlock(&job->lock);
  p.commit = commit;
  guint slot = job->n_samples % RATE_SAMPLES;
  guint oldest = job->n_samples >= RATE_SAMPLES ? slot : 0;
  if (job->n_samples > 0 && phase != IVL_HUB_PHASE_LISTING) {
    double dt = (now - job->sample_time[oldest]) / 1e6;
    gint64 db = (gint64)p.done - job->sample_bytes[oldest];
    if (dt > 0.5 && db >= 0)
      p.rate = db / dt;
    if (p.rate > 0)
      p.eta_s = (p.total - MIN(p.done, p.total)) / p.rate;
  }
  /* Samples start with the download proper, so the resumed head start is not a rate. */
  if (phase == IVL_HUB_PHASE_DOWNLOADING) {
    job->sample_time[slot] = now;
    job->sample_bytes[slot] = (gint64)p.done;
    job->n_samples++;
  }
  job->progress(&p, job->progress_data);
}

static gboolean on_timer(gpointer data)
{
  download_job *job = data;
  report(job, g_atomic_int_get(&job->phase));
  return G_SOURCE_CONTINUE;
}

static void on_task_done(GObject *source, GAsyncResult *result, gpointer data)
{
  download_job *job = data;
  g_source_destroy(job->timer);
  if (!g_task_had_error(G_TASK(result)))
    report(job, IVL_HUB_PHASE_DONE);
  job->callback(source, result, job->user_data);
}

static void on_user_cancel(GCancellable *user, gpointer data)
{
  (void)user;
  g_cancellable_cancel(G_CANCELLABLE(data));
}

void ivl_hub_download_async(const IvlHubDownloadOptions *options, IvlHubProgressFunc progress,
                            gpointer progress_data, GCancellable *cancellable,
                            GAsyncReadyCallback callback, gpointer user_data)
{
  download_job *job = g_new0(download_job, 1);
  g_mutex_init(&job->lock);
  job->client = ivl_hub_client_new();
  job->repo_id = g_strdup(options->repo_id);
  job->revision = g_strdup(options->revision ? options->revision : "main");
  job->dir = g_strdup(options->dir);
  job->n_parallel = options->n_parallel ? options->n_parallel : DEFAULT_PARALLEL;
  job->free_space = options->free_space;
  job->cancel = g_cancellable_new();
  job->user_cancel = cancellable ? g_object_ref(cancellable) : NULL;
  if (cancellable)
    job->user_cancel_handler =
        g_cancellable_connect(cancellable, G_CALLBACK(on_user_cancel), job->cancel, NULL);
  job->progress = progress;
  job->progress_data = progress_data;
  job->callback = callback;
  job->user_data = user_data;
  job->phase = IVL_HUB_PHASE_LISTING;

  g_autoptr(GTask) task = g_task_new(NULL, cancellable, on_task_done, job);
  g_task_set_source_tag(task, ivl_hub_download_async);
  g_task_set_task_data(task, job, job_free);
  /* The worker checks the cancellable itself and reports CANCELLED with its own message. */
  g_task_set_check_cancellable(task, FALSE);
  job->timer = g_timeout_source_new(PROGRESS_INTERVAL_MS);
  g_source_set_callback(job->timer, on_timer, job, NULL);
  g_source_attach(job->timer, g_main_context_get_thread_default());
  g_task_run_in_thread(task, download_thread);
}

char *ivl_hub_download_finish(GAsyncResult *result, GError **error)
{
  g_return_val_if_fail(g_task_is_valid(result, NULL), NULL);
  return g_task_propagate_pointer(G_TASK(result), error);
}

typedef struct {
  GAsyncResult *result;
} sync_state;

static void on_sync_done(GObject *source, GAsyncResult *result, gpointer data)
{
  (void)source;
  ((sync_state *)data)->result = g_object_ref(result);
}

char *ivl_hub_download_sync(const IvlHubDownloadOptions *options, IvlHubProgressFunc progress,
                            gpointer progress_data, GCancellable *cancellable, GError **error)
{
  GMainContext *context = g_main_context_new();
  g_main_context_push_thread_default(context);
  sync_state state = {NULL};
  ivl_hub_download_async(options, progress, progress_data, cancellable, on_sync_done, &state);
  while (!state.result)
    g_main_context_iteration(context, TRUE);
  char *commit = ivl_hub_download_finish(state.result, error);
  g_object_unref(state.result);
  g_main_context_pop_thread_default(context);
  g_main_context_unref(context);
  return commit;
}
