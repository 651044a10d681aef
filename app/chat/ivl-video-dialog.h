/* ivl-video-dialog.h — picking the clip of a video and the frames the model will see. */
#pragma once

#include <adwaita.h>

#include "ivl-store.h"
#include "ivl-worker.h"

G_BEGIN_DECLS

#define IVL_TYPE_VIDEO_DIALOG (ivl_video_dialog_get_type())
G_DECLARE_FINAL_TYPE(IvlVideoDialog, ivl_video_dialog, IVL, VIDEO_DIALOG, AdwWindow)

/* On Add, copies the video into the store and emits "clip-chosen" with the stored path,
 * start and end seconds (end <= start: the whole video), frames asked, frames sampled and
 * the first sampled frame. */
IvlVideoDialog *ivl_video_dialog_new(GtkWindow *parent, IvlWorker *worker, IvlStore *store,
                                     const char *path);

G_END_DECLS
