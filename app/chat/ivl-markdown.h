/* ivl-markdown.h — the little markdown a chat answer uses, as Pango markup. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Paragraphs, headings, bullet and numbered lists, fenced code blocks (monospace), inline
 * `code`, **bold**, *italic* / _italic_. Everything else is escaped, so the result is always
 * valid Pango markup, also for a half-streamed answer with an open fence or marker. */
char *ivl_markdown_to_pango(const char *markdown);

G_END_DECLS
