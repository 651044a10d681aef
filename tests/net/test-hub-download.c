/* The Hub client against tests/net/hub_server.py on loopback: every fault ends either in the
 * exact files (compared byte for byte with the server's copy) or in a clear error with
 * nothing corrupt in place; resumes transfer only the missing bytes. */
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#include "hub-client.h"
#include "hub-download.h"
#include "ivl.h"

static GSubprocess *server;
static char *endpoint;
static char *repo_copy; /* the server's files, as --write-repo wrote them */
static char *work;      /* a temporary folder for this run */
static SoupSession *control;

static const char *const repo_files[] = {
    "config.json",
    "generation_config.json",
    "model.safetensors",
    "shards/part/model-00001-of-00002.safetensors",
    "shards/part/model-00002-of-00002.safetensors",
    "tokenizer/vocab.json",
    NULL,
};

static JsonObject *server_get(const char *path_and_query)
{
  g_autofree char *url = g_strconcat(endpoint, path_and_query, NULL);
  g_autoptr(SoupMessage) msg = soup_message_new("GET", url);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) body = soup_session_send_and_read(control, msg, NULL, &error);
  g_assert_no_error(error);
  g_autoptr(JsonParser) parser = json_parser_new();
  gsize n;
  const char *data = g_bytes_get_data(body, &n);
  g_assert_true(json_parser_load_from_data(parser, data, n, NULL));
  return json_object_ref(json_node_get_object(json_parser_get_root(parser)));
}

static void fault(const char *kind, const char *path, int count)
{
  g_autofree char *escaped = g_uri_escape_string(path, NULL, TRUE);
  g_autofree char *q = g_strdup_printf("/_fault?kind=%s&path=%s&count=%d", kind, escaped, count);
  json_object_unref(server_get(q));
}

static void reset(void)
{
  json_object_unref(server_get("/_reset"));
}

static gint64 stat_of(const char *member, const char *path)
{
  g_autoptr(JsonObject) stats = server_get("/_stats");
  JsonObject *o = json_object_get_object_member(stats, member);
  return json_object_get_int_member_with_default(o, path, 0);
}

static gint64 stat_int(const char *member)
{
  g_autoptr(JsonObject) stats = server_get("/_stats");
  return json_object_get_int_member(stats, member);
}

static char *fresh_dir(const char *name)
{
  char *dir = g_build_filename(work, name, NULL);
  g_assert_false(g_file_test(dir, G_FILE_TEST_EXISTS));
  return dir;
}

static char *download(const char *repo, const char *dir, GError **error)
{
  IvlHubDownloadOptions options = {.repo_id = repo, .dir = dir};
  return ivl_hub_download_sync(&options, NULL, NULL, NULL, error);
}

static GBytes *read_file(const char *dir, const char *path)
{
  g_autofree char *full = g_build_filename(dir, path, NULL);
  char *data;
  gsize n;
  if (!g_file_get_contents(full, &data, &n, NULL))
    return NULL;
  return g_bytes_new_take(data, n);
}

static gsize repo_size(const char *path)
{
  g_autoptr(GBytes) b = read_file(repo_copy, path);
  return g_bytes_get_size(b);
}

static void assert_exact_files(const char *dir)
{
  for (int i = 0; repo_files[i]; i++) {
    g_autoptr(GBytes) want = read_file(repo_copy, repo_files[i]);
    g_autoptr(GBytes) got = read_file(dir, repo_files[i]);
    g_assert_nonnull(got);
    g_assert_true(g_bytes_equal(want, got));
    g_autofree char *part = g_strconcat(dir, "/", repo_files[i], ".incomplete", NULL);
    g_assert_false(g_file_test(part, G_FILE_TEST_EXISTS));
  }
}

static void download_ok(const char *name)
{
  g_autofree char *dir = fresh_dir(name);
  g_autoptr(GError) error = NULL;
  g_autofree char *commit = download("test/tiny", dir, &error);
  g_assert_no_error(error);
  g_assert_cmpstr(commit, ==, "0123456789abcdef0123456789abcdef01234567");
  assert_exact_files(dir);
}

static void test_clean(void)
{
  reset();
  g_autofree char *dir = fresh_dir("clean");
  g_autoptr(GError) error = NULL;
  g_autofree char *commit = download("test/tiny", dir, &error);
  g_assert_no_error(error);
  assert_exact_files(dir);
  g_autofree char *meta = g_build_filename(dir, ".cache/huggingface/download/"
                                                "shards/part/model-00001-of-00002.safetensors.metadata",
                                           NULL);
  g_assert_true(g_file_test(meta, G_FILE_TEST_IS_REGULAR));
  /* The token went to the endpoint, never to the storage host the LFS redirects name; and
   * every file was fetched at the resolved commit, not at "main". */
  g_assert_cmpint(stat_int("auth_endpoint"), >, 0);
  g_assert_cmpint(stat_int("auth_storage"), ==, 0);
  g_autoptr(JsonObject) stats = server_get("/_stats");
  JsonArray *revs = json_object_get_array_member(stats, "revisions");
  g_assert_cmpint(json_array_get_length(revs), ==, g_strv_length((char **)repo_files));
  for (guint i = 0; i < json_array_get_length(revs); i++)
    g_assert_cmpstr(json_array_get_string_element(revs, i), ==, commit);
  /* A rerun finds everything complete and transfers nothing. */
  reset();
  g_free(download("test/tiny", dir, &error));
  g_assert_no_error(error);
  g_assert_cmpint(stat_of("bytes_sent", "model.safetensors"), ==, 0);
  g_assert_cmpint(stat_of("requests", "config.json"), ==, 0);
}

static void test_drop_resumes(void)
{
  reset();
  fault("drop", "model.safetensors", 1);
  download_ok("drop");
  /* Half before the drop, the other half by a Range request: nothing twice. */
  g_assert_cmpint(stat_of("bytes_sent", "model.safetensors"), ==, repo_size("model.safetensors"));
  g_assert_cmpint(stat_of("requests", "model.safetensors"), ==, 2);
}

static void test_truncated_resumes(void)
{
  reset();
  fault("truncate", "shards/part/model-00002-of-00002.safetensors", 1);
  download_ok("truncate");
  g_assert_cmpint(stat_of("bytes_sent", "shards/part/model-00002-of-00002.safetensors"), ==,
                  repo_size("shards/part/model-00002-of-00002.safetensors"));
}

static void test_server_error_retried(void)
{
  reset();
  fault("error500", "config.json", 1);
  fault("ratelimit", "tokenizer/vocab.json", 1);
  gint64 start = g_get_monotonic_time();
  download_ok("retry");
  /* The 429 said Retry-After: 1. */
  g_assert_cmpint(g_get_monotonic_time() - start, >=, 900000);
  g_assert_cmpint(stat_of("requests", "config.json"), ==, 2);
  g_assert_cmpint(stat_of("requests", "tokenizer/vocab.json"), ==, 2);
}

static void test_corrupt_once_retried(void)
{
  reset();
  fault("corrupt", "model.safetensors", 1);
  fault("corrupt", "config.json", 1); /* a plain git file: checked by its blob id */
  download_ok("corrupt-once");
  g_assert_cmpint(stat_of("requests", "model.safetensors"), ==, 2);
  g_assert_cmpint(stat_of("requests", "config.json"), ==, 2);
}

static void test_corrupt_twice_fails(void)
{
  reset();
  fault("corrupt", "shards/part/model-00001-of-00002.safetensors", 2);
  g_autofree char *dir = fresh_dir("corrupt-twice");
  g_autoptr(GError) error = NULL;
  g_assert_null(download("test/tiny", dir, &error));
  g_assert_error(error, IVL_ERROR, IVL_ERROR_CORRUPT);
  g_assert_nonnull(strstr(error->message, "model-00001-of-00002.safetensors"));
  g_autofree char *target = g_build_filename(dir, "shards/part/model-00001-of-00002.safetensors", NULL);
  g_autofree char *part = g_strconcat(target, ".incomplete", NULL);
  g_assert_false(g_file_test(target, G_FILE_TEST_EXISTS));
  g_assert_false(g_file_test(part, G_FILE_TEST_EXISTS));
  /* Nor does the folder look like an installed model. */
  g_autofree char *config = g_build_filename(dir, "config.json", NULL);
  g_assert_false(g_file_test(config, G_FILE_TEST_EXISTS));
}

static void write_partial(const char *dir, const char *path, gsize n, gboolean garbage)
{
  g_autoptr(GBytes) whole = read_file(repo_copy, path);
  g_autofree guchar *data = g_memdup2(g_bytes_get_data(whole, NULL), n);
  if (garbage)
    memset(data, 0x5a, n);
  g_autofree char *part = g_strconcat(dir, "/", path, ".incomplete", NULL);
  g_autofree char *parent = g_path_get_dirname(part);
  g_assert_cmpint(g_mkdir_with_parents(parent, 0755), ==, 0);
  g_assert_true(g_file_set_contents(part, (const char *)data, n, NULL));
}

static void test_partial_resumes(void)
{
  reset();
  g_autofree char *dir = fresh_dir("partial");
  const char *path = "model.safetensors";
  write_partial(dir, path, 100000, FALSE);
  g_autoptr(GError) error = NULL;
  g_free(download("test/tiny", dir, &error));
  g_assert_no_error(error);
  assert_exact_files(dir);
  g_assert_cmpint(stat_of("bytes_sent", path), ==, repo_size(path) - 100000);
}

static void test_whole_partial_verified(void)
{
  reset();
  g_autofree char *dir = fresh_dir("whole-partial");
  const char *path = "model.safetensors";
  write_partial(dir, path, repo_size(path), FALSE);
  g_autoptr(GError) error = NULL;
  g_free(download("test/tiny", dir, &error));
  g_assert_no_error(error);
  assert_exact_files(dir);
  g_assert_cmpint(stat_of("bytes_sent", path), ==, 0);
}

static void test_wrong_partial_replaced(void)
{
  reset();
  g_autofree char *dir = fresh_dir("wrong-partial");
  write_partial(dir, "model.safetensors", 100000, TRUE);
  download_ok("wrong-partial-unused"); /* the server is fine; */
  g_autoptr(GError) error = NULL;
  g_free(download("test/tiny", dir, &error)); /* the resumed file fails its sha256 once */
  g_assert_no_error(error);
  assert_exact_files(dir);
}

static void test_range_ignored(void)
{
  reset();
  g_autofree char *dir = fresh_dir("ignore-range");
  const char *path = "shards/part/model-00002-of-00002.safetensors";
  write_partial(dir, path, 50000, FALSE);
  fault("ignore_range", path, 1);
  g_autoptr(GError) error = NULL;
  g_free(download("test/tiny", dir, &error));
  g_assert_no_error(error);
  assert_exact_files(dir);
  g_assert_cmpint(stat_of("bytes_sent", path), ==, repo_size(path));
}

static void expect_error(const char *repo, const char *name, int code, const char *needle)
{
  reset();
  g_autofree char *dir = fresh_dir(name);
  g_autoptr(GError) error = NULL;
  g_assert_null(download(repo, dir, &error));
  g_assert_error(error, IVL_ERROR, code);
  g_test_message("%s: %s", name, error->message);
  g_assert_nonnull(strstr(error->message, needle));
}

static void test_unsafe_listing(void)
{
  expect_error("evil/tiny", "evil", IVL_ERROR_CORRUPT, "../escape.txt");
  g_autofree char *escaped = g_build_filename(work, "escape.txt", NULL);
  g_assert_false(g_file_test(escaped, G_FILE_TEST_EXISTS));
  g_autofree char *dir = g_build_filename(work, "evil", NULL);
  g_assert_false(g_file_test(dir, G_FILE_TEST_EXISTS)); /* refused before writing anything */
}

static void test_gated(void)
{
  expect_error("gated/tiny", "gated", IVL_ERROR_INVALID_ARGUMENT, "HF_TOKEN");
}

static void test_not_found(void)
{
  expect_error("missing/tiny", "missing", IVL_ERROR_NOT_FOUND, "missing/tiny");
}

/* Nothing listens: the retries back off (about 8 s in all), then a message says what to do. */
static void test_offline(void)
{
  g_autoptr(GSocket) sock =
      g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, NULL);
  g_autoptr(GInetAddress) lo = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) any = g_inet_socket_address_new(lo, 0);
  g_assert_true(g_socket_bind(sock, any, FALSE, NULL));
  g_autoptr(GSocketAddress) bound = g_socket_get_local_address(sock, NULL);
  guint16 port = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound));
  g_socket_close(sock, NULL); /* a port that was free a moment ago, now closed */
  g_autofree char *closed = g_strdup_printf("http://127.0.0.1:%u", port);
  g_setenv("HF_ENDPOINT", closed, TRUE);
  g_autofree char *dir = fresh_dir("offline");
  g_autoptr(GError) error = NULL;
  g_assert_null(download("test/tiny", dir, &error));
  g_setenv("HF_ENDPOINT", endpoint, TRUE);
  g_assert_error(error, IVL_ERROR, IVL_ERROR_IO);
  g_test_message("offline: %s", error->message);
  g_assert_nonnull(strstr(error->message, "Could not reach 127.0.0.1"));
}

static gboolean tiny_disk(const char *dir, guint64 *free_bytes, GError **error)
{
  (void)dir;
  (void)error;
  *free_bytes = 300000;
  return TRUE;
}

static void test_no_space(void)
{
  reset();
  g_autofree char *dir = fresh_dir("no-space");
  IvlHubDownloadOptions options = {.repo_id = "test/tiny", .dir = dir, .free_space = tiny_disk};
  g_autoptr(GError) error = NULL;
  g_assert_null(ivl_hub_download_sync(&options, NULL, NULL, NULL, &error));
  g_assert_error(error, IVL_ERROR, IVL_ERROR_IO);
  g_test_message("%s", error->message);
  g_assert_nonnull(strstr(error->message, "Not enough free space"));
  g_assert_nonnull(strstr(error->message, "662.7")); /* 962.7 kB needed − 300.0 kB free */
  g_assert_cmpint(stat_of("bytes_sent", "model.safetensors"), ==, 0);
  g_assert_false(g_file_test(dir, G_FILE_TEST_EXISTS));
}

typedef struct {
  GCancellable *cancel;
  guint reports;
  guint64 last_done, total;
  gboolean done_seen;
} progress_log;

static void on_progress(const IvlHubProgress *p, gpointer data)
{
  progress_log *log = data;
  log->reports++;
  g_assert_cmpuint(p->done, <=, MAX(p->total, p->done));
  log->last_done = p->done;
  log->total = p->total;
  if (p->phase == IVL_HUB_PHASE_DONE)
    log->done_seen = TRUE;
  if (log->cancel && p->done > 150000)
    g_cancellable_cancel(log->cancel);
}

static void test_cancel_and_resume(void)
{
  reset();
  json_object_unref(server_get("/_throttle?bps=400000"));
  g_autofree char *dir = fresh_dir("cancel");
  g_autoptr(GCancellable) cancel = g_cancellable_new();
  progress_log log = {.cancel = cancel};
  IvlHubDownloadOptions options = {.repo_id = "test/tiny", .dir = dir};
  g_autoptr(GError) error = NULL;
  g_assert_null(ivl_hub_download_sync(&options, on_progress, &log, cancel, &error));
  g_assert_error(error, IVL_ERROR, IVL_ERROR_CANCELLED);
  g_assert_nonnull(strstr(error->message, "resume"));
  g_clear_error(&error);
  g_autofree char *config = g_build_filename(dir, "config.json", NULL);
  g_assert_false(g_file_test(config, G_FILE_TEST_EXISTS));

  /* Resume: each file transfers exactly what its partial file lacks. */
  const char *path = "model.safetensors";
  g_autofree char *part = g_build_filename(dir, "model.safetensors.incomplete", NULL);
  GStatBuf st = {0};
  gsize have = g_stat(part, &st) == 0 ? st.st_size : 0;
  g_assert_cmpuint(have, >, 0);
  reset();
  progress_log log2 = {0};
  g_free(ivl_hub_download_sync(&options, on_progress, &log2, NULL, &error));
  g_assert_no_error(error);
  assert_exact_files(dir);
  g_assert_cmpint(stat_of("bytes_sent", path), ==, repo_size(path) - have);
  g_assert_true(log2.done_seen);
  g_assert_cmpuint(log2.last_done, ==, log2.total);
}

static void test_token_file(void)
{
  reset();
  g_autofree char *home = g_build_filename(work, "hf-home", NULL);
  g_assert_cmpint(g_mkdir_with_parents(home, 0755), ==, 0);
  g_autofree char *token = g_build_filename(home, "token", NULL);
  g_assert_true(g_file_set_contents(token, "hf_from_file\n", -1, NULL));
  g_autofree char *saved = g_strdup(g_getenv("HF_TOKEN"));
  g_unsetenv("HF_TOKEN");
  g_setenv("HF_HOME", home, TRUE);
  download_ok("token-file");
  g_assert_cmpint(stat_int("auth_endpoint"), >, 0);
  g_assert_cmpint(stat_int("auth_storage"), ==, 0);
  g_setenv("HF_TOKEN", saved, TRUE);
}

static void test_unsafe_paths(void)
{
  g_assert_true(ivl_hub_path_is_safe("a/b.json"));
  const char *bad[] = {"", "/etc/passwd", "../x", "a/../b", "a//b", "a\\b", "./a", "a/", NULL};
  for (int i = 0; bad[i]; i++)
    g_assert_false(ivl_hub_path_is_safe(bad[i]));
}

static void start_server(void)
{
  repo_copy = g_build_filename(work, "server-repo", NULL);
  g_autofree char *script =
      g_build_filename(g_getenv("IVL_SOURCE_ROOT"), "tests", "net", "hub_server.py", NULL);
  g_autoptr(GError) error = NULL;
  server = g_subprocess_new(G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDIN_PIPE, &error, "/usr/bin/python3", script,
                            "--write-repo", repo_copy, NULL);
  g_assert_no_error(error);
  g_autoptr(GDataInputStream) out =
      g_data_input_stream_new(g_subprocess_get_stdout_pipe(server));
  g_autofree char *line = g_data_input_stream_read_line(out, NULL, NULL, &error);
  g_assert_no_error(error);
  g_assert_true(line && g_str_has_prefix(line, "PORT "));
  endpoint = g_strdup_printf("http://127.0.0.1:%s", line + 5);
  g_setenv("HF_ENDPOINT", endpoint, TRUE);
  g_setenv("HF_TOKEN", "hf_test_token", TRUE);
  control = soup_session_new();
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  work = g_dir_make_tmp("ivl-hub-XXXXXX", NULL);
  start_server();
  g_test_add_func("/hub/unsafe-paths", test_unsafe_paths);
  g_test_add_func("/hub/clean", test_clean);
  g_test_add_func("/hub/drop-resumes", test_drop_resumes);
  g_test_add_func("/hub/truncated-resumes", test_truncated_resumes);
  g_test_add_func("/hub/server-error-retried", test_server_error_retried);
  g_test_add_func("/hub/corrupt-once-retried", test_corrupt_once_retried);
  g_test_add_func("/hub/corrupt-twice-fails", test_corrupt_twice_fails);
  g_test_add_func("/hub/partial-resumes", test_partial_resumes);
  g_test_add_func("/hub/whole-partial-verified", test_whole_partial_verified);
  g_test_add_func("/hub/wrong-partial-replaced", test_wrong_partial_replaced);
  g_test_add_func("/hub/range-ignored", test_range_ignored);
  g_test_add_func("/hub/unsafe-listing", test_unsafe_listing);
  g_test_add_func("/hub/gated", test_gated);
  g_test_add_func("/hub/not-found", test_not_found);
  g_test_add_func("/hub/no-space", test_no_space);
  g_test_add_func("/hub/cancel-and-resume", test_cancel_and_resume);
  g_test_add_func("/hub/token-file", test_token_file);
  g_test_add_func("/hub/offline", test_offline);
  int status = g_test_run();
  g_subprocess_force_exit(server);
  g_subprocess_wait(server, NULL, NULL);
  /* Leave the folder for inspection when a test failed. */
  if (status == 0) {
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", work);
    (void)system(cmd);
  }
  return status;
}
