/* test-data.h — helpers the text tests share: paths under tests/data, hex-coded bytes, and a
 * decode through the token stream. */
#pragma once

#include <glib.h>
#include <string.h>

#include "tokenizer.h"

/* tests/data/rel under $IVL_SOURCE_ROOT (else the current folder). */
static inline char *data_path(const char *rel)
{
  const char *root = g_getenv("IVL_SOURCE_ROOT");
  return g_build_filename(root ? root : ".", "tests", "data", rel, NULL);
}

/* The bytes a golden file writes as lowercase hex. */
static inline GBytes *hex_to_bytes(const char *hex)
{
  gsize n = strlen(hex) / 2;
  guint8 *b = g_malloc(n + 1);
  for (gsize i = 0; i < n; i++)
    b[i] = (guint8)(g_ascii_xdigit_value(hex[2 * i]) * 16 + g_ascii_xdigit_value(hex[2 * i + 1]));
  return g_bytes_new_take(b, n);
}

/* The ids fed to a token stream one by one; every feed must be whole characters (feeds plus
 * flush are what decode gives, which the callers compare). */
static inline char *stream_all(ivl_tokenizer *tok, const gint32 *ids, gsize n,
                               gboolean skip_special)
{
  g_autoptr(ivl_token_stream) s = ivl_token_stream_new(tok, skip_special);
  GString *out = g_string_new(NULL);
  for (gsize i = 0; i < n; i++) {
    g_autofree char *piece = ivl_token_stream_feed(s, ids[i]);
    g_assert_true(g_utf8_validate(piece, -1, NULL));
    g_string_append(out, piece);
  }
  g_autofree char *rest = ivl_token_stream_flush(s);
  g_string_append(out, rest);
  return g_string_free(out, FALSE);
}
