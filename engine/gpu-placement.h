/* gpu-placement.h — which device holds which part of a model split over several GPUs, and
 * whether each device's part fits its free memory. Arithmetic only (no device query), so that
 * a hypothetical machine can be planned and the rules tested without GPUs.
 *
 * The parts: the vision tower, the projector, the embeddings, the final norm and lm_head (the
 * "fixed" part) always on the first device; the language layers spread over all of them. */
#ifndef IVL_GPU_PLACEMENT_H
#define IVL_GPU_PLACEMENT_H

#include <glib.h>

#include "ivl.h" /* ivl_precision, ivl_split_mode */

#define IVL_MAX_DEVICES IVL_MAX_GPUS

/* "layers" or "auto"; FALSE for another string. */
gboolean ivl_split_mode_from_name(const char *name, ivl_split_mode *mode);
const char *ivl_split_mode_name(ivl_split_mode mode);

/* What the parts cost on a device, from the config (model-info.h's ivl_model_split_costs). */
typedef struct {
  ivl_precision precision;
  int n_layers;
  guint64 fixed_weights;   /* vision, projector, embeddings, final norm, lm_head */
  guint64 layer_weights;   /* one language layer */
  guint64 layer_kv;        /* one layer's K and V for the whole context */
  guint64 workspace_first; /* the first device: the larger of the vision and language passes */
  guint64 workspace_other; /* the others: the language pass's chunk buffers */
  /* the same weights in each precision, for suggesting a smaller one */
  guint64 fixed_in[IVL_N_PRECISIONS], layer_in[IVL_N_PRECISIONS];
} ivl_split_costs;

/* split_model (the InternVL3 quick start): with n devices, p = ceil(layers / (n - 0.5))
 * layers per device, the first device ceil(p / 2) (it holds the vision tower: half a
 * device), layers handed out in order, and the last layer on the first device.
 * device_of[l] gets the device index (0 .. n_devices - 1) of layer l. */
void ivl_split_model_layers(int n_layers, int n_devices, int *device_of);

typedef struct {
  int n_devices;
  int n_layers;
  int *device_of; /* [n_layers] */
  /* per device: bytes of weights, KV cache, workspace, layers held */
  guint64 weights[IVL_MAX_DEVICES], kv_cache[IVL_MAX_DEVICES], workspace[IVL_MAX_DEVICES];
  int n_layers_on[IVL_MAX_DEVICES];
} ivl_placement;

/* The placement of costs over n_devices whose free memory is free_bytes[] (total_bytes[]
 * and names[] for messages). IVL_SPLIT_LAYERS places by split_model, then checks each device;
 * IVL_SPLIT_AUTO gives each device as many layers as its free memory holds, in proportion.
 * NULL with IVL_ERROR_OUT_OF_MEMORY when it does not fit: which device lacks how much, and
 * what would fit (a smaller precision, a shorter context, fewer tiles, more devices). */
ivl_placement *ivl_placement_new(const ivl_split_costs *costs, ivl_split_mode mode, int n_devices,
                                 const guint64 *free_bytes, const guint64 *total_bytes,
                                 const char *const *names, GError **error);
/* The same without a memory check (what `ivl info` prints when it does not fit). */
ivl_placement *ivl_placement_new_unchecked(const ivl_split_costs *costs, int n_devices);
void ivl_placement_free(ivl_placement *p);

/* Bytes device d needs: weights + KV cache + workspace + IVL_GPU_MEMORY_RESERVE. */
guint64 ivl_placement_need(const ivl_placement *p, int d);
/* "0-13, 27" style list of the layers on device d (caller frees). */
char *ivl_placement_layers_text(const ivl_placement *p, int d);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(ivl_placement, ivl_placement_free)

#endif /* IVL_GPU_PLACEMENT_H */
