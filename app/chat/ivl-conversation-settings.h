/* ivl-conversation-settings.h — the settings of one conversation: its title, the model it is
 * asked with, and its system prompt. */
#pragma once

#include <adwaita.h>

#include "ivl-conversation.h"

G_BEGIN_DECLS

#define IVL_TYPE_CONVERSATION_SETTINGS (ivl_conversation_settings_get_type())
G_DECLARE_FINAL_TYPE(IvlConversationSettings, ivl_conversation_settings, IVL, CONVERSATION_SETTINGS,
                     AdwWindow)

/* models: IvlModelEntry, as the window's selector offers them; current_model: the folder
 * chosen when the conversation has none yet. Save writes the choices into the conversation
 * and emits "saved" (the caller stores it and loads its model). */
IvlConversationSettings *ivl_conversation_settings_new(GtkWindow *parent,
                                                       IvlConversation *conversation,
                                                       GPtrArray *models,
                                                       const char *current_model);

G_END_DECLS
