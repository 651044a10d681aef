/* model-loader.h — how the model parts get their weights (internal to libivl).
 *
 * The loader maps a model directory's safetensors and hands each named weight to the
 * backend (in place on the CPU, uploaded on CUDA). It owns every tensor it hands out: the
 * parts keep borrowed pointers, and ivl_loader_free releases them all at once.
 */
#ifndef IVL_MODEL_LOADER_H
#define IVL_MODEL_LOADER_H

#include <gio/gio.h>

#include "backend.h"
#include "config.h"
#include "ivl.h"

typedef struct ivl_safetensors ivl_safetensors;

typedef struct ivl_loader ivl_loader;

/* precision: how the Linear weight matrices of config (model-tensors.h's is_linear) are
 * handed out; the rest always as published. */
ivl_loader *ivl_loader_new(ivl_backend *be, const char *model_dir, const ivl_config *config,
                           ivl_precision precision, GError **error);
/* The backend the next weights go to (a model split over devices: each layer's device). */
void ivl_loader_set_backend(ivl_loader *ld, ivl_backend *be);

/* Frees the weights handed out (each on its backend), then the mapping. */
void ivl_loader_free(ivl_loader *ld);

/* The weight named by the printf-style format, viewed as [rows, cols]. Errors: NOT_FOUND
 * when absent, CORRUPT when its element count is not rows * cols. */
ivl_tensor *ivl_loader_weight(ivl_loader *ld, int64_t rows, int64_t cols, GError **error,
                              const char *format, ...) G_GNUC_PRINTF(5, 6);

/* Rows [row0, row0 + n_rows) of a weight whose full view is [total_rows, cols] (the q, k
 * and v blocks of a fused qkv matrix). A 1-D weight (a bias) is viewed with cols = 1 and
 * returned as [1, n_rows]. */
ivl_tensor *ivl_loader_weight_rows(ivl_loader *ld, int64_t total_rows, int64_t row0, int64_t n_rows,
                                   int64_t cols, GError **error, const char *format, ...)
    G_GNUC_PRINTF(7, 8);

/* Whether the weight `name` of rows x cols goes to the backend quantized (a Linear matrix of
 * a model loaded in int8 or 4-bit): row views of it then do not exist. */
gboolean ivl_loader_quantizes(ivl_loader *ld, const char *name, int64_t rows, int64_t cols);

/* Blocks of block_rows rows (block indices into the weight viewed [total_rows, cols]),
 * gathered in the given order into one [n_blocks * block_rows, cols] weight: a host copy
 * the loader keeps (InternLM2's interleaved wqkv split into q, k and v), or the file's rows
 * themselves when the blocks are consecutive and stored together. cols == 1: a
 * vector, returned as [1, n_blocks * block_rows]. */
ivl_tensor *ivl_loader_weight_gather(ivl_loader *ld, int64_t total_rows, int64_t cols,
                                     int64_t block_rows, const int64_t *blocks, int n_blocks,
                                     GError **error, const char *format, ...) G_GNUC_PRINTF(8, 9);

/* A weight as host f32 (for small tables the model precomputes from), caller frees. */
float *ivl_loader_read_f32(ivl_loader *ld, int64_t n_elements, GError **error, const char *format,
                           ...) G_GNUC_PRINTF(4, 5);

/* Bytes the backend holds of the weights handed out whose names start with prefix and do
 * not contain except (NULL: none excluded), in their dtype there (quantized, bf16 on CUDA). */
guint64 ivl_loader_bytes_held(ivl_loader *ld, const char *prefix, const char *except);

/* The mapped files (for validation against the config). */
const ivl_safetensors *ivl_loader_get_safetensors(const ivl_loader *ld);

/* Whether the named tensor is present (layout probes). */
gboolean ivl_loader_has(ivl_loader *ld, const char *name);

#endif /* IVL_MODEL_LOADER_H */
