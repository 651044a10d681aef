/* safetensors.h — read-only, memory-mapped access to a model's safetensors weights.
 *
 * File format: u64 little-endian header length N, N bytes of JSON
 * {name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}, then the
 * data section; offsets are relative to its start. Every field is validated before a tensor
 * is handed out, so a corrupt or truncated file is an IVL_ERROR_CORRUPT, never a bad read.
 */
#ifndef IVL_SAFETENSORS_H
#define IVL_SAFETENSORS_H

#include <glib.h>
#include <stdint.h>

#include "backend.h" /* ivl_dtype, ivl_dtype_size() */

G_BEGIN_DECLS

/* The safetensors spelling: "F32", "F16", "BF16", "I32". Static string. */
const char *ivl_dtype_name(ivl_dtype dtype);

#define IVL_ST_MAX_DIMS 8

typedef struct {
  const char *name; /* e.g. "language_model.model.norm.weight" */
  ivl_dtype dtype;
  int ndim;                       /* 0 (scalar) .. IVL_ST_MAX_DIMS */
  int64_t shape[IVL_ST_MAX_DIMS]; /* outermost first, as PyTorch; unused dims are 0 */
  int64_t n_elements;             /* product of shape (1 for a scalar) */
  gsize nbytes;                   /* n_elements * ivl_dtype_size(dtype) */
  /* Row-major elements inside the mapping. Aligned to the element size when the file's
   * header length and earlier tensors keep it so (files written by the safetensors library
   * and by ivl do); callers that need alignment check ((uintptr_t)data % size). */
  const void *data;
  const char *file; /* base name of the file holding it */
} ivl_st_tensor;

typedef struct ivl_safetensors ivl_safetensors;

/* Opens dir/model.safetensors.index.json and every shard its weight_map names, or else
 * dir/model.safetensors. Errors: NOT_FOUND (neither file, or a named shard is missing),
 * CORRUPT (any malformed header, index or range; the message names file and tensor),
 * UNSUPPORTED (a dtype other than BF16/F16/F32), IO. */
ivl_safetensors *ivl_safetensors_open(const char *dir, GError **error);

/* One safetensors file, mapped and validated the same way. */
ivl_safetensors *ivl_safetensors_open_file(const char *path, GError **error);

void ivl_safetensors_free(ivl_safetensors *st);

/* The tensor called name, or NULL. Owned by st. */
const ivl_st_tensor *ivl_safetensors_find(const ivl_safetensors *st, const char *name);

/* Iteration: tensors file by file (shards in name order), within a file by data offset. */
guint ivl_safetensors_get_n_tensors(const ivl_safetensors *st);
const ivl_st_tensor *ivl_safetensors_get_tensor(const ivl_safetensors *st, guint i);

/* Sum of all tensors' nbytes. */
guint64 ivl_safetensors_get_tensor_bytes(const ivl_safetensors *st);
/* Sum of the sizes of the mapped files (headers included): the bytes on disk. */
guint64 ivl_safetensors_get_file_bytes(const ivl_safetensors *st);
/* Number of files mapped (1 for a single model.safetensors). */
guint ivl_safetensors_get_n_files(const ivl_safetensors *st);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(ivl_safetensors, ivl_safetensors_free)

G_END_DECLS

#endif /* IVL_SAFETENSORS_H */
