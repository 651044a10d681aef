/* ivl-window.h — the chat window. */
#pragma once

#include <adwaita.h>

#include "ivl-store.h"
#include "ivl-worker.h"

G_BEGIN_DECLS

#define IVL_TYPE_WINDOW (ivl_window_get_type())
G_DECLARE_FINAL_TYPE(IvlWindow, ivl_window, IVL, WINDOW, AdwApplicationWindow)

IvlWindow *ivl_window_new(GtkApplication *app, GSettings *settings, IvlStore *store,
                          IvlWorker *worker);

/* Attaches files (images, or a video, which opens the clip dialog) to the next question. */
void ivl_window_attach_files(IvlWindow *self, GFile *const *files, guint n_files);
/* Attaches a pasted or dropped image, saved as PNG into the store first. */
void ivl_window_attach_texture(IvlWindow *self, GdkTexture *texture);
/* Shows an error in a banner at the top of the window, whole, with what to do. */
void ivl_window_show_error(IvlWindow *self, const GError *error);
/* The same for a file that cannot be used, named as the person knows it. */
void ivl_window_show_media_error(IvlWindow *self, IvlAttachment *attachment,
                                 const GError *error);
/* Scans the model folders again and updates the model selector. */
void ivl_window_refresh_models(IvlWindow *self);

G_END_DECLS
