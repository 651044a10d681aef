/* ivl-window.c — the chat window: models, conversations, questions and answers. */
#include "ivl-config.h"

#include "ivl-window-private.h"

#include <glib/gi18n.h>
#include <string.h>

#include "ivl-conversation-settings.h"
#include "ivl-message-row.h"

#define DEMO_MODEL_NAME "ivl-demo-tiny"

G_DEFINE_FINAL_TYPE(IvlWindow, ivl_window, ADW_TYPE_APPLICATION_WINDOW)

static void load_selected_model(IvlWindow *self);
static void follow_bottom(IvlWindow *self);
static void save_conversation(IvlWindow *self, IvlConversation *conversation);

/* ---- errors ---------------------------------------------------------------------------- */

/* The whole reason, wrapped, until dismissed or replaced: a toast would cut it, and the
 * same failure told twice would stack. */
static void show_banner(IvlWindow *self, const char *text)
{
  gtk_label_set_text(self->error_label, text);
  gtk_revealer_set_reveal_child(self->error_revealer, TRUE);
}

void ivl_window_dismiss_error(IvlWindow *self)
{
  gtk_revealer_set_reveal_child(self->error_revealer, FALSE);
}

void ivl_window_show_error(IvlWindow *self, const GError *error)
{
  g_autofree char *text = NULL;

  if (error->domain != IVL_WORKER_ERROR)
    text = g_strdup(error->message);
  else if (error->code == IVL_WORKER_ERROR_NO_MODEL)
    text = g_strdup_printf(_("No model to answer with (%s). Choose a model at the top of the "
                             "window, or put one in the models folder."),
                           error->message);
  else if (error->code == IVL_WORKER_ERROR_BAD_MEDIA)
    text = g_strdup_printf(_("This image or video cannot be used: %s. Try another file."),
                           error->message);
  else if (error->code == IVL_WORKER_ERROR_CORRUPT)
    text = g_strdup_printf(_("The model files are damaged or not supported: %s. Download the "
                             "model again or choose another one."),
                           error->message);
  else if (error->code == IVL_WORKER_ERROR_MEMORY)
    text = g_strdup_printf(_("Out of memory: %s. Close other programs, lower the most tiles "
                             "per image in Preferences, or use a smaller model."),
                           error->message);
  else
    text = g_strdup(error->message);
  show_banner(self, text);
}

void ivl_window_show_media_error(IvlWindow *self, IvlAttachment *attachment,
                                 const GError *error)
{
  const char *stored = ivl_attachment_get_path(attachment);
  g_autofree char *base = g_path_get_basename(stored);
  const char *name = ivl_attachment_get_name(attachment);
  g_autofree char *reason = g_strdup(error->message);
  g_autofree char *text = NULL;

  /* The engine names the stored copy, whose name is a content hash: say the person's name. */
  for (const char *hidden = stored; hidden; hidden = hidden == stored ? base : NULL) {
    g_auto(GStrv) parts = g_strsplit(reason, hidden, -1);
    g_free(reason);
    reason = g_strjoinv(name, parts);
  }
  text = g_strdup_printf(_("“%s” cannot be used: %s. Try another file."), name, reason);
  show_banner(self, text);
}

/* ---- the conversation view ------------------------------------------------------------- */

static void on_row_edit(IvlWindow *self, IvlMessageRow *row)
{
  IvlMessage *message = ivl_message_row_get_message(row);

  if (message && ivl_message_get_role(message) == IVL_MESSAGE_USER)
    ivl_window_edit_question(self, message);
}

/* Another answer chosen: it is what the next question continues from. */
static void on_row_alternative(IvlWindow *self)
{
  save_conversation(self, self->conversation);
  ivl_window_update_actions(self);
}

static void setup_row(GtkSignalListItemFactory *factory, GtkListItem *item, IvlWindow *self)
{
  GtkWidget *row = ivl_message_row_new();

  (void)factory;
  g_signal_connect_object(row, "edit", G_CALLBACK(on_row_edit), self, G_CONNECT_SWAPPED);
  g_signal_connect_object(row, "alternative-chosen", G_CALLBACK(on_row_alternative), self,
                          G_CONNECT_SWAPPED);
  gtk_list_item_set_child(item, row);
  gtk_list_item_set_activatable(item, FALSE);
  gtk_list_item_set_selectable(item, FALSE);
}

static void bind_row(GtkSignalListItemFactory *factory, GtkListItem *item, IvlWindow *self)
{
  GListModel *messages = ivl_conversation_get_messages(self->conversation);
  guint pos = gtk_list_item_get_position(item);
  g_autoptr(IvlMessage) question = pos > 0 ? g_list_model_get_item(messages, pos - 1) : NULL;

  (void)factory;
  ivl_message_row_set_message(IVL_MESSAGE_ROW(gtk_list_item_get_child(item)),
                              gtk_list_item_get_item(item), question);
}

static void unbind_row(GtkSignalListItemFactory *factory, GtkListItem *item)
{
  (void)factory;
  ivl_message_row_set_message(IVL_MESSAGE_ROW(gtk_list_item_get_child(item)), NULL, NULL);
}

static void on_messages_changed(IvlWindow *self)
{
  GListModel *messages = ivl_conversation_get_messages(self->conversation);

  self->laid_out = FALSE;
  gtk_stack_set_visible_child_name(self->chat_stack,
                                   g_list_model_get_n_items(messages) ? "messages" : "empty");
  follow_bottom(self);
  ivl_window_update_actions(self);
}

/* Follows a streaming answer while the person has not scrolled up to read. A list view
 * learns its rows' heights as it shows them, so the end moves for a few frames after each
 * jump: a tick callback keeps going there until it stays put. */
static gboolean follow_tick(GtkWidget *widget, GdkFrameClock *clock, gpointer data)
{
  IvlWindow *self = data;
  GtkAdjustment *adj = gtk_scrolled_window_get_vadjustment(self->message_scroller);
  double end = gtk_adjustment_get_upper(adj) - gtk_adjustment_get_page_size(adj);

  (void)widget;
  (void)clock;
  if (!self->stick_to_bottom || ++self->follow_frames > 120) {
    self->follow_tick = 0;
    return G_SOURCE_REMOVE;
  }
  /* Until the list has laid out its current items, the end it reports is that of the old
   * ones, and moving there asks it for rows it no longer has ("failed to scroll"). */
  if (!self->laid_out)
    return G_SOURCE_CONTINUE;
  if (gtk_adjustment_get_value(adj) < end) {
    self->follow_frames = 0;
    self->scrolling = TRUE;
    gtk_adjustment_set_value(adj, end);
    self->scrolling = FALSE;
  } else if (self->follow_frames > 3) {
    self->follow_tick = 0;
    return G_SOURCE_REMOVE;
  }
  return G_SOURCE_CONTINUE;
}

static void follow_bottom(IvlWindow *self)
{
  GListModel *messages = ivl_conversation_get_messages(self->conversation);

  self->follow_frames = 0;
  if (g_list_model_get_n_items(messages) == 0)
    return;
  if (self->stick_to_bottom && self->follow_tick == 0)
    self->follow_tick = gtk_widget_add_tick_callback(GTK_WIDGET(self->message_scroller),
                                                     follow_tick, self, NULL);
}

static void on_scroll_layout(IvlWindow *self)
{
  self->laid_out = TRUE;
}

static void on_scroll_value(GtkAdjustment *adj, IvlWindow *self)
{
  double value = gtk_adjustment_get_value(adj);
  double end = gtk_adjustment_get_upper(adj) - gtk_adjustment_get_page_size(adj);

  if (self->scrolling)
    return;
  /* Only a move up within unchanged content is the person's: growing content never moves
   * the view up, and shrinking content (a regenerated answer) moves it by clamping. */
  if (value >= end - 48)
    self->stick_to_bottom = TRUE;
  else if (value < self->last_scroll_value && gtk_adjustment_get_upper(adj) == self->last_upper)
    self->stick_to_bottom = FALSE;
  self->last_scroll_value = value;
  self->last_upper = gtk_adjustment_get_upper(adj);
}

static void select_current_row(IvlWindow *self)
{
  guint pos;

  if (self->conversation &&
      g_list_store_find(G_LIST_STORE(ivl_store_get_conversations(self->store)),
                        self->conversation, &pos))
    gtk_list_box_select_row(self->conversation_list,
                            gtk_list_box_get_row_at_index(self->conversation_list, (int)pos));
}

static void show_conversation(IvlWindow *self, IvlConversation *conversation)
{
  GListModel *messages;

  if (self->conversation == conversation)
    return;
  if (self->editing)
    ivl_window_cancel_edit(self); /* the question belongs to the conversation left */
  if (self->conversation)
    g_signal_handlers_disconnect_by_data(ivl_conversation_get_messages(self->conversation),
                                         self);
  g_set_object(&self->conversation, conversation);
  messages = ivl_conversation_get_messages(conversation);
  g_autoptr(GtkNoSelection) selection = gtk_no_selection_new(g_object_ref(messages));
  gtk_list_view_set_model(self->message_view, GTK_SELECTION_MODEL(selection));
  g_signal_connect_swapped(messages, "items-changed", G_CALLBACK(on_messages_changed), self);
  self->stick_to_bottom = TRUE;
  on_messages_changed(self);
  select_current_row(self);
  ivl_window_use_conversation_model(self);
}

static void save_conversation(IvlWindow *self, IvlConversation *conversation)
{
  g_autoptr(GError) error = NULL;

  if (!ivl_store_save(self->store, conversation, &error))
    ivl_window_show_error(self, error);
  select_current_row(self);
}

/* "14:05" today, "Yesterday", else the date: when the conversation last changed. */
static char *describe_date(gint64 unix_seconds)
{
  g_autoptr(GDateTime) when = g_date_time_new_from_unix_local(unix_seconds);
  g_autoptr(GDateTime) now = g_date_time_new_now_local();
  int days;

  if (when == NULL)
    return g_strdup("");
  days = g_date_time_get_day_of_year(now) - g_date_time_get_day_of_year(when) +
         365 * (g_date_time_get_year(now) - g_date_time_get_year(when));
  if (days <= 0)
    return g_date_time_format(when, "%H:%M");
  if (days == 1)
    return g_strdup(_("Yesterday"));
  /* TRANSLATORS: a date in the conversation list; see g_date_time_format */
  return g_date_time_format(when, _("%e %b %Y"));
}

/* The date, or that its answer waits for the others running to make room. */
static void update_row_date(GtkLabel *label, GParamSpec *pspec, IvlConversation *conversation)
{
  g_autofree char *date = describe_date(ivl_conversation_get_updated(conversation));

  (void)pspec;
  if (ivl_conversation_get_activity(conversation) == IVL_ACTIVITY_WAITING)
    gtk_label_set_text(label, _("Waiting…"));
  else
    gtk_label_set_text(label, g_strstrip(date));
}

static void update_row_spinner(GtkSpinner *spinner, GParamSpec *pspec,
                               IvlConversation *conversation)
{
  IvlActivity activity = ivl_conversation_get_activity(conversation);

  (void)pspec;
  gtk_spinner_set_spinning(spinner, activity != IVL_ACTIVITY_IDLE);
  gtk_widget_set_visible(GTK_WIDGET(spinner), activity != IVL_ACTIVITY_IDLE);
  gtk_widget_set_tooltip_text(GTK_WIDGET(spinner), activity == IVL_ACTIVITY_WAITING
                                                       ? _("Waiting for another answer to end")
                                                       : _("Answering"));
}

static GtkWidget *create_conversation_row(gpointer item, gpointer user_data)
{
  GtkWidget *box = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 6);
  GtkWidget *text = gtk_box_new(GTK_ORIENTATION_VERTICAL, 2);
  GtkWidget *title = gtk_label_new(NULL);
  GtkWidget *date = gtk_label_new(NULL);
  GtkWidget *spinner = gtk_spinner_new();
  GtkWidget *more = gtk_menu_button_new();
  g_autoptr(GMenu) menu = g_menu_new();
  GVariant *id = g_variant_new_string(ivl_conversation_get_id(item));
  g_autoptr(GMenuItem) rename = g_menu_item_new(_("_Rename…"), NULL);
  g_autoptr(GMenuItem) delete = g_menu_item_new(_("_Delete"), NULL);
  g_autoptr(GMenuItem) settings = g_menu_item_new(_("_Settings…"), NULL);
  g_autoptr(GMenuItem) markdown = g_menu_item_new(_("Export as _Markdown…"), NULL);
  g_autoptr(GMenuItem) json = g_menu_item_new(_("Export as _JSON…"), NULL);

  (void)user_data;
  gtk_label_set_xalign(GTK_LABEL(title), 0);
  gtk_label_set_ellipsize(GTK_LABEL(title), PANGO_ELLIPSIZE_END);
  g_object_bind_property(item, "title", title, "label", G_BINDING_SYNC_CREATE);
  gtk_label_set_xalign(GTK_LABEL(date), 0);
  gtk_widget_add_css_class(date, "caption");
  gtk_widget_add_css_class(date, "dim-label");
  update_row_date(GTK_LABEL(date), NULL, item);
  /* A rename or a new answer changes the title; the date follows. */
  g_signal_connect_object(item, "notify::title", G_CALLBACK(update_row_date), date,
                          G_CONNECT_SWAPPED);
  g_signal_connect_object(item, "notify::activity", G_CALLBACK(update_row_date), date,
                          G_CONNECT_SWAPPED);
  gtk_widget_add_css_class(spinner, "conversation-spinner");
  update_row_spinner(GTK_SPINNER(spinner), NULL, item);
  g_signal_connect_object(item, "notify::activity", G_CALLBACK(update_row_spinner), spinner,
                          G_CONNECT_SWAPPED);
  gtk_widget_set_hexpand(text, TRUE);
  gtk_box_append(GTK_BOX(text), title);
  gtk_box_append(GTK_BOX(text), date);

  g_menu_item_set_action_and_target_value(rename, "win.rename-conversation", id);
  g_menu_item_set_action_and_target_value(delete, "win.delete-conversation", id);
  g_menu_item_set_action_and_target_value(markdown, "win.export-markdown", id);
  g_menu_item_set_action_and_target_value(json, "win.export-json", id);
  g_menu_item_set_action_and_target_value(settings, "win.conversation-settings", id);
  g_menu_append_item(menu, rename);
  g_menu_append_item(menu, settings);
  g_menu_append_item(menu, markdown);
  g_menu_append_item(menu, json);
  g_menu_append_item(menu, delete);
  gtk_menu_button_set_menu_model(GTK_MENU_BUTTON(more), G_MENU_MODEL(menu));
  gtk_menu_button_set_icon_name(GTK_MENU_BUTTON(more), "view-more-symbolic");
  gtk_widget_set_tooltip_text(more, _("Conversation Menu"));
  gtk_widget_set_valign(more, GTK_ALIGN_CENTER);
  gtk_widget_add_css_class(more, "flat");
  gtk_widget_add_css_class(more, "conversation-menu");
  gtk_box_append(GTK_BOX(box), text);
  gtk_box_append(GTK_BOX(box), spinner);
  gtk_box_append(GTK_BOX(box), more);
  return box;
}

IvlConversation *ivl_window_find_conversation(IvlWindow *self, const char *id)
{
  GListModel *list = ivl_store_get_conversations(self->store);

  for (guint i = 0; i < g_list_model_get_n_items(list); i++) {
    g_autoptr(IvlConversation) c = g_list_model_get_item(list, i);
    if (g_str_equal(ivl_conversation_get_id(c), id))
      return c; /* the store keeps it */
  }
  return NULL;
}

static void on_rename_response(AdwMessageDialog *dialog, const char *response, IvlWindow *self)
{
  IvlConversation *c =
      ivl_window_find_conversation(self, g_object_get_data(G_OBJECT(dialog), "id"));
  GtkEditable *entry = GTK_EDITABLE(adw_message_dialog_get_extra_child(dialog));

  if (c == NULL || !g_str_equal(response, "rename"))
    return;
  ivl_conversation_set_title(c, gtk_editable_get_text(entry));
  save_conversation(self, c);
}

void ivl_window_rename_conversation(IvlWindow *self, const char *id)
{
  IvlConversation *c = ivl_window_find_conversation(self, id);
  GtkWidget *dialog, *entry;

  if (c == NULL)
    return;
  dialog = adw_message_dialog_new(GTK_WINDOW(self), _("Rename Conversation"), NULL);
  entry = gtk_entry_new();
  gtk_editable_set_text(GTK_EDITABLE(entry), ivl_conversation_get_title(c));
  gtk_entry_set_activates_default(GTK_ENTRY(entry), TRUE);
  adw_message_dialog_set_extra_child(ADW_MESSAGE_DIALOG(dialog), entry);
  adw_message_dialog_add_responses(ADW_MESSAGE_DIALOG(dialog), "cancel", _("_Cancel"), "rename",
                                   _("_Rename"), NULL);
  adw_message_dialog_set_response_appearance(ADW_MESSAGE_DIALOG(dialog), "rename",
                                             ADW_RESPONSE_SUGGESTED);
  adw_message_dialog_set_default_response(ADW_MESSAGE_DIALOG(dialog), "rename");
  adw_message_dialog_set_close_response(ADW_MESSAGE_DIALOG(dialog), "cancel");
  g_object_set_data_full(G_OBJECT(dialog), "id", g_strdup(id), g_free);
  g_signal_connect_object(dialog, "response", G_CALLBACK(on_rename_response), self, 0);
  gtk_window_present(GTK_WINDOW(dialog));
}

static void on_settings_saved(IvlWindow *self, IvlConversationSettings *dialog)
{
  IvlConversation *c = g_object_get_data(G_OBJECT(dialog), "conversation");

  save_conversation(self, c);
  if (c == self->conversation)
    ivl_window_use_conversation_model(self);
}

void ivl_window_conversation_settings(IvlWindow *self, const char *id)
{
  IvlConversation *c = ivl_window_find_conversation(self, id);
  IvlConversationSettings *dialog;

  if (c == NULL)
    return;
  dialog = ivl_conversation_settings_new(GTK_WINDOW(self), c, self->models, self->loaded_model);
  g_object_set_data_full(G_OBJECT(dialog), "conversation", g_object_ref(c), g_object_unref);
  g_signal_connect_object(dialog, "saved", G_CALLBACK(on_settings_saved), self,
                          G_CONNECT_SWAPPED);
  gtk_window_present(GTK_WINDOW(dialog));
}

/* An answer being generated, in a conversation shown or not: the worker answers several
 * conversations at once, one answer in each. */
typedef struct {
  IvlWindow *self;
  IvlConversation *conversation;
  IvlMessage *message;
  GCancellable *cancellable;
} Answering;

static void answering_free(Answering *a)
{
  g_object_unref(a->self);
  g_object_unref(a->conversation);
  g_object_unref(a->message);
  g_object_unref(a->cancellable);
  g_free(a);
}

static Answering *answering_of(IvlWindow *self, IvlConversation *conversation)
{
  return conversation ? g_hash_table_lookup(self->answering, ivl_conversation_get_id(conversation))
                      : NULL;
}

/* Stops the answer of a conversation; its callback comes later. */
static void stop_answer(IvlWindow *self, IvlConversation *conversation)
{
  Answering *a = answering_of(self, conversation);

  if (a)
    g_cancellable_cancel(a->cancellable);
}

/* A deleted conversation leaves the list at once; its file goes when the toast offering Undo
 * does. */
static void forget_deleted(IvlWindow *self)
{
  g_autoptr(GError) error = NULL;

  if (self->deleted && !ivl_store_delete(self->store, self->deleted, &error))
    ivl_window_show_error(self, error);
  g_clear_object(&self->deleted);
}

/* libadwaita 1.2 frees a toast dismissed while it still slides in and then crashes when the
 * slide-in ends (fixed in 1.3: "toast-overlay: Prevent show_done from firing after
 * hide_done"). A quick Undo, or a second deletion right after the first, dismisses the toast
 * only once a frame has been drawn past the end of its show animation (300 ms; the main loop
 * may have been too busy to draw it on time). */
#define TOAST_SLIDE_IN_US (600 * G_TIME_SPAN_MILLISECOND)

typedef struct {
  AdwToast *toast;
  gint64 due;      /* frame time past the show animation */
  gboolean passed; /* a frame at or after due was drawn */
} PendingDismissal;

static void pending_dismissal_free(gpointer data)
{
  PendingDismissal *p = data;

  g_object_unref(p->toast);
  g_free(p);
}

static gboolean dismiss_when_shown(GtkWidget *widget, GdkFrameClock *clock, gpointer data)
{
  PendingDismissal *p = data;

  (void)widget;
  if (!p->passed) {
    p->passed = gdk_frame_clock_get_frame_time(clock) >= p->due;
    return G_SOURCE_CONTINUE;
  }
  adw_toast_dismiss(p->toast);
  return G_SOURCE_REMOVE;
}

static void dismiss_undo_toast(IvlWindow *self)
{
  PendingDismissal *p;

  if (self->undo_toast == NULL)
    return;
  p = g_new0(PendingDismissal, 1);
  p->toast = g_object_ref(self->undo_toast);
  p->due = self->undo_toast_added + TOAST_SLIDE_IN_US;
  gtk_widget_add_tick_callback(GTK_WIDGET(self->toast_overlay), dismiss_when_shown, p,
                               pending_dismissal_free);
}

static void on_undo_toast_dismissed(AdwToast *toast, IvlWindow *self)
{
  if (self->undo_toast == toast)
    forget_deleted(self);
}

void ivl_window_delete_conversation(IvlWindow *self, const char *id)
{
  IvlConversation *c = ivl_window_find_conversation(self, id);
  GListModel *list = ivl_store_get_conversations(self->store);
  AdwToast *toast;

  if (c == NULL)
    return;
  stop_answer(self, c); /* what it answered so far goes with it */
  if (self->deleted) {  /* one deletion waits for Undo at a time */
    forget_deleted(self);
    dismiss_undo_toast(self);
  }
  self->deleted = g_object_ref(c);
  ivl_store_remove(self->store, c);
  if (c == self->conversation) {
    g_autoptr(IvlConversation) next =
        g_list_model_get_n_items(list) ? g_list_model_get_item(list, 0) : NULL;
    if (next)
      show_conversation(self, next);
    else
      ivl_window_new_conversation(self);
  }
  toast = adw_toast_new(_("Conversation deleted"));
  adw_toast_set_button_label(toast, _("_Undo"));
  adw_toast_set_timeout(toast, 10); /* time to notice the wrong one went */
  adw_toast_set_action_name(toast, "win.undo-delete");
  g_signal_connect_object(toast, "dismissed", G_CALLBACK(on_undo_toast_dismissed), self, 0);
  g_set_object(&self->undo_toast, toast);
  self->undo_toast_added = g_get_monotonic_time();
  adw_toast_overlay_add_toast(self->toast_overlay, toast);
}

void ivl_window_undo_delete(IvlWindow *self)
{
  g_autoptr(IvlConversation) c = g_steal_pointer(&self->deleted);

  if (c == NULL)
    return;
  ivl_store_put_back(self->store, c);
  show_conversation(self, c);
  dismiss_undo_toast(self);
}

static void on_conversation_selected(IvlWindow *self, GtkListBoxRow *row)
{
  GListModel *list = ivl_store_get_conversations(self->store);

  if (row == NULL)
    return;
  g_autoptr(IvlConversation) c = g_list_model_get_item(list, gtk_list_box_row_get_index(row));
  if (c)
    show_conversation(self, c);
  /* Folded, the sidebar covers the conversation: it makes way for the one chosen. */
  if (adw_flap_get_folded(self->flap))
    adw_flap_set_reveal_flap(self->flap, FALSE);
}

/* Folded, the sidebar covers the conversation: a click on the conversation already shown
 * (no new selection) closes it too. */
static void on_conversation_activated(IvlWindow *self)
{
  if (adw_flap_get_folded(self->flap))
    adw_flap_set_reveal_flap(self->flap, FALSE);
}

void ivl_window_new_conversation(IvlWindow *self)
{
  g_autoptr(IvlConversation) c = NULL;

  GListModel *list = ivl_store_get_conversations(self->store);

  /* An untouched conversation is reused rather than piling up empty ones. */
  for (guint i = 0; i < g_list_model_get_n_items(list); i++) {
    g_autoptr(IvlConversation) other = g_list_model_get_item(list, i);
    if (g_list_model_get_n_items(ivl_conversation_get_messages(other)) == 0) {
      show_conversation(self, other);
      gtk_widget_grab_focus(GTK_WIDGET(self->input));
      return;
    }
  }
  c = ivl_conversation_new();
  ivl_store_add(self->store, c);
  show_conversation(self, c);
  gtk_widget_grab_focus(GTK_WIDGET(self->input));
}

/* ---- asking ---------------------------------------------------------------------------- */

IvlAskOptions ivl_window_ask_options(IvlWindow *self)
{
  IvlAskOptions o;

  /* The conversation's own, else the preference: the default of every new one. */
  o.system_message = ivl_conversation_get_system_message(self->conversation)
                         ? g_strdup(ivl_conversation_get_system_message(self->conversation))
                         : g_settings_get_string(self->settings, "system-message");
  o.max_tiles = g_settings_get_int(self->settings, "max-tiles");
  o.max_new_tokens = g_settings_get_int(self->settings, "max-new-tokens");
  o.do_sample = g_settings_get_boolean(self->settings, "do-sample");
  o.temperature = g_settings_get_double(self->settings, "temperature");
  o.top_p = g_settings_get_double(self->settings, "top-p");
  o.top_k = g_settings_get_int(self->settings, "top-k");
  return o;
}

void ivl_window_update_actions(IvlWindow *self)
{
  GListModel *messages =
      self->conversation ? ivl_conversation_get_messages(self->conversation) : NULL;
  guint n = messages ? g_list_model_get_n_items(messages) : 0;
  gboolean busy = answering_of(self, self->conversation) != NULL;

  /* Without a model loaded or on its way there is nothing to answer: the line under the
   * model selector says why. */
  gboolean model = self->loaded_model != NULL || self->load_cancellable != NULL;

  gtk_stack_set_visible_child_name(self->send_stack, busy ? "stop" : "send");
  gtk_widget_action_set_enabled(GTK_WIDGET(self), "win.send", !busy && model);
  gtk_widget_action_set_enabled(GTK_WIDGET(self), "win.stop", busy);
  gtk_widget_action_set_enabled(GTK_WIDGET(self), "win.regenerate", !busy && model && n >= 2);
  {
    g_autoptr(IvlMessage) last = n ? g_list_model_get_item(messages, n - 1) : NULL;
    gtk_widget_action_set_enabled(GTK_WIDGET(self), "win.continue",
                                  !busy && model && last &&
                                      ivl_message_get_state(last) == IVL_MESSAGE_LENGTH);
  }
}

static void on_tokens(IvlWindow *self, const char *conversation_id, const char *text)
{
  Answering *a = g_hash_table_lookup(self->answering, conversation_id);

  if (a == NULL)
    return;
  ivl_message_append_text(a->message, text);
  if (a->conversation == self->conversation)
    follow_bottom(self);
}

static void on_ask_state(IvlWindow *self, const char *conversation_id, gboolean waiting)
{
  Answering *a = g_hash_table_lookup(self->answering, conversation_id);

  if (a == NULL)
    return;
  ivl_conversation_set_activity(a->conversation,
                                waiting ? IVL_ACTIVITY_WAITING : IVL_ACTIVITY_ANSWERING);
  ivl_message_set_waiting(a->message, waiting);
}

/* A conversation deleted for good is not written back by its answer's end. */
static gboolean still_kept(IvlWindow *self, IvlConversation *conversation)
{
  guint pos;

  return conversation == self->deleted ||
         g_list_store_find(G_LIST_STORE(ivl_store_get_conversations(self->store)), conversation,
                           &pos);
}

/* A failed turn is no answer: the question leaves the history and goes back to the
 * composer, with its attachments, to be sent again once the cause is fixed. */
static void take_back_question(IvlWindow *self, IvlConversation *conversation)
{
  GListModel *messages = ivl_conversation_get_messages(conversation);
  guint n = g_list_model_get_n_items(messages);
  g_autoptr(IvlMessage) question = n >= 2 ? g_list_model_get_item(messages, n - 2) : NULL;

  ivl_conversation_remove_last(conversation); /* the failed answer */
  if (question == NULL || ivl_message_get_role(question) != IVL_MESSAGE_USER)
    return; /* a regenerated answer: its question stays */
  ivl_conversation_remove_last(conversation);
  if (conversation != self->conversation)
    return;
  gtk_text_buffer_set_text(gtk_text_view_get_buffer(self->input), ivl_message_get_text(question),
                           -1);
  ivl_window_restore_attachments(self, question);
}

static void on_answer(GObject *source, GAsyncResult *result, gpointer user_data)
{
  Answering *ending = user_data;
  IvlWindow *self = ending->self;
  g_autoptr(GError) error = NULL;
  IvlAnswerStats stats;
  gboolean at_limit;
  g_autofree char *answer =
      ivl_worker_ask_finish(IVL_WORKER(source), result, &stats, &at_limit, &error);
  IvlMessage *message = ending->message;
  IvlConversation *conversation = ending->conversation;

  if (self->answering == NULL) { /* the window is gone: the file keeps what streamed */
    answering_free(ending);
    return;
  }
  g_hash_table_remove(self->answering, ivl_conversation_get_id(conversation));
  ivl_conversation_set_activity(conversation, IVL_ACTIVITY_IDLE);
  ivl_message_set_waiting(message, FALSE);
  if (answer) {
    const char *before = g_object_get_data(G_OBJECT(message), "continued");
    const IvlAnswerStats *earlier = ivl_message_get_stats(message);
    g_autofree char *whole = g_strconcat(before ? before : "", answer, NULL);
    if (before && earlier)
      stats.n_tokens += earlier->n_tokens;
    ivl_message_set_text(message, whole);
    ivl_message_set_stats(message, &stats);
    ivl_message_set_state(message, at_limit ? IVL_MESSAGE_LENGTH : IVL_MESSAGE_DONE);
  } else if (g_error_matches(error, IVL_WORKER_ERROR, IVL_WORKER_ERROR_CANCELLED)) {
    /* What was answered before the stop is kept. */
    ivl_message_set_state(message, IVL_MESSAGE_STOPPED);
  } else if (g_object_get_data(G_OBJECT(message), "continued")) {
    /* A continuation that failed leaves the cut answer as it was. */
    ivl_message_set_text(message, g_object_get_data(G_OBJECT(message), "continued"));
    ivl_message_set_state(message, IVL_MESSAGE_LENGTH);
    ivl_window_show_error(self, error);
  } else if (error->domain == IVL_REMOTE_ERROR && *ivl_message_get_text(message)) {
    /* A server's stream that broke off: what it sent stays, with the reason under it. */
    ivl_message_fail(message, error->message);
    ivl_window_show_error(self, error);
  } else if (ivl_message_get_n_alternatives(message) > 1) {
    /* A regeneration that failed: the answer before it is back. */
    ivl_message_drop_alternative(message);
    ivl_window_show_error(self, error);
  } else {
    take_back_question(self, conversation);
    ivl_window_show_error(self, error);
  }
  g_object_set_data(G_OBJECT(message), "continued", NULL);
  ivl_conversation_touch(conversation);
  if (still_kept(self, conversation))
    save_conversation(self, conversation);
  ivl_window_update_actions(self);
  answering_free(ending);
}

/* Has the worker answer the last question of asked into answer, a message of the shown
 * conversation. sample: draw tokens at the preference's temperature even where greedy
 * decoding is preferred (a regenerated answer would otherwise come out the same). */
static void ask(IvlWindow *self, GListModel *asked, IvlMessage *answer, gboolean sample)
{
  IvlAskOptions options = ivl_window_ask_options(self);
  Answering *a = g_new0(Answering, 1);

  /* The answer may go on after the person switched to another conversation. */
  a->self = g_object_ref(self);
  a->conversation = g_object_ref(self->conversation);
  a->message = g_object_ref(answer);
  a->cancellable = g_cancellable_new();
  g_hash_table_insert(self->answering, g_strdup(ivl_conversation_get_id(self->conversation)), a);
  ivl_conversation_set_activity(self->conversation, IVL_ACTIVITY_ANSWERING);
  options.do_sample = options.do_sample || sample;
  ivl_worker_ask_async(self->worker, ivl_conversation_get_id(self->conversation), asked, &options,
                       a->cancellable, on_answer, a);
  g_free(options.system_message);
  ivl_message_set_state(answer, IVL_MESSAGE_STREAMING);
  self->stick_to_bottom = TRUE;
}

/* Appends an empty answer to the conversation and has the worker fill it. */
static void start_answer(IvlWindow *self, gboolean sample)
{
  g_autoptr(IvlMessage) answer = ivl_message_new(IVL_MESSAGE_ASSISTANT, NULL);

  ask(self, ivl_conversation_get_messages(self->conversation), answer, sample);
  ivl_conversation_append(self->conversation, answer);
  save_conversation(self, self->conversation);
  ivl_window_update_actions(self);
}

/* An answer cut by the length limit goes on. The engine has no call to extend the last
 * answer in place, so the model is asked to go on in a turn of its own that the person does
 * not see, and what it says is added to the cut answer. */
void ivl_window_continue(IvlWindow *self)
{
  GListModel *messages = ivl_conversation_get_messages(self->conversation);
  guint n = g_list_model_get_n_items(messages);
  g_autoptr(IvlMessage) last = n ? g_list_model_get_item(messages, n - 1) : NULL;
  g_autoptr(GListStore) asked = g_list_store_new(IVL_TYPE_MESSAGE);
  g_autoptr(IvlMessage) go_on = NULL;
  const char *text;

  if (answering_of(self, self->conversation) || last == NULL ||
      ivl_message_get_state(last) != IVL_MESSAGE_LENGTH)
    return;
  for (guint i = 0; i < n; i++) {
    g_autoptr(IvlMessage) m = g_list_model_get_item(messages, i);
    g_list_store_append(asked, m);
  }
  go_on = ivl_message_new(IVL_MESSAGE_USER,
                          "Continue your previous answer exactly where it stopped, without "
                          "repeating anything.");
  g_list_store_append(asked, go_on);
  text = ivl_message_get_text(last);
  if (*text && !g_ascii_isspace(text[strlen(text) - 1]))
    ivl_message_append_text(last, " ");
  g_object_set_data_full(G_OBJECT(last), "continued", g_strdup(ivl_message_get_text(last)),
                         g_free);
  ask(self, G_LIST_MODEL(asked), last, FALSE);
  ivl_window_update_actions(self);
}

void ivl_window_send(IvlWindow *self)
{
  GtkTextBuffer *buffer = gtk_text_view_get_buffer(self->input);
  GListModel *attachments = G_LIST_MODEL(self->attachments);
  guint n_attachments = g_list_model_get_n_items(attachments);
  GtkTextIter start, end;
  g_autofree char *text = NULL;
  g_autoptr(IvlMessage) question = NULL;

  if (answering_of(self, self->conversation))
    return;
  gtk_text_buffer_get_bounds(buffer, &start, &end);
  text = g_strstrip(gtk_text_buffer_get_text(buffer, &start, &end, FALSE));
  if (*text == '\0' && n_attachments == 0)
    return;
  for (guint i = 0; i < n_attachments; i++) {
    g_autoptr(IvlAttachment) a = g_list_model_get_item(attachments, i);
    if (ivl_attachment_get_n_tiles(a) == 0) {
      adw_toast_overlay_add_toast(self->toast_overlay,
                                  adw_toast_new(_("The attachments are still being prepared")));
      return;
    }
  }
  question = ivl_message_new(IVL_MESSAGE_USER, text);
  for (guint i = 0; i < n_attachments; i++) {
    g_autoptr(IvlAttachment) a = g_list_model_get_item(attachments, i);
    ivl_message_add_attachment(question, a);
  }
  ivl_message_set_combined(question, gtk_toggle_button_get_active(self->combine_button));
  if (self->editing) {
    GListModel *messages = ivl_conversation_get_messages(self->conversation);
    guint pos;
    if (g_list_store_find(G_LIST_STORE(messages), self->editing, &pos))
      ivl_conversation_truncate(self->conversation, pos);
    ivl_window_cancel_edit(self);
  }
  ivl_conversation_append(self->conversation, question);
  if (self->loaded_model)
    ivl_conversation_set_model(self->conversation, self->loaded_model);
  gtk_text_buffer_set_text(buffer, "", 0);
  ivl_window_clear_attachments(self);
  start_answer(self, FALSE);
}

void ivl_window_edit_question(IvlWindow *self, IvlMessage *question)
{
  GtkTextBuffer *buffer = gtk_text_view_get_buffer(self->input);
  GtkTextIter end;

  g_set_object(&self->editing, question);
  gtk_text_buffer_set_text(buffer, ivl_message_get_text(question), -1);
  gtk_text_buffer_get_end_iter(buffer, &end);
  gtk_text_buffer_place_cursor(buffer, &end);
  ivl_window_restore_attachments(self, question);
  gtk_revealer_set_reveal_child(self->edit_revealer, TRUE);
  gtk_widget_grab_focus(GTK_WIDGET(self->input));
}

void ivl_window_cancel_edit(IvlWindow *self)
{
  if (self->editing == NULL)
    return;
  g_clear_object(&self->editing);
  gtk_revealer_set_reveal_child(self->edit_revealer, FALSE);
  gtk_text_buffer_set_text(gtk_text_view_get_buffer(self->input), "", 0);
  ivl_window_clear_attachments(self);
}

/* InternVL3's grounding prompt, with the cursor where the person names what to find. */
void ivl_window_find_objects(IvlWindow *self)
{
  static const char prompt[] =
      "Please provide the bounding box coordinate of the region this sentence describes: "
      "<ref></ref>";
  GtkTextBuffer *buffer = gtk_text_view_get_buffer(self->input);
  GtkTextIter at;

  gtk_text_buffer_set_text(buffer, prompt, -1);
  gtk_text_buffer_get_iter_at_offset(buffer, &at,
                                     (int)g_utf8_strlen(prompt, -1) - (int)strlen("</ref>"));
  gtk_text_buffer_place_cursor(buffer, &at);
  gtk_widget_grab_focus(GTK_WIDGET(self->input));
}

void ivl_window_stop(IvlWindow *self)
{
  stop_answer(self, self->conversation);
}

/* The last answer is asked again, sampled; the earlier answers stay as its alternatives. */
void ivl_window_regenerate(IvlWindow *self)
{
  GListModel *messages = ivl_conversation_get_messages(self->conversation);
  guint n = g_list_model_get_n_items(messages);
  g_autoptr(IvlMessage) last = n ? g_list_model_get_item(messages, n - 1) : NULL;
  g_autoptr(GListStore) asked = g_list_store_new(IVL_TYPE_MESSAGE);

  if (answering_of(self, self->conversation) || last == NULL ||
      ivl_message_get_role(last) != IVL_MESSAGE_ASSISTANT)
    return;
  for (guint i = 0; i + 1 < n; i++) {
    g_autoptr(IvlMessage) m = g_list_model_get_item(messages, i);
    g_list_store_append(asked, m);
  }
  ivl_message_add_alternative(last);
  ask(self, G_LIST_MODEL(asked), last, TRUE);
  save_conversation(self, self->conversation);
  ivl_window_update_actions(self);
  follow_bottom(self);
}

/* ---- models ---------------------------------------------------------------------------- */

static void on_load_progress(IvlWindow *self, double fraction, const char *what)
{
  gtk_progress_bar_set_fraction(self->loading_bar, CLAMP(fraction, 0.0, 1.0));
  gtk_label_set_text(self->loading_label, what);
}

/* The line under the model selector: where the loaded model runs and its weights, or why
 * there is none. Always there while the selector is, so the header keeps its height. */
static void show_model_line(IvlWindow *self, const char *text, gboolean failed)
{
  gtk_label_set_text(self->model_status, text);
  if (failed)
    gtk_widget_add_css_class(GTK_WIDGET(self->model_status), "error");
  else
    gtk_widget_remove_css_class(GTK_WIDGET(self->model_status), "error");
  gtk_widget_set_tooltip_text(GTK_WIDGET(self->model_status), NULL);
}

/* "CPU · 8-bit weights", from the worker's "cpu int8"; "2 GPUs · full-precision weights"
 * from "cuda bf16 2"; "Remote · gpu-box:8000" from its "remote gpu-box:8000". */
static void show_model_status(IvlWindow *self, const char *how)
{
  g_auto(GStrv) parts = g_strsplit(how, " ", 3);
  if (!parts[0] || !parts[1]) {
    show_model_line(self, "", FALSE);
    return;
  }
  if (g_str_equal(parts[0], "remote")) {
    /* TRANSLATORS: under the model selector: the host of the server that answers. */
    g_autofree char *remote = g_strdup_printf(_("Remote · %s"), parts[1]);
    show_model_line(self, remote, FALSE);
    return;
  }
  const int n_gpus = parts[2] ? (int)g_ascii_strtoll(parts[2], NULL, 10) : 1;
  /* TRANSLATORS: under the model selector: a model split over several GPUs. */
  g_autofree char *gpus = g_strdup_printf(ngettext("%d GPU", "%d GPUs", n_gpus), n_gpus);
  const char *where = !g_str_equal(parts[0], "cuda") ? _("CPU") : n_gpus > 1 ? gpus : _("GPU");
  const char *weights = g_str_equal(parts[1], "int8")   ? _("8-bit weights")
                        : g_str_equal(parts[1], "4bit") ? _("4-bit weights")
                                                        : _("full-precision weights");
  g_autofree char *text = g_strdup_printf("%s · %s", where, weights);
  show_model_line(self, text, FALSE);
}

static void on_model_loaded(GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(IvlWindow) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *backend = ivl_worker_load_finish(IVL_WORKER(source), result, &error);

  /* A load replaced by a newer one has nothing more to say. */
  if (g_cancellable_is_cancelled(g_task_get_cancellable(G_TASK(result))))
    return;
  g_clear_object(&self->load_cancellable);
  gtk_stack_set_visible_child_name(self->main_stack, "chat");
  if (backend == NULL) {
    g_clear_pointer(&self->loaded_model, g_free);
    show_model_line(self, _("Could not load this model"), TRUE);
    gtk_widget_set_tooltip_text(GTK_WIDGET(self->model_status), error->message);
    ivl_window_show_error(self, error);
    ivl_window_update_actions(self);
    return;
  }
  g_free(self->loaded_model);
  self->loaded_model = g_steal_pointer(&self->loading_model);
  g_settings_set_string(self->settings, "last-model", self->loaded_model);
  gtk_widget_set_tooltip_text(GTK_WIDGET(self->model_dropdown), self->loaded_model);
  show_model_status(self, backend);
  ivl_window_dismiss_error(self); /* a load error of another model is no longer true */
  ivl_window_update_actions(self);
}

/* The position in the selector of the shown conversation's model; -1 when it has none or
 * its folder is gone. */
static int conversation_model_index(IvlWindow *self)
{
  const char *model = self->conversation ? ivl_conversation_get_model(self->conversation) : NULL;

  for (guint i = 0; model && self->models && i < self->models->len; i++)
    if (g_strcmp0(((IvlModelEntry *)self->models->pdata[i])->path, model) == 0)
      return (int)i;
  return -1;
}

void ivl_window_use_conversation_model(IvlWindow *self)
{
  int i = conversation_model_index(self);

  /* The selector loads what it is set to. */
  if (i >= 0 && (guint)i != gtk_drop_down_get_selected(self->model_dropdown))
    gtk_drop_down_set_selected(self->model_dropdown, (guint)i);
}

/* A model the person picks is the shown conversation's from then on. */
static void on_model_picked(IvlWindow *self)
{
  guint i = gtk_drop_down_get_selected(self->model_dropdown);

  if (self->conversation == NULL || self->models == NULL || i >= self->models->len ||
      g_strcmp0(ivl_conversation_get_model(self->conversation),
                ((IvlModelEntry *)self->models->pdata[i])->path) == 0)
    return;
  ivl_conversation_set_model(self->conversation, ((IvlModelEntry *)self->models->pdata[i])->path);
  if (g_list_model_get_n_items(ivl_conversation_get_messages(self->conversation)) > 0)
    save_conversation(self, self->conversation);
}

static void load_selected_model(IvlWindow *self)
{
  static const char *const nicks[] = {"auto", "cpu", "cuda"};
  guint i = gtk_drop_down_get_selected(self->model_dropdown);
  g_autofree char *backend = g_settings_get_string(self->settings, "backend");
  IvlWorkerBackend kind = IVL_WORKER_BACKEND_AUTO;
  IvlModelEntry *entry;

  if (self->models == NULL || i >= self->models->len)
    return;
  entry = self->models->pdata[i];
  if (g_strcmp0(entry->path, self->load_cancellable ? self->loading_model : self->loaded_model) ==
      0)
    return;
  for (guint k = 0; k < G_N_ELEMENTS(nicks); k++)
    if (g_str_equal(backend, nicks[k]))
      kind = (IvlWorkerBackend)k;
  if (self->load_cancellable)
    g_cancellable_cancel(self->load_cancellable);
  g_clear_object(&self->load_cancellable);
  self->load_cancellable = g_cancellable_new();
  g_free(self->loading_model);
  self->loading_model = g_strdup(entry->path);
  show_model_line(self, _("Loading…"), FALSE); /* the model it described is being dropped */
  if (entry->server_url) {
    /* Nothing to load: the worker only reads the key. */
    const IvlServer *server = ivl_servers_find(self->servers, entry->server_url);
    g_return_if_fail(server != NULL); /* its entries go with it */
    ivl_worker_connect_async(self->worker, server, entry->remote_model, self->load_cancellable,
                             on_model_loaded, g_object_ref(self));
    ivl_window_update_actions(self);
    return;
  }
  gtk_progress_bar_set_fraction(self->loading_bar, 0);
  gtk_label_set_text(self->loading_label, entry->name);
  gtk_stack_set_visible_child_name(self->main_stack, "loading");
  ivl_worker_load_async(self->worker, entry->path, kind,
                        (IvlWorkerPrecision)g_settings_get_enum(self->settings, "precision"),
                        self->load_cancellable, on_model_loaded, g_object_ref(self));
  ivl_window_update_actions(self);
}

/* Whether the model to load (the shown conversation's, else the one chosen last) is on a
 * server whose models are still being asked for: loading another in its place would take
 * the memory and the time for nothing. The selector is refreshed when they come. */
static gboolean waiting_for_server(IvlWindow *self, const char *last)
{
  const char *wanted = self->conversation ? ivl_conversation_get_model(self->conversation) : NULL;
  g_autofree char *url = NULL;
  g_autofree char *model = NULL;

  if (wanted == NULL || !ivl_servers_parse_model_path(wanted, &url, &model))
    wanted = last;
  g_clear_pointer(&url, g_free);
  g_clear_pointer(&model, g_free);
  return ivl_servers_parse_model_path(wanted, &url, &model) &&
         ivl_servers_is_discovering(self->servers, url);
}

/* The servers changed in Preferences (one added again with another key or dialect): the
 * worker's client of the server answering now may be stale, so its model is connected again
 * once the servers' models are known. */
static void on_servers_edited(IvlWindow *self)
{
  g_autofree char *url = NULL;
  g_autofree char *model = NULL;

  if (self->loaded_model && ivl_servers_parse_model_path(self->loaded_model, &url, &model)) {
    g_clear_pointer(&self->loaded_model, g_free);
    ivl_window_update_actions(self);
  }
}

void ivl_window_refresh_models(IvlWindow *self)
{
  g_autofree char *folder = g_settings_get_string(self->settings, "models-folder");
  g_autofree char *last = g_settings_get_string(self->settings, "last-model");
  g_autoptr(GtkStringList) names = gtk_string_list_new(NULL);
  guint selected = 0;
  int own;

  g_autofree char *user_dir = ivl_model_list_user_dir();

  g_clear_pointer(&self->models, g_ptr_array_unref);
  self->models = ivl_model_list_scan(folder);
  ivl_servers_append_models(self->servers, self->models);
  /* The folder the empty page names exists, so what is copied there is seen at once. */
  g_mkdir_with_parents(user_dir, 0700);
  ivl_folder_watch_clear(self->model_folders);
  ivl_folder_watch_add(self->model_folders, "pretrained");
  ivl_folder_watch_add(self->model_folders, user_dir);
  ivl_folder_watch_add(self->model_folders, folder);
  for (guint i = 0; i < self->models->len; i++) {
    IvlModelEntry *e = self->models->pdata[i];
    gtk_string_list_append(names, e->name);
    if (g_strcmp0(e->path, last) == 0)
      selected = i;
  }
  /* The shown conversation's model before the one chosen last. */
  own = conversation_model_index(self);
  if (own >= 0)
    selected = (guint)own;
  g_signal_handlers_block_by_func(self->model_dropdown, load_selected_model, self);
  g_signal_handlers_block_by_func(self->model_dropdown, on_model_picked, self);
  gtk_drop_down_set_model(self->model_dropdown, G_LIST_MODEL(names));
  gtk_drop_down_set_selected(self->model_dropdown, selected);
  g_signal_handlers_unblock_by_func(self->model_dropdown, on_model_picked, self);
  g_signal_handlers_unblock_by_func(self->model_dropdown, load_selected_model, self);
  gtk_widget_set_visible(GTK_WIDGET(self->model_dropdown), self->models->len > 0);
  gtk_widget_set_visible(GTK_WIDGET(self->model_status), self->models->len > 0);
  /* With no model to choose, the header still says what window this is. */
  gtk_widget_set_visible(GTK_WIDGET(self->app_title), self->models->len == 0);
  if (self->models->len == 0) {
    gtk_stack_set_visible_child_name(self->main_stack, "no-model");
    ivl_window_update_actions(self);
    return;
  }
  if (self->load_cancellable == NULL)
    gtk_stack_set_visible_child_name(self->main_stack, "chat");
  if (waiting_for_server(self, own >= 0 ? NULL : last))
    return;
  load_selected_model(self);
}

static void on_demo_written(GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(IvlWindow) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *user_dir = ivl_model_list_user_dir();
  g_autofree char *dir = g_build_filename(user_dir, DEMO_MODEL_NAME, NULL);
  g_autofree char *canonical = g_canonicalize_filename(dir, NULL);

  gtk_widget_set_sensitive(GTK_WIDGET(self->demo_button), TRUE);
  if (!ivl_worker_write_demo_finish(IVL_WORKER(source), result, &error)) {
    ivl_window_show_error(self, error);
    return;
  }
  g_settings_set_string(self->settings, "last-model", canonical);
  ivl_window_refresh_models(self);
}

void ivl_window_make_demo_model(IvlWindow *self)
{
  g_autofree char *user_dir = ivl_model_list_user_dir();
  g_autofree char *dir = g_build_filename(user_dir, DEMO_MODEL_NAME, NULL);

  gtk_widget_set_sensitive(GTK_WIDGET(self->demo_button), FALSE);
  ivl_worker_write_demo_async(self->worker, dir, NULL, on_demo_written, g_object_ref(self));
}

/* ---- the window ------------------------------------------------------------------------ */

static gboolean on_input_key(GtkEventControllerKey *controller, guint keyval, guint keycode,
                             GdkModifierType state, IvlWindow *self)
{
  (void)controller;
  (void)keycode;
  /* Enter sends; Shift+Enter starts a new line, as in other chat apps. */
  if ((keyval == GDK_KEY_Return || keyval == GDK_KEY_KP_Enter) &&
      !(state & (GDK_SHIFT_MASK | GDK_CONTROL_MASK))) {
    ivl_window_send(self);
    return TRUE;
  }
  return FALSE;
}

/* GtkTextView has no placeholder of its own: a label over it while it is empty. */
static void on_input_changed(GtkTextBuffer *buffer, IvlWindow *self)
{
  gtk_widget_set_visible(GTK_WIDGET(self->input_placeholder),
                         gtk_text_buffer_get_char_count(buffer) == 0);
}

/* The selector's labels shorten instead of widening a narrow window's header. */
static void setup_model_label(GtkSignalListItemFactory *factory, GtkListItem *item)
{
  GtkWidget *label = gtk_label_new(NULL);

  (void)factory;
  gtk_label_set_ellipsize(GTK_LABEL(label), PANGO_ELLIPSIZE_END);
  gtk_label_set_xalign(GTK_LABEL(label), 0);
  gtk_list_item_set_child(item, label);
}

static void bind_model_label(GtkSignalListItemFactory *factory, GtkListItem *item)
{
  (void)factory;
  gtk_label_set_text(GTK_LABEL(gtk_list_item_get_child(item)),
                     gtk_string_object_get_string(gtk_list_item_get_item(item)));
}

/* Every answer stops, shown or not, as the one shown did when there was only one. */
static void stop_all_answers(IvlWindow *self)
{
  GHashTableIter iter;
  gpointer a;

  g_hash_table_iter_init(&iter, self->answering);
  while (g_hash_table_iter_next(&iter, NULL, &a))
    g_cancellable_cancel(((Answering *)a)->cancellable);
}

static gboolean on_close_request(IvlWindow *self)
{
  int w, h;

  gtk_window_get_default_size(GTK_WINDOW(self), &w, &h);
  g_settings_set_int(self->settings, "window-width", w);
  g_settings_set_int(self->settings, "window-height", h);
  g_settings_set_boolean(self->settings, "window-maximized",
                         gtk_window_is_maximized(GTK_WINDOW(self)));
  stop_all_answers(self);
  if (self->load_cancellable)
    g_cancellable_cancel(self->load_cancellable);
  return FALSE;
}

static void ivl_window_dispose(GObject *object)
{
  IvlWindow *self = IVL_WINDOW(object);

  /* Tearing the template down emits these; the state they read goes first. */
  if (self->conversation_list) {
    g_signal_handlers_disconnect_by_data(self->conversation_list, self);
    g_signal_handlers_disconnect_by_data(self->model_dropdown, self);
    g_signal_handlers_disconnect_by_data(gtk_text_view_get_buffer(self->input), self);
    g_signal_handlers_disconnect_by_data(self->search_entry, self);
    g_signal_handlers_disconnect_by_data(self->search_bar, self);
  }
  if (self->worker)
    g_signal_handlers_disconnect_by_data(self->worker, self);
  if (self->store)
    g_signal_handlers_disconnect_by_data(ivl_store_get_conversations(self->store), self);
  if (self->model_folders)
    g_signal_handlers_disconnect_by_data(self->model_folders, self);
  g_clear_object(&self->model_folders);
  if (self->servers)
    g_signal_handlers_disconnect_by_data(self->servers, self);
  g_clear_object(&self->servers);
  if (self->conversation)
    g_signal_handlers_disconnect_by_data(ivl_conversation_get_messages(self->conversation),
                                         self);
  if (self->follow_tick)
    gtk_widget_remove_tick_callback(GTK_WIDGET(self->message_scroller), self->follow_tick);
  self->follow_tick = 0;
  /* A deletion still offered for Undo happens now. */
  if (self->deleted && self->store)
    ivl_store_delete(self->store, self->deleted, NULL);
  g_clear_object(&self->deleted);
  g_clear_object(&self->undo_toast);
  g_clear_object(&self->conversation);
  g_clear_object(&self->settings);
  g_clear_object(&self->store);
  g_clear_object(&self->worker);
  g_clear_object(&self->attachments);
  g_clear_pointer(&self->models, g_ptr_array_unref);
  g_clear_pointer(&self->loaded_model, g_free);
  g_clear_pointer(&self->loading_model, g_free);
  g_clear_object(&self->load_cancellable);
  if (self->answering) /* app.quit destroys the window without asking it to close */
    stop_all_answers(self);
  g_clear_pointer(&self->answering, g_hash_table_unref);
  g_clear_object(&self->editing);
  gtk_widget_dispose_template(GTK_WIDGET(self), IVL_TYPE_WINDOW);
  G_OBJECT_CLASS(ivl_window_parent_class)->dispose(object);
}

static void ivl_window_class_init(IvlWindowClass *klass)
{
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS(klass);

  G_OBJECT_CLASS(klass)->dispose = ivl_window_dispose;
  gtk_widget_class_set_template_from_resource(widget_class, "/io/github/ivl/Chat/ui/ivl-window.ui");
#define BIND(name) gtk_widget_class_bind_template_child(widget_class, IvlWindow, name)
  BIND(toast_overlay);
  BIND(error_revealer);
  BIND(error_label);
  BIND(drop_zone);
  BIND(flap);
  BIND(model_dropdown);
  BIND(model_status);
  BIND(conversation_list);
  BIND(search_bar);
  BIND(search_entry);
  BIND(main_stack);
  BIND(demo_button);
  BIND(demo_label);
  BIND(loading_bar);
  BIND(loading_label);
  BIND(chat_stack);
  BIND(message_scroller);
  BIND(message_view);
  BIND(attachments_revealer);
  BIND(attachments_box);
  BIND(combine_button);
  BIND(input);
  BIND(input_placeholder);
  BIND(app_title);
  BIND(send_stack);
  BIND(edit_revealer);
#undef BIND
  ivl_window_install_actions(klass);
}

static void ivl_window_init(IvlWindow *self)
{
  GtkListItemFactory *factory = gtk_signal_list_item_factory_new();
  GtkEventController *keys = gtk_event_controller_key_new();
  GtkAdjustment *adj;

  gtk_widget_init_template(GTK_WIDGET(self));
  self->answering = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  self->attachments = g_list_store_new(IVL_TYPE_ATTACHMENT);
  self->model_folders = ivl_folder_watch_new();
  g_signal_connect_swapped(self->model_folders, "changed", G_CALLBACK(ivl_window_refresh_models),
                           self);
  g_signal_connect(factory, "setup", G_CALLBACK(setup_row), self);
  g_signal_connect(factory, "bind", G_CALLBACK(bind_row), self);
  g_signal_connect(factory, "unbind", G_CALLBACK(unbind_row), NULL);
  gtk_list_view_set_factory(self->message_view, factory);
  g_object_unref(factory);
  factory = gtk_signal_list_item_factory_new();
  g_signal_connect(factory, "setup", G_CALLBACK(setup_model_label), NULL);
  g_signal_connect(factory, "bind", G_CALLBACK(bind_model_label), NULL);
  gtk_drop_down_set_factory(self->model_dropdown, factory);
  g_object_unref(factory);

  gtk_event_controller_set_propagation_phase(keys, GTK_PHASE_CAPTURE);
  g_signal_connect(keys, "key-pressed", G_CALLBACK(on_input_key), self);
  g_signal_connect(gtk_text_view_get_buffer(self->input), "changed",
                   G_CALLBACK(on_input_changed), self);
  gtk_widget_add_controller(GTK_WIDGET(self->input), keys);

  adj = gtk_scrolled_window_get_vadjustment(self->message_scroller);
  g_signal_connect(adj, "value-changed", G_CALLBACK(on_scroll_value), self);
  g_signal_connect_swapped(adj, "changed", G_CALLBACK(on_scroll_layout), self);
  g_signal_connect_swapped(self->model_dropdown, "notify::selected",
                           G_CALLBACK(on_model_picked), self);
  g_signal_connect_swapped(self->model_dropdown, "notify::selected",
                           G_CALLBACK(load_selected_model), self);
  g_signal_connect_swapped(self->conversation_list, "row-selected",
                           G_CALLBACK(on_conversation_selected), self);
  g_signal_connect_swapped(self->conversation_list, "row-activated",
                           G_CALLBACK(on_conversation_activated), self);
  g_signal_connect(self, "close-request", G_CALLBACK(on_close_request), NULL);

  gtk_widget_set_visible(GTK_WIDGET(self->demo_button), ivl_worker_can_write_demo());
  gtk_widget_set_visible(GTK_WIDGET(self->demo_label), ivl_worker_can_write_demo());
  ivl_window_setup_dnd(self);
}

static void apply_parallel_answers(IvlWindow *self)
{
  ivl_worker_set_max_parallel(self->worker, g_settings_get_int(self->settings, "parallel-answers"));
}

IvlWindow *ivl_window_new(GtkApplication *app, GSettings *settings, IvlStore *store,
                          IvlWorker *worker)
{
  IvlWindow *self = g_object_new(IVL_TYPE_WINDOW, "application", app, NULL);
  GListModel *conversations = ivl_store_get_conversations(store);

  self->settings = g_object_ref(settings);
  self->store = g_object_ref(store);
  self->worker = g_object_ref(worker);
  gtk_window_set_default_size(GTK_WINDOW(self), g_settings_get_int(settings, "window-width"),
                              g_settings_get_int(settings, "window-height"));
  if (g_settings_get_boolean(settings, "window-maximized"))
    gtk_window_maximize(GTK_WINDOW(self));
  g_signal_connect_swapped(worker, "tokens", G_CALLBACK(on_tokens), self);
  g_signal_connect_swapped(worker, "ask-state", G_CALLBACK(on_ask_state), self);
  g_signal_connect_swapped(worker, "load-progress", G_CALLBACK(on_load_progress), self);
  g_signal_connect_object(settings, "changed::parallel-answers", G_CALLBACK(apply_parallel_answers),
                          self, G_CONNECT_SWAPPED);
  apply_parallel_answers(self);
  g_signal_connect_object(settings, "changed::servers", G_CALLBACK(on_servers_edited), self,
                          G_CONNECT_SWAPPED);
  self->servers = ivl_servers_new(settings);
  g_signal_connect_swapped(self->servers, "changed", G_CALLBACK(ivl_window_refresh_models), self);
  gtk_list_box_bind_model(self->conversation_list, conversations, create_conversation_row, NULL,
                          NULL);
  ivl_window_setup_search(self);
  if (g_list_model_get_n_items(conversations) > 0) {
    g_autoptr(IvlConversation) newest = g_list_model_get_item(conversations, 0);
    show_conversation(self, newest);
  } else {
    ivl_window_new_conversation(self);
  }
  ivl_window_refresh_models(self);
  return self;
}
