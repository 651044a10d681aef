/* model-loader.c — named safetensors weights handed to the backend (model-loader.h). */
#include "model-loader.h"

#include <stdarg.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "checkpoint-layout.h"
#include "ivl.h"
#include "model-tensors.h"
#include "quantize.h"
#include "safetensors.h"

struct ivl_loader {
  ivl_backend *be;
  ivl_safetensors *st;
  ivl_config layout_config; /* config's layout and sizes, to find the stored pieces (its
                               strings are not used) */
  GPtrArray *tensors;       /* ivl_tensor*: every weight handed out */
  GPtrArray *copies;        /* host buffers of gathered weights, used in place by the CPU */
  ivl_dtype quant;          /* Q8 or Q4 for the Linear weights; F32 when they stay as published */
  GHashTable *linear;       /* names of the Linear weight matrices (model-tensors.h) */
  GHashTable *bytes;        /* name -> guint64* bytes the backend holds of it */
};

ivl_loader *ivl_loader_new(ivl_backend *be, const char *model_dir, const ivl_config *config,
                           ivl_precision precision, GError **error)
{
  ivl_safetensors *st = ivl_safetensors_open(model_dir, error);
  if (!st)
    return NULL;
  ivl_loader *ld = g_new0(ivl_loader, 1);
  ld->be = be;
  ld->st = st;
  ld->layout_config = *config;
  ld->layout_config.ps_version = ld->layout_config.template_name = NULL;
  ld->layout_config.torch_dtype = ld->layout_config.llm.torch_dtype = NULL;
  ld->tensors = g_ptr_array_new();
  ld->copies = g_ptr_array_new_with_free_func(g_free);
  ld->quant = precision == IVL_PRECISION_INT8 ? IVL_DTYPE_Q8
              : precision == IVL_PRECISION_Q4 ? IVL_DTYPE_Q4
                                              : IVL_DTYPE_F32;
  ld->linear = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  ld->bytes = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  /* The model code asks by the original names, whatever the files' layout. */
  g_autoptr(GPtrArray) specs = ivl_model_tensor_specs_in(config, IVL_LAYOUT_ORIGINAL);
  for (guint i = 0; i < specs->len; i++) {
    const ivl_tensor_spec *spec = g_ptr_array_index(specs, i);
    if (spec->is_linear)
      g_hash_table_add(ld->linear, g_strdup(spec->name));
  }
  return ld;
}

gboolean ivl_loader_quantizes(ivl_loader *ld, const char *name, int64_t rows, int64_t cols)
{
  return ld->quant != IVL_DTYPE_F32 && rows > 1 && g_hash_table_contains(ld->linear, name) &&
         ivl_quant_fits(ld->quant, rows, cols);
}

/* Hands a weight to the backend: a Linear matrix quantized first when asked (the same
 * choice model-info.c's memory estimate makes), anything else as it is in the file. */
static ivl_tensor *hand_out(ivl_loader *ld, const char *name, ivl_dtype dtype, int64_t rows,
                            int64_t cols, const void *host, GError **error)
{
  ivl_backend *be = ld->be;
  ivl_tensor *w;
  if (ivl_loader_quantizes(ld, name, rows, cols)) {
    void *q = g_try_malloc(ivl_tensor_nbytes(ld->quant, rows, cols));
    if (!q) {
      g_set_error(error, IVL_ERROR, IVL_ERROR_OUT_OF_MEMORY,
                  "cannot allocate the quantized copy of %s", name);
      return NULL;
    }
    ivl_quantize(ld->quant, q, host, dtype, rows, cols);
    w = be->ops->weight_from_host(be, ld->quant, rows, cols, q, error);
    g_free(q);
  } else {
    w = be->ops->weight_from_host(be, dtype, rows, cols, host, error);
  }
  if (!w)
    return NULL;
  g_ptr_array_add(ld->tensors, w);
  guint64 *held = g_hash_table_lookup(ld->bytes, name);
  if (!held)
    g_hash_table_insert(ld->bytes, g_strdup(name), held = g_new0(guint64, 1));
  *held += be->ops->weight_nbytes ? be->ops->weight_nbytes(be, w)
                                  : ivl_tensor_nbytes(w->dtype, w->rows, w->cols);
  return w;
}

void ivl_loader_set_backend(ivl_loader *ld, ivl_backend *be)
{
  ld->be = be;
}

guint64 ivl_loader_bytes_held(ivl_loader *ld, const char *prefix, const char *except)
{
  GHashTableIter it;
  gpointer name, held;
  guint64 total = 0;
  g_hash_table_iter_init(&it, ld->bytes);
  while (g_hash_table_iter_next(&it, &name, &held))
    if (g_str_has_prefix(name, prefix) && !(except && strstr(name, except)))
      total += *(guint64 *)held;
  return total;
}

void ivl_loader_free(ivl_loader *ld)
{
  if (!ld)
    return;
  for (guint i = 0; i < ld->tensors->len; i++) {
    ivl_tensor *t = g_ptr_array_index(ld->tensors, i);
    t->backend->ops->tensor_free(t->backend, t);
  }
  g_ptr_array_unref(ld->tensors);
  g_ptr_array_unref(ld->copies);
  g_hash_table_unref(ld->linear);
  g_hash_table_unref(ld->bytes);
  ivl_safetensors_free(ld->st);
  g_free(ld);
}

const ivl_safetensors *ivl_loader_get_safetensors(const ivl_loader *ld)
{
  return ld->st;
}

gboolean ivl_loader_has(ivl_loader *ld, const char *name)
{
  g_autoptr(GArray) pieces = ivl_layout_pieces(&ld->layout_config, name, 1);
  for (guint i = 0; i < pieces->len; i++) {
    if (!ivl_layout_find(ld->st, g_array_index(pieces, ivl_layout_piece, i).name))
      return FALSE;
  }
  return TRUE;
}

/* A stored tensor (already in the files' layout) with the element count asked. */
static const ivl_st_tensor *find(ivl_loader *ld, const char *name, int64_t n_elements,
                                 GError **error)
{
  const ivl_st_tensor *t = ivl_layout_find(ld->st, name);
  if (!t) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_NOT_FOUND, "the model has no tensor %s", name);
    return NULL;
  }
  if (t->n_elements != n_elements) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_CORRUPT,
                "tensor %s has %" G_GINT64_FORMAT
                " elements where the config implies %" G_GINT64_FORMAT,
                name, t->n_elements, n_elements);
    return NULL;
  }
  return t;
}

/* A weight the backend copied (to a GPU, or quantized) no longer needs its pages of the
 * mapped file: they leave this process's resident memory (clean file pages, read again from
 * the file should anything touch them), so that a quantized model really takes its smaller
 * size. Only whole pages inside the range, since neighbours may still be in use. */
static void release_mapped(const ivl_tensor *w, const void *host, size_t bytes)
{
  if (w->data == host)
    return; /* used in place */
  const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
  uintptr_t begin = ((uintptr_t)host + page - 1) / page * page;
  uintptr_t end = ((uintptr_t)host + bytes) / page * page;
  if (end > begin)
    madvise((void *)begin, end - begin, MADV_DONTNEED);
}

/* The stored tensor holding rows [row0, row0 + n_rows) of the original tensor name (of
 * total_rows rows) in one piece, and the first of those rows in it. */
static const ivl_st_tensor *find_rows(ivl_loader *ld, const char *name, int64_t total_rows,
                                      int64_t row0, int64_t n_rows, int64_t cols,
                                      int64_t *stored_row0, GError **error)
{
  g_autoptr(GArray) pieces = ivl_layout_pieces(&ld->layout_config, name, total_rows);
  for (guint i = 0; i < pieces->len; i++) {
    const ivl_layout_piece *p = &g_array_index(pieces, ivl_layout_piece, i);
    if (row0 >= p->orig_row0 && row0 + n_rows <= p->orig_row0 + p->n_rows) {
      *stored_row0 = p->row0 + (row0 - p->orig_row0);
      return find(ld, p->name, p->total_rows * cols, error);
    }
  }
  g_set_error(error, IVL_ERROR, IVL_ERROR_CORRUPT,
              "rows %" G_GINT64_FORMAT "..%" G_GINT64_FORMAT " of %s are not stored together", row0,
              row0 + n_rows - 1, name);
  return NULL;
}

static ivl_tensor *weight_rows(ivl_loader *ld, const char *name, int64_t total_rows, int64_t row0,
                               int64_t n_rows, int64_t cols, GError **error)
{
  int64_t stored_row0;
  const ivl_st_tensor *t = find_rows(ld, name, total_rows, row0, n_rows, cols, &stored_row0, error);
  if (!t)
    return NULL;
  const char *host = (const char *)t->data + (gsize)(stored_row0 * cols) * ivl_dtype_size(t->dtype);
  /* A vector (cols == 1) is handed out as one row, the shape the ops take biases in. */
  int64_t r = cols == 1 ? 1 : n_rows, c = cols == 1 ? n_rows : cols;
  ivl_tensor *w = hand_out(ld, name, t->dtype, r, c, host, error);
  if (w)
    release_mapped(w, host, (size_t)(n_rows * cols) * ivl_dtype_size(t->dtype));
  return w;
}

ivl_tensor *ivl_loader_weight(ivl_loader *ld, int64_t rows, int64_t cols, GError **error,
                              const char *format, ...)
{
  va_list ap;
  va_start(ap, format);
  g_autofree char *name = g_strdup_vprintf(format, ap);
  va_end(ap);
  return weight_rows(ld, name, rows, 0, rows, cols, error);
}

ivl_tensor *ivl_loader_weight_rows(ivl_loader *ld, int64_t total_rows, int64_t row0, int64_t n_rows,
                                   int64_t cols, GError **error, const char *format, ...)
{
  va_list ap;
  va_start(ap, format);
  g_autofree char *name = g_strdup_vprintf(format, ap);
  va_end(ap);
  return weight_rows(ld, name, total_rows, row0, n_rows, cols, error);
}

ivl_tensor *ivl_loader_weight_gather(ivl_loader *ld, int64_t total_rows, int64_t cols,
                                     int64_t block_rows, const int64_t *blocks, int n_blocks,
                                     GError **error, const char *format, ...)
{
  va_list ap;
  va_start(ap, format);
  g_autofree char *name = g_strdup_vprintf(format, ap);
  va_end(ap);
  /* Blocks in order and stored together (vision's q | k | v in an original checkpoint) are
   * handed out as they lie, without a copy. */
  gboolean in_order = n_blocks > 0;
  for (int i = 0; i < n_blocks && in_order; i++)
    in_order = blocks[i] == blocks[0] + i;
  int64_t stored_row0;
  if (in_order && find_rows(ld, name, total_rows, blocks[0] * block_rows, n_blocks * block_rows,
                            cols, &stored_row0, NULL))
    return weight_rows(ld, name, total_rows, blocks[0] * block_rows, n_blocks * block_rows, cols,
                       error);
  char *copy = NULL;
  gsize block_bytes = 0;
  ivl_dtype dtype = IVL_DTYPE_F32;
  for (int i = 0; i < n_blocks; i++) {
    if (blocks[i] < 0 || (blocks[i] + 1) * block_rows > total_rows) {
      g_free(copy);
      g_set_error(error, IVL_ERROR, IVL_ERROR_CORRUPT,
                  "row block %" G_GINT64_FORMAT " is outside tensor %s", blocks[i], name);
      return NULL;
    }
    /* Each block is looked up alone: a split layout stores them in different tensors. */
    int64_t stored_row0;
    const ivl_st_tensor *t = find_rows(ld, name, total_rows, blocks[i] * block_rows, block_rows,
                                       cols, &stored_row0, error);
    if (!t || (copy && t->dtype != dtype)) {
      if (t)
        g_set_error(error, IVL_ERROR, IVL_ERROR_CORRUPT, "the parts of %s differ in type", name);
      g_free(copy);
      return NULL;
    }
    if (!copy) {
      dtype = t->dtype;
      block_bytes = (gsize)(block_rows * cols) * ivl_dtype_size(dtype);
      copy = g_malloc(block_bytes * n_blocks);
    }
    memcpy(copy + i * block_bytes,
           (const char *)t->data + (gsize)(stored_row0 * cols) * ivl_dtype_size(dtype),
           block_bytes);
  }
  int64_t n = n_blocks * block_rows;
  int64_t r = cols == 1 ? 1 : n, c = cols == 1 ? n : cols;
  ivl_tensor *w = hand_out(ld, name, dtype, r, c, copy, error);
  /* the CPU uses a plain copy in place; a quantized or compact one it copied again */
  if (w && w->data == copy)
    g_ptr_array_add(ld->copies, copy);
  else
    g_free(copy);
  return w;
}

float *ivl_loader_read_f32(ivl_loader *ld, int64_t n_elements, GError **error, const char *format,
                           ...)
{
  va_list ap;
  va_start(ap, format);
  g_autofree char *name = g_strdup_vprintf(format, ap);
  va_end(ap);
  int64_t row0;
  const ivl_st_tensor *t = find_rows(ld, name, n_elements, 0, n_elements, 1, &row0, error);
  if (!t)
    return NULL;
  /* The backend already converts every weight dtype to f32: borrow it for the read. */
  ivl_backend *be = ld->be;
  ivl_tensor *w = be->ops->weight_from_host(be, t->dtype, 1, n_elements, t->data, error);
  if (!w)
    return NULL;
  g_autofree float *out = g_new(float, n_elements);
  gboolean ok = be->ops->download_f32(be, w, 0, 1, out, error);
  be->ops->tensor_free(be, w);
  return ok ? g_steal_pointer(&out) : NULL;
}
