/* test-data.h — helpers the text tests share: paths under tests/data and hex-coded bytes. */
#pragma once

#include <glib.h>
#include <string.h>

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
