/* model.c — ivl_model_load / ivl_model_free: config, backend choice, weights, and the three
 * parts; and the media path InternViT -> mlp1 that sessions call. */
#include "ivl-config.h" /* IVL_HAVE_CUDA */

#include "model.h"

#include "model-info.h"
#include "model-tensors.h"

/* Tiles through InternViT at once: the batch shares one attention call (n_seq tiles) while
 * the activations stay bounded (a 6B tile needs ~90 MB of f32 activations). */
#define VISION_BATCH 8
#define DEFAULT_CONTEXT 8192

ivl_model_params ivl_model_default_params(void)
{
  return (ivl_model_params){
      .backend = IVL_BACKEND_AUTO,
      .n_threads = 0,
      .context_length = 0,
      .precision = IVL_PRECISION_BF16,
  };
}

static int context_length(const ivl_model_params *params)
{
  return params->context_length > 0 ? params->context_length : DEFAULT_CONTEXT;
}

#if IVL_HAVE_CUDA
/* The GPU, once the weights, the KV cache and the workspace are known to fit in its free
 * memory: a model that cannot fit fails here, with what is missing and what to try, rather
 * than at some allocation halfway through loading. */
static ivl_backend *open_one_gpu(const ivl_config *config, const ivl_model_params *params,
                                 int device, GError **error)
{
  const int n_ctx = context_length(params);
  ivl_memory_estimate need = ivl_model_estimate_memory(config, params->precision, TRUE, n_ctx);
  ivl_gpu_memory_plan plan = {params->precision, need.weights, need.kv_cache,
                              need.workspace,    {0},          1};
  for (int p = 0; p < IVL_N_PRECISIONS; p++)
    plan.weights_in[p] = ivl_model_estimate_memory(config, p, TRUE, n_ctx).weights;
  if (!ivl_backend_cuda_check_memory(device, &plan, error))
    return NULL;
  return ivl_backend_cuda_new(device, error);
}

/* The model over several GPUs (gpu-placement.h), planned before anything is allocated. A
 * device named twice runs two backends on it (each with half its free memory): the copy
 * path on a machine with one GPU. Devices the placement leaves without layers are not
 * opened. */
static gboolean open_gpus(ivl_model *m, const ivl_model_params *params, const int *devices, int n,
                          GError **error)
{
  guint64 free_b[IVL_MAX_GPUS], total_b[IVL_MAX_GPUS];
  char *names[IVL_MAX_GPUS] = {NULL};
  gboolean ok = TRUE;
  for (int d = 0; d < n && ok; d++) {
    ok = ivl_backend_cuda_device_memory(devices[d], &names[d], &free_b[d], &total_b[d], error);
    int shares = 0;
    for (int e = 0; e < n; e++)
      shares += devices[e] == devices[d];
    free_b[d] /= (guint64)MAX(shares, 1);
  }
  const ivl_split_costs costs =
      ivl_model_split_costs(m->config, params->precision, context_length(params));
  ivl_placement *plan = ok ? ivl_placement_new(&costs, params->split, n, free_b, total_b,
                                               (const char *const *)names, error)
                           : NULL;
  for (int d = 0; d < n; d++)
    g_free(names[d]);
  if (!plan)
    return FALSE;
  int stage_of[IVL_MAX_GPUS];
  m->split.n_backends = 0;
  for (int d = 0; d < n && ok; d++) {
    stage_of[d] = -1;
    if (d > 0 && plan->n_layers_on[d] == 0)
      continue;
    ivl_backend *be = ivl_backend_cuda_new(devices[d], error);
    if (!be) {
      ok = FALSE;
      break;
    }
    stage_of[d] = m->split.n_backends;
    m->split.backends[m->split.n_backends++] = be;
  }
  if (m->split.n_backends > 0)
    m->backend = m->split.backends[0];
  m->layer_backend = g_new0(int, MAX(plan->n_layers, 1));
  for (int l = 0; ok && l < plan->n_layers; l++)
    m->layer_backend[l] = stage_of[plan->device_of[l]];
  m->split.backend_of_layer = m->layer_backend;
  ivl_placement_free(plan);
  return ok;
}

/* The GPUs params ask for; without a choice GPU 0 alone when the model fits there, else
 * every GPU of the machine (the quick start's default). */
static gboolean open_cuda(ivl_model *m, const ivl_model_params *params, GError **error)
{
  if (params->n_gpus < 0 || params->n_gpus > IVL_MAX_GPUS) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_INVALID_ARGUMENT, "%d GPUs asked for (1 to %d)",
                params->n_gpus, IVL_MAX_GPUS);
    return FALSE;
  }
  if (params->n_gpus > 1)
    return open_gpus(m, params, params->gpus, params->n_gpus, error);
  const int first = params->n_gpus == 1 ? params->gpus[0] : 0;
  g_autoptr(GError) one_error = NULL;
  if ((m->backend = open_one_gpu(m->config, params, first, &one_error)))
    return TRUE;
  const int count = params->n_gpus == 0 ? ivl_backend_cuda_device_count(NULL) : 0;
  if (count < 2 || !g_error_matches(one_error, IVL_ERROR, IVL_ERROR_OUT_OF_MEMORY)) {
    g_propagate_error(error, g_steal_pointer(&one_error));
    return FALSE;
  }
  int all[IVL_MAX_GPUS];
  for (int d = 0; d < MIN(count, IVL_MAX_GPUS); d++)
    all[d] = d;
  return open_gpus(m, params, all, MIN(count, IVL_MAX_GPUS), error);
}
#endif

static void free_backends(ivl_model *m)
{
  if (m->split.n_backends > 0) {
    for (int i = 0; i < m->split.n_backends; i++)
      m->split.backends[i]->ops->free(m->split.backends[i]);
  } else if (m->backend) {
    m->backend->ops->free(m->backend);
  }
  m->split.n_backends = 0;
  m->backend = NULL;
  g_clear_pointer(&m->layer_backend, g_free);
}

/* Sets m->backend (and m->split when the model spans several GPUs). */
static gboolean open_backend(ivl_model *m, const ivl_model_params *params, GError **error)
{
  switch (params->backend) {
  case IVL_BACKEND_CPU:
    return (m->backend = ivl_backend_cpu_new(params->n_threads, error)) != NULL;
  case IVL_BACKEND_CUDA:
#if IVL_HAVE_CUDA
    return open_cuda(m, params, error);
#else
    /* the error any GPU request gets from a build without CUDA */
    ivl_gpu_get_memory(0, NULL, &(guint64){0}, &(guint64){0}, error);
    return FALSE;
#endif
  case IVL_BACKEND_AUTO:
  default: {
#if IVL_HAVE_CUDA
    g_autoptr(GError) cuda_error = NULL;
    if (open_cuda(m, params, &cuda_error))
      return TRUE;
    free_backends(m);
    g_message("CUDA backend unavailable (%s); using the CPU", cuda_error->message);
#endif
    return (m->backend = ivl_backend_cpu_new(params->n_threads, error)) != NULL;
  }
  }
}

static void progress(const ivl_model_params *p, double fraction, const char *what)
{
  if (p->progress)
    p->progress(fraction, what, p->progress_data);
}

/* The template, and the tokenizer: the chat needs <IMG_CONTEXT> and <|im_end|>, and no id may fall
 * outside the embedding. */
static gboolean load_tokenizer(ivl_model *m, GError **error)
{
  if (!(m->template = ivl_template_for_model(m->dir, m->config->template_name, error)) ||
      !(m->tokenizer = ivl_tokenizer_load(m->dir, error)))
    return FALSE;
  if (ivl_tokenizer_get_img_context_id(m->tokenizer) < 0 ||
      ivl_tokenizer_get_im_end_id(m->tokenizer) < 0) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_UNSUPPORTED,
                "the tokenizer has no <IMG_CONTEXT> or <|im_end|> token");
    return FALSE;
  }
  if (ivl_tokenizer_get_vocab_size(m->tokenizer) > m->config->llm.vocab_size) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_CORRUPT,
                "the tokenizer has %d ids but the language model only %d embeddings",
                ivl_tokenizer_get_vocab_size(m->tokenizer), m->config->llm.vocab_size);
    return FALSE;
  }
  return TRUE;
}

static gboolean load_parts(ivl_model *m, const ivl_model_params *params, GCancellable *cancellable,
                           GError **error)
{
  int n_ctx = context_length(params);

  progress(params, 0.1, "mapping weights");
  if (!(m->loader = ivl_loader_new(m->backend, m->dir, m->config, params->precision, error)) ||
      !ivl_safetensors_check(ivl_loader_get_safetensors(m->loader), m->config, error))
    return FALSE;
  if (ivl_cancelled(cancellable, error))
    return FALSE;
  progress(params, 0.3, "vision encoder");
  if (!(m->vision = ivl_vision_new(m->backend, &m->config->vision, m->config->select_layer,
                                   m->loader, error)) ||
      !(m->projector = ivl_projector_new(m->backend, m->config, m->loader, error)))
    return FALSE;
  if (ivl_cancelled(cancellable, error))
    return FALSE;
  progress(params, 0.5, "language model");
  if (!(m->language = ivl_language_new(m->backend, &m->config->llm, m->loader, n_ctx,
                                       m->split.n_backends > 1 ? &m->split : NULL, error)))
    return FALSE;
  return ivl_backend_take_error(m->backend, error);
}

ivl_model *ivl_model_load(const char *dir, const ivl_model_params *params,
                          GCancellable *cancellable, GError **error)
{
  ivl_model_params defaults = ivl_model_default_params();
  if (!params)
    params = &defaults;
  g_return_val_if_fail(dir != NULL, NULL);

  ivl_model *m = g_new0(ivl_model, 1);
  m->dir = g_strdup(dir);
  m->precision = params->precision;
  progress(params, 0.0, "reading config.json");
  if (!(m->config = ivl_config_load(dir, error)) || !load_tokenizer(m, error) ||
      !open_backend(m, params, error) || !load_parts(m, params, cancellable, error)) {
    ivl_model_free(m);
    return NULL;
  }
  progress(params, 1.0, "ready");
  return m;
}

void ivl_model_free(ivl_model *m)
{
  if (!m)
    return;
  if (m->ahead) /* before the backend its rows live on */
    g_hash_table_unref(m->ahead);
  ivl_language_free(m->language);
  ivl_projector_free(m->projector);
  ivl_vision_free(m->vision);
  ivl_loader_free(m->loader);
  free_backends(m);
  ivl_tokenizer_free(m->tokenizer);
  ivl_config_free(m->config);
  g_free(m->dir);
  g_free(m);
}

const char *ivl_model_get_backend_name(const ivl_model *model)
{
  return model->backend->ops->name;
}

int ivl_model_get_n_gpus(const ivl_model *model)
{
  if (g_str_equal(model->backend->ops->name, "cpu"))
    return 0;
  return MAX(model->split.n_backends, 1);
}

ivl_precision ivl_model_get_precision(const ivl_model *model)
{
  return model->precision;
}

int ivl_model_get_tile_tokens(const ivl_model *model)
{
  return model->config->num_image_token;
}

int ivl_model_get_context_length(const ivl_model *model)
{
  return ivl_language_get_n_ctx(model->language);
}

ivl_tensor *ivl_model_encode_tiles(ivl_model *m, const float *pixels, int n_tiles,
                                   GCancellable *cancellable, GError **error)
{
  ivl_backend *be = m->backend;
  int s = m->config->vision.image_size, per_tile = m->config->num_image_token;
  size_t tile_floats = (size_t)m->config->vision.num_channels * s * s;
  ivl_tensor *out = be->ops->tensor_new(be, be->act_dtype, (int64_t)n_tiles * per_tile,
                                        m->config->llm.hidden_size, error);
  if (!out)
    return NULL;
  for (int t0 = 0; t0 < n_tiles; t0 += VISION_BATCH) {
    int n = MIN(VISION_BATCH, n_tiles - t0);
    ivl_tensor *vit = NULL;
    gboolean ok = !ivl_cancelled(cancellable, error) &&
                  (vit = ivl_vision_encode(m->vision, pixels + t0 * tile_floats, n, error)) &&
                  ivl_projector_forward(m->projector, vit, n, out, (int64_t)t0 * per_tile, error);
    if (vit)
      be->ops->tensor_free(be, vit);
    if (!ok) {
      be->ops->tensor_free(be, out);
      return NULL;
    }
  }
  return out;
}
