/* utf8.c — UTF-8 decoding with replacement and whitespace, as Python does them. */
#include "utf8.h"

#include <string.h>

#define REPLACEMENT "\xEF\xBF\xBD"

/* The continuation bytes a lead byte needs, and the range its first one must lie in
 * (Unicode Table 3-7: this excludes overlongs, surrogates and code points past U+10FFFF).
 * Returns FALSE for a byte that cannot start a sequence. */
static gboolean lead_info(guint8 b, int *need, guint8 *lo, guint8 *hi)
{
  *lo = 0x80;
  *hi = 0xBF;
  if (b >= 0xC2 && b <= 0xDF) {
    *need = 1;
  } else if (b >= 0xE0 && b <= 0xEF) {
    *need = 2;
    if (b == 0xE0)
      *lo = 0xA0;
    else if (b == 0xED)
      *hi = 0x9F;
  } else if (b >= 0xF0 && b <= 0xF4) {
    *need = 3;
    if (b == 0xF0)
      *lo = 0x90;
    else if (b == 0xF4)
      *hi = 0x8F;
  } else {
    return FALSE;
  }
  return TRUE;
}

gsize ivl_utf8_append_replacing(GString *out, const char *bytes, gsize len, gboolean final)
{
  const guint8 *p = (const guint8 *)bytes;
  gsize i = 0;
  while (i < len) {
    int need;
    guint8 lo, hi;
    if (p[i] < 0x80) {
      g_string_append_c(out, (char)p[i]);
      i++;
      continue;
    }
    if (!lead_info(p[i], &need, &lo, &hi)) {
      g_string_append(out, REPLACEMENT);
      i++;
      continue;
    }
    int j = 1;
    for (; j <= need; j++) {
      if (i + j >= len)
        break;
      guint8 b = p[i + j];
      if (b < (j == 1 ? lo : 0x80) || b > (j == 1 ? hi : 0xBF))
        break;
    }
    if (j > need) {
      g_string_append_len(out, bytes + i, need + 1);
      i += need + 1;
    } else if (i + j >= len && !final) {
      return i; /* well formed so far: more bytes may complete it */
    } else {
      g_string_append(out, REPLACEMENT);
      i += j;
    }
  }
  return i;
}

gboolean ivl_utf8_is_py_space(gunichar c)
{
  /* Python's str.isspace(): bidirectional class WS, B or S, or category Zs. Unlike Unicode
   * White_Space this includes U+001C..U+001F. */
  if ((c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0)
    return TRUE;
  if (c < 0x1680)
    return FALSE;
  return c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
         c == 0x205F || c == 0x3000;
}

char *ivl_utf8_strip_py(const char *s)
{
  const char *start = s;
  while (*start && ivl_utf8_is_py_space(g_utf8_get_char(start)))
    start = g_utf8_next_char(start);
  const char *end = start + strlen(start);
  while (end > start) {
    const char *prev = g_utf8_find_prev_char(start, end);
    if (!prev || !ivl_utf8_is_py_space(g_utf8_get_char(prev)))
      break;
    end = prev;
  }
  return g_strndup(start, end - start);
}
