/* utf8.h — UTF-8 the way Python treats it, where ivl must match Python byte for byte. */
#ifndef IVL_UTF8_H
#define IVL_UTF8_H

#include <glib.h>

/* Appends bytes to out as Python's bytes.decode("utf-8", errors="replace") would: one U+FFFD
 * for each maximal subpart of an ill-formed sequence (Unicode 3.9, Table 3-7). When final is
 * FALSE, an unfinished but so far well-formed sequence at the end is left unconsumed, so
 * that more bytes may complete it. Returns the number of bytes consumed. */
gsize ivl_utf8_append_replacing(GString *out, const char *bytes, gsize len, gboolean final);

/* Python's str.isspace() for one character. */
gboolean ivl_utf8_is_py_space(gunichar c);

/* Python's str.strip() with no argument; returns a new string. s must be valid UTF-8. */
char *ivl_utf8_strip_py(const char *s);

#endif /* IVL_UTF8_H */
