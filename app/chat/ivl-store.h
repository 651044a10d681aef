/* ivl-store.h — where conversations and their images live on disk:
 *   <base>/conversations/<id>.json   written atomically (temp file + rename)
 *   <base>/images/<sha256>.<ext>     each image or video once, named by its content */
#pragma once

#include "ivl-conversation.h"

G_BEGIN_DECLS

#define IVL_TYPE_STORE (ivl_store_get_type())
G_DECLARE_FINAL_TYPE(IvlStore, ivl_store, IVL, STORE, GObject)

/* base_dir: usually $XDG_DATA_HOME/ivl. */
IvlStore *ivl_store_new(const char *base_dir);
const char *ivl_store_get_images_dir(IvlStore *self);

/* Reads every saved conversation; unreadable files are skipped and named in error
 * (the others still load). Returns FALSE when some file was skipped. */
gboolean ivl_store_load(IvlStore *self, GError **error);
/* IvlConversation, the most recently changed first. */
GListModel *ivl_store_get_conversations(IvlStore *self);
/* Adds a new conversation to the list (it is written on its first save). */
void ivl_store_add(IvlStore *self, IvlConversation *conversation);
gboolean ivl_store_save(IvlStore *self, IvlConversation *conversation, GError **error);
/* Takes a conversation off the list, keeping its file (a deletion that can be undone), and
 * puts it back where its age places it. */
void ivl_store_remove(IvlStore *self, IvlConversation *conversation);
void ivl_store_put_back(IvlStore *self, IvlConversation *conversation);
gboolean ivl_store_delete(IvlStore *self, IvlConversation *conversation, GError **error);

/* Copies a file into the images folder under its content hash; returns the stored path.
 * The _async form does it on a GIO worker thread (a video can be large). */
char *ivl_store_import_file(IvlStore *self, const char *path, GError **error);
void ivl_store_import_file_async(IvlStore *self, const char *path, GCancellable *cancellable,
                                 GAsyncReadyCallback callback, gpointer user_data);
char *ivl_store_import_file_finish(IvlStore *self, GAsyncResult *result, GError **error);
/* Saves a texture (a pasted image) as PNG under its content hash; returns the stored path. */
char *ivl_store_import_texture(IvlStore *self, GdkTexture *texture, GError **error);

G_END_DECLS
