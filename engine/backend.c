#include "backend.h"

size_t ivl_dtype_size(ivl_dtype dtype)
{
  switch (dtype) {
  case IVL_DTYPE_F32:
  case IVL_DTYPE_I32:
    return 4;
  case IVL_DTYPE_F16:
  case IVL_DTYPE_BF16:
    return 2;
  case IVL_DTYPE_Q8:
  case IVL_DTYPE_Q4:
    return 0;
  }
  g_return_val_if_reached(0);
}

void ivl_backend_set_error(ivl_backend *be, GError *err)
{
  if (be->error == NULL)
    be->error = err;
  else
    g_error_free(err);
}

gboolean ivl_backend_take_error(ivl_backend *be, GError **error)
{
  if (be->error == NULL)
    return TRUE;
  g_propagate_error(error, g_steal_pointer(&be->error));
  return FALSE;
}
