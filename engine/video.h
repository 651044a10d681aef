/* video.h — the frames of a video that the InternVL quick start's load_video samples. */
#ifndef IVL_VIDEO_H
#define IVL_VIDEO_H

#include "image-decode.h"

typedef struct {
  double fps;          /* average frames per second */
  gint64 frame_count;  /* frames in the video stream */
  int width, height;   /* of a decoded frame, rotation applied */
} ivl_video_info;

/* get_index of load_video: n_segments frame indices between the bound (seconds) or the
 * whole video, with Python's round (half to even). FALSE when the range holds no frame. */
gboolean ivl_video_frame_indices(double fps, gint64 frame_count, gboolean has_bound,
                                 double start, double end, int n_segments, gint64 *indices,
                                 GError **error);

/* Frame count and fps, by reading the container's packets (no decoding). */
gboolean ivl_video_probe(const char *path, ivl_video_info *info, GError **error);

/* Decodes the frames at the given ascending indices (presentation order, rotation metadata
 * applied) as RGB images; returns an array of n ivl_rgb_image*. */
ivl_rgb_image **ivl_video_read_frames(const char *path, const gint64 *indices, int n,
                                      GError **error);

#endif
