/* tensor-view.h — a range of rows of a tensor as a tensor of its own (internal).
 *
 * backend.h tensors are row-major and contiguous, so rows [row0, row0 + n) of one are again
 * such a tensor starting row0 rows further into the same memory (host or device alike), or
 * row0 rows further into a backend's own layout of a weight.
 * The view borrows the memory: it is a value, never passed to tensor_free.
 */
#ifndef IVL_TENSOR_VIEW_H
#define IVL_TENSOR_VIEW_H

#include "backend.h"

static inline ivl_tensor ivl_tensor_view_rows(const ivl_tensor *t, int64_t row0, int64_t n_rows)
{
  ivl_tensor v = *t;
  v.rows = n_rows;
  if (t->layout)
    v.layout_row0 += row0;
  else
    v.data = (char *)t->data + (size_t)row0 * (size_t)t->cols * ivl_dtype_size(t->dtype);
  v.owns_data = FALSE;
  return v;
}

#endif /* IVL_TENSOR_VIEW_H */
