/* gpu-placement.c — split_model's layer assignment, placement by free memory, and the
 * per-device memory check (gpu-placement.h). */
#include "gpu-placement.h"

#include <string.h>

#include "gpu-memory-plan.h"

static double gib(guint64 bytes)
{
  return (double)bytes / (double)(1u << 30);
}

gboolean ivl_split_mode_from_name(const char *name, ivl_split_mode *mode)
{
  if (g_strcmp0(name, "layers") == 0)
    *mode = IVL_SPLIT_LAYERS;
  else if (g_strcmp0(name, "auto") == 0)
    *mode = IVL_SPLIT_AUTO;
  else
    return FALSE;
  return TRUE;
}

const char *ivl_split_mode_name(ivl_split_mode mode)
{
  return mode == IVL_SPLIT_AUTO ? "auto" : "layers";
}

/* Exactly the quick start's arithmetic: math.ceil(layers / (n - 0.5)) is ceil(2 layers /
 * (2n - 1)) in integers; the handing out may run past the last layer (those keys are never
 * used), and the last layer is moved to the first device afterwards. */
void ivl_split_model_layers(int n_layers, int n_devices, int *device_of)
{
  const int per = (2 * n_layers + 2 * n_devices - 2) / (2 * n_devices - 1);
  int l = 0;
  for (int d = 0; d < n_devices && l < n_layers; d++) {
    const int count = d == 0 ? (per + 1) / 2 : per;
    for (int j = 0; j < count && l < n_layers; j++)
      device_of[l++] = d;
  }
  /* per (n - 1) + ceil(per / 2) >= per (n - 0.5) >= layers: every layer got a device */
  g_assert(l == n_layers);
  if (n_layers > 0)
    device_of[n_layers - 1] = 0;
}

static ivl_placement *placement_alloc(const ivl_split_costs *c, int n_devices)
{
  ivl_placement *p = g_new0(ivl_placement, 1);
  p->n_devices = n_devices;
  p->n_layers = c->n_layers;
  p->device_of = g_new0(int, MAX(c->n_layers, 1));
  return p;
}

/* The bytes of each device once device_of is set. A device without layers (auto placement on
 * a small one) holds nothing and is not used. */
static void tally(ivl_placement *p, const ivl_split_costs *c)
{
  memset(p->n_layers_on, 0, sizeof p->n_layers_on);
  for (int l = 0; l < p->n_layers; l++)
    p->n_layers_on[p->device_of[l]]++;
  for (int d = 0; d < p->n_devices; d++) {
    const guint64 n = (guint64)p->n_layers_on[d];
    p->weights[d] = n * c->layer_weights + (d == 0 ? c->fixed_weights : 0);
    p->kv_cache[d] = n * c->layer_kv;
    p->workspace[d] = d == 0 ? c->workspace_first : n > 0 ? c->workspace_other : 0;
  }
}

void ivl_placement_free(ivl_placement *p)
{
  if (!p)
    return;
  g_free(p->device_of);
  g_free(p);
}

guint64 ivl_placement_need(const ivl_placement *p, int d)
{
  if (d > 0 && p->n_layers_on[d] == 0)
    return 0;
  return p->weights[d] + p->kv_cache[d] + p->workspace[d] + IVL_GPU_MEMORY_RESERVE;
}

char *ivl_placement_layers_text(const ivl_placement *p, int d)
{
  GString *s = g_string_new(NULL);
  for (int l = 0; l < p->n_layers; l++) {
    if (p->device_of[l] != d || (l > 0 && p->device_of[l - 1] == d))
      continue;
    int end = l;
    while (end + 1 < p->n_layers && p->device_of[end + 1] == d)
      end++;
    if (s->len)
      g_string_append(s, ", ");
    if (end > l)
      g_string_append_printf(s, "%d-%d", l, end);
    else
      g_string_append_printf(s, "%d", l);
  }
  if (s->len == 0)
    g_string_append(s, "none");
  return g_string_free(s, FALSE);
}

ivl_placement *ivl_placement_new_unchecked(const ivl_split_costs *costs, int n_devices)
{
  g_return_val_if_fail(n_devices >= 1 && n_devices <= IVL_MAX_DEVICES, NULL);
  ivl_placement *p = placement_alloc(costs, n_devices);
  ivl_split_model_layers(costs->n_layers, n_devices, p->device_of);
  tally(p, costs);
  return p;
}

/* The memory plan of device d's part, for the single-device check and its suggestions. */
static ivl_gpu_memory_plan device_plan(const ivl_placement *p, const ivl_split_costs *c, int d)
{
  ivl_gpu_memory_plan plan = {c->precision,    p->weights[d], p->kv_cache[d],
                              p->workspace[d], {0},           p->n_devices};
  for (int q = 0; q < IVL_N_PRECISIONS; q++)
    plan.weights_in[q] =
        (guint64)p->n_layers_on[d] * c->layer_in[q] + (d == 0 ? c->fixed_in[q] : 0);
  return plan;
}

static gboolean check_each(const ivl_placement *p, const ivl_split_costs *c,
                           const guint64 *free_bytes, const guint64 *total_bytes,
                           const char *const *names, gboolean auto_fits, GError **error)
{
  for (int d = 0; d < p->n_devices; d++) {
    if (ivl_placement_need(p, d) == 0)
      continue;
    ivl_gpu_memory_plan plan = device_plan(p, c, d);
    g_autoptr(GError) local = NULL;
    if (ivl_gpu_memory_plan_check(&plan, names[d], free_bytes[d], total_bytes[d], &local))
      continue;
    g_autofree char *layers = ivl_placement_layers_text(p, d);
    g_set_error(error, IVL_ERROR, IVL_ERROR_OUT_OF_MEMORY,
                "Split over %d GPUs (layers %s on %s%s): %s%s", p->n_devices, layers, names[d],
                d == 0 ? " with the vision tower and lm_head" : "", local->message,
                auto_fits ? " --split auto fits: it places the layers by free memory." : "");
    return FALSE;
  }
  return TRUE;
}

/* Layers each device can take: its free memory less its fixed costs, in whole layers. */
static int room_for_layers(const ivl_split_costs *c, int d, guint64 free_bytes)
{
  guint64 base = IVL_GPU_MEMORY_RESERVE +
                 (d == 0 ? c->fixed_weights + c->workspace_first : c->workspace_other);
  guint64 per = c->layer_weights + c->layer_kv;
  if (free_bytes <= base || per == 0)
    return free_bytes > base ? c->n_layers : 0;
  return (int)MIN((free_bytes - base) / per, (guint64)c->n_layers);
}

static gboolean place_auto(ivl_placement *p, const ivl_split_costs *c, const guint64 *free_bytes,
                           const guint64 *total_bytes, const char *const *names, GError **error)
{
  int room[IVL_MAX_DEVICES], take[IVL_MAX_DEVICES];
  gint64 sum = 0;
  for (int d = 0; d < p->n_devices; d++)
    sum += room[d] = room_for_layers(c, d, free_bytes[d]);
  const guint64 first_base = IVL_GPU_MEMORY_RESERVE + c->fixed_weights + c->workspace_first;
  if (free_bytes[0] < first_base || sum < c->n_layers) {
    /* the whole model's plan, to say what is missing and what would shrink it */
    ivl_gpu_memory_plan all = {c->precision, 0, 0, 0, {0}, p->n_devices};
    for (int q = 0; q < IVL_N_PRECISIONS; q++)
      all.weights_in[q] = c->fixed_in[q] + (guint64)c->n_layers * c->layer_in[q];
    all.weights = c->fixed_weights + (guint64)c->n_layers * c->layer_weights;
    all.kv_cache = (guint64)c->n_layers * c->layer_kv;
    all.workspace = c->workspace_first;
    GString *s = g_string_new(NULL);
    guint64 missing;
    if (free_bytes[0] < first_base) {
      missing = first_base - free_bytes[0];
      g_string_append_printf(s,
                             "%s has %.2f GiB free (of %.2f GiB) but the vision tower, the "
                             "embeddings and lm_head with their workspace need %.2f GiB there: "
                             "%.2f GiB are missing. ",
                             names[0], gib(free_bytes[0]), gib(total_bytes[0]), gib(first_base),
                             gib(missing));
    } else {
      missing = (guint64)(c->n_layers - sum) * (c->layer_weights + c->layer_kv);
      g_string_append_printf(s,
                             "The %d GPUs hold %" G_GINT64_FORMAT " of the %d language layers "
                             "(%.2f GiB each: weights %.2f, KV cache %.2f):",
                             p->n_devices, sum, c->n_layers, gib(c->layer_weights + c->layer_kv),
                             gib(c->layer_weights), gib(c->layer_kv));
      for (int d = 0; d < p->n_devices; d++)
        g_string_append_printf(s, "%s %s takes %d with %.2f GiB free", d ? ";" : "", names[d],
                               room[d], gib(free_bytes[d]));
      g_string_append_printf(s, ". %.2f GiB are missing. ", gib(missing));
    }
    g_autofree char *try = ivl_gpu_memory_plan_suggest(&all, missing);
    g_string_append(s, try);
    g_set_error_literal(error, IVL_ERROR, IVL_ERROR_OUT_OF_MEMORY, s->str);
    g_string_free(s, TRUE);
    return FALSE;
  }
  /* In proportion to the room, rounded down, then the rest one by one in device order. */
  int given = 0;
  for (int d = 0; d < p->n_devices; d++)
    given += take[d] = (int)((gint64)c->n_layers * room[d] / sum);
  for (int d = 0; given < c->n_layers; d = (d + 1) % p->n_devices)
    if (take[d] < room[d])
      take[d]++, given++;
  int l = 0;
  for (int d = 0; d < p->n_devices; d++)
    for (int j = 0; j < take[d]; j++)
      p->device_of[l++] = d;
  tally(p, c);
  return TRUE;
}

ivl_placement *ivl_placement_new(const ivl_split_costs *costs, ivl_split_mode mode, int n_devices,
                                 const guint64 *free_bytes, const guint64 *total_bytes,
                                 const char *const *names, GError **error)
{
  if (n_devices < 1 || n_devices > IVL_MAX_DEVICES) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_INVALID_ARGUMENT,
                "a model can be split over 1 to %d GPUs, not %d", IVL_MAX_DEVICES, n_devices);
    return NULL;
  }
  g_autoptr(ivl_placement) p = placement_alloc(costs, n_devices);
  if (mode == IVL_SPLIT_AUTO) {
    if (!place_auto(p, costs, free_bytes, total_bytes, names, error))
      return NULL;
  } else {
    ivl_split_model_layers(costs->n_layers, n_devices, p->device_of);
    tally(p, costs);
    g_autoptr(ivl_placement) by_memory = placement_alloc(costs, n_devices);
    const gboolean auto_fits =
        n_devices > 1 && place_auto(by_memory, costs, free_bytes, total_bytes, names, NULL);
    if (!check_each(p, costs, free_bytes, total_bytes, names, auto_fits, error))
      return NULL;
  }
  return g_steal_pointer(&p);
}
