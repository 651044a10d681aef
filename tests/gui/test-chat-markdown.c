/* Markdown of chat answers → Pango markup: the constructs, and always-valid markup. */
#include <pango/pango.h>
#include <string.h>

#include "ivl-markdown.h"

static void assert_valid(const char *markup)
{
  g_autoptr(GError) error = NULL;

  if (!pango_parse_markup(markup, -1, 0, NULL, NULL, NULL, &error))
    g_error("invalid markup %s: %s", markup, error->message);
}

static void check(const char *md, const char *expected)
{
  g_autofree char *out = ivl_markdown_to_pango(md);

  assert_valid(out);
  g_assert_cmpstr(out, ==, expected);
}

static void test_inline(void)
{
  check("plain <b> & text", "plain &lt;b&gt; &amp; text");
  check("a **bold** word", "a <b>bold</b> word");
  check("an *italic* and _italic_ word", "an <i>italic</i> and <i>italic</i> word");
  check("snake_case_name stays", "snake_case_name stays");
  check("**bold with *italic* inside**", "<b>bold with <i>italic</i> inside</b>");
  check("2 * 3 * 4", "2 * 3 * 4");
}

static void test_blocks(void)
{
  g_autofree char *code = ivl_markdown_to_pango("Run:\n```c\nif (a < b)\n  x();\n```\nok");

  assert_valid(code);
  g_assert_nonnull(strstr(code, "font_family=\"monospace\""));
  g_assert_nonnull(strstr(code, "if (a &lt; b)\n  x();"));
  check("# Title\ntext", "<span size=\"large\" weight=\"bold\">Title</span>\ntext");
  check("- one\n- two", "  • one\n  • two");
  check("1. first\n2. second", "1. first\n2. second");
  check("para one\n\n\npara two", "para one\n\npara two");
}

/* Every prefix of an answer is shown while it streams: each must be valid markup. */
static void test_streaming_prefixes(void)
{
  const char *answer = "# Head\n**bold** and *it* `code`\n- item **x**\n```\nint a<3;\n```\n> q";
  gsize len = strlen(answer);

  for (gsize i = 0; i <= len; i++) {
    g_autofree char *prefix = g_strndup(answer, i);
    g_autofree char *out = ivl_markdown_to_pango(prefix);
    assert_valid(out);
  }
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/markdown/inline", test_inline);
  g_test_add_func("/markdown/blocks", test_blocks);
  g_test_add_func("/markdown/streaming-prefixes", test_streaming_prefixes);
  return g_test_run();
}
