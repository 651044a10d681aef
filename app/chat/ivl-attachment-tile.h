/* ivl-attachment-tile.h — an attachment waiting above the input (picture, grid, remove; a
 * video's badge, clip and frames), or a video as sent, in its question. */
#pragma once

#include <gtk/gtk.h>

#include "ivl-attachment.h"

G_BEGIN_DECLS

#define IVL_TYPE_ATTACHMENT_TILE (ivl_attachment_tile_get_type())
G_DECLARE_FINAL_TYPE(IvlAttachmentTile, ivl_attachment_tile, IVL, ATTACHMENT_TILE, GtkWidget)

/* Emits "remove" when the person removes it, and for a video "edit" when its picture is
 * clicked (to choose the clip again). */
GtkWidget *ivl_attachment_tile_new(IvlAttachment *attachment);
/* A video in a sent question: badge, frames and clip, neither removable nor editable. */
GtkWidget *ivl_attachment_tile_new_sent(IvlAttachment *attachment);
IvlAttachment *ivl_attachment_tile_get_attachment(IvlAttachmentTile *self);

G_END_DECLS
