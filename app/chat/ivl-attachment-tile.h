/* ivl-attachment-tile.h — an attachment waiting above the input: picture, grid, remove. */
#pragma once

#include <gtk/gtk.h>

#include "ivl-attachment.h"

G_BEGIN_DECLS

#define IVL_TYPE_ATTACHMENT_TILE (ivl_attachment_tile_get_type())
G_DECLARE_FINAL_TYPE(IvlAttachmentTile, ivl_attachment_tile, IVL, ATTACHMENT_TILE, GtkWidget)

/* Emits "remove" when the person removes it. */
GtkWidget *ivl_attachment_tile_new(IvlAttachment *attachment);
IvlAttachment *ivl_attachment_tile_get_attachment(IvlAttachmentTile *self);

G_END_DECLS
