/* safetensors-write.h — writes a safetensors file (for the tiny-model generator and tests). */
#ifndef IVL_SAFETENSORS_WRITE_H
#define IVL_SAFETENSORS_WRITE_H

#include "safetensors.h"

G_BEGIN_DECLS

typedef struct {
  const char *name;
  ivl_dtype dtype;
  int ndim;
  int64_t shape[IVL_ST_MAX_DIMS];
  const void *data; /* product(shape) elements of dtype, row-major */
} ivl_st_write_tensor;

/* Writes the tensors, in the given order, to path (atomically: temp file + rename), as the
 * safetensors library does: "__metadata__" {"format": "pt"}, header padded with spaces to a
 * multiple of 8 bytes, tensors packed back to back. Errors: IVL_ERROR_IO. */
gboolean ivl_safetensors_write(const char *path, const ivl_st_write_tensor *tensors, guint n,
                               GError **error);

/* Bytes of the data section the tensors take (sum of their sizes). */
guint64 ivl_st_write_tensor_nbytes(const ivl_st_write_tensor *tensor);

G_END_DECLS

#endif /* IVL_SAFETENSORS_WRITE_H */
