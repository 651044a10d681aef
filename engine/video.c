/* video.c — video frames through GStreamer, sampled as InternVL's load_video samples them.
 *
 * load_video uses decord, whose frame count is the stream's packet count and whose fps is
 * the stream's average frame rate. We read the demuxer's video packets (decodebin
 * stopped at the demuxer, no decoding; a parser would restate durations): their count, summed
 * durations and presentation times; then decode once and keep the wanted frames, each recognised by
 * its presentation time. Rotation metadata is applied (videoflip auto), as decord does. */
#include "video.h"
#include "ivl.h"

#include <gst/app/gstappsink.h>
#include <gst/gst.h>
#include <gst/video/video.h>
#include <math.h>
#include <string.h>

/* A pipeline that gives no frame for this long is stuck; errors are looked for every step. */
#define PULL_TIMEOUT (30 * GST_SECOND)
#define PULL_STEP (20 * GST_MSECOND)
#define FIRST_PAD_TIMEOUT (8 * GST_SECOND)

gboolean ivl_video_frame_indices(double fps, gint64 frame_count, gboolean has_bound, double start,
                                 double end, int n_segments, gint64 *indices, GError **error)
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
  if (isnan(start) || isnan(end)) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_INVALID_ARGUMENT,
                "The clip's start and end must be numbers of seconds");
    return FALSE;
  }
  /* Clamped in double first: converting an out-of-range double (inf, 1e300) to an integer is
   * undefined. Both ends then lie in [0, max_frame] unless the clip misses the video. */
  gint64 max_frame = frame_count - 1;
  double first = MAX(0.0, nearbyint(start * fps));
  double last = MIN(nearbyint(end * fps), (double)max_frame);
  if (!(last >= first)) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_INVALID_ARGUMENT,
                "The clip from %.6g s to %.6g s holds no frame of this %.2f s video", start, end,
                frame_count / fps);
    return FALSE;
  }
  gint64 start_idx = (gint64)first, end_idx = (gint64)last;
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
    g_set_error(error, IVL_ERROR, IVL_ERROR_UNSUPPORTED, "GStreamer could not start: %s", message);
  return ok;
}

typedef struct {
  GstElement *pipeline;
  GstElement *video_sink; /* where the first video stream goes: the converter or the appsink */
  GstMessage *error;      /* the first error the bus carried */
  gint no_video;          /* (atomic) all streams are known and none is video */
  gint n_pads;            /* (atomic) streams the demuxer has exposed so far */
  gboolean stalled;
} video_pipe;

/* The first error (or missing plugin) on the bus, as a GError; TRUE when there is none. */
static gboolean bus_check(video_pipe *vp, const char *label, GError **error)
{
  if (vp->stalled && g_atomic_int_get(&vp->n_pads) == 0) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_CORRUPT,
                "%s: no stream could be read from the file; it may be incomplete or damaged",
                label);
    return FALSE;
  }
  if (vp->stalled) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_IO, "%s: the video decoder stopped responding", label);
    return FALSE;
  }
  g_autoptr(GstBus) bus = gst_element_get_bus(vp->pipeline);
  g_autoptr(GstMessage) msg =
      vp->error ? gst_message_ref(vp->error) : gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR);
  if (msg == NULL)
    return TRUE;
  g_autoptr(GError) err = NULL;
  gst_message_parse_error(msg, &err, NULL);
  gboolean missing = g_error_matches(err, GST_CORE_ERROR, GST_CORE_ERROR_MISSING_PLUGIN) ||
                     g_error_matches(err, GST_STREAM_ERROR, GST_STREAM_ERROR_CODEC_NOT_FOUND);
  g_set_error(error, IVL_ERROR, missing ? IVL_ERROR_UNSUPPORTED : IVL_ERROR_CORRUPT, "%s: %s%s",
              label, err->message,
              missing ? " (a GStreamer plugin for this format is not installed)" : "");
  return FALSE;
}

static void on_pad_added(GstElement *bin, GstPad *pad, gpointer user_data)
{
  video_pipe *vp = user_data;
  g_atomic_int_inc(&vp->n_pads);
  (void)bin;
  g_autoptr(GstCaps) caps = gst_pad_get_current_caps(pad);
  const char *name = caps ? gst_structure_get_name(gst_caps_get_structure(caps, 0)) : "";
  g_autoptr(GstPad) video_pad = gst_element_get_static_pad(vp->video_sink, "sink");
  GstElement *sink;
  if (g_str_has_prefix(name, "video/") && !gst_pad_is_linked(video_pad)) {
    sink = vp->video_sink;
  } else {
    sink = gst_element_factory_make("fakesink", NULL);
    gst_bin_add(GST_BIN(vp->pipeline), sink);
    gst_element_sync_state_with_parent(sink);
  }
  g_autoptr(GstPad) sinkpad = gst_element_get_static_pad(sink, "sink");
  gst_pad_link(pad, sinkpad);
}

static void on_no_more_pads(GstElement *bin, gpointer user_data)
{
  video_pipe *vp = user_data;
  (void)bin;
  g_autoptr(GstPad) video_pad = gst_element_get_static_pad(vp->video_sink, "sink");
  if (!gst_pad_is_linked(video_pad))
    g_atomic_int_set(&vp->no_video, 1);
}

/* decodebin's autoplug-continue: expose a demuxer's streams as they are stored. */
static gboolean stop_at_demuxer(GstElement *bin, GstPad *pad, GstCaps *caps, gpointer user_data)
{
  (void)bin;
  (void)caps;
  (void)user_data;
  g_autoptr(GstElement) parent = gst_pad_get_parent_element(pad);
  GstElementFactory *factory = parent ? gst_element_get_factory(parent) : NULL;
  const char *klass =
      factory ? gst_element_factory_get_metadata(factory, GST_ELEMENT_METADATA_KLASS) : NULL;
  return klass == NULL || strstr(klass, "Demux") == NULL;
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
      decode
          ? "filesrc name=src ! decodebin name=bin  videoconvert name=conv ! videoflip "
            "video-direction=auto ! video/x-raw,format=RGB ! appsink name=sink sync=false "
            "max-buffers=4"
          : "filesrc name=src ! decodebin name=bin  appsink name=sink sync=false max-buffers=64");
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
  g_signal_connect(bin, "no-more-pads", G_CALLBACK(on_no_more_pads), vp);
  if (!decode)
    g_signal_connect(bin, "autoplug-continue", G_CALLBACK(stop_at_demuxer), NULL);
  gst_object_unref(bin);
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
  if (vp->error)
    gst_message_unref(vp->error);
  memset(vp, 0, sizeof *vp);
}

static GstAppSink *pipe_appsink(video_pipe *vp)
{
  return GST_APP_SINK(gst_bin_get_by_name(GST_BIN(vp->pipeline), "sink"));
}

/* The next frame; NULL at the end of the stream, when the file has no video, on an error or
 * when the pipeline is stuck (then bus_check tells which). An error on the bus does not
 * reach the appsink, so the bus is watched while waiting. */
static GstSample *pull(video_pipe *vp, GstAppSink *sink)
{
  g_autoptr(GstBus) bus = gst_element_get_bus(vp->pipeline);
  /* A demuxer that has exposed no stream after FIRST_PAD_TIMEOUT never will: GStreamer
   * sometimes neither errors nor ends on a file cut off inside its header. */
  for (GstClockTime waited = 0;
       waited < (g_atomic_int_get(&vp->n_pads) ? PULL_TIMEOUT : FIRST_PAD_TIMEOUT);
       waited += PULL_STEP) {
    GstSample *sample = gst_app_sink_try_pull_sample(sink, PULL_STEP);
    if (sample != NULL)
      return sample;
    if (gst_app_sink_is_eos(sink) || g_atomic_int_get(&vp->no_video))
      return NULL;
    if (vp->error == NULL)
      vp->error = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR);
    if (vp->error != NULL)
      return NULL;
  }
  vp->stalled = TRUE;
  return NULL;
}

void ivl_video_info_clear(ivl_video_info *info)
{
  g_clear_pointer(&info->pts, g_free);
}

static gint compare_gint64(gconstpointer a, gconstpointer b)
{
  gint64 x = *(const gint64 *)a, y = *(const gint64 *)b;
  return x < y ? -1 : x > y;
}

/* decord's fps is FFmpeg's avg_frame_rate: for MP4/MOV the frame count over the summed
 * sample durations (895000/29833 for red-panda.mp4, not its nominal 30/1), for Matroska
 * the default duration, which is also what every packet then lasts. So the packets'
 * summed durations give it wherever all packets state one; else the caps' frame rate. */
static double average_fps(gint64 count, GstClockTime total, gboolean all_timed, int fps_n,
                          int fps_d)
{
  /* Demuxers round each packet's duration to nanoseconds; the sum to microseconds undoes
   * that for the usual time scales (red-panda.mp4: 29.833 s). */
  gint64 total_us = (gint64)((total + 500) / 1000);
  if (all_timed && total_us > 0)
    return (double)count * 1e6 / (double)total_us;
  return fps_n > 0 && fps_d > 0 ? (double)fps_n / fps_d : 0.0;
}

gboolean ivl_video_probe(const char *path, ivl_video_info *info, GError **error)
{
  g_autofree char *label = g_filename_display_basename(path);
  video_pipe vp = {0};
  memset(info, 0, sizeof *info);
  if (!pipe_start(&vp, path, FALSE, label, error))
    return FALSE;
  g_autoptr(GstAppSink) sink = pipe_appsink(&vp);
  g_autoptr(GArray) pts = g_array_new(FALSE, FALSE, sizeof(gint64));
  gboolean all_pts = TRUE, all_timed = TRUE;
  GstClockTime total = 0;
  int fps_n = 0, fps_d = 1;
  GstSample *sample;
  while ((sample = pull(&vp, sink)) != NULL) {
    if (pts->len == 0) {
      GstStructure *s = gst_caps_get_structure(gst_sample_get_caps(sample), 0);
      gst_structure_get_fraction(s, "framerate", &fps_n, &fps_d);
    }
    GstBuffer *buf = gst_sample_get_buffer(sample);
    gint64 t = (gint64)GST_BUFFER_PTS(buf);
    all_pts = all_pts && GST_BUFFER_PTS_IS_VALID(buf);
    all_timed = all_timed && GST_BUFFER_DURATION_IS_VALID(buf);
    if (GST_BUFFER_DURATION_IS_VALID(buf))
      total += GST_BUFFER_DURATION(buf);
    g_array_append_val(pts, t);
    gst_sample_unref(sample);
  }
  gboolean ok = bus_check(&vp, label, error);
  pipe_stop(&vp);
  if (!ok)
    return FALSE;
  if (pts->len == 0) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_UNSUPPORTED, "%s: the file has no video stream", label);
    return FALSE;
  }
  info->fps = average_fps(pts->len, total, all_timed, fps_n, fps_d);
  if (info->fps <= 0) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_UNSUPPORTED,
                "%s: the video does not state its frame rate", label);
    return FALSE;
  }
  info->frame_count = pts->len;
  if (all_pts) {
    g_array_sort(pts, compare_gint64);
    info->pts = (gint64 *)g_array_free(g_steal_pointer(&pts), FALSE);
  }
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

/* The frame index of a decoded frame: its rank among the presentation times, or its
 * position in the decoded sequence when those are unknown. -1 for a time no packet has. */
static gint64 frame_index(const ivl_video_info *info, GstSample *sample, gint64 decoded)
{
  if (info->pts == NULL)
    return decoded;
  gint64 t = (gint64)GST_BUFFER_PTS(gst_sample_get_buffer(sample));
  gint64 lo = 0, hi = info->frame_count;
  while (lo < hi) {
    gint64 mid = lo + (hi - lo) / 2;
    if (info->pts[mid] < t)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < info->frame_count && info->pts[lo] == t ? lo : -1;
}

ivl_rgb_image **ivl_video_read_frames(const char *path, const ivl_video_info *info,
                                      const gint64 *indices, int n, GError **error)
{
  g_autofree char *label = g_filename_display_basename(path);
  video_pipe vp = {0};
  if (!pipe_start(&vp, path, TRUE, label, error))
    return NULL;
  g_autoptr(GstAppSink) sink = pipe_appsink(&vp);
  ivl_rgb_image **frames = g_new0(ivl_rgb_image *, n);
  int next = 0;
  gint64 decoded = 0;
  GError *local = NULL;
  GstSample *sample;
  while (next < n && local == NULL && (sample = pull(&vp, sink)) != NULL) {
    gint64 index = frame_index(info, sample, decoded++);
    /* Several sampled indices may name the same frame when the clip is short. */
    while (next < n && indices[next] == index && local == NULL) {
      frames[next] = sample_to_image(sample, &local);
      next++;
    }
    gst_sample_unref(sample);
    if (local == NULL && next < n && index > indices[next])
      g_set_error(&local, IVL_ERROR, IVL_ERROR_CORRUPT,
                  "%s: frame %" G_GINT64_FORMAT " could not be decoded (the video is damaged)",
                  label, indices[next]);
  }
  if (local == NULL && next < n && bus_check(&vp, label, &local))
    g_set_error(&local, IVL_ERROR, IVL_ERROR_CORRUPT,
                "%s: the video ended after %" G_GINT64_FORMAT
                " decodable frames, before frame %" G_GINT64_FORMAT,
                label, decoded, indices[next]);
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
