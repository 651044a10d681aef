/* Unit tests of engine/json-write.c (Python json.dumps(indent=2) output) and
 * engine/json-check.c (the guards in front of json-glib). */
#include <string.h>

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

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/json/write-floats", test_floats);
  g_test_add_func("/json/write-layout", test_layout);
  g_test_add_func("/json/checks", test_checks);
  return g_test_run();
}
