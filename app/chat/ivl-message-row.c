/* ivl-message-row.c — how one message looks in the conversation view. */
#include "ivl-config.h"

#include "ivl-message-row.h"

#include <glib/gi18n.h>

#include "ivl-attachment-tile.h"
#include "ivl-boxed-image.h"
#include "ivl-grounding.h"
#include "ivl-image-viewer.h"
#include "ivl-markdown-view.h"
#include "ivl-thumbnails.h"

#define MEDIA_SIZE 120
#define GROUNDED_WIDTH 420 /* an image with the boxes of an answer: large enough to read */

struct _IvlMessageRow {
  GtkWidget parent_instance;

  /* template widgets */
  GtkBox *bubble;
  GtkLabel *role_label;
  GtkFlowBox *media_box; /* wraps, so a narrow window still shows several images */
  GtkLabel *text_label;  /* a question, as typed */
  IvlMarkdownView *body; /* an answer */
  GtkSpinner *spinner;
  GtkBox *notes; /* why the answer ended early, and Continue */
  GtkLabel *state_label;
  GtkBox *footer;
  GtkButton *continue_button;
  GtkBox *pager; /* ‹ 2/3 › under an answer regenerated */
  GtkLabel *pager_label;
  GtkButton *edit_button;
  GtkLabel *stats_label;
  GtkButton *copy_button;
  GtkPopoverMenu *context_popover;
  GMenuModel *context_menu;

  /* owned */
  IvlMessage *message;
  IvlMessage *question; /* of an answer: where the images its boxes are on come from */
  char *boxes_of;       /* the text the grounded images were drawn for */
  gulong text_handler, state_handler, stats_handler, alternative_handler;
};

G_DEFINE_FINAL_TYPE(IvlMessageRow, ivl_message_row, GTK_TYPE_WIDGET)

enum { SIGNAL_EDIT, SIGNAL_ALTERNATIVE_CHOSEN, N_SIGNALS };
static guint signals[N_SIGNALS];

static void clear_media(IvlMessageRow *self)
{
  GtkWidget *child;

  while ((child = gtk_widget_get_first_child(GTK_WIDGET(self->media_box))))
    gtk_flow_box_remove(self->media_box, child);
}

static void open_viewer(GtkWidget *widget, IvlAttachment *attachment, GPtrArray *boxes)
{
  IvlImageViewer *viewer =
      ivl_image_viewer_new(GTK_WINDOW(gtk_widget_get_root(widget)), attachment, boxes);
  gtk_window_present(GTK_WINDOW(viewer));
}

static void on_media_clicked(GtkGestureClick *click, int n_press, double x, double y,
                             GtkWidget *widget)
{
  (void)click;
  (void)n_press;
  (void)x;
  (void)y;
  open_viewer(widget, g_object_get_data(G_OBJECT(widget), "attachment"),
              g_object_get_data(G_OBJECT(widget), "boxes"));
}

/* A click opens the attachment large, with its boxes when it has some. */
static void make_openable(GtkWidget *widget, IvlAttachment *attachment, GPtrArray *boxes)
{
  GtkGesture *click = gtk_gesture_click_new();

  g_object_set_data_full(G_OBJECT(widget), "attachment", g_object_ref(attachment),
                         g_object_unref);
  if (boxes)
    g_object_set_data_full(G_OBJECT(widget), "boxes", g_ptr_array_ref(boxes),
                           (GDestroyNotify)g_ptr_array_unref);
  g_signal_connect(click, "released", G_CALLBACK(on_media_clicked), widget);
  gtk_widget_add_controller(widget, GTK_EVENT_CONTROLLER(click));
  gtk_widget_set_cursor_from_name(widget, "zoom-in");
}

/* Under an answer with grounding boxes: each image of its question with its boxes. */
static void show_grounding(IvlMessageRow *self, const char *text)
{
  g_autoptr(GPtrArray) boxes = NULL;
  GPtrArray *media;

  if (g_strcmp0(self->boxes_of, text) == 0)
    return;
  g_free(self->boxes_of);
  self->boxes_of = g_strdup(text);
  clear_media(self);
  boxes = strstr(text, "<box>") ? ivl_grounding_parse(text) : NULL;
  media = self->question ? ivl_message_get_attachments(self->question) : NULL;
  for (guint i = 0; boxes && boxes->len && media && i < media->len; i++) {
    g_autoptr(GPtrArray) mine = ivl_grounding_of_image(boxes, (int)i);
    g_autoptr(GdkPaintable) picture = NULL;
    GtkWidget *image;

    if (mine->len == 0 || ivl_attachment_is_video(media->pdata[i]) ||
        !(picture = ivl_picture_get_full(media->pdata[i])))
      continue;
    image = ivl_boxed_image_new(picture);
    ivl_boxed_image_set_boxes(IVL_BOXED_IMAGE(image), mine);
    ivl_boxed_image_set_max_width(IVL_BOXED_IMAGE(image), GROUNDED_WIDTH);
    gtk_widget_set_halign(image, GTK_ALIGN_START);
    gtk_widget_add_css_class(image, "thumbnail");
    make_openable(image, media->pdata[i], mine);
    gtk_flow_box_append(self->media_box, image);
  }
  gtk_widget_set_visible(GTK_WIDGET(self->media_box),
                         gtk_widget_get_first_child(GTK_WIDGET(self->media_box)) != NULL);
}

static void show_text(IvlMessageRow *self)
{
  const char *text = ivl_message_get_text(self->message);
  gboolean user = ivl_message_get_role(self->message) == IVL_MESSAGE_USER;

  if (user) {
    /* A question is shown as typed: no markdown. A recycled row drops an answer's blocks. */
    gtk_label_set_text(self->text_label, text);
    ivl_markdown_view_set_markdown(self->body, NULL);
  } else {
    /* Grounding tags show as their labels; the boxes are drawn on the images. */
    g_autofree char *plain = ivl_grounding_strip(text);
    ivl_markdown_view_set_markdown(self->body, plain);
    show_grounding(self, text);
  }
  gtk_widget_set_visible(GTK_WIDGET(self->text_label), user && *text != '\0');
  gtk_widget_set_visible(GTK_WIDGET(self->body), !user && *text != '\0');
}

static void show_state(IvlMessageRow *self)
{
  IvlMessageState state = ivl_message_get_state(self->message);
  gboolean user = ivl_message_get_role(self->message) == IVL_MESSAGE_USER;
  const char *note = NULL;
  g_autofree char *failed = NULL;

  if (state == IVL_MESSAGE_STOPPED)
    note = _("Stopped");
  else if (state == IVL_MESSAGE_FAILED && ivl_message_get_error(self->message))
    /* TRANSLATORS: under an answer a server stopped sending: the reason follows. */
    note = failed = g_strdup_printf(_("The answer could not be completed: %s"),
                                    ivl_message_get_error(self->message));
  else if (state == IVL_MESSAGE_FAILED)
    note = _("The answer could not be completed");
  else if (state == IVL_MESSAGE_LENGTH)
    note = _("Stopped at the length limit");
  else if (state == IVL_MESSAGE_STREAMING && ivl_message_get_waiting(self->message))
    note = _("Waiting for another answer to end");
  gtk_label_set_text(self->state_label, note ? note : "");
  gtk_widget_set_visible(GTK_WIDGET(self->state_label), note != NULL);
  gtk_widget_set_visible(GTK_WIDGET(self->continue_button), state == IVL_MESSAGE_LENGTH);
  gtk_widget_set_visible(GTK_WIDGET(self->notes), note != NULL);
  gtk_spinner_set_spinning(self->spinner, state == IVL_MESSAGE_STREAMING);
  gtk_widget_set_visible(GTK_WIDGET(self->spinner), state == IVL_MESSAGE_STREAMING &&
                                                        *ivl_message_get_text(self->message) ==
                                                            '\0');
  /* Nothing to copy or measure before the answer is there; a question can be copied or
   * edited. */
  gtk_widget_set_visible(GTK_WIDGET(self->footer), state != IVL_MESSAGE_STREAMING);
  gtk_widget_set_visible(GTK_WIDGET(self->stats_label), !user);
  gtk_widget_set_visible(GTK_WIDGET(self->edit_button), user);
}

/* "2/3" between the arrows, once an answer has been regenerated. */
static void show_pager(IvlMessageRow *self)
{
  guint n = ivl_message_get_n_alternatives(self->message);
  guint i = ivl_message_get_alternative(self->message);
  g_autofree char *text = g_strdup_printf("%u/%u", i + 1, n);

  gtk_label_set_text(self->pager_label, text);
  gtk_widget_set_visible(GTK_WIDGET(self->pager), n > 1);
  gtk_widget_action_set_enabled(GTK_WIDGET(self), "message.previous-answer", i > 0);
  gtk_widget_action_set_enabled(GTK_WIDGET(self), "message.next-answer", i + 1 < n);
}

static void page_action(GtkWidget *widget, const char *name, GVariant *param)
{
  IvlMessageRow *self = IVL_MESSAGE_ROW(widget);
  guint i;

  (void)param;
  if (self->message == NULL)
    return;
  i = ivl_message_get_alternative(self->message);
  if (g_str_equal(name, "message.previous-answer") && i > 0)
    i--;
  else if (g_str_equal(name, "message.next-answer"))
    i++;
  if (i == ivl_message_get_alternative(self->message) ||
      i >= ivl_message_get_n_alternatives(self->message))
    return;
  ivl_message_choose_alternative(self->message, i);
  g_signal_emit(self, signals[SIGNAL_ALTERNATIVE_CHOSEN], 0);
}

static void edit_action(GtkWidget *widget, const char *name, GVariant *param)
{
  (void)name;
  (void)param;
  if (IVL_MESSAGE_ROW(widget)->message)
    g_signal_emit(widget, signals[SIGNAL_EDIT], 0);
}

/* "42 tokens · 12.5 tokens/s · first token after 0.8 s · 3 image parts" */
static void show_stats(IvlMessageRow *self)
{
  const IvlAnswerStats *st = ivl_message_get_stats(self->message);
  g_autoptr(GString) text = g_string_new(NULL);

  if (st) {
    g_string_append_printf(text, ngettext("%d token", "%d tokens", st->n_tokens), st->n_tokens);
    if (st->tokens_per_s > 0) {
      g_string_append(text, " · ");
      g_string_append_printf(text, _("%.1f tokens/s"), st->tokens_per_s);
    }
    g_string_append(text, " · ");
    g_string_append_printf(text, _("first token after %.1f s"), st->first_token_ms / 1000.0);
    if (st->n_tiles > 0) {
      g_string_append(text, " · ");
      g_string_append_printf(
          text, ngettext("%d image part read", "%d image parts read", st->n_tiles), st->n_tiles);
    }
  }
  gtk_label_set_text(self->stats_label, text->str);
}

static void copy_message(IvlMessageRow *self)
{
  if (self->message)
    gdk_clipboard_set_text(gtk_widget_get_clipboard(GTK_WIDGET(self)),
                           ivl_message_get_text(self->message));
}

static void copy_action(GtkWidget *widget, const char *name, GVariant *param)
{
  (void)name;
  (void)param;
  copy_message(IVL_MESSAGE_ROW(widget));
}

/* Text and code have their own menus, which end with Copy Message. */
static gboolean has_own_menu(GtkWidget *bubble, double x, double y)
{
  for (GtkWidget *w = gtk_widget_pick(bubble, x, y, GTK_PICK_DEFAULT); w && w != bubble;
       w = gtk_widget_get_parent(w))
    if ((GTK_IS_LABEL(w) && gtk_label_get_selectable(GTK_LABEL(w))) || GTK_IS_TEXT_VIEW(w))
      return TRUE;
  return FALSE;
}

static void popup_context_menu(IvlMessageRow *self, GtkGesture *gesture, double x, double y)
{
  GtkWidget *bubble = GTK_WIDGET(self->bubble);
  double rx, ry;

  gtk_gesture_set_state(gesture, GTK_EVENT_SEQUENCE_CLAIMED);
  gtk_widget_translate_coordinates(bubble, GTK_WIDGET(self), x, y, &rx, &ry);
  gtk_popover_set_pointing_to(GTK_POPOVER(self->context_popover),
                              &(GdkRectangle){(int)rx, (int)ry, 1, 1});
  gtk_popover_popup(GTK_POPOVER(self->context_popover));
}

static void on_context_click(GtkGestureClick *click, int n_press, double x, double y,
                             IvlMessageRow *self)
{
  (void)n_press;
  if (self->message && !has_own_menu(GTK_WIDGET(self->bubble), x, y))
    popup_context_menu(self, GTK_GESTURE(click), x, y);
}

/* A long touch on text selects words; only code has a touch menu of its own. */
static void on_long_press(GtkGestureLongPress *press, double x, double y, IvlMessageRow *self)
{
  GtkWidget *w = gtk_widget_pick(GTK_WIDGET(self->bubble), x, y, GTK_PICK_DEFAULT);

  if (self->message && !(w && gtk_widget_get_ancestor(w, GTK_TYPE_TEXT_VIEW)))
    popup_context_menu(self, GTK_GESTURE(press), x, y);
}

static void on_text(IvlMessageRow *self)
{
  show_text(self);
  show_state(self);
}

static GtkWidget *media_widget(IvlAttachment *a)
{
  g_autoptr(GdkPaintable) thumb = NULL;
  GtkWidget *w;

  /* A video shows as one: its badge, the clip and the frames the model got. */
  if (ivl_attachment_is_video(a))
    return ivl_attachment_tile_new_sent(a);
  thumb = ivl_thumbnail_get(a);
  if (thumb) {
    w = gtk_picture_new_for_paintable(thumb);
    gtk_picture_set_content_fit(GTK_PICTURE(w), GTK_CONTENT_FIT_COVER);
  } else {
    w = gtk_image_new_from_icon_name("image-missing-symbolic");
    gtk_image_set_pixel_size(GTK_IMAGE(w), 48);
  }
  gtk_widget_set_size_request(w, MEDIA_SIZE, MEDIA_SIZE);
  gtk_widget_add_css_class(w, "thumbnail");
  gtk_widget_set_overflow(w, GTK_OVERFLOW_HIDDEN);
  gtk_widget_set_tooltip_text(w, ivl_attachment_get_name(a));
  make_openable(w, a, NULL);
  return w;
}

static void show_media(IvlMessageRow *self)
{
  GPtrArray *media = ivl_message_get_attachments(self->message);

  clear_media(self);
  for (guint i = 0; i < media->len; i++)
    gtk_flow_box_append(self->media_box, media_widget(media->pdata[i]));
  gtk_widget_set_visible(GTK_WIDGET(self->media_box), media->len > 0);
}

void ivl_message_row_set_message(IvlMessageRow *self, IvlMessage *message,
                                 IvlMessage *question)
{
  gboolean user;

  if (self->message) {
    g_clear_signal_handler(&self->text_handler, self->message);
    g_clear_signal_handler(&self->state_handler, self->message);
    g_clear_signal_handler(&self->stats_handler, self->message);
    g_clear_signal_handler(&self->alternative_handler, self->message);
  }
  g_set_object(&self->message, message);
  g_set_object(&self->question, question);
  g_clear_pointer(&self->boxes_of, g_free);
  if (message == NULL)
    return;
  user = ivl_message_get_role(message) == IVL_MESSAGE_USER;
  gtk_label_set_text(self->role_label, user ? _("You") : _("Assistant"));
  gtk_widget_set_halign(GTK_WIDGET(self->bubble), user ? GTK_ALIGN_END : GTK_ALIGN_FILL);
  if (user) {
    gtk_widget_add_css_class(GTK_WIDGET(self->bubble), "user");
    gtk_widget_remove_css_class(GTK_WIDGET(self->bubble), "assistant");
  } else {
    gtk_widget_add_css_class(GTK_WIDGET(self->bubble), "assistant");
    gtk_widget_remove_css_class(GTK_WIDGET(self->bubble), "user");
  }
  show_media(self);
  show_text(self);
  show_state(self);
  show_stats(self);
  show_pager(self);
  self->alternative_handler =
      g_signal_connect_swapped(message, "notify::alternative", G_CALLBACK(show_pager), self);
  self->stats_handler =
      g_signal_connect_swapped(message, "notify::has-stats", G_CALLBACK(show_stats), self);
  self->text_handler =
      g_signal_connect_swapped(message, "notify::text", G_CALLBACK(on_text), self);
  self->state_handler =
      g_signal_connect_swapped(message, "notify::state", G_CALLBACK(show_state), self);
}

IvlMessage *ivl_message_row_get_message(IvlMessageRow *self)
{
  return self->message;
}

static void ivl_message_row_dispose(GObject *object)
{
  IvlMessageRow *self = IVL_MESSAGE_ROW(object);

  ivl_message_row_set_message(self, NULL, NULL);
  gtk_widget_dispose_template(GTK_WIDGET(self), IVL_TYPE_MESSAGE_ROW);
  /* The template's root is a plain child of this GtkWidget: unparented here. */
  for (GtkWidget *child; (child = gtk_widget_get_first_child(GTK_WIDGET(self)));)
    gtk_widget_unparent(child);
  G_OBJECT_CLASS(ivl_message_row_parent_class)->dispose(object);
}

static void ivl_message_row_class_init(IvlMessageRowClass *klass)
{
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS(klass);

  g_type_ensure(IVL_TYPE_MARKDOWN_VIEW);

  G_OBJECT_CLASS(klass)->dispose = ivl_message_row_dispose;
  gtk_widget_class_set_template_from_resource(widget_class,
                                              "/io/github/ivl/Chat/ui/ivl-message-row.ui");
  gtk_widget_class_bind_template_child(widget_class, IvlMessageRow, bubble);
  gtk_widget_class_bind_template_child(widget_class, IvlMessageRow, role_label);
  gtk_widget_class_bind_template_child(widget_class, IvlMessageRow, media_box);
  gtk_widget_class_bind_template_child(widget_class, IvlMessageRow, text_label);
  gtk_widget_class_bind_template_child(widget_class, IvlMessageRow, body);
  gtk_widget_class_bind_template_child(widget_class, IvlMessageRow, spinner);
  gtk_widget_class_bind_template_child(widget_class, IvlMessageRow, notes);
  gtk_widget_class_bind_template_child(widget_class, IvlMessageRow, footer);
  gtk_widget_class_bind_template_child(widget_class, IvlMessageRow, state_label);
  gtk_widget_class_bind_template_child(widget_class, IvlMessageRow, continue_button);
  gtk_widget_class_bind_template_child(widget_class, IvlMessageRow, stats_label);
  gtk_widget_class_bind_template_child(widget_class, IvlMessageRow, copy_button);
  gtk_widget_class_bind_template_child(widget_class, IvlMessageRow, context_popover);
  gtk_widget_class_bind_template_child(widget_class, IvlMessageRow, context_menu);
  gtk_widget_class_bind_template_callback(widget_class, on_context_click);
  gtk_widget_class_bind_template_callback(widget_class, on_long_press);
  gtk_widget_class_bind_template_child(widget_class, IvlMessageRow, pager);
  gtk_widget_class_bind_template_child(widget_class, IvlMessageRow, pager_label);
  gtk_widget_class_bind_template_child(widget_class, IvlMessageRow, edit_button);
  gtk_widget_class_install_action(widget_class, "message.copy", NULL, copy_action);
  gtk_widget_class_install_action(widget_class, "message.previous-answer", NULL, page_action);
  gtk_widget_class_install_action(widget_class, "message.next-answer", NULL, page_action);
  gtk_widget_class_install_action(widget_class, "message.edit", NULL, edit_action);
  signals[SIGNAL_EDIT] = g_signal_new("edit", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0,
                                      NULL, NULL, NULL, G_TYPE_NONE, 0);
  signals[SIGNAL_ALTERNATIVE_CHOSEN] =
      g_signal_new("alternative-chosen", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL,
                   NULL, NULL, G_TYPE_NONE, 0);
  gtk_widget_class_set_layout_manager_type(widget_class, GTK_TYPE_BIN_LAYOUT);
  gtk_widget_class_set_css_name(widget_class, "messagerow");
}

static void ivl_message_row_init(IvlMessageRow *self)
{
  gtk_widget_init_template(GTK_WIDGET(self));
  g_signal_connect_swapped(self->copy_button, "clicked", G_CALLBACK(copy_message), self);
  /* Right-click on the text offers the whole message next to the selection's Copy. */
  ivl_markdown_view_set_extra_menu(self->body, self->context_menu);
}

GtkWidget *ivl_message_row_new(void)
{
  return g_object_new(IVL_TYPE_MESSAGE_ROW, NULL);
}
