/* model-info.c — size names, parameter counts and memory estimates. */
#include "model-info.h"

#include <glib/gstdio.h>
#include <sys/stat.h>

#include "model-tensors.h"
#include "quantize.h" /* IVL_Q4_GROUP */

/* spec/INTERNVL3.md section 1b. The 2B intermediate size and the 8B..78B rows other than
 * 14B are Qwen2.5 base dimensions (UNCONFIRMED against the InternVL3 files), so matching
 * uses hidden size, layers and heads only, not the intermediate size. */
static const ivl_model_size sizes[] = {
    {"InternVL3-1B", FALSE, IVL_LLM_QWEN2, 896, 24, 14, 2, 4864},
    {"InternVL3-2B", FALSE, IVL_LLM_QWEN2, 1536, 28, 12, 2, 8960},
    {"InternVL3-8B", FALSE, IVL_LLM_QWEN2, 3584, 28, 28, 4, 18944},
    {"InternVL3-9B", FALSE, IVL_LLM_INTERNLM2, 4096, 48, 32, 2, 10240},
    {"InternVL3-14B", FALSE, IVL_LLM_QWEN2, 5120, 48, 40, 8, 13824},
    {"InternVL3-38B", TRUE, IVL_LLM_QWEN2, 5120, 64, 40, 8, 27648},
    {"InternVL3-78B", TRUE, IVL_LLM_QWEN2, 8192, 80, 64, 8, 29568},
};

const ivl_model_size *ivl_model_sizes(guint *n_sizes)
{
  *n_sizes = G_N_ELEMENTS(sizes);
  return sizes;
}

const char *ivl_model_size_name(const ivl_config *c)
{
  /* InternViT-300M: 1024 hidden, 24 layers; InternViT-6B: 3200, 45 (spec 1a). */
  gboolean v300m = c->vision.hidden_size == 1024 && c->vision.num_layers == 24;
  gboolean v6b = c->vision.hidden_size == 3200 && c->vision.num_layers == 45;
  for (gsize i = 0; i < G_N_ELEMENTS(sizes); i++) {
    const ivl_model_size *s = &sizes[i];
    if ((s->vision_6b ? v6b : v300m) && c->llm.arch == s->llm_arch &&
        c->llm.hidden_size == s->llm_hidden && c->llm.num_layers == s->llm_layers &&
        c->llm.num_heads == s->llm_heads && c->llm.num_kv_heads == s->llm_kv_heads)
      return s->name;
  }
  return "custom";
}

ivl_param_counts ivl_model_count_params(const ivl_config *config)
{
  ivl_param_counts n = {0};
  g_autoptr(GPtrArray) specs = ivl_model_tensor_specs(config);
  for (guint i = 0; i < specs->len; i++) {
    const ivl_tensor_spec *s = g_ptr_array_index(specs, i);
    guint64 k = (guint64)ivl_tensor_spec_n_elements(s);
    if (s->part == IVL_PART_VISION)
      n.vision += k;
    else if (s->part == IVL_PART_PROJECTOR)
      n.projector += k;
    else
      n.llm += k;
    if (s->is_linear)
      n.linear += k;
  }
  n.total = n.vision + n.projector + n.llm;
  return n;
}

const char *ivl_precision_name(ivl_precision precision)
{
  switch (precision) {
  case IVL_PRECISION_BF16:
    return "bf16";
  case IVL_PRECISION_INT8:
    return "int8";
  case IVL_PRECISION_Q4:
    return "4bit";
  }
  return "?";
}

gboolean ivl_precision_from_name(const char *name, ivl_precision *precision)
{
  for (int p = 0; p < IVL_N_PRECISIONS && name; p++)
    if (g_ascii_strcasecmp(name, ivl_precision_name(p)) == 0) {
      *precision = p;
      return TRUE;
    }
  return FALSE;
}

/* Weights: every Linear weight matrix in the chosen precision, everything else (embeddings,
 * norms, biases, the patch conv) in bf16 — what the loader does (quantize.h):
 *   bf16: 2 bytes per parameter;
 *   int8: 1 byte per weight + one f32 scale per output row (4 bytes × rows);
 *   4bit: 0.5 byte per weight + one f16 scale per group of 32 weights (0.5625 bytes each);
 *         a matrix whose rows are not whole groups stays bf16. */
static guint64 weight_bytes_of(const ivl_config *config, ivl_precision precision,
                               const char *prefix)
{
  g_autoptr(GPtrArray) specs = ivl_model_tensor_specs(config);
  guint64 bytes = 0;
  for (guint i = 0; i < specs->len; i++) {
    const ivl_tensor_spec *s = g_ptr_array_index(specs, i);
    if (prefix && !g_str_has_prefix(s->name, prefix))
      continue;
    guint64 k = (guint64)ivl_tensor_spec_n_elements(s);
    if (!s->is_linear || precision == IVL_PRECISION_BF16 ||
        (precision == IVL_PRECISION_Q4 && s->shape[1] % IVL_Q4_GROUP != 0))
      bytes += 2 * k;
    else if (precision == IVL_PRECISION_INT8)
      bytes += k + 4 * (guint64)s->shape[0];
    else
      bytes += k / 2 + (k + 31) / 32 * 2;
  }
  return bytes;
}

static guint64 weight_bytes(const ivl_config *config, ivl_precision precision)
{
  return weight_bytes_of(config, precision, NULL);
}

/* Workspace, the larger of the two passes (they run one after the other), all f32:
 *   vision, one image of 13 tiles (12 + thumbnail) of T = 1025 tokens at once:
 *     13 × T × (6·Dv + Fv) × 4   (x, norm, q, k, v, attention out; MLP hidden)
 *     + heads_v × T² × 4          (one tile's attention scores)
 *   LLM prefill in chunks of P = min(512, context) tokens against a context of C:
 *     P × (4·Dl + 2·I + (H + 2·KV)·hd) × 4 + H × P × C × 4 (scores) + V × 4 (logits)
 *     + min(4096, C) × Dl × 4 (the residual stream of a pass of chunks, language.c). */
static guint64 llm_workspace_bytes(const ivl_config *c, guint64 context)
{
  const ivl_llm_config *l = &c->llm;
  guint64 p = MIN(512, context);
  guint64 per_token = 4 * (guint64)l->hidden_size + 2 * (guint64)l->intermediate_size +
                      (guint64)(l->num_heads + 2 * l->num_kv_heads) * (guint64)l->head_dim;
  return p * per_token * 4 + (guint64)l->num_heads * p * context * 4 + (guint64)l->vocab_size * 4 +
         MIN(4096, context) * (guint64)l->hidden_size * 4;
}

static guint64 workspace_bytes(const ivl_config *c, guint64 context)
{
  const ivl_vision_config *v = &c->vision;
  guint64 t = (guint64)v->num_positions;
  guint64 vision = 13 * t * (6 * (guint64)v->hidden_size + (guint64)v->intermediate_size) * 4 +
                   (guint64)v->num_heads * t * t * 4;
  return MAX(vision, llm_workspace_bytes(c, context));
}

/* Elements of the largest Linear weight matrix that multiplies many rows at once (all but
 * lm_head, which only ever sees the last position), and of language layer 0's. */
static guint64 largest_linear(const ivl_config *config, guint64 *layer0)
{
  g_autoptr(GPtrArray) specs = ivl_model_tensor_specs(config);
  guint64 most = 0;
  *layer0 = 0;
  for (guint i = 0; i < specs->len; i++) {
    const ivl_tensor_spec *s = g_ptr_array_index(specs, i);
    if (s->is_linear && !g_str_equal(s->name, "language_model.lm_head.weight") &&
        !g_str_equal(s->name, "language_model.output.weight"))
      most = MAX(most, (guint64)ivl_tensor_spec_n_elements(s));
    if (s->is_linear && g_str_has_prefix(s->name, "language_model.model.layers.0."))
      *layer0 += (guint64)ivl_tensor_spec_n_elements(s);
  }
  return most;
}

/* Total = weights + KV cache + workspace + overhead, where
 *   KV cache = 2 (K, V) × layers × KV × hd × context × element size,
 *              bf16 on a GPU (2 bytes), f32 on the CPU (4 bytes);
 *   overhead = 512 MiB on a GPU for the CUDA context and cuBLAS workspace, 0 on the CPU;
 *   workspace on a GPU with quantized weights + 2 bytes × (a language layer's Linear
 *   matrices + the largest Linear matrix but lm_head): the bf16 expansions a prompt keeps
 *   for its chunks, and one for vision.
 * On the CPU the bf16 weights are the mapped files (page cache, not private memory), still
 * counted since they must fit in RAM to run at speed, or where its AVX-512 kernels run private
 * compact copies of about 0.78 of their bytes (cpu-compact-bf16.h): 2 bytes per parameter
 * either way, an upper bound. Quantized ones are private copies. */
ivl_memory_estimate ivl_model_estimate_memory(const ivl_config *config, ivl_precision precision,
                                              gboolean gpu, int context_length)
{
  guint64 context = context_length > 0 ? (guint64)context_length : IVL_DEFAULT_CONTEXT_LENGTH;
  const ivl_llm_config *l = &config->llm;
  ivl_memory_estimate m;
  m.weights = weight_bytes(config, precision);
  m.kv_cache = 2 * (guint64)l->num_layers * (guint64)l->num_kv_heads * (guint64)l->head_dim *
               context * (gpu ? 2 : 4);
  m.workspace = workspace_bytes(config, context);
  /* a quantized matrix is expanded to bf16 for products of more than a few rows on a GPU;
   * the last 7 expansions are kept, a language layer's while a prompt runs */
  if (gpu && precision != IVL_PRECISION_BF16) {
    guint64 layer0 = 0;
    const guint64 most = largest_linear(config, &layer0);
    m.workspace += 2 * (layer0 + most);
  }
  m.overhead = gpu ? G_GUINT64_CONSTANT(512) << 20 : 0;
  m.total = m.weights + m.kv_cache + m.workspace + m.overhead;
  return m;
}

#define LAYERS_PREFIX "language_model.model.layers."

/* ivl_model_estimate_memory's terms by part: the layers are alike, so one layer's weights
 * are all layers' over their count; the first device runs the vision pass too. */
ivl_split_costs ivl_model_split_costs(const ivl_config *config, ivl_precision precision,
                                      int context_length)
{
  guint64 context = context_length > 0 ? (guint64)context_length : IVL_DEFAULT_CONTEXT_LENGTH;
  const ivl_llm_config *l = &config->llm;
  const guint64 n = (guint64)MAX(l->num_layers, 1);
  ivl_split_costs c = {.precision = precision, .n_layers = l->num_layers};
  for (int p = 0; p < IVL_N_PRECISIONS; p++) {
    guint64 layers = weight_bytes_of(config, p, LAYERS_PREFIX);
    c.layer_in[p] = layers / n;
    c.fixed_in[p] = weight_bytes(config, p) - layers;
  }
  c.layer_weights = c.layer_in[precision];
  c.fixed_weights = c.fixed_in[precision];
  c.layer_kv = 2 * (guint64)l->num_kv_heads * (guint64)l->head_dim * context * 2;
  /* each device expands its own layers' weights (ivl_model_estimate_memory) */
  guint64 layer0 = 0;
  const guint64 most = largest_linear(config, &layer0);
  guint64 dequant = precision != IVL_PRECISION_BF16 ? 2 * (layer0 + most) : 0;
  c.workspace_first = workspace_bytes(config, context) + dequant;
  c.workspace_other = llm_workspace_bytes(config, context) + dequant;
  return c;
}

guint64 ivl_model_dir_disk_bytes(const char *dir)
{
  g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
  guint64 total = 0;
  for (const char *name; d && (name = g_dir_read_name(d));) {
    g_autofree char *path = g_build_filename(dir, name, NULL);
    GStatBuf sb;
    /* A Hugging Face snapshot's files are links into its blobs: their targets count. A
     * linked folder is not entered, so a link loop cannot make this walk forever. */
    if (g_lstat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
      total += ivl_model_dir_disk_bytes(path);
    else if (g_stat(path, &sb) == 0 && S_ISREG(sb.st_mode))
      total += (guint64)sb.st_size;
  }
  return total;
}
