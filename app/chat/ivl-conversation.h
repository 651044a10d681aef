/* ivl-conversation.h — a conversation: its messages, title, when it last changed, and its
 * own system message and model. */
#pragma once

#include "ivl-message.h"

G_BEGIN_DECLS

/* Whether an answer of the conversation is being generated, or waits for its turn. */
typedef enum {
  IVL_ACTIVITY_IDLE,
  IVL_ACTIVITY_WAITING,
  IVL_ACTIVITY_ANSWERING,
} IvlActivity;

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
/* The system message of this conversation; NULL: the preference's. Blank sets NULL. */
const char *ivl_conversation_get_system_message(IvlConversation *self);
void ivl_conversation_set_system_message(IvlConversation *self, const char *system_message);
/* The folder of the model it was last asked with, loaded again when it is shown; NULL
 * before its first question. */
const char *ivl_conversation_get_model(IvlConversation *self);
void ivl_conversation_set_model(IvlConversation *self, const char *model);
void ivl_conversation_touch(IvlConversation *self);

/* The IvlMessage list: user and assistant messages alternate, a question first. */
GListModel *ivl_conversation_get_messages(IvlConversation *self);
void ivl_conversation_append(IvlConversation *self, IvlMessage *message);
/* Removes the last message (an answer that failed, or its question). */
void ivl_conversation_remove_last(IvlConversation *self);
/* Keeps the first n messages (an edited question replaces the rest). */
void ivl_conversation_truncate(IvlConversation *self, guint n);

/* The "activity" property; the window sets it, the sidebar shows it. */
IvlActivity ivl_conversation_get_activity(IvlConversation *self);
void ivl_conversation_set_activity(IvlConversation *self, IvlActivity activity);

G_END_DECLS
