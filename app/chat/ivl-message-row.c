/* ivl-message-row.c — how one message looks in the conversation view. */
#include "ivl-config.h"

#include "ivl-message-row.h"

#include <glib/gi18n.h>

#include "ivl-markdown.h"
#include "ivl-thumbnails.h"

#define MEDIA_SIZE 120

struct _IvlMessageRow {
  GtkWidget parent_instance;

  /* template widgets */
  GtkBox *bubble;
  GtkLabel *role_label;
  GtkBox *media_box;
  GtkLabel *text_label;
  GtkSpinner *spinner;
  GtkLabel *state_label;

  /* owned */
  IvlMessage *message;
  gulong text_handler, state_handler;
};

G_DEFINE_FINAL_TYPE(IvlMessageRow, ivl_message_row, GTK_TYPE_WIDGET)

static void show_text(IvlMessageRow *self)
{
  const char *text = ivl_message_get_text(self->message);

  if (ivl_message_get_role(self->message) == IVL_MESSAGE_USER) {
    /* A question is shown as typed: no markdown. */
    gtk_label_set_use_markup(self->text_label, FALSE);
    gtk_label_set_text(self->text_label, text);
  } else {
    g_autofree char *markup = ivl_markdown_to_pango(text);
    gtk_label_set_use_markup(self->text_label, TRUE);
    gtk_label_set_markup(self->text_label, markup);
  }
  gtk_widget_set_visible(GTK_WIDGET(self->text_label), *text != '\0');
}

static void show_state(IvlMessageRow *self)
{
  IvlMessageState state = ivl_message_get_state(self->message);
  const char *note = NULL;

  if (state == IVL_MESSAGE_STOPPED)
    note = _("Stopped");
  else if (state == IVL_MESSAGE_FAILED)
    note = _("The answer could not be completed");
  gtk_label_set_text(self->state_label, note ? note : "");
  gtk_widget_set_visible(GTK_WIDGET(self->state_label), note != NULL);
  gtk_spinner_set_spinning(self->spinner, state == IVL_MESSAGE_STREAMING);
  gtk_widget_set_visible(GTK_WIDGET(self->spinner), state == IVL_MESSAGE_STREAMING &&
                                                        *ivl_message_get_text(self->message) ==
                                                            '\0');
}

static void on_text(IvlMessageRow *self)
{
  show_text(self);
  show_state(self);
}

static GtkWidget *media_widget(IvlAttachment *a)
{
  g_autoptr(GdkPaintable) thumb = ivl_thumbnail_get(a);
  GtkWidget *w;

  if (thumb) {
    w = gtk_picture_new_for_paintable(thumb);
    gtk_picture_set_content_fit(GTK_PICTURE(w), GTK_CONTENT_FIT_COVER);
  } else {
    w = gtk_image_new_from_icon_name(ivl_attachment_is_video(a) ? "video-x-generic-symbolic"
                                                                : "image-missing-symbolic");
    gtk_image_set_pixel_size(GTK_IMAGE(w), 48);
  }
  gtk_widget_set_size_request(w, MEDIA_SIZE, MEDIA_SIZE);
  gtk_widget_add_css_class(w, "thumbnail");
  gtk_widget_set_overflow(w, GTK_OVERFLOW_HIDDEN);
  gtk_widget_set_tooltip_text(w, ivl_attachment_get_path(a));
  return w;
}

static void show_media(IvlMessageRow *self)
{
  GtkWidget *child;
  GPtrArray *media = ivl_message_get_attachments(self->message);

  while ((child = gtk_widget_get_first_child(GTK_WIDGET(self->media_box))))
    gtk_box_remove(self->media_box, child);
  for (guint i = 0; i < media->len; i++)
    gtk_box_append(self->media_box, media_widget(media->pdata[i]));
  gtk_widget_set_visible(GTK_WIDGET(self->media_box), media->len > 0);
}

void ivl_message_row_set_message(IvlMessageRow *self, IvlMessage *message)
{
  gboolean user;

  if (self->message) {
    g_clear_signal_handler(&self->text_handler, self->message);
    g_clear_signal_handler(&self->state_handler, self->message);
  }
  g_set_object(&self->message, message);
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
  self->text_handler =
      g_signal_connect_swapped(message, "notify::text", G_CALLBACK(on_text), self);
  self->state_handler =
      g_signal_connect_swapped(message, "notify::state", G_CALLBACK(show_state), self);
}

static void ivl_message_row_dispose(GObject *object)
{
  IvlMessageRow *self = IVL_MESSAGE_ROW(object);

  ivl_message_row_set_message(self, NULL);
  gtk_widget_dispose_template(GTK_WIDGET(self), IVL_TYPE_MESSAGE_ROW);
  /* The template's root is a plain child of this GtkWidget: unparented here. */
  for (GtkWidget *child; (child = gtk_widget_get_first_child(GTK_WIDGET(self)));)
    gtk_widget_unparent(child);
  G_OBJECT_CLASS(ivl_message_row_parent_class)->dispose(object);
}

static void ivl_message_row_class_init(IvlMessageRowClass *klass)
{
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS(klass);

  G_OBJECT_CLASS(klass)->dispose = ivl_message_row_dispose;
  gtk_widget_class_set_template_from_resource(widget_class,
                                              "/io/github/ivl/Chat/ui/ivl-message-row.ui");
  gtk_widget_class_bind_template_child(widget_class, IvlMessageRow, bubble);
  gtk_widget_class_bind_template_child(widget_class, IvlMessageRow, role_label);
  gtk_widget_class_bind_template_child(widget_class, IvlMessageRow, media_box);
  gtk_widget_class_bind_template_child(widget_class, IvlMessageRow, text_label);
  gtk_widget_class_bind_template_child(widget_class, IvlMessageRow, spinner);
  gtk_widget_class_bind_template_child(widget_class, IvlMessageRow, state_label);
  gtk_widget_class_set_layout_manager_type(widget_class, GTK_TYPE_BIN_LAYOUT);
  gtk_widget_class_set_css_name(widget_class, "messagerow");
}

static void ivl_message_row_init(IvlMessageRow *self)
{
  gtk_widget_init_template(GTK_WIDGET(self));
}

GtkWidget *ivl_message_row_new(void)
{
  return g_object_new(IVL_TYPE_MESSAGE_ROW, NULL);
}
