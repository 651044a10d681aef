/* ivl-model-manager.h — the window that lists the models on this computer (where, their size
 * on disk; delete) and the InternVL3 models ivl can download (size, memory needed, whether it
 * fits this computer, installed or not), and downloads, pauses, resumes, cancels and deletes
 * them. Downloads go where ivl_catalog_download_dir says. */
#pragma once

#include <adwaita.h>

G_BEGIN_DECLS

#define IVL_TYPE_MODEL_MANAGER (ivl_model_manager_get_type())
G_DECLARE_FINAL_TYPE(IvlModelManager, ivl_model_manager, IVL, MODEL_MANAGER, AdwWindow)

/* A modal window over parent (may be NULL); show it with gtk_window_present. models_folder
 * (may be NULL) is the preferred models folder, searched besides the usual places
 * (ivl_model_list_scan). Signals: "model-installed" (const char *path): a download finished;
 * path is the model folder (what ivl_model_load takes); "model-deleted": a model folder was
 * deleted. Closing the window pauses running downloads, keeping their partial files for the
 * next time. */
IvlModelManager *ivl_model_manager_new(GtkWindow *parent, const char *models_folder);

G_END_DECLS
