/* ivl-attachment.h — one image or video attached to a question, as stored on disk. */
#pragma once

#include <gtk/gtk.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

#define IVL_TYPE_ATTACHMENT (ivl_attachment_get_type())
G_DECLARE_FINAL_TYPE(IvlAttachment, ivl_attachment, IVL, ATTACHMENT, GObject)

IvlAttachment *ivl_attachment_new_image(const char *path);
/* A video clip: n_frames sampled between start and end seconds (end <= start: whole video). */
IvlAttachment *ivl_attachment_new_video(const char *path, double start, double end, int n_frames);
IvlAttachment *ivl_attachment_new_from_json(JsonObject *object, const char *images_dir,
                                            GError **error);
JsonNode *ivl_attachment_to_json(IvlAttachment *self);

const char *ivl_attachment_get_path(IvlAttachment *self);
gboolean ivl_attachment_is_video(IvlAttachment *self);
/* The name of the file the person chose (its base name), for messages; the stored path
 * until set. Not saved: a stored conversation only knows the stored file. */
const char *ivl_attachment_get_name(IvlAttachment *self);
void ivl_attachment_set_name(IvlAttachment *self, const char *name);
/* The clip bounds; FALSE when the whole video is sampled. */
gboolean ivl_attachment_get_bounds(IvlAttachment *self, double *start, double *end);
int ivl_attachment_get_n_frames(IvlAttachment *self);

/* What the model will see, once the worker has cut the media ("Large image, split into 12 parts"). */
void ivl_attachment_set_grid(IvlAttachment *self, int cols, int rows, int n_tiles);
int ivl_attachment_get_n_tiles(IvlAttachment *self);
/* A short translated description of the grid or clip; NULL until known. Caller frees. */
char *ivl_attachment_describe(IvlAttachment *self);

/* A video's frames and clip, from what was asked when the worker has not cut it: "8 frames,
 * 0:02–0:10"; NULL for an image. Caller frees. */
char *ivl_attachment_describe_clip(IvlAttachment *self);
/* A time in a clip as m:ss, or m:ss.t with tenths (short videos). Caller frees. */
char *ivl_attachment_format_time(double seconds, gboolean tenths);

/* The picture shown for it: the image itself, or the first sampled frame of a video. */
GdkPaintable *ivl_attachment_get_preview(IvlAttachment *self);
void ivl_attachment_set_preview(IvlAttachment *self, GdkPaintable *preview);

G_END_DECLS
