/* fake-gpus.c — the machine's CUDA devices as a GUI test chooses them, for the GUI tests
 * only: ivl_gpu_count and ivl_gpu_get_memory (ivl.h) report fake_ivl_n_gpus devices of
 * fake_ivl_gpu_bytes each, all free. Linked before libivl, these definitions win over
 * gpu-info.c's, so the model manager and the chat window show what they show on a machine
 * with several GPUs. Set before the app first asks: the model manager asks once. */
#include "ivl.h"

int fake_ivl_n_gpus;
guint64 fake_ivl_gpu_bytes;

int ivl_gpu_count(GError **error)
{
  if (fake_ivl_n_gpus == 0)
    g_set_error(error, IVL_ERROR, IVL_ERROR_UNSUPPORTED, "no CUDA device (fake)");
  return fake_ivl_n_gpus;
}

gboolean ivl_gpu_get_memory(int device, char **name, guint64 *free_bytes, guint64 *total_bytes,
                            GError **error)
{
  if (device < 0 || device >= fake_ivl_n_gpus) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_UNSUPPORTED, "no CUDA device %d (fake)", device);
    return FALSE;
  }
  if (name)
    *name = g_strdup_printf("Fake GPU %d", device);
  *free_bytes = *total_bytes = fake_ivl_gpu_bytes;
  return TRUE;
}
