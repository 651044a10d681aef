/* ivl-oriented-paintable.c — a paintable turned as a video's orientation tag says. */
#include "ivl-config.h"

#include "ivl-oriented-paintable.h"

#include <gst/pbutils/pbutils.h>

struct _IvlOrientedPaintable {
  GObject parent_instance;

  GdkPaintable *child; /* owned */
  IvlOrientation orientation;
};

static void ivl_oriented_paintable_iface_init(GdkPaintableInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE(IvlOrientedPaintable, ivl_oriented_paintable, G_TYPE_OBJECT,
                              G_IMPLEMENT_INTERFACE(GDK_TYPE_PAINTABLE,
                                                    ivl_oriented_paintable_iface_init))

IvlOrientation ivl_orientation_from_tag(const char *tag)
{
  /* gstvideoflip.c's table for video-direction=auto. */
  static const char *const tags[] = {"rotate-0",      "rotate-90",       "rotate-180",
                                     "rotate-270",    "flip-rotate-0",   "flip-rotate-180",
                                     "flip-rotate-90", "flip-rotate-270"};
  static const IvlOrientation turns[] = {
      IVL_ORIENTATION_IDENTITY, IVL_ORIENTATION_90R,   IVL_ORIENTATION_180,
      IVL_ORIENTATION_90L,      IVL_ORIENTATION_HORIZ, IVL_ORIENTATION_VERT,
      IVL_ORIENTATION_UL_LR,    IVL_ORIENTATION_UR_LL};

  for (guint i = 0; tag && i < G_N_ELEMENTS(tags); i++)
    if (g_str_equal(tag, tags[i]))
      return turns[i];
  return IVL_ORIENTATION_IDENTITY;
}

/* The quarter turns and the diagonal mirrors swap width and height. */
static gboolean swaps_sides(IvlOrientation o)
{
  return o == IVL_ORIENTATION_90R || o == IVL_ORIENTATION_90L || o == IVL_ORIENTATION_UL_LR ||
         o == IVL_ORIENTATION_UR_LL;
}

static void oriented_snapshot(GdkPaintable *paintable, GdkSnapshot *gdk_snapshot, double width,
                              double height)
{
  IvlOrientedPaintable *self = IVL_ORIENTED_PAINTABLE(paintable);
  GtkSnapshot *snapshot = GTK_SNAPSHOT(gdk_snapshot);
  gboolean swap = swaps_sides(self->orientation);
  double w = swap ? height : width, h = swap ? width : height; /* the child's box */

  /* Each case maps the child's box [0,w]x[0,h] onto [0,width]x[0,height]; the transforms
   * apply to what is drawn after them, last first. */
  gtk_snapshot_save(snapshot);
  switch (self->orientation) {
  case IVL_ORIENTATION_IDENTITY:
    break;
  case IVL_ORIENTATION_90R: /* (x, y) -> (width - y, x) */
    gtk_snapshot_translate(snapshot, &GRAPHENE_POINT_INIT(width, 0));
    gtk_snapshot_rotate(snapshot, 90);
    break;
  case IVL_ORIENTATION_180:
    gtk_snapshot_translate(snapshot, &GRAPHENE_POINT_INIT(width, height));
    gtk_snapshot_rotate(snapshot, 180);
    break;
  case IVL_ORIENTATION_90L: /* (x, y) -> (y, height - x) */
    gtk_snapshot_translate(snapshot, &GRAPHENE_POINT_INIT(0, height));
    gtk_snapshot_rotate(snapshot, 270);
    break;
  case IVL_ORIENTATION_HORIZ:
    gtk_snapshot_translate(snapshot, &GRAPHENE_POINT_INIT(width, 0));
    gtk_snapshot_scale(snapshot, -1, 1);
    break;
  case IVL_ORIENTATION_VERT:
    gtk_snapshot_translate(snapshot, &GRAPHENE_POINT_INIT(0, height));
    gtk_snapshot_scale(snapshot, 1, -1);
    break;
  case IVL_ORIENTATION_UL_LR: /* (x, y) -> (y, x) */
    gtk_snapshot_scale(snapshot, -1, 1);
    gtk_snapshot_rotate(snapshot, 90);
    break;
  case IVL_ORIENTATION_UR_LL: /* (x, y) -> (width - y, height - x) */
    gtk_snapshot_translate(snapshot, &GRAPHENE_POINT_INIT(width, height));
    gtk_snapshot_rotate(snapshot, 270);
    gtk_snapshot_scale(snapshot, 1, -1);
    break;
  }
  gdk_paintable_snapshot(self->child, gdk_snapshot, w, h);
  gtk_snapshot_restore(snapshot);
}

static int oriented_width(GdkPaintable *paintable)
{
  IvlOrientedPaintable *self = IVL_ORIENTED_PAINTABLE(paintable);
  return swaps_sides(self->orientation) ? gdk_paintable_get_intrinsic_height(self->child)
                                         : gdk_paintable_get_intrinsic_width(self->child);
}

static int oriented_height(GdkPaintable *paintable)
{
  IvlOrientedPaintable *self = IVL_ORIENTED_PAINTABLE(paintable);
  return swaps_sides(self->orientation) ? gdk_paintable_get_intrinsic_width(self->child)
                                         : gdk_paintable_get_intrinsic_height(self->child);
}

static double oriented_ratio(GdkPaintable *paintable)
{
  IvlOrientedPaintable *self = IVL_ORIENTED_PAINTABLE(paintable);
  double ratio = gdk_paintable_get_intrinsic_aspect_ratio(self->child);
  return swaps_sides(self->orientation) && ratio > 0 ? 1.0 / ratio : ratio;
}

static void ivl_oriented_paintable_iface_init(GdkPaintableInterface *iface)
{
  iface->snapshot = oriented_snapshot;
  iface->get_intrinsic_width = oriented_width;
  iface->get_intrinsic_height = oriented_height;
  iface->get_intrinsic_aspect_ratio = oriented_ratio;
}

static void ivl_oriented_paintable_dispose(GObject *object)
{
  IvlOrientedPaintable *self = IVL_ORIENTED_PAINTABLE(object);

  if (self->child)
    g_signal_handlers_disconnect_by_data(self->child, self);
  g_clear_object(&self->child);
  G_OBJECT_CLASS(ivl_oriented_paintable_parent_class)->dispose(object);
}

static void ivl_oriented_paintable_class_init(IvlOrientedPaintableClass *klass)
{
  G_OBJECT_CLASS(klass)->dispose = ivl_oriented_paintable_dispose;
}

static void ivl_oriented_paintable_init(IvlOrientedPaintable *self)
{
  (void)self;
}

IvlOrientedPaintable *ivl_oriented_paintable_new(GdkPaintable *child)
{
  IvlOrientedPaintable *self = g_object_new(IVL_TYPE_ORIENTED_PAINTABLE, NULL);

  self->child = g_object_ref(child);
  g_signal_connect_swapped(child, "invalidate-contents",
                           G_CALLBACK(gdk_paintable_invalidate_contents), self);
  g_signal_connect_swapped(child, "invalidate-size", G_CALLBACK(gdk_paintable_invalidate_size),
                           self);
  return self;
}

void ivl_oriented_paintable_set_orientation(IvlOrientedPaintable *self, IvlOrientation o)
{
  if (self->orientation == o)
    return;
  self->orientation = o;
  gdk_paintable_invalidate_size(GDK_PAINTABLE(self));
  gdk_paintable_invalidate_contents(GDK_PAINTABLE(self));
}

IvlOrientation ivl_oriented_paintable_get_orientation(IvlOrientedPaintable *self)
{
  return self->orientation;
}

/* ---- reading the tag --------------------------------------------------------------------- */

#define PROBE_TIMEOUT_S 10

static void probe_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  (void)source;
  (void)cancellable;
  g_autoptr(GError) error = NULL;
  g_autofree char *uri = g_filename_to_uri(data, NULL, &error);
  g_autoptr(GstDiscoverer) discoverer = NULL;
  g_autoptr(GstDiscovererInfo) info = NULL;
  GList *streams;
  IvlOrientation o = IVL_ORIENTATION_IDENTITY;

  if (uri == NULL || !gst_init_check(NULL, NULL, &error) ||
      !(discoverer = gst_discoverer_new(PROBE_TIMEOUT_S * GST_SECOND, &error))) {
    g_task_return_error(task, g_steal_pointer(&error));
    return;
  }
  info = gst_discoverer_discover_uri(discoverer, uri, &error);
  if (info == NULL) {
    g_task_return_error(task, g_steal_pointer(&error));
    return;
  }
  /* The first video stream's tag, as the engine decodes the first video stream. */
  streams = gst_discoverer_info_get_video_streams(info);
  if (streams) {
    const GstTagList *tags = gst_discoverer_stream_info_get_tags(streams->data);
    gchar *tag = NULL;
    if (tags && gst_tag_list_get_string(tags, GST_TAG_IMAGE_ORIENTATION, &tag))
      o = ivl_orientation_from_tag(tag);
    g_free(tag);
  }
  gst_discoverer_stream_info_list_free(streams);
  g_task_return_int(task, o);
}

void ivl_video_orientation_probe_async(const char *path, GCancellable *cancellable,
                                       GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr(GTask) task = g_task_new(NULL, cancellable, callback, user_data);

  g_task_set_task_data(task, g_strdup(path), g_free);
  g_task_run_in_thread(task, probe_thread);
}

IvlOrientation ivl_video_orientation_probe_finish(GAsyncResult *result, GError **error)
{
  gssize o = g_task_propagate_int(G_TASK(result), error);
  return o < 0 ? IVL_ORIENTATION_IDENTITY : (IvlOrientation)o;
}
