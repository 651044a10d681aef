/* ivl-video-dialog.h — picking the clip of a video and the frames the model will see. */
#pragma once

#include <adwaita.h>

#include "ivl-store.h"
#include "ivl-worker.h"

G_BEGIN_DECLS

#define IVL_TYPE_VIDEO_DIALOG (ivl_video_dialog_get_type())
G_DECLARE_FINAL_TYPE(IvlVideoDialog, ivl_video_dialog, IVL, VIDEO_DIALOG, AdwWindow)

/* The preview shows the video upright, as the model gets its frames (its orientation tag
 * applied); playing keeps to the clip, and moving an end shows the frame there.
 * On Add, copies the video into the store (unless it is there already) and emits "clip-chosen" with the stored path,
 * start and end seconds (end <= start: the whole video), frames asked, frames sampled and
 * the first sampled frame. */
IvlVideoDialog *ivl_video_dialog_new(GtkWindow *parent, IvlWorker *worker, IvlStore *store,
                                     const char *path);
/* Opens on a clip chosen before (reopened from the attachments): its bounds in seconds
 * (end <= start: the whole video) and frames. */
void ivl_video_dialog_set_clip(IvlVideoDialog *self, double start, double end, int n_frames);

G_END_DECLS
