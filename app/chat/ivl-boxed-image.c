/* ivl-boxed-image.c — a picture with grounding boxes drawn over it. */
#include "ivl-boxed-image.h"

#include "ivl-grounding.h"

#include <math.h>

struct _IvlBoxedImage {
  GtkWidget parent_instance;

  GdkPaintable *paintable;
  GPtrArray *boxes; /* IvlBox; NULL when none */
  double zoom;      /* 0: fit */
  int max_width;    /* fitted, never wider than this; 0: the image's width */
};

G_DEFINE_FINAL_TYPE(IvlBoxedImage, ivl_boxed_image, GTK_TYPE_WIDGET)

static void image_size(IvlBoxedImage *self, double *w, double *h)
{
  *w = MAX(1, gdk_paintable_get_intrinsic_width(self->paintable));
  *h = MAX(1, gdk_paintable_get_intrinsic_height(self->paintable));
}

static GtkSizeRequestMode ivl_boxed_image_get_request_mode(GtkWidget *widget)
{
  (void)widget;
  return GTK_SIZE_REQUEST_HEIGHT_FOR_WIDTH;
}

static void ivl_boxed_image_measure(GtkWidget *widget, GtkOrientation orientation, int for_size,
                                    int *minimum, int *natural, int *min_baseline,
                                    int *nat_baseline)
{
  IvlBoxedImage *self = IVL_BOXED_IMAGE(widget);
  double w, h;

  image_size(self, &w, &h);
  if (self->zoom <= 0 && self->max_width > 0 && w > self->max_width) {
    h = h * self->max_width / w;
    w = self->max_width;
  }
  *min_baseline = *nat_baseline = -1;
  if (self->zoom > 0) {
    *minimum = *natural = (int)ceil((orientation == GTK_ORIENTATION_HORIZONTAL ? w : h) *
                                    self->zoom);
  } else if (orientation == GTK_ORIENTATION_HORIZONTAL) {
    *minimum = 32;
    *natural = (int)w;
  } else {
    double width = for_size >= 0 ? MIN(for_size, w) : w;
    /* Fitted, it can shrink into any height it is given (the viewer's window). */
    *natural = (int)ceil(width * h / w);
    *minimum = gtk_widget_get_vexpand(widget) ? 32 : *natural;
  }
}

void ivl_boxed_image_get_image_rect(IvlBoxedImage *self, graphene_rect_t *rect)
{
  double w, h, aw = gtk_widget_get_width(GTK_WIDGET(self));
  double ah = gtk_widget_get_height(GTK_WIDGET(self)), scale;

  image_size(self, &w, &h);
  scale = self->zoom > 0 ? self->zoom : MIN(1.0, MIN(aw / w, ah / h));
  if (self->zoom <= 0 && self->max_width > 0)
    scale = MIN(scale, self->max_width / w);
  graphene_rect_init(rect, floor((aw - w * scale) / 2), floor((ah - h * scale) / 2), w * scale,
                     h * scale);
  if (rect->origin.x < 0)
    rect->origin.x = 0;
  if (rect->origin.y < 0)
    rect->origin.y = 0;
}

static void rgba_of(int color, double alpha, GdkRGBA *rgba)
{
  guint32 c = ivl_grounding_color(color);

  *rgba = (GdkRGBA){((c >> 16) & 0xff) / 255.0f, ((c >> 8) & 0xff) / 255.0f, (c & 0xff) / 255.0f,
                    (float)alpha};
}

static void draw_box(IvlBoxedImage *self, GtkSnapshot *snapshot, const graphene_rect_t *image,
                     IvlBox *box)
{
  graphene_rect_t r = GRAPHENE_RECT_INIT(
      image->origin.x + box->x1 / 1000 * image->size.width,
      image->origin.y + box->y1 / 1000 * image->size.height,
      (box->x2 - box->x1) / 1000 * image->size.width,
      (box->y2 - box->y1) / 1000 * image->size.height);
  GskRoundedRect outline;
  GdkRGBA color, fill, colors[4];
  float widths[4] = {2.5f, 2.5f, 2.5f, 2.5f};

  rgba_of(box->color, 1.0, &color);
  rgba_of(box->color, 0.12, &fill);
  for (int i = 0; i < 4; i++)
    colors[i] = color;
  gtk_snapshot_append_color(snapshot, &fill, &r);
  gsk_rounded_rect_init_from_rect(&outline, &r, 0);
  gtk_snapshot_append_border(snapshot, &outline, widths, colors);
  if (*box->label == '\0')
    return;

  /* The label on a tab of the box's colour, above the box when there is room. */
  PangoLayout *layout = gtk_widget_create_pango_layout(GTK_WIDGET(self), box->label);
  PangoAttrList *attrs = pango_attr_list_new();
  int lw, lh;
  guint32 c = ivl_grounding_color(box->color);
  gboolean light = ((c >> 16) & 0xff) * 299 + ((c >> 8) & 0xff) * 587 + (c & 0xff) * 114 >
                   160000;
  GdkRGBA ink = light ? (GdkRGBA){0, 0, 0, 1} : (GdkRGBA){1, 1, 1, 1};

  pango_attr_list_insert(attrs, pango_attr_weight_new(PANGO_WEIGHT_BOLD));
  pango_attr_list_insert(attrs, pango_attr_scale_new(0.85));
  pango_layout_set_attributes(layout, attrs);
  pango_attr_list_unref(attrs);
  pango_layout_get_pixel_size(layout, &lw, &lh);
  double ty = r.origin.y - lh - 4 >= image->origin.y ? r.origin.y - lh - 4 : r.origin.y;
  graphene_rect_t tab = GRAPHENE_RECT_INIT(r.origin.x - 1.25f, ty, lw + 8, lh + 4);
  gtk_snapshot_append_color(snapshot, &color, &tab);
  gtk_snapshot_save(snapshot);
  gtk_snapshot_translate(snapshot, &GRAPHENE_POINT_INIT(tab.origin.x + 4, tab.origin.y + 2));
  gtk_snapshot_append_layout(snapshot, layout, &ink);
  gtk_snapshot_restore(snapshot);
  g_object_unref(layout);
}

static void ivl_boxed_image_snapshot(GtkWidget *widget, GtkSnapshot *snapshot)
{
  IvlBoxedImage *self = IVL_BOXED_IMAGE(widget);
  graphene_rect_t image;

  ivl_boxed_image_get_image_rect(self, &image);
  gtk_snapshot_save(snapshot);
  gtk_snapshot_translate(snapshot, &image.origin);
  gdk_paintable_snapshot(self->paintable, snapshot, image.size.width, image.size.height);
  gtk_snapshot_restore(snapshot);
  for (guint i = 0; self->boxes && i < self->boxes->len; i++)
    draw_box(self, snapshot, &image, self->boxes->pdata[i]);
}

static void ivl_boxed_image_dispose(GObject *object)
{
  IvlBoxedImage *self = IVL_BOXED_IMAGE(object);

  if (self->paintable)
    g_signal_handlers_disconnect_by_data(self->paintable, self);
  g_clear_object(&self->paintable);
  g_clear_pointer(&self->boxes, g_ptr_array_unref);
  G_OBJECT_CLASS(ivl_boxed_image_parent_class)->dispose(object);
}

static void ivl_boxed_image_class_init(IvlBoxedImageClass *klass)
{
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS(klass);

  G_OBJECT_CLASS(klass)->dispose = ivl_boxed_image_dispose;
  widget_class->get_request_mode = ivl_boxed_image_get_request_mode;
  widget_class->measure = ivl_boxed_image_measure;
  widget_class->snapshot = ivl_boxed_image_snapshot;
  gtk_widget_class_set_css_name(widget_class, "boxedimage");
}

static void ivl_boxed_image_init(IvlBoxedImage *self)
{
  gtk_widget_set_overflow(GTK_WIDGET(self), GTK_OVERFLOW_HIDDEN);
}

GtkWidget *ivl_boxed_image_new(GdkPaintable *paintable)
{
  IvlBoxedImage *self = g_object_new(IVL_TYPE_BOXED_IMAGE, NULL);

  self->paintable = g_object_ref(paintable);
  /* An animated or still-loading paintable redraws and resizes the widget. */
  g_signal_connect_swapped(paintable, "invalidate-contents", G_CALLBACK(gtk_widget_queue_draw),
                           self);
  g_signal_connect_swapped(paintable, "invalidate-size", G_CALLBACK(gtk_widget_queue_resize),
                           self);
  return GTK_WIDGET(self);
}

void ivl_boxed_image_set_boxes(IvlBoxedImage *self, GPtrArray *boxes)
{
  g_clear_pointer(&self->boxes, g_ptr_array_unref);
  self->boxes = boxes ? g_ptr_array_ref(boxes) : NULL;
  gtk_widget_queue_draw(GTK_WIDGET(self));
}

void ivl_boxed_image_set_zoom(IvlBoxedImage *self, double zoom)
{
  self->zoom = CLAMP(zoom, 0, 8);
  gtk_widget_queue_resize(GTK_WIDGET(self));
}

void ivl_boxed_image_set_max_width(IvlBoxedImage *self, int max_width)
{
  self->max_width = max_width;
  gtk_widget_queue_resize(GTK_WIDGET(self));
}

GdkPaintable *ivl_boxed_image_get_paintable(IvlBoxedImage *self)
{
  return self->paintable;
}

double ivl_boxed_image_get_zoom(IvlBoxedImage *self)
{
  return self->zoom;
}
