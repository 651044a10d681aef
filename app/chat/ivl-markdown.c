/* ivl-markdown.c — a chat answer's Markdown as a list of blocks to show (md4c). */
#include "ivl-markdown.h"

#include <libxml/HTMLparser.h>
#include <md4c.h>
#include <string.h>

/* Raw HTML shows as the text the model wrote: a chat window is no browser. */
#define PARSE_FLAGS (MD_DIALECT_GITHUB | MD_FLAG_NOHTML)

/* Inline code keeps a faint background in both the light and the dark style. */
#define CODE_SPAN_OPEN "<span font_family=\"monospace\" bgcolor=\"#808080\" bgalpha=\"16%\">"

typedef struct {
  gboolean is_list; /* else a block quote */
  gboolean ordered, tight;
  unsigned number; /* of an ordered list: the next item's */
  char delimiter;  /* of an ordered list: '.' or ')' as written */
} Container;

typedef struct {
  GPtrArray *blocks;
  GArray *containers;  /* Container, outermost first */
  IvlMdBlock *current; /* the TEXT, CODE or TABLE block being filled, or NULL */
  GString *markup;     /* the markup of the open TEXT block or table cell, or NULL */
  GString *code;       /* the text of the open CODE block, or NULL */
  char *marker;        /* the marker of a list item whose first block has not come yet */
  GArray *spans;       /* Span, the inline spans open in the markup, outermost first */
  guint list_run;      /* counts outermost lists, to tell which blocks are in the same one */
  guint last_run;      /* the list_run of the last block, 0 when it was in no list */
} Parser;

void ivl_md_block_free(IvlMdBlock *block)
{
  if (block == NULL)
    return;
  g_free(block->marker);
  g_free(block->text);
  g_free(block->language);
  if (block->cells)
    g_ptr_array_unref(block->cells);
  if (block->xalign)
    g_array_unref(block->xalign);
  g_free(block);
}

static gboolean cells_equal(const GPtrArray *a, const GPtrArray *b)
{
  if (a == NULL || b == NULL)
    return a == b;
  if (a->len != b->len)
    return FALSE;
  for (guint i = 0; i < a->len; i++)
    if (strcmp(a->pdata[i], b->pdata[i]) != 0)
      return FALSE;
  return TRUE;
}

static gboolean xalign_equal(const GArray *a, const GArray *b)
{
  if (a == NULL || b == NULL)
    return a == b;
  return a->len == b->len && memcmp(a->data, b->data, a->len * sizeof(double)) == 0;
}

gboolean ivl_md_block_equal(const IvlMdBlock *a, const IvlMdBlock *b)
{
  return a->kind == b->kind && a->indent == b->indent && a->quote == b->quote &&
         a->tight == b->tight && a->heading == b->heading && a->n_columns == b->n_columns &&
         g_strcmp0(a->marker, b->marker) == 0 && g_strcmp0(a->text, b->text) == 0 &&
         g_strcmp0(a->language, b->language) == 0 && cells_equal(a->cells, b->cells) &&
         xalign_equal(a->xalign, b->xalign);
}

/* ---- text ------------------------------------------------------------------------------- */

static void append_escaped(GString *out, const char *s, gsize len)
{
  g_autofree char *e = g_markup_escape_text(s, (gssize)len);

  g_string_append(out, e);
}

/* CommonMark: a code point that is 0, a surrogate or past Unicode becomes U+FFFD. */
static void append_code_point(GString *out, gunichar c)
{
  g_string_append_unichar(out, c != 0 && g_unichar_validate(c) ? c : 0xfffd);
}

/* md4c hands entities over as written ("&copy;", "&#169;", "&#xa9;"); md4c knows no names,
 * so a name HTML does not define stays as it was written. */
static void append_entity(GString *out, const char *s, gsize len)
{
  g_autofree char *name = g_strndup(s + 1, len - 2); /* without '&' and ';' */
  const htmlEntityDesc *entity;

  if (name[0] == '#') {
    gboolean hex = name[1] == 'x' || name[1] == 'X';
    guint64 c = g_ascii_strtoull(name + (hex ? 2 : 1), NULL, hex ? 16 : 10);
    append_code_point(out, c > 0x10ffff ? 0 : (gunichar)c);
  } else if ((entity = htmlEntityLookup((const xmlChar *)name))) {
    append_code_point(out, entity->value);
  } else {
    g_string_append_len(out, s, len);
  }
}

/* The text of an attribute (a link's address, a fence's language), entities resolved. */
static char *attribute_text(const MD_ATTRIBUTE *attr)
{
  GString *out = g_string_new(NULL);

  /* An empty attribute (an indented code block's language) may come without substrings. */
  for (guint i = 0; attr->size > 0 && attr->substr_offsets[i] < attr->size; i++) {
    const char *s = attr->text + attr->substr_offsets[i];
    gsize len = attr->substr_offsets[i + 1] - attr->substr_offsets[i];
    if (attr->substr_types[i] == MD_TEXT_ENTITY)
      append_entity(out, s, len);
    else if (attr->substr_types[i] == MD_TEXT_NULLCHAR)
      append_code_point(out, 0);
    else
      g_string_append_len(out, s, len);
  }
  return g_string_free(out, FALSE);
}

/* An inline span being written: the tags that start and end it. */
typedef struct {
  MD_SPANTYPE type;
  char *open; /* NULL when nothing was written for it (a link kept as text) */
  const char *close;
} Span;

static void span_clear(Span *span)
{
  g_free(span->open);
}

static void push_span(Parser *p, MD_SPANTYPE type, char *open, const char *close)
{
  Span span = {type, open, close};

  if (open)
    g_string_append(p->markup, open);
  g_array_append_val(p->spans, span);
}

/* md4c can end a span that is not the innermost one, or end one twice (it does with some
 * mismatched emphasis, e.g. "_a [](\n*)b*`\n(_"): the spans inside are closed and opened
 * again, so the markup stays well nested, and an end with no start is dropped. */
static void pop_span(Parser *p, MD_SPANTYPE type)
{
  guint at = p->spans->len;

  while (at > 0 && g_array_index(p->spans, Span, at - 1).type != type)
    at--;
  if (at-- == 0)
    return;
  for (guint i = p->spans->len; i-- > at;) {
    Span *s = &g_array_index(p->spans, Span, i);
    if (s->open)
      g_string_append(p->markup, s->close);
  }
  for (guint i = at + 1; i < p->spans->len; i++) {
    Span *s = &g_array_index(p->spans, Span, i);
    if (s->open)
      g_string_append(p->markup, s->open);
  }
  g_array_remove_index(p->spans, at);
}

/* At the end of a paragraph or a cell, whatever md4c left open is closed. */
static void close_spans(Parser *p)
{
  while (p->spans->len > 0)
    pop_span(p, g_array_index(p->spans, Span, p->spans->len - 1).type);
}

/* ---- blocks ----------------------------------------------------------------------------- */

static guint count_containers(Parser *p, gboolean lists)
{
  guint n = 0;

  for (guint i = 0; i < p->containers->len; i++)
    n += g_array_index(p->containers, Container, i).is_list == lists;
  return n;
}

static Container *innermost_list(Parser *p)
{
  for (guint i = p->containers->len; i-- > 0;) {
    Container *c = &g_array_index(p->containers, Container, i);
    if (c->is_list)
      return c;
  }
  return NULL;
}

/* A new block where the parser stands: its indent, quote and spacing come from there. */
static IvlMdBlock *add_block(Parser *p, IvlMdKind kind)
{
  IvlMdBlock *block = g_new0(IvlMdBlock, 1);
  Container *list = innermost_list(p);
  guint run = list ? p->list_run : 0;

  block->kind = kind;
  block->indent = count_containers(p, TRUE);
  block->quote = count_containers(p, FALSE);
  block->tight = list && list->tight && run == p->last_run;
  p->last_run = run;
  g_ptr_array_add(p->blocks, block);
  return block;
}

static void close_text(Parser *p)
{
  if (p->current == NULL || p->current->kind != IVL_MD_TEXT)
    return;
  close_spans(p);
  p->current->text = g_string_free(g_steal_pointer(&p->markup), FALSE);
  p->current = NULL;
}

static void open_text(Parser *p, guint heading)
{
  close_text(p);
  p->current = add_block(p, IVL_MD_TEXT);
  p->current->heading = heading;
  p->current->marker = g_steal_pointer(&p->marker);
  p->markup = g_string_new(NULL);
}

/* A list item that starts with a code block, a table or another list still shows its
 * marker: on a line of its own. */
static void flush_marker(Parser *p)
{
  if (p->marker) {
    open_text(p, 0);
    close_text(p);
  }
}

static char *item_marker(Parser *p, const MD_BLOCK_LI_DETAIL *li)
{
  static const char *const bullets[] = {"•", "◦", "▪"};
  Container *list = innermost_list(p);

  if (li->is_task)
    return g_strdup(li->task_mark == ' ' ? "☐" : "☑");
  if (list->ordered)
    return g_strdup_printf("%u%c", list->number++, list->delimiter);
  return g_strdup(bullets[(count_containers(p, TRUE) - 1) % G_N_ELEMENTS(bullets)]);
}

static void enter_container(Parser *p, MD_BLOCKTYPE type, void *detail)
{
  Container c = {.is_list = type != MD_BLOCK_QUOTE};

  if (type == MD_BLOCK_UL) {
    c.tight = ((MD_BLOCK_UL_DETAIL *)detail)->is_tight;
  } else if (type == MD_BLOCK_OL) {
    MD_BLOCK_OL_DETAIL *ol = detail;
    c.ordered = TRUE;
    c.tight = ol->is_tight;
    c.number = ol->start;
    c.delimiter = ol->mark_delimiter;
  }
  if (c.is_list && innermost_list(p) == NULL)
    p->list_run++;
  g_array_append_val(p->containers, c);
}

static void enter_code(Parser *p, MD_BLOCK_CODE_DETAIL *detail)
{
  flush_marker(p);
  p->current = add_block(p, IVL_MD_CODE);
  p->current->language = attribute_text(&detail->lang);
  p->code = g_string_new(NULL);
}

static void leave_code(Parser *p)
{
  if (p->code->len > 0 && p->code->str[p->code->len - 1] == '\n')
    g_string_truncate(p->code, p->code->len - 1);
  p->current->text = g_string_free(g_steal_pointer(&p->code), FALSE);
  p->current = NULL;
}

static void enter_table(Parser *p, MD_BLOCK_TABLE_DETAIL *detail)
{
  flush_marker(p);
  p->current = add_block(p, IVL_MD_TABLE);
  p->current->n_columns = detail->col_count;
  p->current->cells = g_ptr_array_new_with_free_func(g_free);
  p->current->xalign = g_array_new(FALSE, TRUE, sizeof(double));
}

static void enter_cell(Parser *p, MD_BLOCKTYPE type, MD_BLOCK_TD_DETAIL *detail)
{
  /* The header row gives each column its alignment. */
  if (type == MD_BLOCK_TH) {
    MD_ALIGN a = detail->align;
    double x = a == MD_ALIGN_CENTER ? 0.5 : a == MD_ALIGN_RIGHT ? 1.0 : 0.0;
    g_array_append_val(p->current->xalign, x);
  }
  p->markup = g_string_new(NULL);
}

static void leave_cell(Parser *p)
{
  close_spans(p);
  g_ptr_array_add(p->current->cells, g_string_free(g_steal_pointer(&p->markup), FALSE));
}

static int enter_block(MD_BLOCKTYPE type, void *detail, void *data)
{
  Parser *p = data;

  if (type != MD_BLOCK_TH && type != MD_BLOCK_TD && type != MD_BLOCK_TR && type != MD_BLOCK_THEAD &&
      type != MD_BLOCK_TBODY)
    close_text(p);
  switch (type) {
  case MD_BLOCK_QUOTE:
  case MD_BLOCK_UL:
  case MD_BLOCK_OL:
    flush_marker(p);
    enter_container(p, type, detail);
    break;
  case MD_BLOCK_LI:
    g_free(p->marker);
    p->marker = item_marker(p, detail);
    break;
  case MD_BLOCK_HR:
    flush_marker(p);
    add_block(p, IVL_MD_RULE);
    break;
  case MD_BLOCK_H:
    open_text(p, ((MD_BLOCK_H_DETAIL *)detail)->level);
    break;
  case MD_BLOCK_P:
    open_text(p, 0);
    break;
  case MD_BLOCK_CODE:
    enter_code(p, detail);
    break;
  case MD_BLOCK_TABLE:
    enter_table(p, detail);
    break;
  case MD_BLOCK_TH:
  case MD_BLOCK_TD:
    enter_cell(p, type, detail);
    break;
  default:
    break;
  }
  return 0;
}

static int leave_block(MD_BLOCKTYPE type, void *detail, void *data)
{
  Parser *p = data;

  (void)detail;
  switch (type) {
  case MD_BLOCK_QUOTE:
  case MD_BLOCK_UL:
  case MD_BLOCK_OL:
    close_text(p);
    g_array_set_size(p->containers, p->containers->len - 1);
    break;
  case MD_BLOCK_LI:
    flush_marker(p); /* an empty item, e.g. "- " just streamed in */
    close_text(p);
    break;
  case MD_BLOCK_CODE:
    leave_code(p);
    break;
  case MD_BLOCK_TH:
  case MD_BLOCK_TD:
    leave_cell(p);
    break;
  case MD_BLOCK_TABLE:
    p->current = NULL;
    break;
  default:
    close_text(p);
    break;
  }
  return 0;
}

/* ---- spans ------------------------------------------------------------------------------ */

/* An answer is the model's text: a click on its link must not run a program or open a local
 * file, so only web and mail addresses become links. */
static gboolean is_safe_link(const char *uri)
{
  return g_str_has_prefix(uri, "https://") || g_str_has_prefix(uri, "http://") ||
         g_str_has_prefix(uri, "mailto:");
}

static gboolean in_link(Parser *p)
{
  for (guint i = 0; i < p->spans->len; i++) {
    Span *s = &g_array_index(p->spans, Span, i);
    if ((s->type == MD_SPAN_A || s->type == MD_SPAN_IMG) && s->open)
      return TRUE;
  }
  return FALSE;
}

/* An image shows as its description, a link to the picture; a link inside a link (an image in
 * a link's text) is left to the outer one, as Pango allows no nesting. */
static char *link_tag(Parser *p, const MD_ATTRIBUTE *href)
{
  g_autofree char *uri = attribute_text(href);
  g_autofree char *escaped = NULL;

  if (in_link(p) || !is_safe_link(uri))
    return NULL;
  escaped = g_markup_escape_text(uri, -1);
  return g_strdup_printf("<a href=\"%s\">", escaped);
}

static int enter_span(MD_SPANTYPE type, void *detail, void *data)
{
  Parser *p = data;

  if (p->markup == NULL)
    open_text(p, 0);
  switch (type) {
  case MD_SPAN_EM:
    push_span(p, type, g_strdup("<i>"), "</i>");
    break;
  case MD_SPAN_STRONG:
    push_span(p, type, g_strdup("<b>"), "</b>");
    break;
  case MD_SPAN_DEL:
    push_span(p, type, g_strdup("<s>"), "</s>");
    break;
  case MD_SPAN_CODE:
    push_span(p, type, g_strdup(CODE_SPAN_OPEN), "</span>");
    break;
  case MD_SPAN_A:
    push_span(p, type, link_tag(p, &((MD_SPAN_A_DETAIL *)detail)->href), "</a>");
    break;
  case MD_SPAN_IMG:
    push_span(p, type, link_tag(p, &((MD_SPAN_IMG_DETAIL *)detail)->src), "</a>");
    break;
  default:
    break;
  }
  return 0;
}

static int leave_span(MD_SPANTYPE type, void *detail, void *data)
{
  (void)detail;
  pop_span(data, type);
  return 0;
}

static int text(MD_TEXTTYPE type, const MD_CHAR *s, MD_SIZE len, void *data)
{
  Parser *p = data;

  if (p->code) {
    g_string_append_len(p->code, s, len);
    return 0;
  }
  /* The text of a tight list item comes with no paragraph around it. */
  if (p->markup == NULL)
    open_text(p, 0);
  switch (type) {
  case MD_TEXT_NULLCHAR:
    append_code_point(p->markup, 0);
    break;
  /* A single newline is kept as the model wrote it (CommonMark lets a renderer show a soft
   * break as a line break): answers use it for lines that belong apart, such as steps. */
  case MD_TEXT_BR:
  case MD_TEXT_SOFTBR:
    g_string_append_c(p->markup, '\n');
    break;
  case MD_TEXT_ENTITY: {
    g_autoptr(GString) decoded = g_string_new(NULL);
    append_entity(decoded, s, len);
    append_escaped(p->markup, decoded->str, decoded->len);
    break;
  }
  default:
    append_escaped(p->markup, s, len);
    break;
  }
  return 0;
}

GPtrArray *ivl_markdown_parse(const char *markdown)
{
  static const MD_PARSER parser = {
      .flags = PARSE_FLAGS,
      .enter_block = enter_block,
      .leave_block = leave_block,
      .enter_span = enter_span,
      .leave_span = leave_span,
      .text = text,
  };
  Parser p = {
      .blocks = g_ptr_array_new_with_free_func((GDestroyNotify)ivl_md_block_free),
      .containers = g_array_new(FALSE, FALSE, sizeof(Container)),
      .spans = g_array_new(FALSE, FALSE, sizeof(Span)),
  };

  /* A label refuses markup that is not UTF-8: a broken byte shows as U+FFFD instead. */
  g_autofree char *valid = g_utf8_make_valid(markdown ? markdown : "", -1);

  /* md4c fails only when it cannot allocate, which GLib treats as fatal anyway. */
  g_array_set_clear_func(p.spans, (GDestroyNotify)span_clear);
  md_parse(valid, (MD_SIZE)strlen(valid), &parser, &p);
  g_array_unref(p.containers);
  g_array_unref(p.spans);
  g_free(p.marker);
  return p.blocks;
}
