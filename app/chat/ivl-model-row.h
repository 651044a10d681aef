/* ivl-model-row.h — one catalog model in the model manager: what it costs, whether it fits,
 * and its download (start, pause, resume, cancel keeping or deleting the partial files) or
 * its deletion once installed. */
#pragma once

#include <adwaita.h>

#include "catalog.h"

G_BEGIN_DECLS

#define IVL_TYPE_MODEL_ROW (ivl_model_row_get_type())
G_DECLARE_FINAL_TYPE(IvlModelRow, ivl_model_row, IVL, MODEL_ROW, AdwPreferencesRow)

/* model is static (ivl_catalog_models); ram is this machine's memory in bytes.
 * Signals: "installed" (const char *path) when a download completes, "deleted" when its
 * folder (or a cancelled download's part) is gone, "message" (const char *text) for a note
 * to show the person. A failed download's error shows in full on the row itself. */
IvlModelRow *ivl_model_row_new(const IvlCatalogModel *model, guint64 ram);

/* Looks again whether the model is installed (a folder deleted elsewhere). */
void ivl_model_row_refresh(IvlModelRow *self);

/* Registers the model manager's GResource (its .ui templates), once; the resource is
 * compiled with --manual-register so that linking it from a static library keeps it. */
void ivl_model_row_register_resources(void);

G_END_DECLS
