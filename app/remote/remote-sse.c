/* remote-sse.c — the event-stream reader (remote-sse.h), after the WHATWG "server-sent events"
 * parsing rules: lines end in LF, CRLF or CR; a blank line ends an event; "field: value" with
 * one optional space after the colon. */
#include "ivl-config.h"

#include "remote-sse.h"
#include "remote-client.h"

#include <glib/gi18n.h>
#include <string.h>

/* A token's JSON chunk is a few hundred bytes; a line this long is not an answer. */
#define MAX_LINE ((gsize)16 << 20)

struct _IvlRemoteSse {
  GInputStream *in;
  GString *buf; /* bytes read and not yet split into lines */
  gsize scan;   /* where the search for the line's end resumes */
  gboolean eof;
  GString *data; /* the event being assembled */
  char *field;
  gboolean has_data;
  char *line; /* the last line taken */
};

IvlRemoteSse *ivl_remote_sse_new(GInputStream *in)
{
  IvlRemoteSse *sse = g_new0(IvlRemoteSse, 1);
  sse->in = in;
  sse->buf = g_string_new(NULL);
  sse->data = g_string_new(NULL);
  return sse;
}

void ivl_remote_sse_free(IvlRemoteSse *sse)
{
  if (!sse)
    return;
  g_string_free(sse->buf, TRUE);
  g_string_free(sse->data, TRUE);
  g_free(sse->field);
  g_free(sse->line);
  g_free(sse);
}

/* Takes the next line into sse->line; FALSE at the end (a last line without its end is
 * still taken) or with an error. */
static gboolean next_line(IvlRemoteSse *sse, void (*activity)(gpointer), gpointer activity_data,
                          GCancellable *cancellable, GError **error)
{
  for (;;) {
    for (gsize i = sse->scan; i < sse->buf->len; i++) {
      char c = sse->buf->str[i];
      if (c != '\n' && c != '\r')
        continue;
      /* A CR at the very end may be the first half of a CRLF still on the wire. */
      if (c == '\r' && i + 1 == sse->buf->len && !sse->eof)
        break;
      g_free(sse->line);
      sse->line = g_strndup(sse->buf->str, i);
      gsize end = i + 1 + (c == '\r' && i + 1 < sse->buf->len && sse->buf->str[i + 1] == '\n');
      g_string_erase(sse->buf, 0, (gssize)end);
      sse->scan = 0;
      return TRUE;
    }
    sse->scan = sse->buf->len > 0 && sse->buf->str[sse->buf->len - 1] == '\r' ? sse->buf->len - 1
                                                                              : sse->buf->len;
    if (sse->buf->len > MAX_LINE) {
      g_set_error(error, IVL_REMOTE_ERROR, IVL_REMOTE_ERROR_PROTOCOL,
                  _("the server sent a line of more than %d MiB in its stream"),
                  (int)(MAX_LINE >> 20));
      return FALSE;
    }
    if (sse->eof) {
      if (sse->buf->len == 0)
        return FALSE;
      g_free(sse->line);
      sse->line = g_strndup(sse->buf->str, sse->buf->len);
      g_string_truncate(sse->buf, 0);
      sse->scan = 0;
      return TRUE;
    }
    char chunk[16384];
    gssize n = g_input_stream_read(sse->in, chunk, sizeof chunk, cancellable, error);
    if (n < 0)
      return FALSE;
    if (n == 0)
      sse->eof = TRUE;
    else {
      g_string_append_len(sse->buf, chunk, n);
      if (activity)
        activity(activity_data);
    }
  }
}

gboolean ivl_remote_sse_next(IvlRemoteSse *sse, const char **field, const char **data,
                             void (*activity)(gpointer), gpointer activity_data,
                             GCancellable *cancellable, GError **error)
{
  g_string_truncate(sse->data, 0);
  sse->has_data = FALSE;
  g_clear_pointer(&sse->field, g_free);
  for (;;) {
    GError *local = NULL;
    gboolean got = next_line(sse, activity, activity_data, cancellable, &local);
    if (!got && local) {
      g_propagate_error(error, local);
      return FALSE;
    }
    if (!got || sse->line[0] == '\0') {
      if (sse->has_data) {
        *field = sse->field;
        *data = sse->data->str;
        return TRUE;
      }
      if (!got)
        return FALSE;
      continue;
    }
    const char *line = sse->line;
    if (line[0] == ':')
      continue;
    const char *colon = strchr(line, ':');
    g_autofree char *name = colon ? g_strndup(line, colon - line) : g_strdup(line);
    const char *value = colon ? colon + 1 : "";
    if (*value == ' ')
      value++;
    if (!g_str_equal(name, "data") && !g_str_equal(name, "error"))
      continue;
    /* An "error:" line wins over data lines of the same event: it says the stream failed. */
    if (!sse->field || g_str_equal(name, "error")) {
      if (sse->field && !g_str_equal(sse->field, name))
        g_string_truncate(sse->data, 0);
      g_free(sse->field);
      sse->field = g_strdup(name);
    } else if (!g_str_equal(sse->field, name))
      continue;
    if (sse->has_data && sse->data->len > 0)
      g_string_append_c(sse->data, '\n');
    g_string_append(sse->data, value);
    sse->has_data = TRUE;
  }
}
