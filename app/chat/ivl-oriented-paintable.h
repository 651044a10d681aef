/* ivl-oriented-paintable.h — a paintable drawn turned or mirrored as a video's orientation
 * tag asks, so that a preview shows what GStreamer's videoflip (video-direction=auto) gives
 * the model: GTK 4.8's media player draws frames as stored. */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

/* The eight orientations of GStreamer's image-orientation tag, as videoflip undoes them
 * (GstVideoOrientationMethod's first eight values, in its order). */
typedef enum {
  IVL_ORIENTATION_IDENTITY,
  IVL_ORIENTATION_90R,   /* turned a quarter clockwise */
  IVL_ORIENTATION_180,
  IVL_ORIENTATION_90L,   /* turned a quarter counter-clockwise */
  IVL_ORIENTATION_HORIZ, /* mirrored left to right */
  IVL_ORIENTATION_VERT,  /* mirrored top to bottom */
  IVL_ORIENTATION_UL_LR, /* mirrored across the upper-left to lower-right diagonal */
  IVL_ORIENTATION_UR_LL, /* mirrored across the upper-right to lower-left diagonal */
} IvlOrientation;

/* The turn videoflip makes for an image-orientation tag value ("rotate-90", …); identity
 * for NULL or an unknown value. */
IvlOrientation ivl_orientation_from_tag(const char *tag);

#define IVL_TYPE_ORIENTED_PAINTABLE (ivl_oriented_paintable_get_type())
G_DECLARE_FINAL_TYPE(IvlOrientedPaintable, ivl_oriented_paintable, IVL, ORIENTED_PAINTABLE,
                     GObject)

/* Draws child (a GtkMediaStream, say) turned; follows its changes. */
IvlOrientedPaintable *ivl_oriented_paintable_new(GdkPaintable *child);
void ivl_oriented_paintable_set_orientation(IvlOrientedPaintable *self, IvlOrientation o);
IvlOrientation ivl_oriented_paintable_get_orientation(IvlOrientedPaintable *self);

/* Where the video's orientation tag says, read off the UI thread (GStreamer's discoverer);
 * identity when the file has none. */
void ivl_video_orientation_probe_async(const char *path, GCancellable *cancellable,
                                       GAsyncReadyCallback callback, gpointer user_data);
IvlOrientation ivl_video_orientation_probe_finish(GAsyncResult *result, GError **error);

G_END_DECLS
