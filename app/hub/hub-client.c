/* hub-client.c — requests to the Hub: endpoint, token, redirects, retries, the JSON APIs. */
#include "hub-client.h"

#include "file-io.h"
#include <glib/gi18n.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "file-io.h"
#include "ivl.h"
#include "json-check.h"

#define DEFAULT_ENDPOINT "https://huggingface.co"
#define MAX_REDIRECTS 5
/* The largest JSON answer read: a page of a big repository's listing is well under 1 MB. */
#define MAX_JSON_BYTES ((gsize)32 << 20)
/* The most files a listing may name, over all its pages (a model has a few dozen). */
#define MAX_LISTED_FILES 100000

struct _IvlHubClient {
  char *endpoint;
  char *token; /* NULL: anonymous */
  GUri *endpoint_uri;
};

void ivl_hub_file_free(IvlHubFile *file)
{
  if (!file)
    return;
  g_free(file->path);
  g_free(file->sha256);
  g_free(file->oid);
  g_free(file);
}

static char *read_token(void)
{
  const char *env = g_getenv("HF_TOKEN");
  if (env && *env)
    return g_strstrip(g_strdup(env));
  const char *home = g_getenv("HF_HOME");
  g_autofree char *path = home && *home
                              ? g_build_filename(home, "token", NULL)
                              : g_build_filename(g_get_home_dir(), ".cache", "huggingface",
                                                 "token", NULL);
  char *text = NULL;
  /* A token is about 40 characters; a FIFO or a huge file there is not one. */
  if (!ivl_file_read(path, 65536, &text, NULL, NULL))
    return NULL;
  g_strstrip(text);
  if (!*text) {
    g_free(text);
    return NULL;
  }
  return text;
}

IvlHubClient *ivl_hub_client_new(void)
{
  IvlHubClient *client = g_new0(IvlHubClient, 1);
  const char *env = g_getenv("HF_ENDPOINT");
  client->endpoint = g_strdup(env && *env ? env : DEFAULT_ENDPOINT);
  gsize n = strlen(client->endpoint);
  while (n > 0 && client->endpoint[n - 1] == '/')
    client->endpoint[--n] = '\0';
  client->endpoint_uri = g_uri_parse(client->endpoint, G_URI_FLAGS_NONE, NULL);
  client->token = read_token();
  return client;
}

void ivl_hub_client_free(IvlHubClient *client)
{
  if (!client)
    return;
  g_free(client->endpoint);
  g_free(client->token);
  if (client->endpoint_uri)
    g_uri_unref(client->endpoint_uri);
  g_free(client);
}

const char *ivl_hub_client_endpoint(const IvlHubClient *client)
{
  return client->endpoint;
}

SoupSession *ivl_hub_client_new_session(const IvlHubClient *client)
{
  (void)client;
  g_autofree char *agent = g_strdup_printf("ivl/%s", "0.1");
  /* timeout: a stalled read fails (and is retried) instead of hanging for ever. */
  return soup_session_new_with_options("user-agent", agent, "timeout", 60, NULL);
}

/* The token goes only to the endpoint's own scheme, host and port: a storage host that a
 * redirect names must never see it (spec/HUB.md, "File content"). */
static gboolean is_endpoint_host(const IvlHubClient *client, GUri *uri)
{
  GUri *ep = client->endpoint_uri;
  return ep && g_strcmp0(g_uri_get_scheme(ep), g_uri_get_scheme(uri)) == 0 &&
         g_ascii_strcasecmp(g_uri_get_host(ep) ? g_uri_get_host(ep) : "",
                            g_uri_get_host(uri) ? g_uri_get_host(uri) : "") == 0 &&
         g_uri_get_port(ep) == g_uri_get_port(uri);
}

gboolean ivl_hub_error_is_transient(const GError *error)
{
  if (!error)
    return FALSE;
  if (error->domain == G_RESOLVER_ERROR || error->domain == SOUP_SESSION_ERROR)
    return TRUE;
  if (error->domain != G_IO_ERROR)
    return FALSE;
  switch (error->code) {
  case G_IO_ERROR_PARTIAL_INPUT:
  case G_IO_ERROR_CONNECTION_REFUSED:
  case G_IO_ERROR_BROKEN_PIPE:
  case G_IO_ERROR_TIMED_OUT:
  case G_IO_ERROR_NETWORK_UNREACHABLE:
  case G_IO_ERROR_HOST_UNREACHABLE:
  case G_IO_ERROR_HOST_NOT_FOUND:
  case G_IO_ERROR_FAILED: /* ECONNRESET and other socket errors land here */
    return TRUE;
  default:
    return FALSE;
  }
}

gboolean ivl_hub_backoff(int attempt, int retry_after_s, GCancellable *cancellable,
                         GError **error)
{
  if (retry_after_s > IVL_HUB_MAX_WAIT_S) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_IO,
                _("The server asks to wait %d s before trying again; try again later."),
                retry_after_s);
    return FALSE;
  }
  gint64 wait_ms = retry_after_s > 0 ? retry_after_s * 1000 : MIN(250 << MIN(attempt, 5), 8000);
  if (wait_ms >= 5000)
    g_printerr(_("Waiting %d s before trying again, as the server asks.\n"),
               (int)(wait_ms / 1000));
  gint64 until = g_get_monotonic_time() + wait_ms * 1000;
  /* Short sleeps so that a cancel (Ctrl+C, Pause) is seen within 50 ms. */
  while (g_get_monotonic_time() < until) {
    if (g_cancellable_is_cancelled(cancellable)) {
      g_set_error(error, IVL_ERROR, IVL_ERROR_CANCELLED, _("The download was cancelled."));
      return FALSE;
    }
    g_usleep(MIN(50000, MAX(0, until - g_get_monotonic_time())));
  }
  return TRUE;
}

typedef enum { SEND_OK, SEND_RETRY, SEND_FAIL } send_result;

/* The error for a final non-2xx answer; SEND_RETRY for the ones worth another try. */
static send_result status_error(const IvlHubClient *client, SoupMessage *msg, const char *what,
                                int *retry_after, GError **error)
{
  guint status = soup_message_get_status(msg);
  SoupMessageHeaders *h = soup_message_get_response_headers(msg);
  const char *code = soup_message_headers_get_one(h, "X-Error-Code");
  if (status == 429 || status >= 500) {
    const char *ra = soup_message_headers_get_one(h, "Retry-After");
    /* Clamped before the cast: a day is as good as "too long" to ivl_hub_backoff. */
    *retry_after = ra ? (int)CLAMP(g_ascii_strtoll(ra, NULL, 10), 0, 86400) : 0;
    g_set_error(error, IVL_ERROR, IVL_ERROR_IO,
                _("The server %s kept answering HTTP %u (%s) for %s. Try again later: "
                  "finished files are kept and partial ones resume."),
                client->endpoint, status, soup_message_get_reason_phrase(msg), what);
    return SEND_RETRY;
  }
  if ((status == 401 || status == 403) && g_strcmp0(code, "GatedRepo") == 0)
    g_set_error(error, IVL_ERROR, IVL_ERROR_INVALID_ARGUMENT,
                _("%s is a gated model: accept its licence on the model's page at %s, create "
                  "an access token there, and set HF_TOKEN to it (or save it in "
                  "~/.cache/huggingface/token), then download again."),
                what, client->endpoint);
  else if (status == 401 || status == 403)
    g_set_error(error, IVL_ERROR, IVL_ERROR_INVALID_ARGUMENT,
                client->token ? _("The server refused the access token for %s (HTTP %u). Check "
                                  "that HF_TOKEN (or ~/.cache/huggingface/token) holds a valid "
                                  "token with access to this model.")
                              : _("%s needs an access token (HTTP %u): set HF_TOKEN to a token "
                                  "from your Hugging Face account settings (or save it in "
                                  "~/.cache/huggingface/token), then download again."),
                what, status);
  else if (status == 404)
    g_set_error(error, IVL_ERROR, IVL_ERROR_NOT_FOUND,
                g_strcmp0(code, "RevisionNotFound") == 0
                    ? _("%s: no such revision (branch, tag or commit) on %s.")
                : g_strcmp0(code, "EntryNotFound") == 0
                    ? _("%s: no such file in the repository on %s.")
                    : _("%s was not found on %s: check the name (for example "
                        "OpenGVLab/InternVL3-1B) and HF_ENDPOINT."),
                what, client->endpoint);
  else
    g_set_error(error, IVL_ERROR, IVL_ERROR_IO, _("%s: the server %s answered HTTP %u (%s)."),
                what, client->endpoint, status, soup_message_get_reason_phrase(msg));
  return SEND_FAIL;
}

static send_result send_once(const IvlHubClient *client, SoupSession *session, const char *method,
                             const char *url, goffset range_from, const char *what,
                             SoupMessage **msg_out, GInputStream **in_out, int *retry_after,
                             GCancellable *cancellable, GError **error)
{
  g_autofree char *current = g_strdup(url);
  for (int hop = 0; hop <= MAX_REDIRECTS; hop++) {
    g_autoptr(GError) local = NULL;
    g_autoptr(GUri) uri = g_uri_parse(current, G_URI_FLAGS_ENCODED, &local);
    if (!uri) {
      g_set_error(error, IVL_ERROR, IVL_ERROR_INVALID_ARGUMENT, _("Bad URL %s: %s"), current,
                  local->message);
      return SEND_FAIL;
    }
    g_autoptr(SoupMessage) msg = soup_message_new_from_uri(method, uri);
    soup_message_add_flags(msg, SOUP_MESSAGE_NO_REDIRECT);
    SoupMessageHeaders *req = soup_message_get_request_headers(msg);
    if (client->token && is_endpoint_host(client, uri)) {
      g_autofree char *bearer = g_strdup_printf("Bearer %s", client->token);
      soup_message_headers_replace(req, "Authorization", bearer);
    }
    if (range_from > 0)
      soup_message_headers_set_range(req, range_from, -1);
    g_autoptr(GInputStream) in = soup_session_send(session, msg, cancellable, &local);
    if (!in) {
      if (g_error_matches(local, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
        g_set_error(error, IVL_ERROR, IVL_ERROR_CANCELLED, _("The download was cancelled."));
        return SEND_FAIL;
      }
      g_set_error(error, IVL_ERROR, IVL_ERROR_IO,
                  _("Could not reach %s (%s). Check the network connection, proxy settings "
                    "and HF_ENDPOINT, then download again: finished files are kept and "
                    "partial ones resume."),
                  g_uri_get_host(uri) ? g_uri_get_host(uri) : current, local->message);
      return ivl_hub_error_is_transient(local) ? SEND_RETRY : SEND_FAIL;
    }
    guint status = soup_message_get_status(msg);
    if (SOUP_STATUS_IS_REDIRECTION(status) && status != 304) {
      const char *location =
          soup_message_headers_get_one(soup_message_get_response_headers(msg), "Location");
      g_input_stream_close(in, NULL, NULL);
      if (!location)
        break;
      g_autoptr(GUri) next = g_uri_parse_relative(uri, location, G_URI_FLAGS_ENCODED, NULL);
      if (!next)
        break;
      g_free(current);
      current = g_uri_to_string(next);
      continue;
    }
    if (SOUP_STATUS_IS_SUCCESSFUL(status) || status == 416) {
      *msg_out = g_steal_pointer(&msg);
      *in_out = g_steal_pointer(&in);
      return SEND_OK;
    }
    g_input_stream_close(in, NULL, NULL);
    return status_error(client, msg, what, retry_after, error);
  }
  g_set_error(error, IVL_ERROR, IVL_ERROR_IO, _("%s: too many or broken redirects from %s."),
              what, client->endpoint);
  return SEND_FAIL;
}

GInputStream *ivl_hub_client_send(const IvlHubClient *client, SoupSession *session,
                                  const char *method, const char *url, goffset range_from,
                                  const char *what, SoupMessage **msg_out,
                                  GCancellable *cancellable, GError **error)
{
  for (int attempt = 0;; attempt++) {
    g_autoptr(GError) local = NULL;
    GInputStream *in = NULL;
    int retry_after = 0;
    send_result r = send_once(client, session, method, url, range_from, what, msg_out, &in,
                              &retry_after, cancellable, &local);
    if (r == SEND_OK)
      return in;
    if (r == SEND_FAIL || attempt + 1 >= IVL_HUB_MAX_ATTEMPTS) {
      g_propagate_error(error, g_steal_pointer(&local));
      return NULL;
    }
    g_debug("%s: %s; retrying", what, local->message);
    if (!ivl_hub_backoff(attempt, retry_after, cancellable, error))
      return NULL;
  }
}

/* GET url and parse the answer as JSON; *link_next gets the rel="next" URL of a Link header
 * (NULL if none) when link_next is given. */
static JsonNode *get_json(const IvlHubClient *client, SoupSession *session, const char *url,
                          const char *what, char **link_next, GCancellable *cancellable,
                          GError **error)
{
  g_autoptr(SoupMessage) msg = NULL;
  g_autoptr(GInputStream) in =
      ivl_hub_client_send(client, session, "GET", url, 0, what, &msg, cancellable, error);
  if (!in)
    return NULL;
  g_autoptr(GError) local = NULL;
  g_autoptr(JsonParser) parser = ivl_json_load_stream(in, MAX_JSON_BYTES, what, cancellable, &local);
  if (!parser) {
    if (g_error_matches(local, G_IO_ERROR, G_IO_ERROR_CANCELLED))
      g_set_error(error, IVL_ERROR, IVL_ERROR_CANCELLED, _("The download was cancelled."));
    else if (local->domain == IVL_ERROR) /* "what: JSON nests deeper than …" already */
      g_propagate_error(error, g_steal_pointer(&local));
    else
      g_set_error(error, IVL_ERROR, IVL_ERROR_CORRUPT, _("%s: the server's answer is not JSON: %s"),
                  what, local->message);
    return NULL;
  }
  if (link_next) {
    *link_next = NULL;
    const char *link =
        soup_message_headers_get_list(soup_message_get_response_headers(msg), "Link");
    /* Link: <url>; rel="next", <url2>; rel="prev" */
    g_auto(GStrv) parts = link ? g_strsplit(link, ",", -1) : NULL;
    for (gsize i = 0; parts && parts[i]; i++) {
      const char *lt = strchr(parts[i], '<'), *gt = lt ? strchr(lt, '>') : NULL;
      if (gt && (strstr(gt, "rel=\"next\"") || strstr(gt, "rel=next"))) {
        g_autofree char *target = g_strndup(lt + 1, gt - lt - 1);
        g_autoptr(GUri) base = g_uri_parse(url, G_URI_FLAGS_ENCODED, NULL);
        g_autoptr(GUri) next =
            base ? g_uri_parse_relative(base, target, G_URI_FLAGS_ENCODED, NULL) : NULL;
        if (next)
          *link_next = g_uri_to_string(next);
        break;
      }
    }
  }
  return json_parser_steal_root(parser);
}

char *ivl_hub_client_resolve_commit(const IvlHubClient *client, SoupSession *session,
                                    const char *repo_id, const char *revision,
                                    GCancellable *cancellable, GError **error)
{
  if (!ivl_hub_repo_id_is_valid(repo_id)) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_INVALID_ARGUMENT,
                _("“%s” is not a Hub repository name (Org/Name of letters, digits, . _ -)."),
                repo_id);
    return NULL;
  }
  g_autofree char *rev = g_uri_escape_string(revision, NULL, FALSE);
  g_autofree char *url =
      g_strdup_printf("%s/api/models/%s/revision/%s", client->endpoint, repo_id, rev);
  g_autofree char *what = g_strdup_printf("%s@%s", repo_id, revision);
  g_autoptr(JsonNode) root = get_json(client, session, url, what, NULL, cancellable, error);
  if (!root)
    return NULL;
  const char *sha = NULL;
  if (JSON_NODE_HOLDS_OBJECT(root) &&
      !ivl_json_get_string(json_node_get_object(root), "sha", &sha, what, error))
    return NULL;
  if (!sha || strlen(sha) != 40 || strspn(sha, "0123456789abcdef") != 40) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_CORRUPT,
                _("%s: the server's revision answer names no commit."), what);
    return NULL;
  }
  return g_strdup(sha);
}

gboolean ivl_hub_path_is_safe(const char *path)
{
  if (!path || !*path || path[0] == '/' || strchr(path, '\\'))
    return FALSE;
  g_auto(GStrv) parts = g_strsplit(path, "/", -1);
  for (gsize i = 0; parts[i]; i++) {
    if (!*parts[i] || strcmp(parts[i], ".") == 0 || strcmp(parts[i], "..") == 0)
      return FALSE;
  }
  return TRUE;
}

static gboolean repo_part_is_valid(const char *s, gsize n)
{
  if (n < 1 || n > 96 || strchr(".-", s[0]) || strchr(".-", s[n - 1]))
    return FALSE;
  for (gsize i = 0; i < n; i++) {
    if (!g_ascii_isalnum(s[i]) && !strchr("._-", s[i]))
      return FALSE;
    if (i > 0 && (s[i] == '.' || s[i] == '-') && s[i - 1] == s[i])
      return FALSE;
  }
  return TRUE;
}

gboolean ivl_hub_repo_id_is_valid(const char *repo_id)
{
  const char *slash = repo_id ? strchr(repo_id, '/') : NULL;
  return slash && repo_part_is_valid(repo_id, (gsize)(slash - repo_id)) &&
         repo_part_is_valid(slash + 1, strlen(slash + 1));
}

static gboolean is_sha256(const char *s)
{
  return s && strlen(s) == 64 && strspn(s, "0123456789abcdef") == 64;
}

/* One tree entry; NULL for a directory. */
static IvlHubFile *parse_entry(JsonNode *node, const char *what, gboolean *ok, GError **error)
{
  JsonObject *o = JSON_NODE_HOLDS_OBJECT(node) ? json_node_get_object(node) : NULL;
  const char *type = NULL, *path = NULL, *oid = "";
  gint64 size = -1;
  *ok = FALSE;
  if (o && (!ivl_json_get_string(o, "type", &type, what, error) ||
            !ivl_json_get_string(o, "path", &path, what, error) ||
            !ivl_json_get_string(o, "oid", &oid, what, error) ||
            !ivl_json_get_int(o, "size", &size, what, error)))
    return NULL;
  if (!type || !path) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_CORRUPT, _("%s: a listing entry has no type or path."),
                what);
    return NULL;
  }
  if (!ivl_hub_path_is_safe(path)) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_CORRUPT,
                _("%s: the listing names the unsafe path “%s” (outside the model folder); "
                  "nothing was downloaded."),
                what, path);
    return NULL;
  }
  *ok = TRUE;
  if (strcmp(type, "file") != 0)
    return NULL;
  g_autoptr(IvlHubFile) f = g_new0(IvlHubFile, 1);
  f->path = g_strdup(path);
  f->oid = g_strdup(oid);
  JsonNode *lfs_node = json_object_get_member(o, "lfs");
  JsonObject *lfs = lfs_node && JSON_NODE_HOLDS_OBJECT(lfs_node) ? json_node_get_object(lfs_node)
                                                                 : NULL;
  if (lfs) {
    const char *sha = NULL;
    size = -1;
    if (!ivl_json_get_string(lfs, "oid", &sha, what, error) ||
        !ivl_json_get_int(lfs, "size", &size, what, error)) {
      *ok = FALSE;
      return NULL;
    }
    if (!is_sha256(sha)) {
      *ok = FALSE;
      g_set_error(error, IVL_ERROR, IVL_ERROR_CORRUPT, _("%s: %s has no valid sha256 in the listing."),
                  what, path);
      return NULL;
    }
    f->sha256 = g_strdup(sha);
  }
  if (size < 0) {
    *ok = FALSE;
    g_set_error(error, IVL_ERROR, IVL_ERROR_CORRUPT, _("%s: %s has no size in the listing."), what,
                path);
    return NULL;
  }
  f->size = (guint64)size;
  return g_steal_pointer(&f);
}

gboolean ivl_hub_listing_add(JsonNode *root, const char *what, GPtrArray *files, GError **error)
{
  if (!JSON_NODE_HOLDS_ARRAY(root)) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_CORRUPT, _("%s: the file listing is not a list."),
                what);
    return FALSE;
  }
  JsonArray *array = json_node_get_array(root);
  for (guint i = 0; i < json_array_get_length(array); i++) {
    gboolean ok;
    IvlHubFile *f = parse_entry(json_array_get_element(array, i), what, &ok, error);
    if (!ok)
      return FALSE;
    if (f)
      g_ptr_array_add(files, f);
    if (files->len > MAX_LISTED_FILES) {
      g_set_error(error, IVL_ERROR, IVL_ERROR_CORRUPT,
                  _("%s: the listing names more than %d files."), what, MAX_LISTED_FILES);
      return FALSE;
    }
  }
  return TRUE;
}

GPtrArray *ivl_hub_client_list_files(const IvlHubClient *client, SoupSession *session,
                                     const char *repo_id, const char *commit,
                                     GCancellable *cancellable, GError **error)
{
  g_autoptr(GPtrArray) files = g_ptr_array_new_with_free_func((GDestroyNotify)ivl_hub_file_free);
  g_autofree char *url = g_strdup_printf("%s/api/models/%s/tree/%s?recursive=true",
                                         client->endpoint, repo_id, commit);
  /* A bound on pages so a server that links a page to itself cannot loop us for ever. */
  for (int page = 0; url && page < 10000; page++) {
    char *next = NULL;
    g_autoptr(JsonNode) root = get_json(client, session, url, repo_id, &next, cancellable, error);
    g_free(url);
    url = next;
    if (!root || !ivl_hub_listing_add(root, repo_id, files, error))
      return NULL;
  }
  return g_steal_pointer(&files);
}

char *ivl_hub_client_file_url(const IvlHubClient *client, const char *repo_id,
                              const char *commit, const char *path)
{
  g_autofree char *escaped = g_uri_escape_string(path, "/", FALSE);
  return g_strdup_printf("%s/%s/resolve/%s/%s", client->endpoint, repo_id, commit, escaped);
}
