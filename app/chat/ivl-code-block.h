/* ivl-code-block.h — a code block of an answer: highlighted, with its language and Copy. */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

#define IVL_TYPE_CODE_BLOCK (ivl_code_block_get_type())
G_DECLARE_FINAL_TYPE(IvlCodeBlock, ivl_code_block, IVL, CODE_BLOCK, GtkWidget)

GtkWidget *ivl_code_block_new(void);
/* Shows code, highlighted as language (the fence's word: "python", "js", "c++"; "" for
 * none). Code that goes on from what is shown (a streaming answer) is appended, not redrawn. */
void ivl_code_block_set_code(IvlCodeBlock *self, const char *code, const char *language);
/* The menu a right-click in the code offers after its own items (NULL: none). */
void ivl_code_block_set_extra_menu(IvlCodeBlock *self, GMenuModel *menu);

G_END_DECLS
