/* safetensors-header.h — validation of one safetensors file image (engine-internal; the
 * fuzz target calls it directly). */
#ifndef IVL_SAFETENSORS_HEADER_H
#define IVL_SAFETENSORS_HEADER_H

#include "safetensors.h"

G_BEGIN_DECLS

/* Header lengths above this are refused: real headers are a few MB at most. */
#define IVL_ST_MAX_HEADER_BYTES (100u * 1024 * 1024)

/* Parses and validates the size bytes of a whole safetensors file at data. label names
 * the file in messages and becomes each tensor's .file (interned with g_intern_string).
 * Returns a GPtrArray of ivl_st_tensor* sorted by data offset, each pointing into data and
 * owning its name; it frees them itself. NULL with a GError on any defect. */
GPtrArray *ivl_st_parse(const guint8 *data, gsize size, const char *label, GError **error);

/* Frees a tensor made by ivl_st_parse (its name; the file label is interned). */
void ivl_st_tensor_free(gpointer tensor);

G_END_DECLS

#endif /* IVL_SAFETENSORS_HEADER_H */
