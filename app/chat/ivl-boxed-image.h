/* ivl-boxed-image.h — a picture with grounding boxes drawn over it, each with its label. */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

#define IVL_TYPE_BOXED_IMAGE (ivl_boxed_image_get_type())
G_DECLARE_FINAL_TYPE(IvlBoxedImage, ivl_boxed_image, IVL, BOXED_IMAGE, GtkWidget)

GtkWidget *ivl_boxed_image_new(GdkPaintable *paintable);
/* boxes: IvlBox (ivl-grounding.h) of this image only; the widget keeps a reference. */
void ivl_boxed_image_set_boxes(IvlBoxedImage *self, GPtrArray *boxes);
/* Zoom 1.0 = the image's own pixels; 0 = fit the width given, never larger than the image
 * (and, when the widget is set to vexpand, any height given too). */
void ivl_boxed_image_set_zoom(IvlBoxedImage *self, double zoom);
double ivl_boxed_image_get_zoom(IvlBoxedImage *self);
/* Fitted, never wider than max_width pixels (0: no limit but the image's own width). */
void ivl_boxed_image_set_max_width(IvlBoxedImage *self, int max_width);
GdkPaintable *ivl_boxed_image_get_paintable(IvlBoxedImage *self);
/* Where the image is drawn inside the widget, in widget pixels. */
void ivl_boxed_image_get_image_rect(IvlBoxedImage *self, graphene_rect_t *rect);

G_END_DECLS
