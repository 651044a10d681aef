/* ivl-message-row.h — how one message looks in the conversation view. */
#pragma once

#include <gtk/gtk.h>

#include "ivl-message.h"

G_BEGIN_DECLS

#define IVL_TYPE_MESSAGE_ROW (ivl_message_row_get_type())
G_DECLARE_FINAL_TYPE(IvlMessageRow, ivl_message_row, IVL, MESSAGE_ROW, GtkWidget)

/* Signals: "edit" — the person wants to change this question and send it again;
 * "alternative-chosen" — the pager showed another of the answer's alternatives. */
GtkWidget *ivl_message_row_new(void);
/* Shows message (NULL: none) and follows its text and state while it streams. For an
 * answer, question is the question before it: its images carry the answer's grounding boxes. */
void ivl_message_row_set_message(IvlMessageRow *self, IvlMessage *message,
                                 IvlMessage *question);
IvlMessage *ivl_message_row_get_message(IvlMessageRow *self);

G_END_DECLS
