/* video.c — video frames through GStreamer, sampled as InternVL's load_video samples them.
 *
 * load_video uses decord, whose frame count is the stream's packet count and whose fps is
 * the stream's average frame rate. We count the parsed video packets (parsebin, no
 * decoding) and take the frame rate the demuxer states; then decode once, in presentation
 * order, keeping only the wanted frames. Rotation metadata is applied (videoflip auto), as
 * decord does. */
#include "video.h"
#include "ivl.h"

#include <gst/app/gstappsink.h>
#include <gst/gst.h>
#include <gst/video/video.h>
#include <math.h>
#include <string.h>

#define PULL_TIMEOUT (30 * GST_SECOND)

gboolean ivl_video_frame_indices(double fps, gint64 frame_count, gboolean has_bound,
                                 double start, double end, int n_segments, gint64 *indices,
                                 GError **error)
{
  if (n_segments < 1 || frame_count < 1) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_INVALID_ARGUMENT,
                "Cannot sample %d frames from a video of %" G_GINT64_FORMAT " frames", n_segments,
                frame_count);
    return FALSE;
  }
  if (!has_bound) {
    start = -100000;
    end = 100000;
  }
  /* Python's round() and numpy.round() round half to even, as nearbyint does by default. */
  gint64 max_frame = frame_count - 1;
  gint64 start_idx = MAX(0, (gint64)nearbyint(start * fps));
  gint64 end_idx = MIN((gint64)nearbyint(end * fps), max_frame);
  if (end_idx < start_idx) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_INVALID_ARGUMENT,
                "The clip from %.2f s to %.2f s holds no frame of this %.2f s video", start, end,
                frame_count / fps);
    return FALSE;
  }
  double seg = (double)(end_idx - start_idx) / n_segments;
  for (int k = 0; k < n_segments; k++)
    indices[k] = (gint64)(start_idx + seg / 2 + nearbyint(seg * k));
  return TRUE;
}

static gboolean ensure_gst(GError **error)
{
  static gsize done = 0;
  static gboolean ok = FALSE;
  static char *message = NULL;
  if (g_once_init_enter(&done)) {
    GError *local = NULL;
    ok = gst_init_check(NULL, NULL, &local);
    if (!ok)
      message = g_strdup(local ? local->message : "unknown error");
    g_clear_error(&local);
    g_once_init_leave(&done, 1);
  }
  if (!ok)
    g_set_error(error, IVL_ERROR, IVL_ERROR_UNSUPPORTED, "GStreamer could not start: %s",
                message);
  return ok;
}

/* The first error (or missing plugin) on the bus, as a GError; TRUE when there is none. */
static gboolean bus_check(GstElement *pipeline, const char *label, GError **error)
{
  g_autoptr(GstBus) bus = gst_element_get_bus(pipeline);
  g_autoptr(GError) err = NULL;
  GstMessage *msg;
  /* The most specific error: "Internal data stream error" only says that another element
   * failed, and that element's own message tells what is wrong with the file. */
  while ((msg = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR))) {
    GError *e = NULL;
    gst_message_parse_error(msg, &e, NULL);
    gst_message_unref(msg);
    if (err == NULL || g_error_matches(err, GST_STREAM_ERROR, GST_STREAM_ERROR_FAILED)) {
      g_clear_error(&err);
      err = e;
    } else {
      g_error_free(e);
    }
  }
  if (err == NULL)
    return TRUE;
  gboolean missing = g_error_matches(err, GST_CORE_ERROR, GST_CORE_ERROR_MISSING_PLUGIN) ||
                     g_error_matches(err, GST_STREAM_ERROR, GST_STREAM_ERROR_CODEC_NOT_FOUND);
  g_set_error(error, IVL_ERROR, missing ? IVL_ERROR_UNSUPPORTED : IVL_ERROR_CORRUPT,
              "%s: %s%s", label, err->message,
              missing ? " (a GStreamer plugin for this format is not installed)" : "");
  return FALSE;
}

typedef struct {
  GstElement *pipeline;
  GstElement *video_sink; /* where the first video stream goes: the converter or the appsink */
  GstAppSink *appsink;
  gint no_more_pads;      /* the demuxer has exposed all its streams (atomic) */
  gint have_video;        /* one of them went to video_sink (atomic) */
} video_pipe;

static void on_pad_added(GstElement *bin, GstPad *pad, gpointer user_data)
{
  video_pipe *vp = user_data;
  (void)bin;
  g_autoptr(GstCaps) caps = gst_pad_get_current_caps(pad);
  const char *name = caps ? gst_structure_get_name(gst_caps_get_structure(caps, 0)) : "";
  g_autoptr(GstPad) video_pad = gst_element_get_static_pad(vp->video_sink, "sink");
  GstElement *sink;
  if (g_str_has_prefix(name, "video/") && !gst_pad_is_linked(video_pad)) {
    sink = vp->video_sink;
    g_atomic_int_set(&vp->have_video, 1);
  } else {
    sink = gst_element_factory_make("fakesink", NULL);
    gst_bin_add(GST_BIN(vp->pipeline), sink);
    gst_element_sync_state_with_parent(sink);
  }
  g_autoptr(GstPad) sinkpad = gst_element_get_static_pad(sink, "sink");
  gst_pad_link(pad, sinkpad);
}

static void on_no_more_pads(video_pipe *vp)
{
  g_atomic_int_set(&vp->no_more_pads, 1);
}

static gboolean pipe_start(video_pipe *vp, const char *path, gboolean decode, const char *label,
                           GError **error)
{
  if (!ensure_gst(error))
    return FALSE;
  if (!g_file_test(path, G_FILE_TEST_IS_REGULAR)) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_NOT_FOUND, "%s: no such file", label);
    return FALSE;
  }
  g_autoptr(GError) local = NULL;
  g_autofree char *desc = g_strdup_printf(
      decode ? "filesrc name=src ! decodebin name=bin  videoconvert name=conv ! videoflip "
               "video-direction=auto ! video/x-raw,format=RGB ! appsink name=sink sync=false "
               "async=false max-buffers=4"
             : "filesrc name=src ! parsebin name=bin  appsink name=sink sync=false async=false max-buffers=64");
  vp->pipeline = gst_parse_launch(desc, &local);
  if (vp->pipeline == NULL) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_UNSUPPORTED,
                "%s: the GStreamer elements for reading video are missing: %s", label,
                local->message);
    return FALSE;
  }
  GstElement *src = gst_bin_get_by_name(GST_BIN(vp->pipeline), "src");
  g_object_set(src, "location", path, NULL);
  gst_object_unref(src);
  GstElement *bin = gst_bin_get_by_name(GST_BIN(vp->pipeline), "bin");
  vp->video_sink = gst_bin_get_by_name(GST_BIN(vp->pipeline), decode ? "conv" : "sink");
  g_signal_connect(bin, "pad-added", G_CALLBACK(on_pad_added), vp);
  g_signal_connect_swapped(bin, "no-more-pads", G_CALLBACK(on_no_more_pads), vp);
  gst_object_unref(bin);
  vp->appsink = GST_APP_SINK(gst_bin_get_by_name(GST_BIN(vp->pipeline), "sink"));
  gst_element_set_state(vp->pipeline, GST_STATE_PLAYING);
  return TRUE;
}

static void pipe_stop(video_pipe *vp)
{
  if (vp->pipeline) {
    gst_element_set_state(vp->pipeline, GST_STATE_NULL);
    gst_object_unref(vp->pipeline);
  }
  if (vp->video_sink)
    gst_object_unref(vp->video_sink);
  if (vp->appsink)
    gst_object_unref(vp->appsink);
  memset(vp, 0, sizeof *vp);
}

/* The next sample; NULL at the end of the stream, on an error (bus_check tells which), when
 * the file turned out to have no video stream, or when nothing came for PULL_TIMEOUT. */
static GstSample *pull(video_pipe *vp)
{
  gint64 deadline = g_get_monotonic_time() + PULL_TIMEOUT / 1000;
  while (g_get_monotonic_time() < deadline) {
    GstSample *sample = gst_app_sink_try_pull_sample(vp->appsink, 50 * GST_MSECOND);
    if (sample)
      return sample;
    if (gst_app_sink_is_eos(vp->appsink))
      return NULL;
    g_autoptr(GstBus) bus = gst_element_get_bus(vp->pipeline);
    g_autoptr(GstMessage) msg = gst_bus_peek(bus);
    gboolean failed = msg && GST_MESSAGE_TYPE(msg) == GST_MESSAGE_ERROR;
    /* The appsink does not hold up the state change (async=false): once the pipeline
     * plays, every stream has been exposed, so no video pad by then means none exists. */
    GstState state = GST_STATE_NULL;
    gst_element_get_state(vp->pipeline, &state, NULL, 0);
    gboolean no_video = !g_atomic_int_get(&vp->have_video) &&
                        (state == GST_STATE_PLAYING || g_atomic_int_get(&vp->no_more_pads));
    if (failed || no_video)
      return NULL;
    if (msg)
      gst_message_unref(gst_bus_pop(bus));
  }
  return NULL;
}

gboolean ivl_video_probe(const char *path, ivl_video_info *info, GError **error)
{
  g_autofree char *label = g_filename_display_basename(path);
  video_pipe vp = {0};
  if (!pipe_start(&vp, path, FALSE, label, error))
    return FALSE;
  gint64 count = 0;
  int fps_n = 0, fps_d = 1;
  memset(info, 0, sizeof *info);
  GstSample *sample;
  while ((sample = pull(&vp)) != NULL) {
    if (count == 0) {
      GstStructure *s = gst_caps_get_structure(gst_sample_get_caps(sample), 0);
      gst_structure_get_fraction(s, "framerate", &fps_n, &fps_d);
      gst_structure_get_int(s, "width", &info->width);
      gst_structure_get_int(s, "height", &info->height);
    }
    count++;
    gst_sample_unref(sample);
  }
  if (count == 0) {
    /* No video so far: let the demuxer finish, so a file cut off early reports its own
     * error rather than looking like a file without video. */
    g_autoptr(GstBus) bus = gst_element_get_bus(vp.pipeline);
    GList *errors = NULL;
    GstClockTime wait = 2 * GST_SECOND;
    GstMessage *msg;
    while ((msg = gst_bus_timed_pop_filtered(bus, wait, GST_MESSAGE_ERROR | GST_MESSAGE_EOS))) {
      if (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_EOS) {
        gst_message_unref(msg);
        break;
      }
      errors = g_list_append(errors, msg);
      wait = 200 * GST_MSECOND; /* the elements upstream report theirs right after */
    }
    for (GList *l = errors; l; l = l->next)
      gst_bus_post(bus, l->data);
    g_list_free(errors);
  }
  gboolean ok = bus_check(vp.pipeline, label, error);
  pipe_stop(&vp);
  if (!ok)
    return FALSE;
  if (count == 0) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_UNSUPPORTED, "%s: the file has no video stream, or is cut off before its first frame",
                label);
    return FALSE;
  }
  if (fps_n <= 0 || fps_d <= 0) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_UNSUPPORTED,
                "%s: the video does not state its frame rate", label);
    return FALSE;
  }
  info->fps = (double)fps_n / fps_d;
  info->frame_count = count;
  return TRUE;
}

static ivl_rgb_image *sample_to_image(GstSample *sample, GError **error)
{
  GstVideoInfo vinfo;
  if (!gst_video_info_from_caps(&vinfo, gst_sample_get_caps(sample))) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_CORRUPT, "A decoded frame has no usable format");
    return NULL;
  }
  GstVideoFrame frame;
  if (!gst_video_frame_map(&frame, &vinfo, gst_sample_get_buffer(sample), GST_MAP_READ)) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_CORRUPT, "A decoded frame could not be read");
    return NULL;
  }
  int w = GST_VIDEO_INFO_WIDTH(&vinfo), h = GST_VIDEO_INFO_HEIGHT(&vinfo);
  ivl_rgb_image *img = ivl_rgb_image_new(w, h, error);
  if (img) {
    const guint8 *px = GST_VIDEO_FRAME_PLANE_DATA(&frame, 0);
    int stride = GST_VIDEO_FRAME_PLANE_STRIDE(&frame, 0);
    for (int y = 0; y < h; y++)
      memcpy(img->rgb + (gsize)y * w * 3, px + (gsize)y * stride, (gsize)w * 3);
  }
  gst_video_frame_unmap(&frame);
  return img;
}

ivl_rgb_image **ivl_video_read_frames(const char *path, const gint64 *indices, int n,
                                      GError **error)
{
  g_autofree char *label = g_filename_display_basename(path);
  video_pipe vp = {0};
  if (!pipe_start(&vp, path, TRUE, label, error))
    return NULL;
  ivl_rgb_image **frames = g_new0(ivl_rgb_image *, n);
  int next = 0;
  gint64 index = 0;
  GError *local = NULL;
  GstSample *sample;
  while (next < n && local == NULL && (sample = pull(&vp)) != NULL) {
    /* Several sampled indices may name the same frame when the clip is short. */
    while (next < n && indices[next] == index && local == NULL) {
      frames[next] = sample_to_image(sample, &local);
      next++;
    }
    index++;
    gst_sample_unref(sample);
  }
  if (local == NULL && next < n && bus_check(vp.pipeline, label, &local))
    g_set_error(&local, IVL_ERROR, IVL_ERROR_CORRUPT,
                "%s: the video ended after %" G_GINT64_FORMAT " decodable frames, before frame %"
                G_GINT64_FORMAT, label, index, indices[next]);
  pipe_stop(&vp);
  if (local) {
    for (int k = 0; k < n; k++)
      ivl_rgb_image_free(frames[k]);
    g_free(frames);
    g_propagate_error(error, local);
    return NULL;
  }
  return frames;
}
