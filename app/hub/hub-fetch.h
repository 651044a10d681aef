/* hub-fetch.h — one file of a repo onto disk: resumed from <file>.incomplete with a Range
 * request, verified (size, then sha256 for LFS files or the git blob id for others) and
 * only then renamed into place, with the official client's per-file metadata beside it. */
#ifndef IVL_HUB_FETCH_H
#define IVL_HUB_FETCH_H

#include "hub-client.h"

G_BEGIN_DECLS

typedef struct {
  const IvlHubClient *client;
  const char *repo_id;
  const char *commit;
  const char *dir;   /* the model folder the repo's paths are joined to */
  gint64 *bytes_done; /* atomic: bytes of every file on disk, partial ones included */
} IvlHubFetch;

/* Downloads file unless it is already complete. On a cancel or a failure a partial
 * <file>.incomplete is kept for the next run, except when its content proved wrong.
 * Errors: those of ivl_hub_client_send, CORRUPT (the bytes differ from the listing twice),
 * IO (disk), CANCELLED. */
gboolean ivl_hub_fetch_file(const IvlHubFetch *fetch, SoupSession *session,
                            const IvlHubFile *file, GCancellable *cancellable, GError **error);

/* Whether dir/path is complete: it has the listing's size and its metadata file names the
 * listing's etag (sha256 for LFS files, else the blob id). */
gboolean ivl_hub_file_is_complete(const char *dir, const IvlHubFile *file);

/* Bytes of dir/path.incomplete (0 when absent). */
guint64 ivl_hub_file_partial_size(const char *dir, const IvlHubFile *file);

G_END_DECLS

#endif /* IVL_HUB_FETCH_H */
