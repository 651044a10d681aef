/* test-remote.c — the remote client library below the CLI: the SSE reader's framing rules,
 * the error classes of every body shape, base URLs, and, against tests/remote/dialect_server.py
 * on loopback, list_models_async answering on the main context and a cancel that closes a
 * hanging stream at once, keeping the text received; a connection that never opens ends at
 * the connect timeout. */
#include "ivl-config.h"

#include "remote-client.h"
#include "remote-error.h"
#include "remote-media.h"
#include "remote-sse.h"

#include <string.h>

static GPtrArray *events_of(const char *text)
{
  g_autoptr(GInputStream) in = g_memory_input_stream_new_from_data(text, strlen(text), NULL);
  g_autoptr(IvlRemoteSse) sse = ivl_remote_sse_new(in);
  GPtrArray *events = g_ptr_array_new_with_free_func(g_free);
  const char *field, *data;
  g_autoptr(GError) error = NULL;
  while (ivl_remote_sse_next(sse, &field, &data, NULL, NULL, NULL, &error))
    g_ptr_array_add(events, g_strdup_printf("%s=%s", field, data));
  g_assert_no_error(error);
  return events;
}

static void test_sse_framing(void)
{
  g_autoptr(GPtrArray) e = events_of(": keep-alive\n\n"
                                     "data: {\"a\":1}\r\n\r\n"
                                     "data:two\rdata: lines\r\r"
                                     "event: x\nid: 3\nretry: 5\ndata: with fields\n\n"
                                     "error: {\"code\":500}\n\n"
                                     "data: last, no blank line");
  g_assert_cmpuint(e->len, ==, 5);
  g_assert_cmpstr(e->pdata[0], ==, "data={\"a\":1}");
  g_assert_cmpstr(e->pdata[1], ==, "data=two\nlines");
  g_assert_cmpstr(e->pdata[2], ==, "data=with fields");
  g_assert_cmpstr(e->pdata[3], ==, "error={\"code\":500}");
  g_assert_cmpstr(e->pdata[4], ==, "data=last, no blank line");
}

static void test_sse_bounded(void)
{
  gsize n = (16u << 20) + 100;
  char *text = g_malloc(n + 1);
  memset(text, 'x', n);
  memcpy(text, "data: ", 6);
  text[n] = '\0';
  g_autoptr(GInputStream) in = g_memory_input_stream_new_from_data(text, n, g_free);
  g_autoptr(IvlRemoteSse) sse = ivl_remote_sse_new(in);
  const char *field, *data;
  g_autoptr(GError) error = NULL;
  g_assert_false(ivl_remote_sse_next(sse, &field, &data, NULL, NULL, NULL, &error));
  g_assert_error(error, IVL_REMOTE_ERROR, IVL_REMOTE_ERROR_PROTOCOL);
}

static void expect(guint status, const char *body, IvlRemoteError code, const char *says)
{
  g_autoptr(GError) e = ivl_remote_error_from_status(status, body, "h:1", "m");
  g_assert_error(e, IVL_REMOTE_ERROR, (gint)code);
  if (says && !strstr(e->message, says))
    g_error("\"%s\" does not say \"%s\"", e->message, says);
}

static void test_error_shapes(void)
{
  expect(401, "{\"error\": \"Unauthorized\"}", IVL_REMOTE_ERROR_UNAUTHORIZED, "Unauthorized");
  expect(403, NULL, IVL_REMOTE_ERROR_UNAUTHORIZED, "HTTP 403");
  expect(404,
         "{\"message\": \"The model `m` does not exist.\", \"type\": \"NotFoundError\", "
         "\"code\": 404, \"object\": \"error\"}",
         IVL_REMOTE_ERROR_MODEL_NOT_FOUND, "does not exist");
  expect(400, "{\"error\": {\"message\": \"bad\", \"param\": \"model\", \"code\": 400}}",
         IVL_REMOTE_ERROR_MODEL_NOT_FOUND, NULL);
  expect(400,
         "{\"error\": {\"code\": 400, \"message\": \"request (9 tokens) exceeds the available "
         "context size (4 tokens)\", \"type\": \"exceed_context_size_error\"}}",
         IVL_REMOTE_ERROR_CONTEXT_TOO_LONG, "exceeds");
  expect(400,
         "{\"error\": {\"message\": \"x\", \"type\": \"invalid_request_error\", \"param\": "
         "\"messages\", \"code\": \"context_length_exceeded\"}}",
         IVL_REMOTE_ERROR_CONTEXT_TOO_LONG, NULL);
  expect(400, "{\"detail\": \"field required\"}", IVL_REMOTE_ERROR_REFUSED, "field required");
  expect(429, "{}", IVL_REMOTE_ERROR_OVERLOADED, NULL);
  expect(503, "<html><body>Bad\ngateway</body></html>", IVL_REMOTE_ERROR_OVERLOADED, "Bad gateway");
  expect(500,
         "{\"error\": {\"code\": 500, \"message\": \"Only one completion choice is allowed\"}}",
         IVL_REMOTE_ERROR_SERVER, "Only one");
}

static void test_base_url(void)
{
  const char *cases[][2] = {{"http://h:8000", "http://h:8000/v1"},
                            {"http://h:8000/", "http://h:8000/v1"},
                            {"https://h/v1/", "https://h/v1"},
                            {"http://h/api/v1", "http://h/api/v1"}};
  for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autoptr(IvlRemoteClient) c = ivl_remote_client_new(cases[i][0], NULL, NULL);
    g_assert_cmpstr(ivl_remote_client_get_base_url(c), ==, cases[i][1]);
  }
  const char *bad[] = {"ftp://h", "h:8000", "", "http://", "http://h/?q=1"};
  for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
    g_autoptr(GError) error = NULL;
    g_assert_null(ivl_remote_client_new(bad[i], NULL, &error));
    g_assert_error(error, IVL_REMOTE_ERROR, IVL_REMOTE_ERROR_INVALID_URL);
  }
}

/* An image within the server's limit goes as it is; one over it is re-encoded smaller. */
static void test_media_fit(void)
{
  g_autofree char *path = g_build_filename(g_getenv("IVL_SOURCE_ROOT"), "tests", "data", "media",
                                           "gray-333x222.png", NULL);
  char *data;
  gsize n;
  g_assert_true(g_file_get_contents(path, &data, &n, NULL));
  g_autoptr(GBytes) png = g_bytes_new_take(data, n);
  g_autofree char *mime = ivl_remote_media_image_type(png);
  g_assert_cmpstr(mime, ==, "image/png");
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) same = ivl_remote_media_fit(png, 0, &mime, "png", &error);
  g_assert_true(same == png);
  g_autoptr(GBytes) same2 = ivl_remote_media_fit(png, n, &mime, "png", &error);
  g_assert_true(same2 == png);
  g_assert_cmpstr(mime, ==, "image/png");
  g_autoptr(GBytes) small = ivl_remote_media_fit(png, 3000, &mime, "png", &error);
  g_assert_no_error(error);
  g_assert_cmpuint(g_bytes_get_size(small), <=, 3000);
  g_assert_cmpstr(mime, ==, "image/jpeg");
  const guint8 *jpeg = g_bytes_get_data(small, NULL);
  g_assert_true(jpeg[0] == 0xff && jpeg[1] == 0xd8);
  g_autoptr(GBytes) text = g_bytes_new_static("hello", 5);
  g_assert_null(ivl_remote_media_image_type(text));
}

typedef struct {
  GSubprocess *proc;
  char *url;
} fake_server;

static void fake_server_start(fake_server *s)
{
  g_autofree char *script =
      g_build_filename(g_getenv("IVL_SOURCE_ROOT"), "tests", "remote", "dialect_server.py", NULL);
  g_autoptr(GError) error = NULL;
  s->proc = g_subprocess_new(G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error, "/usr/bin/python3", script,
                             "vllm", NULL);
  g_assert_no_error(error);
  g_autoptr(GDataInputStream) out = g_data_input_stream_new(g_subprocess_get_stdout_pipe(s->proc));
  s->url = g_data_input_stream_read_line(out, NULL, NULL, &error);
  g_assert_no_error(error);
  g_assert_nonnull(s->url);
}

static void fake_server_stop(fake_server *s)
{
  g_subprocess_force_exit(s->proc);
  g_subprocess_wait(s->proc, NULL, NULL);
  g_object_unref(s->proc);
  g_free(s->url);
}

static void on_models(GObject *source, GAsyncResult *result, gpointer data)
{
  (void)source;
  GMainLoop *loop = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) models = ivl_remote_client_list_models_finish(NULL, result, &error);
  g_assert_no_error(error);
  g_assert_cmpuint(models->len, ==, 1);
  IvlRemoteModel *m = models->pdata[0];
  g_assert_cmpstr(m->id, ==, "OpenGVLab/InternVL3-78B");
  g_assert_cmpstr(m->owned_by, ==, "vllm");
  g_assert_cmpint(m->context_length, ==, 32768);
  g_main_loop_quit(loop);
}

static void test_list_models_async(void)
{
  fake_server s;
  fake_server_start(&s);
  g_autoptr(IvlRemoteClient) c = ivl_remote_client_new(s.url, NULL, NULL);
  g_autoptr(GMainLoop) loop = g_main_loop_new(NULL, FALSE);
  ivl_remote_client_list_models_async(c, NULL, on_models, loop);
  g_main_loop_run(loop);
  g_assert_cmpint(ivl_remote_client_get_dialect(c), ==, IVL_REMOTE_DIALECT_VLLM);
  fake_server_stop(&s);
}

static gboolean cancel_soon(gpointer cancellable)
{
  g_cancellable_cancel(cancellable);
  return G_SOURCE_REMOVE;
}

static gpointer cancel_thread(gpointer cancellable)
{
  g_usleep(500000);
  cancel_soon(cancellable);
  return NULL;
}

static void test_cancel_closes_stream(void)
{
  fake_server s;
  fake_server_start(&s);
  g_autoptr(IvlRemoteClient) c = ivl_remote_client_new(s.url, NULL, NULL);
  g_autoptr(IvlRemoteChat) chat = ivl_remote_chat_new(NULL);
  ivl_remote_chat_add_user(chat, "FAULT hang");
  g_autoptr(GCancellable) cancellable = g_cancellable_new();
  GThread *t = g_thread_new("cancel", cancel_thread, cancellable);
  IvlRemoteAnswer answer;
  g_autoptr(GError) error = NULL;
  gint64 start = g_get_monotonic_time();
  g_assert_false(ivl_remote_client_chat(c, chat, NULL, NULL, &answer, cancellable, &error));
  double took = (g_get_monotonic_time() - start) / 1e6;
  g_thread_join(t);
  g_assert_error(error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpfloat(took, <, 5); /* the server hangs for 30 s */
  g_assert_cmpstr(answer.text, ==, "The picture shows ");
  ivl_remote_answer_clear(&answer);
  /* The history can be taken back and the client used again. */
  ivl_remote_chat_truncate(chat, 0);
  ivl_remote_chat_add_user(chat, "Describe it.");
  g_clear_error(&error);
  g_assert_true(ivl_remote_client_chat(c, chat, NULL, NULL, &answer, NULL, &error));
  g_assert_no_error(error);
  g_assert_cmpstr(answer.text, ==, "The picture shows a red panda.");
  g_assert_cmpstr(answer.finish_reason, ==, "stop");
  g_assert_true(answer.has_usage);
  g_assert_cmpint(answer.completion_tokens, ==, 7);
  ivl_remote_answer_clear(&answer);
  fake_server_stop(&s);
}

/* A server whose accept queue is full: the kernel drops the SYN, so the connection neither
 * opens nor fails, and only the connect timeout ends the wait. The second timeout is the
 * first's retry. */
static void test_connect_timeout(void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocket) listener =
      g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &error);
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) any = g_inet_socket_address_new(loopback, 0);
  g_autoptr(GSocketAddress) bound = NULL;
  g_autoptr(GSocket) filler = NULL;
  g_autofree char *url = NULL;
  g_assert_no_error(error);
  g_assert_true(g_socket_bind(listener, any, FALSE, &error));
  g_socket_set_listen_backlog(listener, 0);
  g_assert_true(g_socket_listen(listener, &error));
  bound = g_socket_get_local_address(listener, &error);
  g_assert_no_error(error);
  /* Backlog 0 holds one connection: this one fills it. */
  filler = g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &error);
  g_assert_true(g_socket_connect(filler, bound, NULL, &error));
  url = g_strdup_printf("http://127.0.0.1:%u",
                        g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound)));

  g_autoptr(IvlRemoteClient) c = ivl_remote_client_new(url, NULL, NULL);
  ivl_remote_client_set_timeouts(c, 1, 30, 1);
  gint64 start = g_get_monotonic_time();
  g_autoptr(GPtrArray) models = ivl_remote_client_list_models(c, NULL, &error);
  double took = (g_get_monotonic_time() - start) / 1e6;
  g_assert_null(models);
  g_assert_error(error, IVL_REMOTE_ERROR, IVL_REMOTE_ERROR_TIMEOUT);
  g_assert_nonnull(strstr(error->message, "could not connect to the server at 127.0.0.1:"));
  g_assert_cmpfloat(took, >=, 2); /* tried twice */
  g_assert_cmpfloat(took, <, 10); /* not the stall timeout */
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/remote/sse/framing", test_sse_framing);
  g_test_add_func("/remote/sse/bounded", test_sse_bounded);
  g_test_add_func("/remote/error/shapes", test_error_shapes);
  g_test_add_func("/remote/client/base-url", test_base_url);
  g_test_add_func("/remote/media/fit", test_media_fit);
  g_test_add_func("/remote/client/list-models-async", test_list_models_async);
  g_test_add_func("/remote/client/cancel", test_cancel_closes_stream);
  g_test_add_func("/remote/client/connect-timeout", test_connect_timeout);
  return g_test_run();
}
