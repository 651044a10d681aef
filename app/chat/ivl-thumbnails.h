/* ivl-thumbnails.h — small pictures of attachments, decoded once per file. */
#pragma once

#include "ivl-attachment.h"

G_BEGIN_DECLS

/* The attachment's preview if it has one, else its image scaled to fit 256 px (cached by
 * path); NULL for a video without sampled frames or an unreadable file. Caller unrefs. */
GdkPaintable *ivl_thumbnail_get(IvlAttachment *attachment);
/* The whole image, upright as the model sees it, decoded afresh (not cached); the thumbnail
 * when the file cannot be read, or for a video. */
GdkPaintable *ivl_picture_get_full(IvlAttachment *attachment);

G_END_DECLS
