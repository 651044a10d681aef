#include "gpu-memory-plan.h"

#include "ivl.h"

static double gib(guint64 bytes)
{
  return (double)bytes / (double)(1u << 30);
}

/* Suggestions in the order that frees the most: a smaller precision shrinks the largest
 * term (the first one that covers the shortfall, else the smallest); a shorter context shrinks
 * the KV cache in proportion; fewer tiles shrink the vision batch; another GPU is the answer
 * when nothing else gets close. */
char *ivl_gpu_memory_plan_suggest(const ivl_gpu_memory_plan *plan, guint64 missing)
{
  GString *s = g_string_new("Try ");
  int pick = -1;
  for (int p = (int)plan->precision + 1; p < IVL_N_PRECISIONS; p++) {
    if (plan->weights_in[p] == 0 || plan->weights_in[p] >= plan->weights)
      continue;
    pick = p;
    if (plan->weights - plan->weights_in[p] >= missing)
      break;
  }
  if (pick >= 0) {
    g_string_append_printf(s, "--precision %s (the weights take %.2f GiB instead of %.2f)",
                           ivl_precision_name(pick), gib(plan->weights_in[pick]),
                           gib(plan->weights));
    if (plan->weights - plan->weights_in[pick] < missing)
      g_string_append(s, " together with the steps below");
    g_string_append(s, "; ");
  }
  if (plan->kv_cache > 0)
    g_string_append_printf(s, "a shorter context (the KV cache takes %.2f GiB); ",
                           gib(plan->kv_cache));
  if (plan->workspace > 0)
    g_string_append_printf(s, "fewer image tiles (the workspace takes %.2f GiB); ",
                           gib(plan->workspace));
  if (plan->n_devices > 1)
    g_string_append(s, "or more GPUs (--gpus), or GPUs with more memory.");
  else
    g_string_append(s, "or a GPU with more memory, or the CPU backend.");
  return g_string_free(s, FALSE);
}

gboolean ivl_gpu_memory_plan_check(const ivl_gpu_memory_plan *plan, const char *device_name,
                                   guint64 free_bytes, guint64 total_bytes, GError **error)
{
  const guint64 need = plan->weights + plan->kv_cache + plan->workspace + IVL_GPU_MEMORY_RESERVE;
  if (need <= free_bytes)
    return TRUE;
  g_autofree char *try = ivl_gpu_memory_plan_suggest(plan, need - free_bytes);
  g_set_error(error, IVL_ERROR, IVL_ERROR_OUT_OF_MEMORY,
              "%s has %.2f GiB free (of %.2f GiB) but the model needs %.2f GiB: weights %.2f, "
              "KV cache %.2f, workspace %.2f, reserve %.2f. %.2f GiB are missing. %s",
              device_name, gib(free_bytes), gib(total_bytes), gib(need), gib(plan->weights),
              gib(plan->kv_cache), gib(plan->workspace), gib(IVL_GPU_MEMORY_RESERVE),
              gib(need - free_bytes), try);
  return FALSE;
}
