/* ivl-markdown.c — chat markdown to Pango markup. */
#include "ivl-markdown.h"

#include <string.h>

#define CODE_OPEN "<span font_family=\"monospace\" bgcolor=\"#808080\" bgalpha=\"16%\">"
#define CODE_CLOSE "</span>"

static void inline_to_pango(GString *out, const char *s, gsize len);

static void append_escaped(GString *out, const char *s, gsize len)
{
  g_autofree char *e = g_markup_escape_text(s, (gssize)len);

  g_string_append(out, e);
}

/* The closing marker of an emphasis span: the same marker, not right after a space. */
static const char *find_close(const char *s, gsize len, const char *marker)
{
  gsize m = strlen(marker);

  for (gsize i = 1; i + m <= len; i++)
    if (memcmp(s + i, marker, m) == 0 && s[i - 1] != ' ')
      return s + i;
  return NULL;
}

/* Renders the span that starts at s; returns the bytes it used, 0 when s is plain text. */
static gsize try_span(GString *out, const char *s, gsize len)
{
  const char *marker, *open, *close;

  if (s[0] == '`') {
    const char *end = len > 1 ? memchr(s + 1, '`', len - 1) : NULL;
    if (end == NULL)
      return 0;
    g_string_append(out, CODE_OPEN);
    append_escaped(out, s + 1, end - s - 1);
    g_string_append(out, CODE_CLOSE);
    return end - s + 1;
  }
  if (len >= 4 && (strncmp(s, "**", 2) == 0 || strncmp(s, "__", 2) == 0))
    marker = s[0] == '*' ? "**" : "__", open = "<b>", close = "</b>";
  else
    marker = s[0] == '*' ? "*" : "_", open = "<i>", close = "</i>";
  gsize m = strlen(marker);
  if (len <= m || s[m] == ' ')
    return 0;
  const char *end = find_close(s + m, len - m, marker);
  if (end == NULL)
    return 0;
  g_string_append(out, open);
  inline_to_pango(out, s + m, end - s - m);
  g_string_append(out, close);
  return end - s + m;
}

/* Copies plain runs escaped and hands each marker to try_span. */
static void inline_to_pango(GString *out, const char *s, gsize len)
{
  gsize i = 0, run = 0;

  while (i < len) {
    gsize used = 0;
    /* '_' inside a word (snake_case) is not emphasis. */
    gboolean can_open = s[i] == '`' || s[i] == '*' ||
                        (s[i] == '_' && (i == 0 || !g_ascii_isalnum(s[i - 1])));
    if (can_open) {
      g_autoptr(GString) span = g_string_new(NULL);
      used = try_span(span, s + i, len - i);
      if (used > 0) {
        append_escaped(out, s + run, i - run);
        g_string_append(out, span->str);
        run = i + used;
      }
    }
    i += used > 0 ? used : 1;
  }
  append_escaped(out, s + run, len - run);
}

static gboolean is_fence(const char *line)
{
  while (*line == ' ')
    line++;
  return g_str_has_prefix(line, "```") || g_str_has_prefix(line, "~~~");
}

/* Length of a list marker ("- ", "* ", "+ ", "12. ") after indentation; 0 if none. */
static gsize list_marker(const char *line, gboolean *numbered)
{
  gsize i = 0;

  *numbered = FALSE;
  if ((line[0] == '-' || line[0] == '*' || line[0] == '+') && line[1] == ' ')
    return 2;
  while (g_ascii_isdigit(line[i]))
    i++;
  if (i > 0 && i < 10 && (line[i] == '.' || line[i] == ')') && line[i + 1] == ' ') {
    *numbered = TRUE;
    return i + 2;
  }
  return 0;
}

static void text_line(GString *out, const char *line)
{
  gsize indent = strspn(line, " ");
  const char *body = line + indent;
  gsize hashes = strspn(body, "#");
  gboolean numbered;
  gsize marker;

  if (hashes >= 1 && hashes <= 6 && body[hashes] == ' ') {
    g_string_append(out, hashes <= 2 ? "<span size=\"large\" weight=\"bold\">" : "<b>");
    inline_to_pango(out, body + hashes + 1, strlen(body + hashes + 1));
    g_string_append(out, hashes <= 2 ? "</span>" : "</b>");
  } else if ((marker = list_marker(body, &numbered)) > 0) {
    /* Nested items keep their depth: two spaces of markdown = one level. */
    for (gsize d = 0; d < indent / 2; d++)
      g_string_append(out, "    ");
    if (numbered)
      append_escaped(out, body, marker - 1);
    else
      g_string_append(out, "  •");
    g_string_append_c(out, ' ');
    inline_to_pango(out, body + marker, strlen(body + marker));
  } else if (g_str_has_prefix(body, "> ")) {
    g_string_append(out, "<i>");
    inline_to_pango(out, body + 2, strlen(body + 2));
    g_string_append(out, "</i>");
  } else {
    inline_to_pango(out, line, strlen(line));
  }
}

char *ivl_markdown_to_pango(const char *markdown)
{
  g_auto(GStrv) lines = g_strsplit(markdown ? markdown : "", "\n", -1);
  GString *out = g_string_new(NULL);
  gboolean in_code = FALSE, blank = FALSE;

  for (guint i = 0; lines[i]; i++) {
    const char *line = lines[i];
    if (is_fence(line)) {
      if (!in_code && out->len > 0)
        g_string_append(out, blank ? "\n\n" : "\n");
      blank = FALSE;
      g_string_append(out, in_code ? CODE_CLOSE : CODE_OPEN);
      in_code = !in_code;
      continue;
    }
    if (in_code) {
      append_escaped(out, line, strlen(line));
      if (lines[i + 1] && !is_fence(lines[i + 1]))
        g_string_append_c(out, '\n');
      continue;
    }
    /* Runs of blank lines collapse into one paragraph break. */
    if (line[strspn(line, " \t\r")] == '\0') {
      blank = out->len > 0;
      continue;
    }
    if (out->len > 0)
      g_string_append(out, blank ? "\n\n" : "\n");
    blank = FALSE;
    text_line(out, line);
  }
  if (in_code)
    g_string_append(out, CODE_CLOSE);
  return g_string_free(out, FALSE);
}
