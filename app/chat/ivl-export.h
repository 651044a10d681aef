/* ivl-export.h — a conversation written out for people and for other programs:
 *   Markdown, its images and videos copied into a folder beside it ("<name>-files/");
 *   JSON in the OpenAI chat format (what `ivl serve` and other chat APIs read), images and
 *   videos embedded as base64 data: URLs.
 * The answers are those chosen where several were generated. */
#pragma once

#include "ivl-conversation.h"

G_BEGIN_DECLS

typedef enum {
  IVL_EXPORT_MARKDOWN,
  IVL_EXPORT_JSON,
} IvlExportFormat;

/* Writes conversation (as it is now) to path; images_dir is where its stored media are. The
 * files are read, encoded and written on a GIO worker thread. */
void ivl_export_async(IvlConversation *conversation, const char *images_dir, IvlExportFormat format,
                      const char *path, GCancellable *cancellable, GAsyncReadyCallback callback,
                      gpointer user_data);
gboolean ivl_export_finish(GAsyncResult *result, GError **error);

G_END_DECLS
