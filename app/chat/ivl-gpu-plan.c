/* ivl-gpu-plan.c — the model manager's line on a split over several GPUs. */
#include "ivl-config.h"

#include "ivl-gpu-plan.h"

#include <glib/gi18n.h>

#include "gpu-placement.h"

/* Whether the engine's default split of costs over the first n GPUs fits. The cards' total
 * memory stands for their free memory: the manager says what this machine can run, not what
 * fits beside the model ivl-chat holds now. */
static gboolean fits(const ivl_split_costs *costs, const IvlCatalogGpus *gpus, int n)
{
  g_autoptr(ivl_placement) p = ivl_placement_new(
      costs, IVL_SPLIT_LAYERS, n, gpus->total, gpus->total, (const char *const *)gpus->names, NULL);
  return p != NULL;
}

static const char *placed_format(int precision)
{
  /* TRANSLATORS: the first two numbers are GPUs; the %s lists what each would hold,
   * "31.2 GB / 21.5 GB". */
  return precision == IVL_PRECISION_BF16   ? _("layers over GPUs %d-%d: %s")
         : precision == IVL_PRECISION_INT8 ? _("layers over GPUs %d-%d with 8-bit weights: %s")
                                           : _("layers over GPUs %d-%d with 4-bit weights: %s");
}

/* "31.2 GB / 21.5 GB": each device's need, or (lacking TRUE) "GPU 1 lacks 3.2 GB" for
 * each device that has too little. */
static char *per_device(const ivl_split_costs *costs, const IvlCatalogGpus *gpus, gboolean lacking)
{
  g_autoptr(ivl_placement) p = ivl_placement_new_unchecked(costs, gpus->n_gpus);
  GString *s = g_string_new(NULL);
  for (int d = 0; d < gpus->n_gpus; d++) {
    const guint64 need = ivl_placement_need(p, d);
    if (lacking && need <= gpus->total[d])
      continue;
    g_autofree char *size = g_format_size(lacking ? need - gpus->total[d] : need);
    if (s->len)
      g_string_append(s, lacking ? ", " : " / ");
    if (lacking)
      /* TRANSLATORS: "GPU 1 lacks 3.2 GB" */
      g_string_append_printf(s, _("GPU %d lacks %s"), d, size);
    else
      g_string_append(s, size);
  }
  return g_string_free(s, FALSE);
}

char *ivl_gpu_plan_text(const ivl_split_costs costs[IVL_N_PRECISIONS], const IvlCatalogGpus *gpus,
                        int *fits_in)
{
  *fits_in = -1;
  if (gpus->n_gpus < 2)
    return NULL;
  const int last = gpus->n_gpus - 1;
  for (int q = 0; q < IVL_N_PRECISIONS; q++) {
    if (fits(&costs[q], gpus, 1))
      return NULL; /* the engine takes the first GPU alone */
    if (fits(&costs[q], gpus, gpus->n_gpus)) {
      *fits_in = q;
      g_autofree char *sizes = per_device(&costs[q], gpus, FALSE);
      return g_strdup_printf(placed_format(q), 0, last, sizes);
    }
  }
  g_autofree char *missing = per_device(&costs[IVL_PRECISION_Q4], gpus, TRUE);
  /* TRANSLATORS: "too large for GPUs 0-1 even with 4-bit weights: GPU 1 lacks 3.2 GB" */
  return g_strdup_printf(_("too large for GPUs %d-%d even with 4-bit weights: %s"), 0, last,
                         missing);
}
