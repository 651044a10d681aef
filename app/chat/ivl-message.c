/* ivl-message.c — one message of a conversation. */
#include "ivl-config.h"

#include "ivl-message.h"

#include <glib/gi18n.h>

#include "json-check.h"

/* One answer while another is chosen. */
typedef struct {
  char *text;
  IvlMessageState state;
  char *error; /* why a FAILED answer stopped; NULL when not told */
  gboolean has_stats;
  IvlAnswerStats stats;
} Alternative;

struct _IvlMessage {
  GObject parent_instance;

  IvlMessageRole role;
  IvlMessageState state;
  gboolean waiting; /* STREAMING, but not started yet; not saved */
  char *error;      /* why a FAILED answer stopped */
  GString *text;
  GPtrArray *attachments; /* IvlAttachment */
  gboolean combined;
  gboolean has_stats;
  IvlAnswerStats stats;
  /* Every answer to the question, in the order they came, once there are several; the
   * entry of the chosen one is stale: its fields above are the live copy. */
  GPtrArray *alternatives; /* Alternative */
  guint chosen;
};

G_DEFINE_FINAL_TYPE(IvlMessage, ivl_message, G_TYPE_OBJECT)

enum { PROP_0, PROP_TEXT, PROP_STATE, PROP_STATS, PROP_ALTERNATIVE, N_PROPS };
static GParamSpec *props[N_PROPS];

static const char *const state_names[] = {"done", "streaming", "stopped", "failed", "length"};

static void alternative_free(Alternative *a)
{
  g_free(a->text);
  g_free(a->error);
  g_free(a);
}

static void ivl_message_finalize(GObject *object)
{
  IvlMessage *self = IVL_MESSAGE(object);

  g_ptr_array_unref(self->alternatives);
  g_string_free(self->text, TRUE);
  g_free(self->error);
  g_ptr_array_unref(self->attachments);
  G_OBJECT_CLASS(ivl_message_parent_class)->finalize(object);
}

static void ivl_message_get_property(GObject *object, guint id, GValue *value,
                                     GParamSpec *pspec)
{
  IvlMessage *self = IVL_MESSAGE(object);

  switch (id) {
  case PROP_TEXT:
    g_value_set_string(value, self->text->str);
    break;
  case PROP_STATE:
    g_value_set_int(value, self->state);
    break;
  case PROP_STATS:
    g_value_set_boolean(value, self->has_stats);
    break;
  case PROP_ALTERNATIVE:
    g_value_set_uint(value, self->chosen);
    break;
  default:
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
  }
}

static void ivl_message_class_init(IvlMessageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS(klass);

  object_class->finalize = ivl_message_finalize;
  object_class->get_property = ivl_message_get_property;
  props[PROP_TEXT] =
      g_param_spec_string("text", NULL, NULL, "", G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  props[PROP_STATE] = g_param_spec_int("state", NULL, NULL, IVL_MESSAGE_DONE, IVL_MESSAGE_LENGTH,
                                       IVL_MESSAGE_DONE, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  /* Notified when the stats are set; read them with ivl_message_get_stats. */
  props[PROP_STATS] = g_param_spec_boolean("has-stats", NULL, NULL, FALSE,
                                           G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  /* Notified when the answer shown changes or one is added or dropped. */
  props[PROP_ALTERNATIVE] = g_param_spec_uint("alternative", NULL, NULL, 0, G_MAXUINT, 0,
                                              G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties(object_class, N_PROPS, props);
}

static void ivl_message_init(IvlMessage *self)
{
  self->text = g_string_new(NULL);
  self->attachments = g_ptr_array_new_with_free_func(g_object_unref);
  self->alternatives = g_ptr_array_new_with_free_func((GDestroyNotify)alternative_free);
}

IvlMessage *ivl_message_new(IvlMessageRole role, const char *text)
{
  IvlMessage *self = g_object_new(IVL_TYPE_MESSAGE, NULL);

  self->role = role;
  g_string_assign(self->text, text ? text : "");
  return self;
}

static IvlMessageState state_from_name(const char *name)
{
  for (guint i = 0; i < G_N_ELEMENTS(state_names); i++)
    if (g_str_equal(name, state_names[i]))
      /* An answer that was streaming when the app went away is what it is: partial. */
      return i == IVL_MESSAGE_STREAMING ? IVL_MESSAGE_STOPPED : (IvlMessageState)i;
  return IVL_MESSAGE_DONE;
}

/* The text, state and stats members of a message or of one of its alternatives. */
static Alternative *answer_from_json(JsonObject *object)
{
  Alternative *a = g_new0(Alternative, 1);
  JsonNode *node = json_object_get_member(object, "stats");
  JsonObject *stats = node && JSON_NODE_HOLDS_OBJECT(node) ? json_node_get_object(node) : NULL;

  a->text = g_strdup(ivl_json_string_or(object, "text", ""));
  a->state = state_from_name(ivl_json_string_or(object, "state", "done"));
  a->error =
      a->state == IVL_MESSAGE_FAILED ? g_strdup(ivl_json_string_or(object, "error", NULL)) : NULL;
  if (stats) {
    a->has_stats = TRUE;
    a->stats.n_tokens = (int)ivl_json_int_or(stats, "tokens", 0);
    a->stats.tokens_per_s = ivl_json_number_or(stats, "tokens_per_s", 0);
    a->stats.first_token_ms = ivl_json_number_or(stats, "first_token_ms", 0);
    a->stats.n_tiles = (int)ivl_json_int_or(stats, "tiles", 0);
  }
  return a;
}

static void answer_to_json(JsonBuilder *b, const char *text, IvlMessageState state,
                           const char *error, const IvlAnswerStats *stats)
{
  json_builder_set_member_name(b, "text");
  json_builder_add_string_value(b, text);
  json_builder_set_member_name(b, "state");
  json_builder_add_string_value(b, state_names[state]);
  if (error) {
    json_builder_set_member_name(b, "error");
    json_builder_add_string_value(b, error);
  }
  if (stats) {
    json_builder_set_member_name(b, "stats");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "tokens");
    json_builder_add_int_value(b, stats->n_tokens);
    json_builder_set_member_name(b, "tokens_per_s");
    json_builder_add_double_value(b, stats->tokens_per_s);
    json_builder_set_member_name(b, "first_token_ms");
    json_builder_add_double_value(b, stats->first_token_ms);
    json_builder_set_member_name(b, "tiles");
    json_builder_add_int_value(b, stats->n_tiles);
    json_builder_end_object(b);
  }
}

/* Makes the live fields those of alternative a (which they replace). */
static void load_alternative(IvlMessage *self, const Alternative *a)
{
  g_string_assign(self->text, a->text);
  self->state = a->state;
  g_free(self->error);
  self->error = g_strdup(a->error);
  self->has_stats = a->has_stats;
  self->stats = a->stats;
}

static void save_alternative(IvlMessage *self, Alternative *a)
{
  g_free(a->text);
  a->text = g_strdup(self->text->str);
  a->state = self->state;
  g_free(a->error);
  a->error = g_strdup(self->error);
  a->has_stats = self->has_stats;
  a->stats = self->stats;
}

/* The saved answers: "alternatives" holds all of them and "chosen" which one is live; the
 * message's own text is that one's, so a version without alternatives reads the chosen. */
static void alternatives_from_json(IvlMessage *self, JsonObject *object)
{
  JsonArray *list = ivl_json_array_member(object, "alternatives");
  guint n = list ? json_array_get_length(list) : 0;
  gint64 chosen = ivl_json_int_or(object, "chosen", 0);

  if (n < 2 || chosen < 0 || chosen >= n)
    return;
  for (guint i = 0; i < n; i++) {
    JsonObject *o = ivl_json_object_element(list, i);
    if (o == NULL) {
      g_ptr_array_set_size(self->alternatives, 0);
      return;
    }
    g_ptr_array_add(self->alternatives, answer_from_json(o));
  }
  self->chosen = (guint)chosen;
  load_alternative(self, self->alternatives->pdata[self->chosen]);
}

IvlMessage *ivl_message_new_from_json(JsonObject *object, const char *images_dir,
                                      GError **error)
{
  const char *role = ivl_json_string_or(object, "role", "");
  g_autoptr(IvlMessage) self = NULL;
  Alternative *answer;

  if (g_strcmp0(role, "user") != 0 && g_strcmp0(role, "assistant") != 0) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, _("Unknown message role “%s”"),
                role);
    return NULL;
  }
  self = ivl_message_new(g_str_equal(role, "user") ? IVL_MESSAGE_USER : IVL_MESSAGE_ASSISTANT,
                         NULL);
  answer = answer_from_json(object);
  load_alternative(self, answer);
  alternative_free(answer);
  if (self->role == IVL_MESSAGE_ASSISTANT)
    alternatives_from_json(self, object);
  self->combined = ivl_json_bool_or(object, "combined", FALSE);

  JsonArray *media = ivl_json_array_member(object, "media");
  for (guint i = 0; media && i < json_array_get_length(media); i++) {
    JsonObject *m = ivl_json_object_element(media, i);
    IvlAttachment *a = m ? ivl_attachment_new_from_json(m, images_dir, error) : NULL;
    if (a == NULL) {
      if (m == NULL)
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, _("An attachment is malformed"));
      return NULL;
    }
    g_ptr_array_add(self->attachments, a);
  }
  return g_steal_pointer(&self);
}

JsonNode *ivl_message_to_json(IvlMessage *self)
{
  g_autoptr(JsonBuilder) b = json_builder_new();

  json_builder_begin_object(b);
  json_builder_set_member_name(b, "role");
  json_builder_add_string_value(b, self->role == IVL_MESSAGE_USER ? "user" : "assistant");
  answer_to_json(b, self->text->str, self->state, self->error, ivl_message_get_stats(self));
  if (self->alternatives->len > 1) {
    json_builder_set_member_name(b, "chosen");
    json_builder_add_int_value(b, self->chosen);
    json_builder_set_member_name(b, "alternatives");
    json_builder_begin_array(b);
    for (guint i = 0; i < self->alternatives->len; i++) {
      const Alternative *a = self->alternatives->pdata[i];
      json_builder_begin_object(b);
      if (i == self->chosen)
        answer_to_json(b, self->text->str, self->state, self->error, ivl_message_get_stats(self));
      else
        answer_to_json(b, a->text, a->state, a->error, a->has_stats ? &a->stats : NULL);
      json_builder_end_object(b);
    }
    json_builder_end_array(b);
  }
  if (self->attachments->len > 0) {
    json_builder_set_member_name(b, "combined");
    json_builder_add_boolean_value(b, self->combined);
    json_builder_set_member_name(b, "media");
    json_builder_begin_array(b);
    for (guint i = 0; i < self->attachments->len; i++)
      json_builder_add_value(b, ivl_attachment_to_json(self->attachments->pdata[i]));
    json_builder_end_array(b);
  }
  json_builder_end_object(b);
  return json_builder_get_root(b);
}

IvlMessageRole ivl_message_get_role(IvlMessage *self)
{
  return self->role;
}

const char *ivl_message_get_text(IvlMessage *self)
{
  return self->text->str;
}

void ivl_message_set_text(IvlMessage *self, const char *text)
{
  g_string_assign(self->text, text ? text : "");
  g_object_notify_by_pspec(G_OBJECT(self), props[PROP_TEXT]);
}

void ivl_message_append_text(IvlMessage *self, const char *piece)
{
  g_string_append(self->text, piece);
  g_object_notify_by_pspec(G_OBJECT(self), props[PROP_TEXT]);
}

IvlMessageState ivl_message_get_state(IvlMessage *self)
{
  return self->state;
}

void ivl_message_set_state(IvlMessage *self, IvlMessageState state)
{
  if (state != IVL_MESSAGE_FAILED)
    g_clear_pointer(&self->error, g_free);
  if (self->state == state)
    return;
  self->state = state;
  g_object_notify_by_pspec(G_OBJECT(self), props[PROP_STATE]);
}

gboolean ivl_message_get_waiting(IvlMessage *self)
{
  return self->waiting;
}

void ivl_message_set_waiting(IvlMessage *self, gboolean waiting)
{
  if (self->waiting == waiting)
    return;
  self->waiting = waiting;
  g_object_notify_by_pspec(G_OBJECT(self), props[PROP_STATE]);
}

const char *ivl_message_get_error(IvlMessage *self)
{
  return self->error;
}

void ivl_message_fail(IvlMessage *self, const char *error)
{
  g_free(self->error);
  self->error = g_strdup(error);
  if (self->state == IVL_MESSAGE_FAILED)
    g_object_notify_by_pspec(G_OBJECT(self), props[PROP_STATE]);
  else
    ivl_message_set_state(self, IVL_MESSAGE_FAILED);
}

GPtrArray *ivl_message_get_attachments(IvlMessage *self)
{
  return self->attachments;
}

void ivl_message_add_attachment(IvlMessage *self, IvlAttachment *attachment)
{
  g_ptr_array_add(self->attachments, g_object_ref(attachment));
}

gboolean ivl_message_get_combined(IvlMessage *self)
{
  return self->combined;
}

void ivl_message_set_combined(IvlMessage *self, gboolean combined)
{
  self->combined = combined;
}

const IvlAnswerStats *ivl_message_get_stats(IvlMessage *self)
{
  return self->has_stats ? &self->stats : NULL;
}

void ivl_message_set_stats(IvlMessage *self, const IvlAnswerStats *stats)
{
  self->has_stats = stats != NULL;
  if (stats)
    self->stats = *stats;
  g_object_notify_by_pspec(G_OBJECT(self), props[PROP_STATS]);
}

guint ivl_message_get_n_alternatives(IvlMessage *self)
{
  return MAX(self->alternatives->len, 1);
}

guint ivl_message_get_alternative(IvlMessage *self)
{
  return self->chosen;
}

/* Everything a row shows changes with the answer chosen. */
static void notify_answer(IvlMessage *self)
{
  g_object_freeze_notify(G_OBJECT(self));
  g_object_notify_by_pspec(G_OBJECT(self), props[PROP_TEXT]);
  g_object_notify_by_pspec(G_OBJECT(self), props[PROP_STATE]);
  g_object_notify_by_pspec(G_OBJECT(self), props[PROP_STATS]);
  g_object_notify_by_pspec(G_OBJECT(self), props[PROP_ALTERNATIVE]);
  g_object_thaw_notify(G_OBJECT(self));
}

void ivl_message_choose_alternative(IvlMessage *self, guint index)
{
  if (index == self->chosen || index >= self->alternatives->len)
    return;
  save_alternative(self, self->alternatives->pdata[self->chosen]);
  self->chosen = index;
  load_alternative(self, self->alternatives->pdata[index]);
  notify_answer(self);
}

void ivl_message_add_alternative(IvlMessage *self)
{
  static const Alternative empty = {.text = (char *)"", .state = IVL_MESSAGE_DONE};

  if (self->alternatives->len == 0)
    g_ptr_array_add(self->alternatives, g_new0(Alternative, 1));
  save_alternative(self, self->alternatives->pdata[self->chosen]);
  g_ptr_array_add(self->alternatives, g_new0(Alternative, 1));
  self->chosen = self->alternatives->len - 1;
  load_alternative(self, &empty);
  notify_answer(self);
}

void ivl_message_drop_alternative(IvlMessage *self)
{
  if (self->alternatives->len < 2)
    return;
  g_ptr_array_remove_index(self->alternatives, self->chosen);
  self->chosen = self->chosen > 0 ? self->chosen - 1 : 0;
  load_alternative(self, self->alternatives->pdata[self->chosen]);
  /* One answer left: no pager. */
  if (self->alternatives->len == 1)
    g_ptr_array_set_size(self->alternatives, 0);
  notify_answer(self);
}
