/* hub-client.h — talking to a Hugging Face Hub (or a mirror named by HF_ENDPOINT): the
 * endpoint and token, requests with redirects that keep the token on the Hub's own host,
 * the revision and tree APIs, and the Hub's failures turned into messages a person can act
 * on. Synchronous: callers run it on worker threads (see hub-download.h for the async API).
 * The HTTP facts are in spec/HUB.md. */
#ifndef IVL_HUB_CLIENT_H
#define IVL_HUB_CLIENT_H

#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

G_BEGIN_DECLS

/* One file of a repo listing. */
typedef struct {
  char *path;    /* relative, '/'-separated, checked by ivl_hub_path_is_safe */
  guint64 size;  /* bytes (lfs.size for LFS files) */
  char *sha256;  /* lfs.oid, lower-case hex; NULL for a plain git file */
  char *oid;     /* the git blob id */
} IvlHubFile;

void ivl_hub_file_free(IvlHubFile *file);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(IvlHubFile, ivl_hub_file_free)

typedef struct _IvlHubClient IvlHubClient;

/* A client for $HF_ENDPOINT (default https://huggingface.co) with the token of $HF_TOKEN,
 * else of the file $HF_HOME/token (HF_HOME default ~/.cache/huggingface), else none.
 * Thread-safe: every worker thread makes its own session with ivl_hub_client_new_session. */
IvlHubClient *ivl_hub_client_new(void);
void ivl_hub_client_free(IvlHubClient *client);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(IvlHubClient, ivl_hub_client_free)

/* The endpoint without a trailing '/'. */
const char *ivl_hub_client_endpoint(const IvlHubClient *client);

/* A session for one thread: system proxy (libsoup's default), no automatic redirects. */
SoupSession *ivl_hub_client_new_session(const IvlHubClient *client);

/* Sends method url and returns the body stream of the final answer, following up to five
 * redirects by hand so that Authorization goes only to the endpoint's own host and port.
 * range_from > 0 asks for "bytes=range_from-". *msg_out gets the final message. Transient
 * failures (5xx, 429, a dropped connection) are retried with capped backoff, 429 honouring
 * Retry-After; a 2xx or 416 answer is returned, any other status becomes an error naming
 * what to do (gated repo, not found, …). what names the thing for messages ("config.json").
 * Errors: IVL_ERROR_* (NOT_FOUND, INVALID_ARGUMENT for a gated or private repo, IO when
 * offline or the server keeps failing), CANCELLED. */
GInputStream *ivl_hub_client_send(const IvlHubClient *client, SoupSession *session,
                                  const char *method, const char *url, goffset range_from,
                                  const char *what, SoupMessage **msg_out,
                                  GCancellable *cancellable, GError **error);

/* The commit (40 hex) that revision ("main", a tag or a commit) of repo_id names now. */
char *ivl_hub_client_resolve_commit(const IvlHubClient *client, SoupSession *session,
                                    const char *repo_id, const char *revision,
                                    GCancellable *cancellable, GError **error);

/* Every file of repo_id at commit (tree API, recursive, all pages), as IvlHubFile*.
 * Errors also: CORRUPT (a listing that is not the Hub's JSON, or that names a path outside
 * the repo: "..", absolute, backslash, empty components). */
GPtrArray *ivl_hub_client_list_files(const IvlHubClient *client, SoupSession *session,
                                     const char *repo_id, const char *commit,
                                     GCancellable *cancellable, GError **error);

/* {endpoint}/{repo_id}/resolve/{commit}/{path}, each path segment escaped. */
char *ivl_hub_client_file_url(const IvlHubClient *client, const char *repo_id,
                              const char *commit, const char *path);

/* TRUE for a relative '/'-separated path whose components are neither empty, "." nor ".."
 * and which holds no backslash or NUL: a path that stays inside the directory it is
 * joined to. */
gboolean ivl_hub_path_is_safe(const char *path);

/* Adds the files of one page of a tree listing (a JSON array of entries; folders are skipped)
 * to files (IvlHubFile*). FALSE with IVL_ERROR_CORRUPT, naming what, for an entry that is
 * malformed or unsafe, or when the listing grows past 100,000 files. */
gboolean ivl_hub_listing_add(JsonNode *root, const char *what, GPtrArray *files, GError **error);

/* TRUE for a repo id the Hub itself accepts: "org/name", each part 1 to 96 of A-Z a-z 0-9
 * . _ -, not starting or ending with . or -, without ".." or "--". Such an id is safe in a
 * URL path and as a folder name. */
gboolean ivl_hub_repo_id_is_valid(const char *repo_id);

/* Waits before retry number attempt (0-based): retry_after_s when > 0, else 0.25 s doubling
 * up to 8 s; a wait of 5 s or more is announced on stderr. FALSE (with CANCELLED) when
 * cancelled meanwhile, or (with IO) when the server asks for more than IVL_HUB_MAX_WAIT_S. */
gboolean ivl_hub_backoff(int attempt, int retry_after_s, GCancellable *cancellable,
                         GError **error);

#define IVL_HUB_MAX_WAIT_S 60

/* Attempts at one request or file before giving up on transient failures. */
#define IVL_HUB_MAX_ATTEMPTS 6

/* TRUE for a failure worth retrying: a dropped or refused connection, a timeout. */
gboolean ivl_hub_error_is_transient(const GError *error);

G_END_DECLS

#endif /* IVL_HUB_CLIENT_H */
