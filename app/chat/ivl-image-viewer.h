/* ivl-image-viewer.h — an attached image shown large, zoomable, with its grounding boxes. */
#pragma once

#include <adwaita.h>

#include "ivl-attachment.h"

G_BEGIN_DECLS

#define IVL_TYPE_IMAGE_VIEWER (ivl_image_viewer_get_type())
G_DECLARE_FINAL_TYPE(IvlImageViewer, ivl_image_viewer, IVL, IMAGE_VIEWER, AdwWindow)

/* boxes: IvlBox of this image (may be NULL). */
IvlImageViewer *ivl_image_viewer_new(GtkWindow *parent, IvlAttachment *attachment,
                                     GPtrArray *boxes);

G_END_DECLS
