/* ivl-conversation.c — a conversation: its messages, title and when it last changed. */
#include "ivl-config.h"

#include "ivl-conversation.h"

#include <glib/gi18n.h>

#include "json-check.h"

#define TITLE_CHARS 48

struct _IvlConversation {
  GObject parent_instance;

  char *id;
  char *title; /* NULL until the first question */
  char *named;  /* the title the person gave it; NULL: the first question */
  gint64 updated; /* unix seconds */
  char *system_message; /* NULL: the preference's */
  char *model;          /* folder; NULL: none yet */
  GListStore *messages;
  IvlActivity activity; /* not saved: an answer does not outlive the app */
};

G_DEFINE_FINAL_TYPE(IvlConversation, ivl_conversation, G_TYPE_OBJECT)

enum { PROP_0, PROP_TITLE, PROP_ACTIVITY, N_PROPS };
static GParamSpec *props[N_PROPS];

static void ivl_conversation_finalize(GObject *object)
{
  IvlConversation *self = IVL_CONVERSATION(object);

  g_free(self->id);
  g_free(self->title);
  g_free(self->named);
  g_free(self->system_message);
  g_free(self->model);
  g_object_unref(self->messages);
  G_OBJECT_CLASS(ivl_conversation_parent_class)->finalize(object);
}

static void ivl_conversation_get_property(GObject *object, guint id, GValue *value,
                                          GParamSpec *pspec)
{
  switch (id) {
  case PROP_TITLE:
    g_value_set_string(value, ivl_conversation_get_title(IVL_CONVERSATION(object)));
    break;
  case PROP_ACTIVITY:
    g_value_set_int(value, IVL_CONVERSATION(object)->activity);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
  }
}

static void ivl_conversation_class_init(IvlConversationClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS(klass);

  object_class->finalize = ivl_conversation_finalize;
  object_class->get_property = ivl_conversation_get_property;
  props[PROP_TITLE] =
      g_param_spec_string("title", NULL, NULL, NULL, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  props[PROP_ACTIVITY] =
      g_param_spec_int("activity", NULL, NULL, IVL_ACTIVITY_IDLE, IVL_ACTIVITY_ANSWERING,
                       IVL_ACTIVITY_IDLE, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties(object_class, N_PROPS, props);
}

static void ivl_conversation_init(IvlConversation *self)
{
  self->messages = g_list_store_new(IVL_TYPE_MESSAGE);
}

IvlConversation *ivl_conversation_new(void)
{
  IvlConversation *self = g_object_new(IVL_TYPE_CONVERSATION, NULL);
  g_autoptr(GDateTime) now = g_date_time_new_now_utc();
  g_autofree char *stamp = g_date_time_format(now, "%Y%m%d-%H%M%S");
  g_autofree char *uuid = g_uuid_string_random();

  /* Time first so a directory listing sorts by age; a uuid part keeps ids unique. */
  self->id = g_strdup_printf("%s-%.8s", stamp, uuid);
  self->updated = g_date_time_to_unix(now);
  return self;
}

static void set_title_from(IvlConversation *self, const char *question)
{
  g_autofree char *line = g_strstrip(g_strdup(question));
  char *nl = strchr(line, '\n');

  if (nl)
    *nl = '\0';
  if (*line == '\0')
    return;
  g_free(self->title);
  if (g_utf8_strlen(line, -1) > TITLE_CHARS) {
    g_autofree char *cut = g_utf8_substring(line, 0, TITLE_CHARS - 1);
    self->title = g_strconcat(cut, "…", NULL);
  } else {
    self->title = g_steal_pointer(&line);
  }
  g_object_notify_by_pspec(G_OBJECT(self), props[PROP_TITLE]);
}

IvlConversation *ivl_conversation_new_from_json(JsonNode *node, const char *images_dir,
                                                GError **error)
{
  JsonObject *o = JSON_NODE_HOLDS_OBJECT(node) ? json_node_get_object(node) : NULL;
  const char *id = o ? ivl_json_string_or(o, "id", NULL) : NULL;
  JsonArray *messages = ivl_json_array_member(o, "messages");
  g_autoptr(IvlConversation) self = NULL;

  if (id == NULL || messages == NULL || strchr(id, '/') != NULL) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                _("The conversation file has no id or no messages"));
    return NULL;
  }
  self = g_object_new(IVL_TYPE_CONVERSATION, NULL);
  self->id = g_strdup(id);
  self->updated = ivl_json_int_or(o, "updated", 0);
  self->named = g_strdup(ivl_json_string_or(o, "title", NULL));
  ivl_conversation_set_system_message(self, ivl_json_string_or(o, "system_message", NULL));
  ivl_conversation_set_model(self, ivl_json_string_or(o, "model", NULL));
  for (guint i = 0; i < json_array_get_length(messages); i++) {
    JsonObject *m = ivl_json_object_element(messages, i);
    g_autoptr(IvlMessage) msg = m ? ivl_message_new_from_json(m, images_dir, error) : NULL;
    if (msg == NULL) {
      if (m == NULL)
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, _("A message is malformed"));
      return NULL;
    }
    if (self->title == NULL && ivl_message_get_role(msg) == IVL_MESSAGE_USER)
      set_title_from(self, ivl_message_get_text(msg));
    g_list_store_append(self->messages, msg);
  }
  return g_steal_pointer(&self);
}

JsonNode *ivl_conversation_to_json(IvlConversation *self)
{
  g_autoptr(JsonBuilder) b = json_builder_new();
  guint n = g_list_model_get_n_items(G_LIST_MODEL(self->messages));

  json_builder_begin_object(b);
  json_builder_set_member_name(b, "version");
  json_builder_add_int_value(b, 1);
  json_builder_set_member_name(b, "id");
  json_builder_add_string_value(b, self->id);
  json_builder_set_member_name(b, "updated");
  json_builder_add_int_value(b, self->updated);
  if (self->named) {
    json_builder_set_member_name(b, "title");
    json_builder_add_string_value(b, self->named);
  }
  if (self->system_message) {
    json_builder_set_member_name(b, "system_message");
    json_builder_add_string_value(b, self->system_message);
  }
  if (self->model) {
    json_builder_set_member_name(b, "model");
    json_builder_add_string_value(b, self->model);
  }
  json_builder_set_member_name(b, "messages");
  json_builder_begin_array(b);
  for (guint i = 0; i < n; i++) {
    g_autoptr(IvlMessage) m = g_list_model_get_item(G_LIST_MODEL(self->messages), i);
    json_builder_add_value(b, ivl_message_to_json(m));
  }
  json_builder_end_array(b);
  json_builder_end_object(b);
  return json_builder_get_root(b);
}

const char *ivl_conversation_get_id(IvlConversation *self)
{
  return self->id;
}

const char *ivl_conversation_get_title(IvlConversation *self)
{
  return self->named ? self->named : self->title ? self->title : _("New conversation");
}

void ivl_conversation_set_title(IvlConversation *self, const char *title)
{
  g_autofree char *clean = title ? g_strstrip(g_strdup(title)) : NULL;

  g_free(self->named);
  self->named = clean && *clean ? g_steal_pointer(&clean) : NULL;
  g_object_notify_by_pspec(G_OBJECT(self), props[PROP_TITLE]);
}

gint64 ivl_conversation_get_updated(IvlConversation *self)
{
  return self->updated;
}

void ivl_conversation_touch(IvlConversation *self)
{
  self->updated = g_get_real_time() / G_USEC_PER_SEC;
}

const char *ivl_conversation_get_system_message(IvlConversation *self)
{
  return self->system_message;
}

void ivl_conversation_set_system_message(IvlConversation *self, const char *system_message)
{
  g_autofree char *clean = system_message ? g_strstrip(g_strdup(system_message)) : NULL;

  g_free(self->system_message);
  self->system_message = clean && *clean ? g_steal_pointer(&clean) : NULL;
}

const char *ivl_conversation_get_model(IvlConversation *self)
{
  return self->model;
}

void ivl_conversation_set_model(IvlConversation *self, const char *model)
{
  g_autofree char *old = self->model;

  self->model = model && *model ? g_strdup(model) : NULL;
}

GListModel *ivl_conversation_get_messages(IvlConversation *self)
{
  return G_LIST_MODEL(self->messages);
}

void ivl_conversation_append(IvlConversation *self, IvlMessage *message)
{
  if (self->title == NULL && ivl_message_get_role(message) == IVL_MESSAGE_USER)
    set_title_from(self, ivl_message_get_text(message));
  g_list_store_append(self->messages, message);
  ivl_conversation_touch(self);
}

void ivl_conversation_truncate(IvlConversation *self, guint n)
{
  guint total = g_list_model_get_n_items(G_LIST_MODEL(self->messages));

  if (n >= total)
    return;
  g_list_store_splice(self->messages, n, total - n, NULL, 0);
  /* Its first question taken back: the title comes from the next one. */
  if (n == 0 && self->title) {
    g_clear_pointer(&self->title, g_free);
    g_object_notify_by_pspec(G_OBJECT(self), props[PROP_TITLE]);
  }
  ivl_conversation_touch(self);
}

void ivl_conversation_remove_last(IvlConversation *self)
{
  guint n = g_list_model_get_n_items(G_LIST_MODEL(self->messages));

  if (n > 0)
    g_list_store_remove(self->messages, n - 1);
  /* Its only question taken back: the conversation is new again. */
  if (n == 1 && self->title) {
    g_clear_pointer(&self->title, g_free);
    g_object_notify_by_pspec(G_OBJECT(self), props[PROP_TITLE]);
  }
}

IvlActivity ivl_conversation_get_activity(IvlConversation *self)
{
  return self->activity;
}

void ivl_conversation_set_activity(IvlConversation *self, IvlActivity activity)
{
  if (self->activity == activity)
    return;
  self->activity = activity;
  g_object_notify_by_pspec(G_OBJECT(self), props[PROP_ACTIVITY]);
}
