/* gpu-memory-plan.h — does a model fit on a GPU? The arithmetic and the message, apart from
 * any device query so that it is tested on machines without one. */
#ifndef IVL_GPU_MEMORY_PLAN_H
#define IVL_GPU_MEMORY_PLAN_H

#include <glib.h>

#include "ivl.h" /* ivl_precision */

typedef struct {
  ivl_precision precision; /* of the weights asked for */
  guint64 weights;         /* bytes of weights as stored on the device in that precision */
  guint64 kv_cache;        /* bytes of K and V for the whole context, all layers */
  guint64 workspace;       /* activations, attention scratch, vision batch */
  /* the weights in each precision, for suggesting a smaller one; 0: unknown */
  guint64 weights_in[IVL_N_PRECISIONS];
  /* devices the model is split over (0 or 1: one): the last suggestion is more of them */
  int n_devices;
} ivl_gpu_memory_plan;

/* Bytes kept free beyond the plan for cuBLAS's workspace, the decode graph and allocator
 * rounding. */
#define IVL_GPU_MEMORY_RESERVE ((guint64)512 << 20)

/* TRUE when plan + reserve fits in free_bytes. Otherwise FALSE with IVL_ERROR_OUT_OF_MEMORY
 * saying what is needed, what is free on device_name, how much is missing, and what to try,
 * largest lever first. */
gboolean ivl_gpu_memory_plan_check(const ivl_gpu_memory_plan *plan, const char *device_name,
                                   guint64 free_bytes, guint64 total_bytes, GError **error);

/* "Try ..." for a plan `missing` bytes short, largest lever first (caller frees). */
char *ivl_gpu_memory_plan_suggest(const ivl_gpu_memory_plan *plan, guint64 missing);

#endif /* IVL_GPU_MEMORY_PLAN_H */
