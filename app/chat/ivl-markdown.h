/* ivl-markdown.h — a chat answer's Markdown as a list of blocks to show.
 *
 * CommonMark with GitHub's tables, strikethrough, task lists and autolinks, parsed by md4c.
 * Paragraphs, headings and list items come out as Pango markup (always valid, with links as
 * <a href>), code blocks as their verbatim text and language, tables as cells. An answer is
 * parsed again as each token streams in: any prefix of a document parses, and a code fence
 * that is not closed yet runs to the end as CommonMark says, so it already shows as code. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum {
  IVL_MD_TEXT,  /* a paragraph, a heading or the text of a list item */
  IVL_MD_CODE,  /* a fenced or indented code block */
  IVL_MD_TABLE, /* a GFM table */
  IVL_MD_RULE,  /* a thematic break (---) */
} IvlMdKind;

typedef struct {
  IvlMdKind kind;
  guint indent;     /* how many lists hold the block */
  guint quote;      /* how many block quotes hold it */
  gboolean tight;   /* a later part of a tight list: set close to the block before it */
  guint heading;    /* TEXT: 1 to 6 for a heading, else 0 */
  char *marker;     /* TEXT: the bullet, number or task box of the list item it starts, or NULL */
  char *text;       /* TEXT: Pango markup; CODE: the code, without the newline that ends it */
  char *language;   /* CODE: the first word of the fence's info string; "" when there is none */
  guint n_columns;  /* TABLE */
  GPtrArray *cells; /* TABLE: each cell's Pango markup, row by row, the header row first */
  GArray *xalign;   /* TABLE: each column's alignment as a double: 0 left, 0.5 centre, 1 right */
} IvlMdBlock;

/* The blocks of markdown (NULL: none), in order; the array owns them. */
GPtrArray *ivl_markdown_parse(const char *markdown);
/* Whether a and b show the same thing. */
gboolean ivl_md_block_equal(const IvlMdBlock *a, const IvlMdBlock *b);
void ivl_md_block_free(IvlMdBlock *block);

G_END_DECLS
