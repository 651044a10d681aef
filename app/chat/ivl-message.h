/* ivl-message.h — one message of a conversation: a question with its media, or an answer. */
#pragma once

#include "ivl-attachment.h"

G_BEGIN_DECLS

typedef enum {
  IVL_MESSAGE_USER,
  IVL_MESSAGE_ASSISTANT,
} IvlMessageRole;

typedef enum {
  IVL_MESSAGE_DONE,
  IVL_MESSAGE_STREAMING, /* the answer is being generated */
  IVL_MESSAGE_STOPPED,   /* the person stopped it; the text is partial */
  IVL_MESSAGE_FAILED,    /* generation failed part way (a server's stream cut), text kept */
  IVL_MESSAGE_LENGTH,    /* cut by the most new tokens allowed: it can be continued */
} IvlMessageState;

/* How an answer was made, for the line under it. */
typedef struct {
  int n_tokens;          /* generated */
  double tokens_per_s;   /* decoding speed after the first token */
  double first_token_ms; /* from asking to the first token: history, images, prefill */
  int n_tiles;           /* image tiles and video frames run through the vision encoder */
} IvlAnswerStats;

#define IVL_TYPE_MESSAGE (ivl_message_get_type())
G_DECLARE_FINAL_TYPE(IvlMessage, ivl_message, IVL, MESSAGE, GObject)

IvlMessage *ivl_message_new(IvlMessageRole role, const char *text);
IvlMessage *ivl_message_new_from_json(JsonObject *object, const char *images_dir,
                                      GError **error);
JsonNode *ivl_message_to_json(IvlMessage *self);

IvlMessageRole ivl_message_get_role(IvlMessage *self);
const char *ivl_message_get_text(IvlMessage *self);
void ivl_message_set_text(IvlMessage *self, const char *text);
void ivl_message_append_text(IvlMessage *self, const char *piece);
IvlMessageState ivl_message_get_state(IvlMessage *self);
void ivl_message_set_state(IvlMessage *self, IvlMessageState state);
/* A STREAMING answer that waits for others to end before it starts; not saved. Notifies
 * "state". */
gboolean ivl_message_get_waiting(IvlMessage *self);
void ivl_message_set_waiting(IvlMessage *self, gboolean waiting);
/* Why a FAILED answer stopped (saved with it), or NULL; other states have none. */
const char *ivl_message_get_error(IvlMessage *self);
/* Marks the answer FAILED for this reason, its text kept. */
void ivl_message_fail(IvlMessage *self, const char *error);

/* NULL until the answer is finished (and for questions). */
const IvlAnswerStats *ivl_message_get_stats(IvlMessage *self);
void ivl_message_set_stats(IvlMessage *self, const IvlAnswerStats *stats);

/* The answers to one question: regenerating keeps the earlier ones, and the person pages
 * through them. The text, state and stats above are those of the chosen one, which is the
 * one the next question's history holds. A question has one. */
guint ivl_message_get_n_alternatives(IvlMessage *self);
guint ivl_message_get_alternative(IvlMessage *self);
void ivl_message_choose_alternative(IvlMessage *self, guint index);
/* Keeps the current answer and starts an empty one after the others, which is chosen. */
void ivl_message_add_alternative(IvlMessage *self);
/* Forgets the chosen answer (a regeneration that failed) and chooses the one before it;
 * the only answer stays. */
void ivl_message_drop_alternative(IvlMessage *self);

/* The attachments of a question (IvlAttachment), in order; the array is owned by the message. */
GPtrArray *ivl_message_get_attachments(IvlMessage *self);
void ivl_message_add_attachment(IvlMessage *self, IvlAttachment *attachment);
/* TRUE when several images go behind one <image> instead of "Image-1: …" each. */
gboolean ivl_message_get_combined(IvlMessage *self);
void ivl_message_set_combined(IvlMessage *self, gboolean combined);

G_END_DECLS
