/* ivl-model-manager.h — the window that lists the InternVL3 models ivl can download (size,
 * memory needed, whether it fits this computer, installed or not) and downloads, pauses,
 * resumes, cancels and deletes them. Downloads go where ivl_catalog_download_dir says. */
#pragma once

#include <adwaita.h>

G_BEGIN_DECLS

#define IVL_TYPE_MODEL_MANAGER (ivl_model_manager_get_type())
G_DECLARE_FINAL_TYPE(IvlModelManager, ivl_model_manager, IVL, MODEL_MANAGER, AdwWindow)

/* A modal window over parent (may be NULL); show it with gtk_window_present.
 * Signal "model-installed" (const char *path): a download finished; path is the model folder
 * (what ivl_model_load takes). Closing the window pauses running downloads, keeping their
 * partial files for the next time. */
IvlModelManager *ivl_model_manager_new(GtkWindow *parent);

G_END_DECLS
