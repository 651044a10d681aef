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
static ivl_backend *open_cuda(const ivl_config *config, const ivl_model_params *params,
                              GError **error)
{
  const int n_ctx = context_length(params);
  ivl_memory_estimate need = ivl_model_estimate_memory(config, params->precision, TRUE, n_ctx);
  ivl_gpu_memory_plan plan = {params->precision, need.weights, need.kv_cache,
                              need.workspace,    {0},          1};
  for (int p = 0; p < IVL_N_PRECISIONS; p++)
    plan.weights_in[p] = ivl_model_estimate_memory(config, p, TRUE, n_ctx).weights;
  if (!ivl_backend_cuda_check_memory(0, &plan, error))
    return NULL;
  return ivl_backend_cuda_new(0, error);
}
#endif

static ivl_backend *open_backend(const ivl_config *config, const ivl_model_params *params,
                                 GError **error)
{
  switch (params->backend) {
  case IVL_BACKEND_CPU:
    return ivl_backend_cpu_new(params->n_threads, error);
  case IVL_BACKEND_CUDA:
#if IVL_HAVE_CUDA
    return open_cuda(config, params, error);
#else
    /* the error any GPU request gets from a build without CUDA */
    ivl_gpu_get_memory(0, NULL, &(guint64){0}, &(guint64){0}, error);
    return NULL;
#endif
  case IVL_BACKEND_AUTO:
  default: {
#if IVL_HAVE_CUDA
    g_autoptr(GError) cuda_error = NULL;
    ivl_backend *be = open_cuda(config, params, &cuda_error);
    if (be)
      return be;
    g_message("CUDA backend unavailable (%s); using the CPU", cuda_error->message);
#endif
    return ivl_backend_cpu_new(params->n_threads, error);
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
  if (!(m->language = ivl_language_new(m->backend, &m->config->llm, m->loader, n_ctx, error)))
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
      !(m->backend = open_backend(m->config, params, error)) ||
      !load_parts(m, params, cancellable, error)) {
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
  if (m->backend)
    m->backend->ops->free(m->backend);
  ivl_tokenizer_free(m->tokenizer);
  ivl_config_free(m->config);
  g_free(m->dir);
  g_free(m);
}

const char *ivl_model_get_backend_name(const ivl_model *model)
{
  return model->backend->ops->name;
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
