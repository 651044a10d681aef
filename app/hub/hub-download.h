/* hub-download.h — a whole repo into a folder: resolve the revision to one commit, list its
 * files, check the free space, then fetch a few files in parallel (hub-fetch.h) with one
 * aggregated progress report on the caller's main context. Cancelling keeps the partial
 * files; the next run resumes them and skips what is complete. */
#ifndef IVL_HUB_DOWNLOAD_H
#define IVL_HUB_DOWNLOAD_H

#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct {
  const char *repo_id;  /* "OpenGVLab/InternVL3-1B" */
  const char *revision; /* branch, tag or commit; NULL = "main" */
  const char *dir;      /* the model folder; created when missing */
  guint n_parallel;     /* files fetched at once; 0 = 3 */
  /* Free bytes of the file system holding dir; NULL = filesystem::free of
   * g_file_query_filesystem_info. Lets tests pretend a full disk. */
  gboolean (*free_space)(const char *dir, guint64 *free_bytes, GError **error);
} IvlHubDownloadOptions;

typedef enum {
  IVL_HUB_PHASE_LISTING,     /* resolving the revision, reading the file list */
  IVL_HUB_PHASE_DOWNLOADING, /* fetching and verifying files */
  IVL_HUB_PHASE_DONE,        /* the last report: every file in place */
} IvlHubPhase;

typedef struct {
  IvlHubPhase phase;
  const char *commit; /* NULL until resolved */
  guint64 done;       /* bytes on disk, partial files included */
  guint64 total;      /* bytes of the whole repo; 0 until listed */
  guint files_done, files_total;
  double rate;  /* bytes per second over the last few seconds; 0 = not yet known */
  double eta_s; /* seconds left at that rate; < 0 = not yet known */
} IvlHubProgress;

/* Called on the main context that was the thread default when the download started,
 * about four times a second and once at the end. progress is valid during the call only. */
typedef void (*IvlHubProgressFunc)(const IvlHubProgress *progress, gpointer user_data);

/* Starts the download; callback runs on the caller's thread-default main context.
 * options and its strings are copied. */
void ivl_hub_download_async(const IvlHubDownloadOptions *options, IvlHubProgressFunc progress,
                            gpointer progress_data, GCancellable *cancellable,
                            GAsyncReadyCallback callback, gpointer user_data);

/* The commit that was downloaded (caller frees), or NULL with the error: IVL_ERROR_CANCELLED
 * (partial files kept for a resume), IO (offline, disk full: the message says how much is
 * missing), NOT_FOUND, INVALID_ARGUMENT (gated or private repo: the message says how to set
 * a token), CORRUPT (an unsafe listing, a file that arrived wrong twice). */
char *ivl_hub_download_finish(GAsyncResult *result, GError **error);

/* The same, blocking: runs a private main context for the progress reports. */
char *ivl_hub_download_sync(const IvlHubDownloadOptions *options, IvlHubProgressFunc progress,
                            gpointer progress_data, GCancellable *cancellable, GError **error);

G_END_DECLS

#endif /* IVL_HUB_DOWNLOAD_H */
