/* model-loader.c — named safetensors weights handed to the backend (model-loader.h). */
#include "model-loader.h"

#include <stdarg.h>
#include <string.h>

#include "ivl.h"
#include "safetensors.h"

struct ivl_loader {
  ivl_backend *be;
  ivl_safetensors *st;
  GPtrArray *tensors; /* ivl_tensor*: every weight handed out */
  GPtrArray *copies;  /* host buffers of gathered weights, used in place by the CPU */
};

ivl_loader *ivl_loader_new(ivl_backend *be, const char *model_dir, GError **error)
{
  ivl_safetensors *st = ivl_safetensors_open(model_dir, error);
  if (!st)
    return NULL;
  ivl_loader *ld = g_new0(ivl_loader, 1);
  ld->be = be;
  ld->st = st;
  ld->tensors = g_ptr_array_new();
  ld->copies = g_ptr_array_new_with_free_func(g_free);
  return ld;
}

void ivl_loader_free(ivl_loader *ld)
{
  if (!ld)
    return;
  for (guint i = 0; i < ld->tensors->len; i++)
    ld->be->ops->tensor_free(ld->be, g_ptr_array_index(ld->tensors, i));
  g_ptr_array_unref(ld->tensors);
  g_ptr_array_unref(ld->copies);
  ivl_safetensors_free(ld->st);
  g_free(ld);
}

const ivl_safetensors *ivl_loader_get_safetensors(const ivl_loader *ld)
{
  return ld->st;
}

gboolean ivl_loader_has(ivl_loader *ld, const char *name)
{
  return ivl_safetensors_find(ld->st, name) != NULL;
}

static const ivl_st_tensor *find(ivl_loader *ld, const char *name, int64_t n_elements,
                                 GError **error)
{
  const ivl_st_tensor *t = ivl_safetensors_find(ld->st, name);
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

static ivl_tensor *weight_rows(ivl_loader *ld, const char *name, int64_t total_rows, int64_t row0,
                               int64_t n_rows, int64_t cols, GError **error)
{
  const ivl_st_tensor *t = find(ld, name, total_rows * cols, error);
  if (!t)
    return NULL;
  const char *host = (const char *)t->data + (gsize)(row0 * cols) * ivl_dtype_size(t->dtype);
  /* A vector (cols == 1) is handed out as one row, the shape the ops take biases in. */
  int64_t r = cols == 1 ? 1 : n_rows, c = cols == 1 ? n_rows : cols;
  ivl_tensor *w = ld->be->ops->weight_from_host(ld->be, t->dtype, r, c, host, error);
  if (w)
    g_ptr_array_add(ld->tensors, w);
  return w;
}

ivl_tensor *ivl_loader_weight(ivl_loader *ld, int64_t rows, int64_t cols, GError **error,
                              const char *format, ...)
{
  va_list ap;
  va_start(ap, format);
  g_autofree char *name = g_strdup_vprintf(format, ap);
  va_end(ap);
  const ivl_st_tensor *t = find(ld, name, rows * cols, error);
  if (!t)
    return NULL;
  ivl_tensor *w = ld->be->ops->weight_from_host(ld->be, t->dtype, rows, cols, t->data, error);
  if (w)
    g_ptr_array_add(ld->tensors, w);
  return w;
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
  const ivl_st_tensor *t = find(ld, name, total_rows * cols, error);
  if (!t)
    return NULL;
  gsize block_bytes = (gsize)(block_rows * cols) * ivl_dtype_size(t->dtype);
  char *copy = g_malloc(block_bytes * n_blocks);
  for (int i = 0; i < n_blocks; i++) {
    if (blocks[i] < 0 || (blocks[i] + 1) * block_rows > total_rows) {
      g_free(copy);
      g_set_error(error, IVL_ERROR, IVL_ERROR_CORRUPT,
                  "row block %" G_GINT64_FORMAT " is outside tensor %s", blocks[i], name);
      return NULL;
    }
    memcpy(copy + i * block_bytes, (const char *)t->data + blocks[i] * block_bytes, block_bytes);
  }
  g_ptr_array_add(ld->copies, copy);
  int64_t n = n_blocks * block_rows;
  int64_t r = cols == 1 ? 1 : n, c = cols == 1 ? n : cols;
  ivl_tensor *w = ld->be->ops->weight_from_host(ld->be, t->dtype, r, c, copy, error);
  if (w)
    g_ptr_array_add(ld->tensors, w);
  return w;
}

float *ivl_loader_read_f32(ivl_loader *ld, int64_t n_elements, GError **error, const char *format,
                           ...)
{
  va_list ap;
  va_start(ap, format);
  g_autofree char *name = g_strdup_vprintf(format, ap);
  va_end(ap);
  const ivl_st_tensor *t = find(ld, name, n_elements, error);
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
