/* gpu-info.c — ivl_gpu_get_memory and ivl_gpu_count (ivl.h), on its own so that a program asking
 * about the GPU does not link the model code. */
#include "ivl-config.h" /* IVL_HAVE_CUDA */

#include "backend.h"
#include "ivl.h"

gboolean ivl_gpu_get_memory(int device, char **name, guint64 *free_bytes, guint64 *total_bytes,
                            GError **error)
{
#if IVL_HAVE_CUDA
  return ivl_backend_cuda_device_memory(device, name, free_bytes, total_bytes, error);
#else
  (void)device, (void)name, (void)free_bytes, (void)total_bytes;
  g_set_error(error, IVL_ERROR, IVL_ERROR_UNSUPPORTED,
              "this build of ivl has no CUDA backend (no CUDA toolkit at build time)");
  return FALSE;
#endif
}

int ivl_gpu_count(GError **error)
{
#if IVL_HAVE_CUDA
  return ivl_backend_cuda_device_count(error);
#else
  g_set_error(error, IVL_ERROR, IVL_ERROR_UNSUPPORTED,
              "this build of ivl has no CUDA backend (no CUDA toolkit at build time)");
  return 0;
#endif
}
