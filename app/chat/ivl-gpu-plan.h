/* ivl-gpu-plan.h — how a model would be placed over this machine's GPUs, for the model
 * manager: the engine's default split (gpu-placement.h) over every GPU, as one line. */
#pragma once

#include <glib.h>

#include "catalog.h"

G_BEGIN_DECLS

/* The line for a model whose parts cost costs[] (per precision) when it needs several of
 * gpus' devices: in the most precise precision that fits none of them alone but all of them
 * together, "layers over GPUs 0-1: 31.2 GB / 21.5 GB" (what each would hold); when no
 * precision fits, what each device lacks with 4-bit weights. NULL (and *fits -1) with fewer
 * than two GPUs or when the model fits the first GPU alone in a precision tried first.
 * *fits gets the precision of the split, or -1. Caller frees. */
char *ivl_gpu_plan_text(const ivl_split_costs costs[IVL_N_PRECISIONS], const IvlCatalogGpus *gpus,
                        int *fits);

G_END_DECLS
