/* serve-text.c — stripping and stop sequences over streamed pieces (serve-text.h). */
#include "serve-text.h"

#include <string.h>

#include "utf8.h"

struct _IvlServeText {
  char *const *stop;
  GString *text; /* the answer so far, leading whitespace dropped */
  gsize sent;    /* bytes of text returned */
  gboolean stopped;
};

IvlServeText *ivl_serve_text_new(char *const *stop)
{
  IvlServeText *t = g_new0(IvlServeText, 1);
  t->stop = stop;
  t->text = g_string_new(NULL);
  return t;
}

void ivl_serve_text_free(IvlServeText *t)
{
  if (!t)
    return;
  g_string_free(t->text, TRUE);
  g_free(t);
}

gboolean ivl_serve_text_stopped(const IvlServeText *t)
{
  return t->stopped;
}

const char *ivl_serve_text_get(const IvlServeText *t)
{
  return t->text->str;
}

/* The start of the whitespace that ends text (Python's str.strip set). */
static gsize trailing_space(const char *text, gsize len)
{
  const char *end = text + len;
  while (end > text) {
    const char *prev = g_utf8_find_prev_char(text, end);
    if (!prev || !ivl_utf8_is_py_space(g_utf8_get_char(prev)))
      break;
    end = prev;
  }
  return (gsize)(end - text);
}

/* The length of the longest end of text that begins some stop sequence (and may complete
 * it with the next piece). */
static gsize partial_stop(const IvlServeText *t)
{
  gsize best = 0;
  for (char *const *s = t->stop; s && *s; s++) {
    gsize n = strlen(*s);
    for (gsize k = MIN(n - 1, t->text->len); k > best; k--)
      if (memcmp(t->text->str + t->text->len - k, *s, k) == 0) {
        best = k;
        break;
      }
  }
  return best;
}

/* Cuts the text before the earliest stop sequence; TRUE if there was one. */
static gboolean cut_at_stop(IvlServeText *t, gsize from)
{
  const char *first = NULL;
  for (char *const *s = t->stop; s && *s; s++) {
    const char *at = strstr(t->text->str + from, *s);
    if (at && (!first || at < first))
      first = at;
  }
  if (first)
    g_string_truncate(t->text, (gsize)(first - t->text->str));
  return first != NULL;
}

static char *take(IvlServeText *t, gsize upto)
{
  if (upto <= t->sent)
    return g_strdup("");
  char *out = g_strndup(t->text->str + t->sent, upto - t->sent);
  t->sent = upto;
  return out;
}

char *ivl_serve_text_feed(IvlServeText *t, const char *piece)
{
  if (t->stopped)
    return g_strdup("");
  if (t->text->len == 0)
    while (*piece && ivl_utf8_is_py_space(g_utf8_get_char(piece)))
      piece = g_utf8_next_char(piece);
  gsize old = t->text->len;
  g_string_append(t->text, piece);
  /* a stop sequence may begin in text held back: search from the earliest such place */
  gsize longest = 0;
  for (char *const *s = t->stop; s && *s; s++)
    longest = MAX(longest, strlen(*s));
  if (cut_at_stop(t, old > longest ? old - longest : 0)) {
    t->stopped = TRUE;
    return g_strdup(""); /* finish() sends the rest */
  }
  gsize upto = MIN(trailing_space(t->text->str, t->text->len), t->text->len - partial_stop(t));
  return take(t, upto);
}

char *ivl_serve_text_finish(IvlServeText *t)
{
  /* chat() strips the end: so does the stream, and the text kept becomes the answer */
  g_string_truncate(t->text, MAX(t->sent, trailing_space(t->text->str, t->text->len)));
  return take(t, t->text->len);
}
