/* ivl-conversation.h — a conversation: its messages, title and when it last changed. */
#pragma once

#include "ivl-message.h"

G_BEGIN_DECLS

#define IVL_TYPE_CONVERSATION (ivl_conversation_get_type())
G_DECLARE_FINAL_TYPE(IvlConversation, ivl_conversation, IVL, CONVERSATION, GObject)

IvlConversation *ivl_conversation_new(void);
IvlConversation *ivl_conversation_new_from_json(JsonNode *node, const char *images_dir,
                                                GError **error);
JsonNode *ivl_conversation_to_json(IvlConversation *self);

/* A file-name-safe unique id. */
const char *ivl_conversation_get_id(IvlConversation *self);
/* The title the person gave it, else the first question shortened; "New conversation"
 * while there is none. */
const char *ivl_conversation_get_title(IvlConversation *self);
/* Renames it; NULL or blank goes back to the first question. */
void ivl_conversation_set_title(IvlConversation *self, const char *title);
gint64 ivl_conversation_get_updated(IvlConversation *self);
void ivl_conversation_touch(IvlConversation *self);

/* The IvlMessage list: user and assistant messages alternate, a question first. */
GListModel *ivl_conversation_get_messages(IvlConversation *self);
void ivl_conversation_append(IvlConversation *self, IvlMessage *message);
/* Removes the last message (an answer that failed, or its question). */
void ivl_conversation_remove_last(IvlConversation *self);
/* Keeps the first n messages (an edited question replaces the rest). */
void ivl_conversation_truncate(IvlConversation *self, guint n);

G_END_DECLS
