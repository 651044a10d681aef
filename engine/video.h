/* video.h — the frames of a video that the InternVL quick start's load_video samples. */
#ifndef IVL_VIDEO_H
#define IVL_VIDEO_H

#include "image-decode.h"

typedef struct {
  double fps;         /* average frames per second */
  gint64 frame_count; /* frames in the video stream */
  gint64 *pts;        /* [frame_count] presentation times (ns), ascending; NULL when the
                       * container does not state them all */
} ivl_video_info;

void ivl_video_info_clear(ivl_video_info *info);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(ivl_video_info, ivl_video_info_clear)

/* get_index of load_video: n_segments frame indices between the bound (seconds) or the
 * whole video, with Python's round (half to even). FALSE when the range holds no frame. */
gboolean ivl_video_frame_indices(double fps, gint64 frame_count, gboolean has_bound, double start,
                                 double end, int n_segments, gint64 *indices, GError **error);

/* Frame count, average fps and presentation times, by reading the container's packets (no
 * decoding). Clear *info with ivl_video_info_clear. */
gboolean ivl_video_probe(const char *path, ivl_video_info *info, GError **error);

/* Decodes the frames at the given ascending indices (presentation order, rotation metadata
 * applied) as RGB images; returns an array of n ivl_rgb_image*. A frame is found by its
 * presentation time from info->pts (by counting decoded frames where that is NULL), so a
 * frame the decoder drops is an error, not a shift of every later index. */
ivl_rgb_image **ivl_video_read_frames(const char *path, const ivl_video_info *info,
                                      const gint64 *indices, int n, GError **error);

#endif
