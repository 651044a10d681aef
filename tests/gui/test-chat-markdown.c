/* Markdown of chat answers → blocks: CommonMark's rules, GFM's tables, code with its language,
 * links, and valid Pango markup for every prefix of a streamed answer. */
#include <pango/pango.h>
#include <string.h>

#include "ivl-markdown.h"

/* Valid for a GtkLabel: Pango markup plus <a href>, which the label takes out itself. */
static void assert_valid(const char *markup)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GRegex) link = g_regex_new("<a href=\"[^\"<>]*\">(.*?)</a>", G_REGEX_DOTALL, 0, NULL);
  g_autofree char *pango = g_regex_replace(link, markup, -1, 0, "<span>\\1</span>", 0, NULL);

  if (!pango_parse_markup(pango, -1, 0, NULL, NULL, NULL, &error))
    g_error("invalid markup %s: %s", markup, error->message);
}

/* Every piece of markup in blocks parses. */
static void assert_all_valid(GPtrArray *blocks)
{
  for (guint i = 0; i < blocks->len; i++) {
    IvlMdBlock *b = blocks->pdata[i];
    if (b->kind == IVL_MD_TEXT)
      assert_valid(b->text);
    for (guint c = 0; b->cells && c < b->cells->len; c++)
      assert_valid(b->cells->pdata[c]);
  }
}

/* The one block md makes, which must be text: its markup. */
static IvlMdBlock *only_block(GPtrArray *blocks)
{
  g_assert_cmpuint(blocks->len, ==, 1);
  assert_all_valid(blocks);
  return blocks->pdata[0];
}

static void check_text(const char *md, const char *expected)
{
  g_autoptr(GPtrArray) blocks = ivl_markdown_parse(md);
  IvlMdBlock *b = only_block(blocks);

  g_assert_cmpint(b->kind, ==, IVL_MD_TEXT);
  g_assert_cmpstr(b->text, ==, expected);
}

static void test_inline(void)
{
  /* The case: '_' inside a word is no emphasis, so every underscore stays. */
  check_text("_private and then foo_bar_baz", "_private and then foo_bar_baz");
  check_text("snake_case_name stays", "snake_case_name stays");
  check_text("a **bold** word", "a <b>bold</b> word");
  check_text("an *italic* and _italic_ word", "an <i>italic</i> and <i>italic</i> word");
  check_text("**bold with *italic* inside**", "<b>bold with <i>italic</i> inside</b>");
  check_text("2 * 3 * 4", "2 * 3 * 4");
  check_text("~~gone~~ now", "<s>gone</s> now");
  check_text("call `f(a<b)`",
             "call <span font_family=\"monospace\" bgcolor=\"#808080\" bgalpha=\"16%\">"
             "f(a&lt;b)</span>");
  check_text("line one\nline two", "line one\nline two");
  check_text("\\*not emphasis\\*", "*not emphasis*");
}

static void test_escaping(void)
{
  /* Raw HTML is text; < & > are escaped, entities resolved (unknown names stay). */
  check_text("plain <b>bold?</b> & text > x", "plain &lt;b&gt;bold?&lt;/b&gt; &amp; text &gt; x");
  check_text("&copy; &#65; &#x42; &lt;tag&gt; &bogus;", "© A B &lt;tag&gt; &amp;bogus;");
  check_text("<ref>", "&lt;ref&gt;");
}

static void test_links(void)
{
  check_text("see [the docs](https://example.com/a?b=1&c=2)",
             "see <a href=\"https://example.com/a?b=1&amp;c=2\">the docs</a>");
  check_text("at https://x.org/a_b_c.",
             "at <a href=\"https://x.org/a_b_c\">https://x.org/a_b_c</a>.");
  check_text("www.gnome.org", "<a href=\"http://www.gnome.org\">www.gnome.org</a>");
  check_text("<mailto:me@x.org>", "<a href=\"mailto:me@x.org\">mailto:me@x.org</a>");
  /* Only web and mail addresses: a link to a local file or a script is text. */
  check_text("[run](file:///bin/sh) [js](javascript:alert(1))", "run js");
  check_text("![a cat](https://x.org/cat.png)", "<a href=\"https://x.org/cat.png\">a cat</a>");
  check_text("[**bold** link](http://a.b)", "<a href=\"http://a.b\"><b>bold</b> link</a>");
}

static void test_headings_lists_quotes(void)
{
  g_autoptr(GPtrArray) blocks =
      ivl_markdown_parse("# Title\ntext\n\n- one\n- two\n  1. sub\n- [x] done\n\n> quoted\n\n---");
  static const struct {
    IvlMdKind kind;
    const char *text, *marker;
    guint heading, indent, quote;
    gboolean tight;
  } expected[] = {
      {IVL_MD_TEXT, "Title", NULL, 1, 0, 0, FALSE},  {IVL_MD_TEXT, "text", NULL, 0, 0, 0, FALSE},
      {IVL_MD_TEXT, "one", "•", 0, 1, 0, FALSE},     {IVL_MD_TEXT, "two", "•", 0, 1, 0, TRUE},
      {IVL_MD_TEXT, "sub", "1.", 0, 2, 0, TRUE},     {IVL_MD_TEXT, "done", "☑", 0, 1, 0, TRUE},
      {IVL_MD_TEXT, "quoted", NULL, 0, 0, 1, FALSE}, {IVL_MD_RULE, NULL, NULL, 0, 0, 0, FALSE},
  };

  assert_all_valid(blocks);
  g_assert_cmpuint(blocks->len, ==, G_N_ELEMENTS(expected));
  for (guint i = 0; i < blocks->len; i++) {
    IvlMdBlock *b = blocks->pdata[i];
    g_assert_cmpint(b->kind, ==, expected[i].kind);
    g_assert_cmpstr(b->text, ==, expected[i].text);
    g_assert_cmpstr(b->marker, ==, expected[i].marker);
    g_assert_cmpuint(b->heading, ==, expected[i].heading);
    g_assert_cmpuint(b->indent, ==, expected[i].indent);
    g_assert_cmpuint(b->quote, ==, expected[i].quote);
    g_assert_cmpint(b->tight, ==, expected[i].tight);
  }
}

static void test_ordered_start(void)
{
  g_autoptr(GPtrArray) blocks = ivl_markdown_parse("3) three\n4) four");

  g_assert_cmpuint(blocks->len, ==, 2);
  g_assert_cmpstr(((IvlMdBlock *)blocks->pdata[0])->marker, ==, "3)");
  g_assert_cmpstr(((IvlMdBlock *)blocks->pdata[1])->marker, ==, "4)");
}

static void test_code(void)
{
  g_autoptr(GPtrArray) blocks =
      ivl_markdown_parse("Run:\n\n```python title\nif a < b:\n    x()\n```\nok\n\n    indented");
  IvlMdBlock *code, *indented;

  assert_all_valid(blocks);
  g_assert_cmpuint(blocks->len, ==, 4);
  code = blocks->pdata[1];
  g_assert_cmpint(code->kind, ==, IVL_MD_CODE);
  g_assert_cmpstr(code->language, ==, "python");
  /* Verbatim: no escaping, indentation kept, the last newline dropped. */
  g_assert_cmpstr(code->text, ==, "if a < b:\n    x()");
  g_assert_cmpstr(((IvlMdBlock *)blocks->pdata[2])->text, ==, "ok");
  indented = blocks->pdata[3];
  g_assert_cmpint(indented->kind, ==, IVL_MD_CODE);
  g_assert_cmpstr(indented->language, ==, "");
  g_assert_cmpstr(indented->text, ==, "indented");
}

/* While an answer streams, a fence that is not closed yet is already code. */
static void test_open_fence(void)
{
  g_autoptr(GPtrArray) blocks = ivl_markdown_parse("Here:\n```c\nint a = 1 << 2;\nint b");
  IvlMdBlock *code;

  g_assert_cmpuint(blocks->len, ==, 2);
  code = blocks->pdata[1];
  g_assert_cmpint(code->kind, ==, IVL_MD_CODE);
  g_assert_cmpstr(code->language, ==, "c");
  g_assert_cmpstr(code->text, ==, "int a = 1 << 2;\nint b");
}

static void test_table(void)
{
  g_autoptr(GPtrArray) blocks =
      ivl_markdown_parse("| Name | Count | Note |\n|:--|:-:|--:|\n| `a_b` | 2 | *x* & y |\n| c |");
  IvlMdBlock *t = only_block(blocks);
  static const char *const cells[] = {
      "Name", "Count",
      "Note", "<span font_family=\"monospace\" bgcolor=\"#808080\" bgalpha=\"16%\">a_b</span>",
      "2",    "<i>x</i> &amp; y",
      "c",    "",
      "",
  };

  g_assert_cmpint(t->kind, ==, IVL_MD_TABLE);
  g_assert_cmpuint(t->n_columns, ==, 3);
  g_assert_cmpuint(t->cells->len, ==, G_N_ELEMENTS(cells));
  for (guint i = 0; i < t->cells->len; i++)
    g_assert_cmpstr(t->cells->pdata[i], ==, cells[i]);
  g_assert_cmpuint(t->xalign->len, ==, 3);
  g_assert_cmpfloat(g_array_index(t->xalign, double, 0), ==, 0.0);
  g_assert_cmpfloat(g_array_index(t->xalign, double, 1), ==, 0.5);
  g_assert_cmpfloat(g_array_index(t->xalign, double, 2), ==, 1.0);
}

/* A list item that begins with code keeps its bullet; the code is indented with the item. */
static void test_code_in_list(void)
{
  g_autoptr(GPtrArray) blocks = ivl_markdown_parse("- ```sh\n  ls\n  ```\n- next");
  IvlMdBlock *b;

  g_assert_cmpuint(blocks->len, ==, 3);
  b = blocks->pdata[0];
  g_assert_cmpint(b->kind, ==, IVL_MD_TEXT);
  g_assert_cmpstr(b->marker, ==, "•");
  g_assert_cmpstr(b->text, ==, "");
  b = blocks->pdata[1];
  g_assert_cmpint(b->kind, ==, IVL_MD_CODE);
  g_assert_cmpuint(b->indent, ==, 1);
  g_assert_cmpstr(b->text, ==, "ls");
}

static void test_equal(void)
{
  g_autoptr(GPtrArray) a = ivl_markdown_parse("x\n\n```c\ny\n```\n|a|\n|-|\n|b|");
  g_autoptr(GPtrArray) b = ivl_markdown_parse("x\n\n```c\ny\n```\n|a|\n|-|\n|b|");
  g_autoptr(GPtrArray) c = ivl_markdown_parse("x\n\n```c\ny\n```\n|a|\n|-|\n|c|");
  g_autoptr(GPtrArray) none = ivl_markdown_parse(NULL);

  g_assert_cmpuint(a->len, ==, 3);
  for (guint i = 0; i < a->len; i++)
    g_assert_true(ivl_md_block_equal(a->pdata[i], b->pdata[i]));
  g_assert_true(ivl_md_block_equal(a->pdata[1], c->pdata[1]));
  g_assert_false(ivl_md_block_equal(a->pdata[2], c->pdata[2]));
  g_assert_cmpuint(none->len, ==, 0);
}

/* md4c 0.4.8 ends the emphasis of this text twice, across a strikethrough: the markup must
 * stay well nested all the same (found by fuzzing). */
static void test_mismatched_spans(void)
{
  g_autoptr(GPtrArray) blocks =
      ivl_markdown_parse(";<)1h\nx~. _;]h ;./&[](\n*)];x-&*`\n(_<\th~&-:; !*<\t&![|  ]: ;");
  IvlMdBlock *b = only_block(blocks);

  g_assert_cmpstr(b->text, ==,
                  ";&lt;)1h\nx<s>. <i>;]h ;./&amp;];x-&amp;</i>`\n(&lt;\th</s>&amp;-:; !*&lt;\t"
                  "&amp;![|  ]: ;");
}

/* Every prefix of an answer is shown while it streams: each must give valid markup. */
static void test_streaming_prefixes(void)
{
  const char *answer = "# Head\n**bold** and *it* `code` [link](https://a.b/?q=1&r=<2>)\n"
                       "- item **x**\n  - [ ] task\n```py\nint a<3;\n```\n> q &amp; "
                       "&#x1F600;\n\n| h | i |\n|---|---|\n| 1 | 2 |\n***\n1. one";
  gsize len = strlen(answer);

  for (gsize i = 0; i <= len; i++) {
    g_autofree char *prefix = g_strndup(answer, i);
    g_autoptr(GPtrArray) blocks = ivl_markdown_parse(prefix);
    assert_all_valid(blocks);
  }
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/markdown/inline", test_inline);
  g_test_add_func("/markdown/escaping", test_escaping);
  g_test_add_func("/markdown/links", test_links);
  g_test_add_func("/markdown/headings-lists-quotes", test_headings_lists_quotes);
  g_test_add_func("/markdown/ordered-start", test_ordered_start);
  g_test_add_func("/markdown/code", test_code);
  g_test_add_func("/markdown/open-fence", test_open_fence);
  g_test_add_func("/markdown/table", test_table);
  g_test_add_func("/markdown/code-in-list", test_code_in_list);
  g_test_add_func("/markdown/equal", test_equal);
  g_test_add_func("/markdown/mismatched-spans", test_mismatched_spans);
  g_test_add_func("/markdown/streaming-prefixes", test_streaming_prefixes);
  return g_test_run();
}
