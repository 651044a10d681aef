/* hub-fetch.c — resumable, verified download of one file. */
#include "hub-fetch.h"

#include <errno.h>
#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <string.h>

#include "file-io.h"
#include "ivl.h"

#define CHUNK (256 * 1024)

typedef enum { FETCH_DONE, FETCH_RETRY, FETCH_MISMATCH, FETCH_FAIL } fetch_result;

static const char *file_etag(const IvlHubFile *file)
{
  return file->sha256 ? file->sha256 : file->oid;
}

static char *metadata_path(const char *dir, const IvlHubFile *file)
{
  g_autofree char *name = g_strconcat(file->path, ".metadata", NULL);
  return g_build_filename(dir, ".cache", "huggingface", "download", name, NULL);
}

static guint64 file_size(const char *path)
{
  GStatBuf st;
  return g_stat(path, &st) == 0 ? (guint64)st.st_size : 0;
}

guint64 ivl_hub_file_partial_size(const char *dir, const IvlHubFile *file)
{
  g_autofree char *part = g_strconcat(dir, "/", file->path, ".incomplete", NULL);
  return file_size(part);
}

gboolean ivl_hub_file_is_complete(const char *dir, const IvlHubFile *file)
{
  g_autofree char *target = g_build_filename(dir, file->path, NULL);
  g_autofree char *meta = metadata_path(dir, file);
  g_autofree char *text = NULL;
  if (!g_file_test(target, G_FILE_TEST_IS_REGULAR) || file_size(target) != file->size ||
      !ivl_file_read(meta, 65536, &text, NULL, NULL))
    return FALSE;
  /* The official client's format: commit, etag, unix time, one per line. */
  g_auto(GStrv) lines = g_strsplit(text, "\n", 4);
  return lines[0] && lines[1] && g_strcmp0(g_strstrip(lines[1]), file_etag(file)) == 0;
}

static gboolean write_metadata(const IvlHubFetch *fetch, const IvlHubFile *file, GError **error)
{
  g_autofree char *meta = metadata_path(fetch->dir, file);
  g_autofree char *parent = g_path_get_dirname(meta);
  g_autofree char *text = g_strdup_printf("%s\n%s\n%" G_GINT64_FORMAT "\n", fetch->commit,
                                          file_etag(file), g_get_real_time() / G_USEC_PER_SEC);
  if (g_mkdir_with_parents(parent, 0755) != 0 || !g_file_set_contents(meta, text, -1, error)) {
    if (error && !*error)
      g_set_error(error, IVL_ERROR, IVL_ERROR_IO, _("Cannot create %s: %s"), parent,
                  g_strerror(errno));
    return FALSE;
  }
  return TRUE;
}

/* The content check: sha256 for LFS files; for plain git files the blob id, which is
 * sha1("blob <size>\0" + content) (spec/HUB.md, "Endpoints"). */
static fetch_result verify(const char *part, const IvlHubFile *file, GCancellable *cancellable,
                           GError **error)
{
  if (file_size(part) != file->size)
    return FETCH_MISMATCH;
  gboolean blob = !file->sha256;
  if (blob && strlen(file->oid) != 40)
    return FETCH_DONE; /* nothing to check against beyond the size */
  g_autoptr(GChecksum) sum = g_checksum_new(blob ? G_CHECKSUM_SHA1 : G_CHECKSUM_SHA256);
  if (blob) {
    g_autofree char *header = g_strdup_printf("blob %" G_GUINT64_FORMAT, file->size);
    g_checksum_update(sum, (const guchar *)header, strlen(header) + 1);
  }
  g_autoptr(GFile) gf = g_file_new_for_path(part);
  g_autoptr(GFileInputStream) in = g_file_read(gf, cancellable, error);
  if (!in)
    return FETCH_FAIL;
  g_autofree guchar *buf = g_malloc(CHUNK);
  for (;;) {
    gssize n = g_input_stream_read(G_INPUT_STREAM(in), buf, CHUNK, cancellable, error);
    if (n < 0)
      return FETCH_FAIL;
    if (n == 0)
      break;
    g_checksum_update(sum, buf, n);
  }
  const char *want = blob ? file->oid : file->sha256;
  return g_ascii_strcasecmp(g_checksum_get_string(sum), want) == 0 ? FETCH_DONE : FETCH_MISMATCH;
}

/* Copies the body to part (appending when append); FETCH_RETRY when it ends early. */
static fetch_result copy_body(const IvlHubFetch *fetch, GInputStream *in, const char *part,
                              gboolean append, guint64 offset, const IvlHubFile *file,
                              GCancellable *cancellable, GError **error)
{
  g_autoptr(GFile) gf = g_file_new_for_path(part);
  g_autoptr(GFileOutputStream) out =
      append ? g_file_append_to(gf, G_FILE_CREATE_NONE, cancellable, error)
             : g_file_replace(gf, NULL, FALSE, G_FILE_CREATE_NONE, cancellable, error);
  if (!out)
    return FETCH_FAIL;
  g_autofree guchar *buf = g_malloc(CHUNK);
  g_autoptr(GError) local = NULL;
  guint64 have = offset;
  fetch_result r = FETCH_DONE;
  for (;;) {
    gssize n = g_input_stream_read(in, buf, CHUNK, cancellable, &local);
    if (n < 0) {
      r = ivl_hub_error_is_transient(local) ? FETCH_RETRY : FETCH_FAIL;
      break;
    }
    if (n == 0)
      break;
    if (have + n > file->size) {
      r = FETCH_MISMATCH; /* longer than listed: wrong content */
      break;
    }
    if (!g_output_stream_write_all(G_OUTPUT_STREAM(out), buf, n, NULL, cancellable, &local)) {
      r = FETCH_FAIL;
      break;
    }
    have += n;
    __atomic_add_fetch(fetch->bytes_done, n, __ATOMIC_RELAXED);
  }
  /* Flushed even after a failure: what arrived intact is the next run's head start. */
  g_output_stream_close(G_OUTPUT_STREAM(out), NULL, local ? NULL : &local);
  if (r == FETCH_DONE && local)
    r = FETCH_FAIL;
  if (r == FETCH_FAIL) {
    g_propagate_error(error, g_steal_pointer(&local));
    return r;
  }
  if (r == FETCH_RETRY)
    g_debug("%s: %s; resuming", file->path, local->message);
  if (r == FETCH_DONE && have < file->size)
    r = FETCH_RETRY; /* a truncated body: resume from what we have */
  return r;
}

static void forget_partial(const IvlHubFetch *fetch, const char *part)
{
  __atomic_add_fetch(fetch->bytes_done, -(gint64)file_size(part), __ATOMIC_RELAXED);
  g_unlink(part);
}

static fetch_result fetch_attempt(const IvlHubFetch *fetch, SoupSession *session,
                                  const IvlHubFile *file, const char *part,
                                  GCancellable *cancellable, GError **error)
{
  guint64 offset = file_size(part);
  if (offset > file->size) {
    forget_partial(fetch, part);
    offset = 0;
  }
  if (offset == file->size && offset > 0)
    return verify(part, file, cancellable, error);
  g_autofree char *url = ivl_hub_client_file_url(fetch->client, fetch->repo_id, fetch->commit,
                                                 file->path);
  g_autoptr(SoupMessage) msg = NULL;
  g_autoptr(GInputStream) in = ivl_hub_client_send(fetch->client, session, "GET", url, offset,
                                                   file->path, &msg, cancellable, error);
  if (!in)
    return FETCH_FAIL;
  guint status = soup_message_get_status(msg);
  if (status == 416) /* the range starts at or past the end: the partial file may be whole */
    return verify(part, file, cancellable, error);
  gboolean append = FALSE;
  if (status == 206 && offset > 0) {
    goffset start = -1, end = -1, total = -1;
    soup_message_headers_get_content_range(soup_message_get_response_headers(msg), &start, &end,
                                           &total);
    if (start != (goffset)offset) {
      forget_partial(fetch, part);
      return FETCH_RETRY;
    }
    append = TRUE;
  } else if (offset > 0) {
    /* 200: the server ignored the range and sends the whole file; start over. */
    __atomic_add_fetch(fetch->bytes_done, -(gint64)offset, __ATOMIC_RELAXED);
    offset = 0;
  }
  fetch_result r = copy_body(fetch, in, part, append, offset, file, cancellable, error);
  return r == FETCH_DONE ? verify(part, file, cancellable, error) : r;
}

static void set_cancelled(GError **error)
{
  g_clear_error(error);
  g_set_error(error, IVL_ERROR, IVL_ERROR_CANCELLED, _("The download was cancelled."));
}

gboolean ivl_hub_fetch_file(const IvlHubFetch *fetch, SoupSession *session,
                            const IvlHubFile *file, GCancellable *cancellable, GError **error)
{
  if (ivl_hub_file_is_complete(fetch->dir, file))
    return TRUE;
  g_autofree char *target = g_build_filename(fetch->dir, file->path, NULL);
  g_autofree char *part = g_strconcat(target, ".incomplete", NULL);
  g_autofree char *parent = g_path_get_dirname(target);
  if (g_mkdir_with_parents(parent, 0755) != 0) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_IO, _("Cannot create %s: %s"), parent,
                g_strerror(errno));
    return FALSE;
  }
  gboolean mismatch_seen = FALSE;
  for (int attempt = 0;; attempt++) {
    g_autoptr(GError) local = NULL;
    fetch_result r = fetch_attempt(fetch, session, file, part, cancellable, &local);
    if (g_cancellable_is_cancelled(cancellable)) {
      set_cancelled(error);
      return FALSE;
    }
    if (r == FETCH_DONE)
      break;
    if (r == FETCH_FAIL) {
      g_propagate_error(error, g_steal_pointer(&local));
      return FALSE;
    }
    if (r == FETCH_MISMATCH) {
      forget_partial(fetch, part);
      if (mismatch_seen) {
        g_set_error(error, IVL_ERROR, IVL_ERROR_CORRUPT,
                    _("%s arrived twice with content that differs from the repository's "
                      "listing (size or checksum); it was deleted. Try again later, or use "
                      "another mirror (HF_ENDPOINT)."),
                    file->path);
        return FALSE;
      }
      mismatch_seen = TRUE;
      continue;
    }
    if (attempt + 1 >= IVL_HUB_MAX_ATTEMPTS) {
      g_set_error(error, IVL_ERROR, IVL_ERROR_IO,
                  _("The connection kept breaking while downloading %s. Run the download "
                    "again: it resumes where it stopped."),
                  file->path);
      return FALSE;
    }
    if (!ivl_hub_backoff(attempt, 0, cancellable, error))
      return FALSE;
  }
  if (g_rename(part, target) != 0) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_IO, _("Cannot rename %s into place: %s"), part,
                g_strerror(errno));
    return FALSE;
  }
  return write_metadata(fetch, file, error);
}
