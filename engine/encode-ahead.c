/* encode-ahead.c — image rows encoded ahead of the ask that brings their media.
 *
 * The vision encoder is most of the time to first token of an image question; run while the
 * question is typed, it leaves the ask only the prefill. The rows wait in the model (any
 * session of it may ask next: the app's worker picks or rebuilds its session only at the
 * ask), keyed by the tiles' content, until an ask with them succeeds or they are forgotten.
 */
#include <string.h>

#include "encode-ahead.h"
#include "session-input.h"

static double now_ms(void)
{
  return (double)g_get_monotonic_time() / 1e3;
}

static void free_rows(gpointer rows)
{
  ivl_tensor *t = rows;
  t->backend->ops->tensor_free(t->backend, t);
}

/* The tiles' content: the media's source id says which file, but not which preprocessing
 * (tile count, video frames) cut it, and the rows depend on exactly those pixels. Hashing
 * them costs milliseconds beside the seconds of the vision encoder. */
static char *media_key(ivl_media *media)
{
  g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);
  int n = ivl_media_get_n_tiles(media);
  g_checksum_update(sum, (const guchar *)&n, sizeof n);
  for (int i = 0; i < n; i++)
    g_checksum_update(sum, (const guchar *)ivl_media_get_tile(media, i),
                      (gssize)(3 * 448 * 448 * sizeof(float)));
  return g_strdup(g_checksum_get_string(sum));
}

gboolean ivl_model_encode_ahead(ivl_model *m, ivl_media *media, GCancellable *cancellable,
                                GError **error)
{
  g_return_val_if_fail(m != NULL && media != NULL, FALSE);
  g_autofree char *key = media_key(media);
  if (m->ahead && g_hash_table_contains(m->ahead, key))
    return TRUE;
  ivl_tensor *rows = ivl_session_encode_media(m, &media, 1, cancellable, error);
  if (!rows)
    return FALSE;
  if (!m->ahead)
    m->ahead = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, free_rows);
  g_hash_table_insert(m->ahead, g_steal_pointer(&key), rows);
  return TRUE;
}

void ivl_model_forget_encoded(ivl_model *m, ivl_media *media)
{
  g_return_if_fail(m != NULL && media != NULL);
  if (!m->ahead || g_hash_table_size(m->ahead) == 0)
    return;
  g_autofree char *key = media_key(media);
  g_hash_table_remove(m->ahead, key);
}

ivl_tensor *ivl_encode_ahead_rows(ivl_model *m, ivl_media *const *media, int n_media,
                                  GPtrArray *keys, int *n_ahead_tiles, double *vision_ms,
                                  GCancellable *cancellable, GError **error)
{
  ivl_backend *be = m->backend;
  *n_ahead_tiles = 0;
  *vision_ms = 0;
  if (!m->ahead || g_hash_table_size(m->ahead) == 0) {
    double t0 = now_ms();
    ivl_tensor *rows = ivl_session_encode_media(m, media, n_media, cancellable, error);
    *vision_ms = now_ms() - t0;
    return rows;
  }
  g_autofree ivl_tensor **parts = g_new0(ivl_tensor *, n_media);
  g_autofree gboolean *owned = g_new0(gboolean, n_media);
  int64_t total = 0;
  ivl_tensor *out = NULL;
  int i;
  for (i = 0; i < n_media; i++) {
    char *key = media_key(media[i]);
    if ((parts[i] = g_hash_table_lookup(m->ahead, key))) {
      g_ptr_array_add(keys, key);
      *n_ahead_tiles += ivl_media_get_n_tiles(media[i]);
    } else {
      g_free(key);
      double tv = now_ms();
      parts[i] = ivl_session_encode_media(m, &media[i], 1, cancellable, error);
      *vision_ms += now_ms() - tv;
      if (!parts[i])
        goto done;
      owned[i] = TRUE;
    }
    total += parts[i]->rows;
  }
  /* Copies, not the waiting tensors: a failed ask leaves those for the retry. */
  if ((out = be->ops->tensor_new(be, be->act_dtype, total, m->config->llm.hidden_size, error))) {
    int64_t at = 0;
    for (int k = 0; k < n_media; at += parts[k]->rows, k++)
      be->ops->copy_rows(be, out, at, parts[k], 0, parts[k]->rows);
  }
done:
  for (int k = 0; k < i; k++)
    if (owned[k])
      free_rows(parts[k]);
  return out;
}

void ivl_encode_ahead_drop(ivl_model *m, GPtrArray *keys)
{
  for (guint i = 0; m->ahead && i < keys->len; i++)
    g_hash_table_remove(m->ahead, g_ptr_array_index(keys, i));
}
