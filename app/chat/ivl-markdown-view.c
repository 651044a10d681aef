/* ivl-markdown-view.c — an answer's Markdown shown as widgets, one for each block. */
#include "ivl-config.h"

#include "ivl-markdown-view.h"

#include <string.h>

#include "ivl-code-block.h"
#include "ivl-markdown.h"

#define INDENT 22     /* px a list level indents; a list item's marker fills it */
#define GAP 10        /* px between paragraphs, code blocks, tables */
#define TIGHT_GAP 3   /* px between the items of a tight list */
#define CELL_CHARS 40 /* a table cell wraps past this many characters */

struct _IvlMarkdownView {
  GtkWidget parent_instance;

  /* owned */
  GPtrArray *blocks;  /* IvlMdBlock shown */
  GPtrArray *widgets; /* GtkWidget of each block: this view's children, in order */
  GMenuModel *extra_menu;
};

G_DEFINE_FINAL_TYPE(IvlMarkdownView, ivl_markdown_view, GTK_TYPE_WIDGET)

static GtkWidget *text_label(IvlMarkdownView *self, const char *markup)
{
  GtkWidget *label = gtk_label_new(NULL);

  gtk_label_set_xalign(GTK_LABEL(label), 0);
  gtk_label_set_wrap(GTK_LABEL(label), TRUE);
  gtk_label_set_wrap_mode(GTK_LABEL(label), PANGO_WRAP_WORD_CHAR);
  gtk_label_set_selectable(GTK_LABEL(label), TRUE);
  gtk_label_set_markup(GTK_LABEL(label), markup);
  gtk_label_set_extra_menu(GTK_LABEL(label), self->extra_menu);
  return label;
}

/* The label with a TEXT block's words: the widget itself, or the last child of a list item. */
static GtkLabel *words_of(GtkWidget *widget)
{
  return GTK_LABEL(GTK_IS_LABEL(widget) ? widget : gtk_widget_get_last_child(widget));
}

static GtkWidget *text_widget(IvlMarkdownView *self, const IvlMdBlock *block)
{
  static const char *const heading_classes[] = {"title-2", "title-3", "title-4", "heading"};
  GtkWidget *label = text_label(self, block->text);
  GtkWidget *box, *marker;

  if (block->heading > 0)
    gtk_widget_add_css_class(
        label, heading_classes[MIN(block->heading, G_N_ELEMENTS(heading_classes)) - 1]);
  if (block->marker == NULL)
    return label;
  box = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 0);
  marker = gtk_label_new(block->marker);
  gtk_widget_set_size_request(marker, INDENT, -1);
  gtk_label_set_xalign(GTK_LABEL(marker), 0);
  gtk_widget_set_valign(marker, GTK_ALIGN_START);
  gtk_widget_add_css_class(marker, "md-marker");
  gtk_widget_set_hexpand(label, TRUE);
  gtk_box_append(GTK_BOX(box), marker);
  gtk_box_append(GTK_BOX(box), label);
  return box;
}

static void set_markup_if_new(GtkLabel *label, const char *markup)
{
  if (g_strcmp0(gtk_label_get_label(label), markup) != 0)
    gtk_label_set_markup(label, markup);
}

/* Cells are added to the grid as a streaming table grows; those already there are updated. */
static void fill_table(IvlMarkdownView *self, GtkGrid *grid, const IvlMdBlock *block)
{
  for (guint i = 0; i < block->cells->len; i++) {
    int row = (int)(i / block->n_columns), col = (int)(i % block->n_columns);
    GtkWidget *cell = gtk_grid_get_child_at(grid, col, row);

    if (cell) {
      set_markup_if_new(GTK_LABEL(cell), block->cells->pdata[i]);
      continue;
    }
    cell = text_label(self, block->cells->pdata[i]);
    gtk_label_set_max_width_chars(GTK_LABEL(cell), CELL_CHARS);
    if ((guint)col < block->xalign->len)
      gtk_label_set_xalign(GTK_LABEL(cell), (float)g_array_index(block->xalign, double, col));
    gtk_widget_add_css_class(cell, row == 0 ? "md-header" : "md-cell");
    gtk_grid_attach(grid, cell, col, row, 1, 1);
  }
}

static GtkWidget *table_widget(IvlMarkdownView *self, const IvlMdBlock *block)
{
  GtkWidget *grid = gtk_grid_new();

  gtk_widget_add_css_class(grid, "md-table");
  gtk_widget_set_halign(grid, GTK_ALIGN_START);
  gtk_widget_set_overflow(grid, GTK_OVERFLOW_HIDDEN);
  fill_table(self, GTK_GRID(grid), block);
  return grid;
}

static GtkWidget *block_widget(IvlMarkdownView *self, const IvlMdBlock *block, gboolean first)
{
  GtkWidget *widget;

  switch (block->kind) {
  case IVL_MD_TEXT:
    widget = text_widget(self, block);
    break;
  case IVL_MD_CODE:
    widget = ivl_code_block_new();
    ivl_code_block_set_code(IVL_CODE_BLOCK(widget), block->text, block->language);
    ivl_code_block_set_extra_menu(IVL_CODE_BLOCK(widget), self->extra_menu);
    break;
  case IVL_MD_TABLE:
    widget = table_widget(self, block);
    break;
  default:
    widget = gtk_separator_new(GTK_ORIENTATION_HORIZONTAL);
    break;
  }
  /* A list item's marker sits in the indent of its own level. */
  gtk_widget_set_margin_start(widget, INDENT * (int)(block->indent - (block->marker != NULL)));
  gtk_widget_set_margin_top(widget, first ? 0 : block->tight ? TIGHT_GAP : GAP);
  if (block->quote > 0)
    gtk_widget_add_css_class(widget, "md-quote");
  return widget;
}

static gboolean same_alignment(const GArray *a, const GArray *b)
{
  return a->len == b->len && memcmp(a->data, b->data, a->len * sizeof(double)) == 0;
}

/* Whether the widget of old can show new by changing its words, code or cells only. */
static gboolean can_update(const IvlMdBlock *old, const IvlMdBlock *new)
{
  if (old->kind != new->kind || old->indent != new->indent || old->quote != new->quote ||
      old->tight != new->tight || old->heading != new->heading ||
      g_strcmp0(old->marker, new->marker) != 0)
    return FALSE;
  if (new->kind == IVL_MD_TABLE)
    return old->n_columns == new->n_columns &&
           old->cells->len <= new->cells->len &&same_alignment(old->xalign, new->xalign);
  return new->kind != IVL_MD_RULE;
}

static void update_widget(IvlMarkdownView *self, GtkWidget *widget, const IvlMdBlock *block)
{
  if (block->kind == IVL_MD_TEXT)
    set_markup_if_new(words_of(widget), block->text);
  else if (block->kind == IVL_MD_CODE)
    ivl_code_block_set_code(IVL_CODE_BLOCK(widget), block->text, block->language);
  else
    fill_table(self, GTK_GRID(widget), block);
}

void ivl_markdown_view_set_markdown(IvlMarkdownView *self, const char *markdown)
{
  g_autoptr(GPtrArray) blocks = ivl_markdown_parse(markdown);
  GtkWidget *before = NULL;

  for (guint i = 0; i < blocks->len; i++) {
    IvlMdBlock *block = blocks->pdata[i];
    IvlMdBlock *old = i < self->blocks->len ? self->blocks->pdata[i] : NULL;
    GtkWidget *widget = old ? self->widgets->pdata[i] : NULL;

    if (old && !ivl_md_block_equal(old, block)) {
      if (can_update(old, block)) {
        update_widget(self, widget, block);
      } else {
        gtk_widget_unparent(widget);
        widget = NULL;
      }
    }
    if (widget == NULL) {
      widget = block_widget(self, block, i == 0);
      gtk_widget_insert_after(widget, GTK_WIDGET(self), before);
      if (old)
        self->widgets->pdata[i] = widget;
      else
        g_ptr_array_add(self->widgets, widget);
    }
    before = widget;
  }
  for (guint i = blocks->len; i < self->widgets->len; i++)
    gtk_widget_unparent(self->widgets->pdata[i]);
  g_ptr_array_set_size(self->widgets, blocks->len);
  g_ptr_array_unref(self->blocks);
  self->blocks = g_steal_pointer(&blocks);
}

/* Every label and code view under widget gets menu after its own items. */
static void apply_extra_menu(GtkWidget *widget, GMenuModel *menu)
{
  if (GTK_IS_LABEL(widget))
    gtk_label_set_extra_menu(GTK_LABEL(widget), menu);
  else if (IVL_IS_CODE_BLOCK(widget))
    ivl_code_block_set_extra_menu(IVL_CODE_BLOCK(widget), menu);
  else
    for (GtkWidget *c = gtk_widget_get_first_child(widget); c; c = gtk_widget_get_next_sibling(c))
      apply_extra_menu(c, menu);
}

void ivl_markdown_view_set_extra_menu(IvlMarkdownView *self, GMenuModel *menu)
{
  g_set_object(&self->extra_menu, menu);
  for (guint i = 0; i < self->widgets->len; i++)
    apply_extra_menu(self->widgets->pdata[i], menu);
}

static void ivl_markdown_view_dispose(GObject *object)
{
  IvlMarkdownView *self = IVL_MARKDOWN_VIEW(object);

  for (GtkWidget *child; (child = gtk_widget_get_first_child(GTK_WIDGET(self)));)
    gtk_widget_unparent(child);
  g_ptr_array_set_size(self->widgets, 0);
  g_ptr_array_set_size(self->blocks, 0);
  g_clear_object(&self->extra_menu);
  G_OBJECT_CLASS(ivl_markdown_view_parent_class)->dispose(object);
}

static void ivl_markdown_view_finalize(GObject *object)
{
  IvlMarkdownView *self = IVL_MARKDOWN_VIEW(object);

  g_ptr_array_unref(self->blocks);
  g_ptr_array_unref(self->widgets);
  G_OBJECT_CLASS(ivl_markdown_view_parent_class)->finalize(object);
}

static void ivl_markdown_view_class_init(IvlMarkdownViewClass *klass)
{
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS(klass);

  G_OBJECT_CLASS(klass)->dispose = ivl_markdown_view_dispose;
  G_OBJECT_CLASS(klass)->finalize = ivl_markdown_view_finalize;
  gtk_widget_class_set_layout_manager_type(widget_class, GTK_TYPE_BOX_LAYOUT);
  gtk_widget_class_set_css_name(widget_class, "markdown");
}

static void ivl_markdown_view_init(IvlMarkdownView *self)
{
  gtk_orientable_set_orientation(GTK_ORIENTABLE(gtk_widget_get_layout_manager(GTK_WIDGET(self))),
                                 GTK_ORIENTATION_VERTICAL);
  self->blocks = g_ptr_array_new_with_free_func((GDestroyNotify)ivl_md_block_free);
  self->widgets = g_ptr_array_new();
}

GtkWidget *ivl_markdown_view_new(void)
{
  return g_object_new(IVL_TYPE_MARKDOWN_VIEW, NULL);
}
