/* ivl-markdown-view.h — an answer's Markdown shown as widgets: wrapped, selectable text with
 * clickable links, highlighted code blocks with Copy, tables as grids. */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

#define IVL_TYPE_MARKDOWN_VIEW (ivl_markdown_view_get_type())
G_DECLARE_FINAL_TYPE(IvlMarkdownView, ivl_markdown_view, IVL, MARKDOWN_VIEW, GtkWidget)

GtkWidget *ivl_markdown_view_new(void);
/* Shows markdown (NULL: nothing). Called again as an answer streams in, it rebuilds only the
 * blocks that changed, so a token costs a parse and the last block's update. */
void ivl_markdown_view_set_markdown(IvlMarkdownView *self, const char *markdown);
/* The menu a right-click in the text or code offers after its own items (NULL: none). */
void ivl_markdown_view_set_extra_menu(IvlMarkdownView *self, GMenuModel *menu);

G_END_DECLS
