/* ivl-image-viewer.c — an attached image shown large: fit to the window, or zoomed with the
 * buttons, Ctrl+scroll, a pinch or Ctrl+plus/minus/0. */
#include "ivl-config.h"

#include "ivl-image-viewer.h"

#include <glib/gi18n.h>

#include "ivl-boxed-image.h"
#include "ivl-thumbnails.h"

struct _IvlImageViewer {
  AdwWindow parent_instance;

  AdwWindowTitle *title;
  GtkScrolledWindow *scroller;
  IvlBoxedImage *image;
  double zoom_begin; /* the zoom when a pinch began */
};

G_DEFINE_FINAL_TYPE(IvlImageViewer, ivl_image_viewer, ADW_TYPE_WINDOW)

/* The zoom the image is shown at now, also when fitted. */
static double current_zoom(IvlImageViewer *self)
{
  graphene_rect_t rect;
  GdkPaintable *p = ivl_boxed_image_get_paintable(self->image);
  double zoom = ivl_boxed_image_get_zoom(self->image);

  if (zoom > 0)
    return zoom;
  ivl_boxed_image_get_image_rect(self->image, &rect);
  return rect.size.width / MAX(1, gdk_paintable_get_intrinsic_width(p));
}

static void set_zoom(IvlImageViewer *self, double zoom)
{
  GtkPolicyType policy = zoom > 0 ? GTK_POLICY_AUTOMATIC : GTK_POLICY_NEVER;

  if (self->image == NULL)
    return;
  /* Fitted, the image gets exactly the window's room; zoomed, it scrolls. */
  gtk_scrolled_window_set_policy(self->scroller, policy, policy);
  ivl_boxed_image_set_zoom(self->image, zoom);
  gtk_widget_set_halign(GTK_WIDGET(self->image), zoom > 0 ? GTK_ALIGN_CENTER : GTK_ALIGN_FILL);
  gtk_widget_set_valign(GTK_WIDGET(self->image), zoom > 0 ? GTK_ALIGN_CENTER : GTK_ALIGN_FILL);
}

static void zoom_action(GtkWidget *widget, const char *name, GVariant *param)
{
  IvlImageViewer *self = IVL_IMAGE_VIEWER(widget);

  (void)param;
  if (self->image == NULL)
    return;
  if (g_str_equal(name, "viewer.zoom-fit"))
    set_zoom(self, 0);
  else
    set_zoom(self, current_zoom(self) * (g_str_equal(name, "viewer.zoom-in") ? 1.25 : 0.8));
}

static gboolean on_scroll(GtkEventControllerScroll *scroll, double dx, double dy,
                          IvlImageViewer *self)
{
  (void)dx;
  if (self->image == NULL ||
      !(gtk_event_controller_get_current_event_state(GTK_EVENT_CONTROLLER(scroll)) &
        GDK_CONTROL_MASK))
    return FALSE;
  set_zoom(self, current_zoom(self) * (dy < 0 ? 1.1 : 1 / 1.1));
  return TRUE;
}

static void on_pinch_begin(GtkGesture *gesture, GdkEventSequence *sequence,
                           IvlImageViewer *self)
{
  (void)gesture;
  (void)sequence;
  self->zoom_begin = self->image ? current_zoom(self) : 0;
}

static void on_pinch(GtkGestureZoom *gesture, double scale, IvlImageViewer *self)
{
  (void)gesture;
  set_zoom(self, self->zoom_begin * scale);
}

static void ivl_image_viewer_class_init(IvlImageViewerClass *klass)
{
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS(klass);

  gtk_widget_class_set_template_from_resource(widget_class,
                                              "/io/github/ivl/Chat/ui/ivl-image-viewer.ui");
  gtk_widget_class_bind_template_child(widget_class, IvlImageViewer, title);
  gtk_widget_class_bind_template_child(widget_class, IvlImageViewer, scroller);
  gtk_widget_class_install_action(widget_class, "viewer.zoom-in", NULL, zoom_action);
  gtk_widget_class_install_action(widget_class, "viewer.zoom-out", NULL, zoom_action);
  gtk_widget_class_install_action(widget_class, "viewer.zoom-fit", NULL, zoom_action);
  gtk_widget_class_add_binding_action(widget_class, GDK_KEY_plus, GDK_CONTROL_MASK,
                                      "viewer.zoom-in", NULL);
  gtk_widget_class_add_binding_action(widget_class, GDK_KEY_equal, GDK_CONTROL_MASK,
                                      "viewer.zoom-in", NULL);
  gtk_widget_class_add_binding_action(widget_class, GDK_KEY_minus, GDK_CONTROL_MASK,
                                      "viewer.zoom-out", NULL);
  gtk_widget_class_add_binding_action(widget_class, GDK_KEY_0, GDK_CONTROL_MASK,
                                      "viewer.zoom-fit", NULL);
  gtk_widget_class_add_binding_action(widget_class, GDK_KEY_Escape, 0, "window.close", NULL);
}

static void ivl_image_viewer_init(IvlImageViewer *self)
{
  GtkEventController *scroll =
      gtk_event_controller_scroll_new(GTK_EVENT_CONTROLLER_SCROLL_VERTICAL);
  GtkGesture *pinch = gtk_gesture_zoom_new();

  gtk_widget_init_template(GTK_WIDGET(self));
  gtk_event_controller_set_propagation_phase(scroll, GTK_PHASE_CAPTURE);
  g_signal_connect(scroll, "scroll", G_CALLBACK(on_scroll), self);
  gtk_widget_add_controller(GTK_WIDGET(self->scroller), scroll);
  g_signal_connect(pinch, "begin", G_CALLBACK(on_pinch_begin), self);
  g_signal_connect(pinch, "scale-changed", G_CALLBACK(on_pinch), self);
  gtk_widget_add_controller(GTK_WIDGET(self->scroller), GTK_EVENT_CONTROLLER(pinch));
}

IvlImageViewer *ivl_image_viewer_new(GtkWindow *parent, IvlAttachment *attachment,
                                     GPtrArray *boxes)
{
  IvlImageViewer *self = g_object_new(IVL_TYPE_IMAGE_VIEWER, "transient-for", parent, NULL);
  g_autoptr(GdkPaintable) picture = ivl_picture_get_full(attachment);
  const char *name = ivl_attachment_get_name(attachment);
  g_autofree char *base = g_path_get_basename(name);

  adw_window_title_set_title(self->title, base);
  if (picture == NULL)
    return self;
  self->image = IVL_BOXED_IMAGE(ivl_boxed_image_new(picture));
  gtk_widget_set_vexpand(GTK_WIDGET(self->image), TRUE);
  ivl_boxed_image_set_boxes(self->image, boxes);
  set_zoom(self, 0);
  gtk_scrolled_window_set_child(self->scroller, GTK_WIDGET(self->image));
  return self;
}
