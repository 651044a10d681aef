/* ivl-attachment-tile.c — an attachment waiting above the input. */
#include "ivl-config.h"

#include "ivl-attachment-tile.h"

#include <glib/gi18n.h>

#include "ivl-thumbnails.h"

struct _IvlAttachmentTile {
  GtkWidget parent_instance;

  /* template widgets */
  GtkPicture *picture;
  GtkImage *kind_icon;
  GtkButton *remove_button;
  GtkLabel *caption;

  /* owned */
  IvlAttachment *attachment;
  gboolean sent;
};

G_DEFINE_FINAL_TYPE(IvlAttachmentTile, ivl_attachment_tile, GTK_TYPE_WIDGET)

enum { SIGNAL_REMOVE, SIGNAL_EDIT, N_SIGNALS };
static guint signals[N_SIGNALS];

static void update(IvlAttachmentTile *self)
{
  g_autoptr(GdkPaintable) thumb = ivl_thumbnail_get(self->attachment);
  /* A sent video says what was asked of it; a waiting one, what the worker found. */
  g_autofree char *text = self->sent ? ivl_attachment_describe_clip(self->attachment)
                                     : ivl_attachment_describe(self->attachment);
  const char *name = ivl_attachment_get_name(self->attachment);
  g_autofree char *base = g_path_get_basename(name);

  if (thumb == NULL && ivl_attachment_is_video(self->attachment)) {
    /* A video from a saved conversation has no frame at hand: its kind stands in. */
    GtkIconTheme *theme = gtk_icon_theme_get_for_display(gtk_widget_get_display(GTK_WIDGET(self)));
    thumb = GDK_PAINTABLE(gtk_icon_theme_lookup_icon(theme, "video-x-generic-symbolic", NULL, 48,
                                                     1, GTK_TEXT_DIR_NONE, 0));
    gtk_picture_set_content_fit(self->picture, GTK_CONTENT_FIT_SCALE_DOWN);
  } else {
    gtk_picture_set_content_fit(self->picture, GTK_CONTENT_FIT_COVER);
  }
  gtk_picture_set_paintable(self->picture, thumb);
  gtk_label_set_text(self->caption, text ? text : _("Preparing…"));
  if (ivl_attachment_is_video(self->attachment) && !self->sent) {
    /* TRANSLATORS: the tooltip of a waiting video; %s: its file name */
    g_autofree char *tip = g_strdup_printf(_("%s — click to change the clip"), base);
    gtk_widget_set_tooltip_text(GTK_WIDGET(self), tip);
  } else {
    gtk_widget_set_tooltip_text(GTK_WIDGET(self), base);
  }
}

static void on_picture_clicked(GtkGestureClick *click, int n_press, double x, double y,
                               IvlAttachmentTile *self)
{
  (void)click;
  (void)n_press;
  (void)x;
  (void)y;
  g_signal_emit(self, signals[SIGNAL_EDIT], 0);
}

static void on_remove(IvlAttachmentTile *self)
{
  g_signal_emit(self, signals[SIGNAL_REMOVE], 0);
}

static void ivl_attachment_tile_dispose(GObject *object)
{
  IvlAttachmentTile *self = IVL_ATTACHMENT_TILE(object);

  if (self->attachment)
    g_signal_handlers_disconnect_by_data(self->attachment, self);
  g_clear_object(&self->attachment);
  gtk_widget_dispose_template(GTK_WIDGET(self), IVL_TYPE_ATTACHMENT_TILE);
  /* The template's root is a plain child of this GtkWidget: unparented here. */
  for (GtkWidget *child; (child = gtk_widget_get_first_child(GTK_WIDGET(self)));)
    gtk_widget_unparent(child);
  G_OBJECT_CLASS(ivl_attachment_tile_parent_class)->dispose(object);
}

static void ivl_attachment_tile_class_init(IvlAttachmentTileClass *klass)
{
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS(klass);

  G_OBJECT_CLASS(klass)->dispose = ivl_attachment_tile_dispose;
  gtk_widget_class_set_template_from_resource(widget_class,
                                              "/io/github/ivl/Chat/ui/ivl-attachment-tile.ui");
  gtk_widget_class_bind_template_child(widget_class, IvlAttachmentTile, picture);
  gtk_widget_class_bind_template_child(widget_class, IvlAttachmentTile, kind_icon);
  gtk_widget_class_bind_template_child(widget_class, IvlAttachmentTile, remove_button);
  gtk_widget_class_bind_template_child(widget_class, IvlAttachmentTile, caption);
  gtk_widget_class_set_layout_manager_type(widget_class, GTK_TYPE_BIN_LAYOUT);
  signals[SIGNAL_REMOVE] = g_signal_new("remove", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0,
                                        NULL, NULL, NULL, G_TYPE_NONE, 0);
  signals[SIGNAL_EDIT] = g_signal_new("edit", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0,
                                      NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void ivl_attachment_tile_init(IvlAttachmentTile *self)
{
  gtk_widget_init_template(GTK_WIDGET(self));
  g_signal_connect_swapped(self->remove_button, "clicked", G_CALLBACK(on_remove), self);
}

static IvlAttachmentTile *tile_new(IvlAttachment *attachment, gboolean sent)
{
  IvlAttachmentTile *self = g_object_new(IVL_TYPE_ATTACHMENT_TILE, NULL);

  self->attachment = g_object_ref(attachment);
  self->sent = sent;
  gtk_widget_set_visible(GTK_WIDGET(self->kind_icon), ivl_attachment_is_video(attachment));
  gtk_widget_set_visible(GTK_WIDGET(self->remove_button), !sent);
  g_signal_connect_swapped(attachment, "notify::n-tiles", G_CALLBACK(update), self);
  g_signal_connect_swapped(attachment, "notify::preview", G_CALLBACK(update), self);
  update(self);
  return self;
}

GtkWidget *ivl_attachment_tile_new(IvlAttachment *attachment)
{
  IvlAttachmentTile *self = tile_new(attachment, FALSE);

  if (ivl_attachment_is_video(attachment)) {
    GtkGesture *click = gtk_gesture_click_new();
    g_signal_connect(click, "released", G_CALLBACK(on_picture_clicked), self);
    gtk_widget_add_controller(GTK_WIDGET(self->picture), GTK_EVENT_CONTROLLER(click));
    gtk_widget_set_cursor_from_name(GTK_WIDGET(self->picture), "pointer");
  }
  return GTK_WIDGET(self);
}

GtkWidget *ivl_attachment_tile_new_sent(IvlAttachment *attachment)
{
  return GTK_WIDGET(tile_new(attachment, TRUE));
}

IvlAttachment *ivl_attachment_tile_get_attachment(IvlAttachmentTile *self)
{
  return self->attachment;
}
