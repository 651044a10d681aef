/* Unit tests of engine/json-write.c (Python json.dumps(indent=2) output),
 * engine/json-check.c (the guards in front of json-glib) and engine/file-io.c. */
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>

#include "file-io.h"

#include "ivl.h"
#include "json-check.h"
#include "json-write.h"

static char *write_value(const char *json)
{
  g_autoptr(JsonParser) p = json_parser_new();
  g_assert_true(json_parser_load_from_data(p, json, -1, NULL));
  return ivl_json_write_pretty(json_parser_get_root(p), TRUE);
}

/* Expected strings are what Python 3's json.dumps(…, indent=2, sort_keys=True) prints. */
static void test_floats(void)
{
  static const struct {
    const char *in, *out;
  } cases[] = {
      {"1e-10", "1e-10\n"},
      {"1e-6", "1e-06\n"},
      {"0.02", "0.02\n"},
      {"0.0", "0.0\n"},
      {"2.0", "2.0\n"},
      {"1000000.0", "1000000.0\n"},
      {"50000000.0", "50000000.0\n"},
      {"1e16", "1e+16\n"},
      {"0.1", "0.1\n"},
      {"-1.5e-7", "-1.5e-07\n"},
      {"0.0001", "0.0001\n"},
      {"123456789.125", "123456789.125\n"},
      {"3", "3\n"},
  };
  for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autofree char *out = write_value(cases[i].in);
    g_assert_cmpstr(out, ==, cases[i].out);
  }
}

static void test_layout(void)
{
  g_autofree char *out =
      write_value("{\"b\": [1, true, null], \"a\": {\"y\": \"é\\n\\\"\", \"x\": []}, \"c\": {}}");
  g_assert_cmpstr(out, ==,
                  "{\n  \"a\": {\n    \"x\": [],\n    \"y\": \"\\u00e9\\n\\\"\"\n  },\n"
                  "  \"b\": [\n    1,\n    true,\n    null\n  ],\n  \"c\": {}\n}\n");
}

static void test_checks(void)
{
  static const struct {
    const char *text, *message;
  } bad[] = {
      {"{\"a\": 1, \"a\": 2}", "key \"a\" appears twice"},
      {"{\"a\": {\"b\": 1, \"b\": 1}}", "key \"b\" appears twice"},
      {"[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]", "nests deeper than 16"},
      {"{\"a\": 1234567890123456789}", "more than 18 digits"},
      {"{\"a\": \"\xc3\"}", "not valid UTF-8"},
      {"{\"a\":", "not valid JSON"},
  };
  for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonParser) p =
        ivl_json_parse_checked(bad[i].text, strlen(bad[i].text), "t.json", &error);
    g_assert_null(p);
    g_assert_error(error, IVL_ERROR, IVL_ERROR_CORRUPT);
    if (!strstr(error->message, bad[i].message))
      g_error("\"%s\": message \"%s\" lacks \"%s\"", bad[i].text, error->message, bad[i].message);
  }
  static const char *const good[] = {
      "{\"a\": 123456789012345678, \"b\": 1.5e-300}", "{\"a\": {\"a\": 1}, \"b\": {\"a\": 1}}",
      "[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]", "{\"s\": \"[[[[[[[[[[[[[[[[[[[[\"}"};
  for (gsize i = 0; i < G_N_ELEMENTS(good); i++) {
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonParser) p = ivl_json_parse_checked(good[i], strlen(good[i]), "t.json", &error);
    g_assert_no_error(error);
    g_assert_nonnull(p);
  }
}

/* A scratch folder holding a FIFO "fifo" and a file "file" of the given text. */
static char *scratch_new(const char *text, char **file, char **fifo)
{
  char *dir = g_dir_make_tmp("ivl-json-XXXXXX", NULL);
  *file = g_build_filename(dir, "file", NULL);
  *fifo = g_build_filename(dir, "fifo", NULL);
  g_assert_true(g_file_set_contents(*file, text, -1, NULL));
  g_assert_cmpint(mkfifo(*fifo, 0600), ==, 0);
  return dir;
}

static void scratch_free(char *dir)
{
  g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
  for (const char *name; (name = g_dir_read_name(d));) {
    g_autofree char *path = g_build_filename(dir, name, NULL);
    g_unlink(path);
  }
  g_rmdir(dir);
  g_free(dir);
}

/* Files, streams and typed reads: the entry points beside ivl_json_parse_checked. */
static void test_load(void)
{
  g_autofree char *file = NULL, *fifo = NULL;
  char *dir = scratch_new("{\"s\": \"x\", \"n\": 5, \"b\": true}", &file, &fifo);
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonParser) p = ivl_json_load_file(file, 1024, "file", &error);
  g_assert_no_error(error);
  /* A FIFO is refused at once instead of waiting for a writer; a file over the bound too. */
  g_assert_null(ivl_json_load_file(fifo, 1024, "fifo", &error));
  g_assert_error(error, IVL_ERROR, IVL_ERROR_IO);
  g_assert_nonnull(strstr(error->message, "is a FIFO, not a regular file"));
  g_clear_error(&error);
  g_assert_null(ivl_json_load_file(file, 8, "file", &error));
  g_assert_error(error, IVL_ERROR, IVL_ERROR_UNSUPPORTED);
  g_clear_error(&error);
  g_assert_null(ivl_json_load_file(dir, 1024, "dir", &error));
  g_assert_nonnull(strstr(error->message, "is a folder"));
  g_clear_error(&error);

  JsonObject *o = json_node_get_object(json_parser_get_root(p));
  const char *str = NULL;
  gint64 n = -1;
  gboolean b = FALSE;
  g_assert_true(ivl_json_get_string(o, "s", &str, "t", &error));
  g_assert_cmpstr(str, ==, "x");
  g_assert_true(ivl_json_get_int(o, "n", &n, "t", &error) && n == 5);
  g_assert_true(ivl_json_get_bool(o, "b", &b, "t", &error) && b);
  g_assert_true(ivl_json_get_string(o, "absent", &str, "t", &error));
  g_assert_cmpstr(str, ==, "x"); /* left as it was */
  /* Another type is an error, not a GLib CRITICAL (the tests run with fatal-criticals). */
  g_assert_false(ivl_json_get_string(o, "n", &str, "t", &error));
  g_assert_error(error, IVL_ERROR, IVL_ERROR_CORRUPT);
  g_assert_cmpstr(error->message, ==, "t: \"n\" must be a string");
  g_clear_error(&error);
  g_assert_false(ivl_json_get_bool(o, "s", &b, "t", &error));
  g_clear_error(&error);

  /* A stream is read up to its bound, then refused. */
  static const char body[] = "[1, 2, 3, 4, 5, 6, 7, 8, 9]";
  g_autoptr(GInputStream) in = g_memory_input_stream_new_from_data(body, -1, NULL);
  g_assert_null(ivl_json_load_stream(in, 10, "page", NULL, &error));
  g_assert_nonnull(strstr(error->message, "more than 10 bytes of JSON"));
  g_clear_error(&error);
  g_autoptr(GInputStream) in2 = g_memory_input_stream_new_from_data(body, -1, NULL);
  g_autoptr(JsonParser) p2 = ivl_json_load_stream(in2, 100, "page", NULL, &error);
  g_assert_no_error(error);
  scratch_free(dir);
}

/* Outputs are written in place, as `>` does: a symlink stays a symlink. */
static void test_output(void)
{
  g_autofree char *target = NULL, *fifo = NULL;
  char *dir = scratch_new("old", &target, &fifo);
  g_autofree char *link = g_build_filename(dir, "link", NULL);
  g_assert_cmpint(symlink(target, link), ==, 0);
  g_autoptr(GError) error = NULL;
  g_assert_true(ivl_file_write(link, "new!", 4, &error));
  g_autofree char *text = NULL;
  g_assert_true(g_file_get_contents(target, &text, NULL, NULL));
  g_assert_cmpstr(text, ==, "new!");
  g_assert_true(g_file_test(link, G_FILE_TEST_IS_SYMLINK));
  g_assert_false(ivl_file_write(fifo, "x", 1, &error));
  g_assert_nonnull(strstr(error->message, "a FIFO with no reader"));
  g_clear_error(&error);
  if (g_file_test("/dev/full", G_FILE_TEST_EXISTS)) {
    g_assert_false(ivl_file_write("/dev/full", "x", 1, &error));
    g_assert_nonnull(strstr(error->message, "No space left"));
  }
  scratch_free(dir);
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/json/write-floats", test_floats);
  g_test_add_func("/json/write-layout", test_layout);
  g_test_add_func("/json/checks", test_checks);
  g_test_add_func("/json/load", test_load);
  g_test_add_func("/file/output", test_output);
  return g_test_run();
}
