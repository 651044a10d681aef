/* language.c — the Qwen2 decoder (spec 7c), and InternLM2's (spec 7d) as the same blocks: pre-norm
 * blocks, GQA attention with rotate-half RoPE over a KV cache, SwiGLU MLP, final RMSNorm and
 * lm_head.
 *
 * Long prompts run in chunks of CHUNK rows: with causal attention over the cache, chunked
 * prefill computes exactly what one pass would, and the activations stay small. Up to
 * PASS_CHUNKS chunks make a pass: each layer runs over every chunk of the pass before the
 * next layer starts (only the residual stream spans the pass), so a quantized weight the
 * GPU expands to bf16 for the first chunk serves the others (backend-cuda-ops.c keeps a
 * layer's expansions) instead of being expanded again per chunk.
 */
#include "language.h"

#include <math.h>

#include "ivl.h"
#include "tensor-view.h"

#define CHUNK 256
#define PASS_CHUNKS 16

typedef struct {
  ivl_tensor *attn_norm;     /* [1, D] input_layernorm */
  ivl_tensor *wq, *wk, *wv;  /* [H*hd, D], [KV*hd, D], [KV*hd, D] */
  ivl_tensor *bq, *bk, *bv;  /* [1, H*hd], [1, KV*hd], [1, KV*hd] */
  ivl_tensor *wo;            /* [D, H*hd] */
  ivl_tensor *bo;            /* [1, D]: InternLM2 with bias only; NULL for Qwen2 */
  ivl_tensor *ffn_norm;      /* [1, D] post_attention_layernorm */
  ivl_tensor *w_gate, *w_up; /* [I, D] */
  ivl_tensor *w_down;        /* [D, I] */
  ivl_tensor *k_cache;       /* [n_ctx, KV*hd] act, rotated keys */
  ivl_tensor *v_cache;       /* [n_ctx, KV*hd] act */
} lm_layer;

struct ivl_language {
  ivl_backend *be;
  ivl_llm_config cfg; /* torch_dtype borrowed from the model's config */
  int n_ctx;
  int64_t n_past;
  ivl_tensor *embed;   /* [V, D] embed_tokens (borrowed) */
  ivl_tensor *norm;    /* [1, D] model.norm */
  ivl_tensor *lm_head; /* [V, D] (embed when tied) */
  lm_layer *layers;
  /* run state: one chunk of rows, the residual stream of a pass */
  int64_t pass_rows;     /* up to PASS_CHUNKS * CHUNK */
  ivl_tensor *x;         /* [pass_rows, D] residual stream */
  ivl_tensor *xn;        /* [CHUNK, D] normed */
  ivl_tensor *q, *att;   /* [CHUNK, H*hd] */
  ivl_tensor *k, *v;     /* [CHUNK, KV*hd] */
  ivl_tensor *out;       /* [CHUNK, D] o_proj / down output */
  ivl_tensor *gate, *up; /* [CHUNK, I] */
  ivl_tensor *last;      /* [1, D] final norm of the last row */
  ivl_tensor *logits;    /* [1, V] */
  /* decode graph (backends with graph_begin): recorded once, replayed per token */
  gboolean recording; /* attention then reads the whole cache, masked by position */
  gboolean graph_ready;
};

double ivl_language_rope_theta(const ivl_llm_config *cfg, int64_t seq_len)
{
  double theta = cfg->rope_theta;
  int64_t max_pos = cfg->max_position_embeddings;
  if (cfg->rope_scaling == IVL_ROPE_SCALING_DYNAMIC && max_pos > 0 && seq_len > max_pos) {
    double f = cfg->rope_scaling_factor, hd = cfg->head_dim;
    theta *= pow(f * (double)seq_len / (double)max_pos - (f - 1.0), hd / (hd - 2.0));
  }
  return theta;
}

static gboolean load_qwen2_layer(ivl_language *lm, ivl_loader *ld, int l, GError **error)
{
  const ivl_llm_config *c = &lm->cfg;
  lm_layer *w = &lm->layers[l];
  int64_t d = c->hidden_size, qd = (int64_t)c->num_heads * c->head_dim;
  int64_t kvd = (int64_t)c->num_kv_heads * c->head_dim, f = c->intermediate_size;
  const char *p = "language_model.model.layers";

#define W(dst, r, cc, ...)                                                                         \
  if (!((dst) = ivl_loader_weight(ld, r, cc, error, __VA_ARGS__)))                                 \
  return FALSE
  W(w->attn_norm, 1, d, "%s.%d.input_layernorm.weight", p, l);
  W(w->wq, qd, d, "%s.%d.self_attn.q_proj.weight", p, l);
  W(w->bq, 1, qd, "%s.%d.self_attn.q_proj.bias", p, l);
  W(w->wk, kvd, d, "%s.%d.self_attn.k_proj.weight", p, l);
  W(w->bk, 1, kvd, "%s.%d.self_attn.k_proj.bias", p, l);
  W(w->wv, kvd, d, "%s.%d.self_attn.v_proj.weight", p, l);
  W(w->bv, 1, kvd, "%s.%d.self_attn.v_proj.bias", p, l);
  W(w->wo, d, qd, "%s.%d.self_attn.o_proj.weight", p, l);
  W(w->ffn_norm, 1, d, "%s.%d.post_attention_layernorm.weight", p, l);
  W(w->w_gate, f, d, "%s.%d.mlp.gate_proj.weight", p, l);
  W(w->w_up, f, d, "%s.%d.mlp.up_proj.weight", p, l);
  W(w->w_down, d, f, "%s.%d.mlp.down_proj.weight", p, l);
#undef W
  return TRUE;
}

/* InternLM2 (spec 2d): wqkv rows are [KV][G+2][hd] with G = H/KV; in kv group j, blocks
 * 0..G-1 are query heads j*G.., block G key head j, block G+1 value head j. The blocks are
 * gathered into plain q, k, v matrices once, so the forward pass is Qwen2's. */
static gboolean load_internlm2_layer(ivl_language *lm, ivl_loader *ld, int l, GError **error)
{
  const ivl_llm_config *c = &lm->cfg;
  lm_layer *w = &lm->layers[l];
  int64_t d = c->hidden_size, hd = c->head_dim, f = c->intermediate_size;
  int kv = c->num_kv_heads, g = c->num_heads / kv;
  int64_t total = (int64_t)(c->num_heads + 2 * kv) * hd;
  const char *p = "language_model.model.layers";
  g_autofree int64_t *qb = g_new(int64_t, c->num_heads);
  g_autofree int64_t *kb = g_new(int64_t, kv);
  g_autofree int64_t *vb = g_new(int64_t, kv);
  for (int j = 0; j < kv; j++) {
    for (int h = 0; h < g; h++)
      qb[j * g + h] = (int64_t)j * (g + 2) + h;
    kb[j] = (int64_t)j * (g + 2) + g;
    vb[j] = (int64_t)j * (g + 2) + g + 1;
  }

#define W(dst, r, cc, ...)                                                                         \
  if (!((dst) = ivl_loader_weight(ld, r, cc, error, __VA_ARGS__)))                                 \
  return FALSE
#define GATHER(dst, cc, blocks, n, what)                                                           \
  if (!((dst) = ivl_loader_weight_gather(ld, total, cc, hd, blocks, n, error,                      \
                                         "%s.%d.attention.wqkv.%s", p, l, what)))                  \
  return FALSE
  W(w->attn_norm, 1, d, "%s.%d.attention_norm.weight", p, l);
  GATHER(w->wq, d, qb, c->num_heads, "weight");
  GATHER(w->wk, d, kb, kv, "weight");
  GATHER(w->wv, d, vb, kv, "weight");
  if (c->bias) {
    GATHER(w->bq, 1, qb, c->num_heads, "bias");
    GATHER(w->bk, 1, kb, kv, "bias");
    GATHER(w->bv, 1, vb, kv, "bias");
    W(w->bo, 1, d, "%s.%d.attention.wo.bias", p, l);
  }
  W(w->wo, d, (int64_t)c->num_heads * hd, "%s.%d.attention.wo.weight", p, l);
  W(w->ffn_norm, 1, d, "%s.%d.ffn_norm.weight", p, l);
  W(w->w_gate, f, d, "%s.%d.feed_forward.w1.weight", p, l);
  W(w->w_up, f, d, "%s.%d.feed_forward.w3.weight", p, l);
  W(w->w_down, d, f, "%s.%d.feed_forward.w2.weight", p, l);
#undef W
#undef GATHER
  return TRUE;
}

static gboolean load_layer(ivl_language *lm, ivl_loader *ld, int l, GError **error)
{
  ivl_backend *be = lm->be;
  lm_layer *w = &lm->layers[l];
  int64_t kvd = (int64_t)lm->cfg.num_kv_heads * lm->cfg.head_dim;
  gboolean ok = lm->cfg.arch == IVL_LLM_QWEN2 ? load_qwen2_layer(lm, ld, l, error)
                                              : load_internlm2_layer(lm, ld, l, error);
  return ok && (w->k_cache = be->ops->tensor_new(be, be->act_dtype, lm->n_ctx, kvd, error)) &&
         (w->v_cache = be->ops->tensor_new(be, be->act_dtype, lm->n_ctx, kvd, error));
}

static gboolean alloc_state(ivl_language *lm, GError **error)
{
  ivl_backend *be = lm->be;
  const ivl_llm_config *c = &lm->cfg;
  ivl_dtype a = be->act_dtype;
  int64_t d = c->hidden_size, qd = (int64_t)c->num_heads * c->head_dim;
  int64_t kvd = (int64_t)c->num_kv_heads * c->head_dim;
  lm->pass_rows = MIN((int64_t)PASS_CHUNKS * CHUNK, MAX((int64_t)lm->n_ctx, CHUNK));
  return (lm->x = be->ops->tensor_new(be, a, lm->pass_rows, d, error)) &&
         (lm->xn = be->ops->tensor_new(be, a, CHUNK, d, error)) &&
         (lm->q = be->ops->tensor_new(be, a, CHUNK, qd, error)) &&
         (lm->att = be->ops->tensor_new(be, a, CHUNK, qd, error)) &&
         (lm->k = be->ops->tensor_new(be, a, CHUNK, kvd, error)) &&
         (lm->v = be->ops->tensor_new(be, a, CHUNK, kvd, error)) &&
         (lm->out = be->ops->tensor_new(be, a, CHUNK, d, error)) &&
         (lm->gate = be->ops->tensor_new(be, a, CHUNK, c->intermediate_size, error)) &&
         (lm->up = be->ops->tensor_new(be, a, CHUNK, c->intermediate_size, error)) &&
         (lm->last = be->ops->tensor_new(be, a, 1, d, error)) &&
         /* f32 whatever the activations: bf16 logits would round near-ties together and
          * let greedy decoding pick another token than the CPU reference. */
         (lm->logits = be->ops->tensor_new(be, IVL_DTYPE_F32, 1, c->vocab_size, error));
}

static gboolean check_supported(const ivl_llm_config *c, GError **error)
{
  if (c->rope_scaling == IVL_ROPE_SCALING_LINEAR) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_UNSUPPORTED,
                "linear rope_scaling is not supported (InternVL3 uses dynamic)");
    return FALSE;
  }
  if (c->num_kv_heads <= 0 || c->num_heads % c->num_kv_heads != 0 || c->head_dim % 2) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_UNSUPPORTED,
                "%d attention heads over %d kv heads of dim %d cannot be grouped", c->num_heads,
                c->num_kv_heads, c->head_dim);
    return FALSE;
  }
  return TRUE;
}

ivl_language *ivl_language_new(ivl_backend *be, const ivl_llm_config *cfg, ivl_loader *ld,
                               int n_ctx, GError **error)
{
  if (!check_supported(cfg, error))
    return NULL;
  ivl_language *lm = g_new0(ivl_language, 1);
  lm->be = be;
  lm->cfg = *cfg;
  lm->n_ctx = n_ctx;
  lm->layers = g_new0(lm_layer, cfg->num_layers);
  int64_t d = cfg->hidden_size, v = cfg->vocab_size;
  gboolean qwen = cfg->arch == IVL_LLM_QWEN2;
  const char *embed = qwen ? "language_model.model.embed_tokens.weight"
                           : "language_model.model.tok_embeddings.weight";
  const char *head = qwen ? "language_model.lm_head.weight" : "language_model.output.weight";
  gboolean ok = (lm->embed = ivl_loader_weight(ld, v, d, error, "%s", embed)) &&
                (lm->norm = ivl_loader_weight(ld, 1, d, error, "language_model.model.norm.weight"));
  if (ok && cfg->tie_word_embeddings && !ivl_loader_has(ld, head))
    lm->lm_head = lm->embed;
  else if (ok)
    ok = (lm->lm_head = ivl_loader_weight(ld, v, d, error, "%s", head)) != NULL;
  for (int l = 0; ok && l < cfg->num_layers; l++)
    ok = load_layer(lm, ld, l, error);
  if (!ok || !alloc_state(lm, error)) {
    ivl_language_free(lm);
    return NULL;
  }
  return lm;
}

void ivl_language_free(ivl_language *lm)
{
  if (!lm)
    return;
  ivl_backend *be = lm->be;
  ivl_tensor *state[] = {lm->x,   lm->xn,   lm->q,  lm->att,  lm->k,     lm->v,
                         lm->out, lm->gate, lm->up, lm->last, lm->logits};
  for (size_t i = 0; i < G_N_ELEMENTS(state); i++)
    if (state[i])
      be->ops->tensor_free(be, state[i]);
  for (int l = 0; l < lm->cfg.num_layers; l++) {
    if (lm->layers[l].k_cache)
      be->ops->tensor_free(be, lm->layers[l].k_cache);
    if (lm->layers[l].v_cache)
      be->ops->tensor_free(be, lm->layers[l].v_cache);
  }
  g_free(lm->layers);
  g_free(lm);
}

int ivl_language_get_n_ctx(const ivl_language *lm)
{
  return lm->n_ctx;
}

int64_t ivl_language_get_n_past(const ivl_language *lm)
{
  return lm->n_past;
}

/* x = x + o_proj(attn(rope(q), rope(k), v)); x = x + down(silu(gate(xn)) * up(xn)) for rows
 * x_row0 .. x_row0 + n - 1 of the residual stream, at positions pos0 .. pos0 + n - 1 (views
 * of the chunk buffers with n rows).
 *
 * With the backend's fused add_rms_norm, a residual add can wait in `out` for the next norm:
 * add_pending says the previous layer left its MLP output there (for these rows), and
 * leave_pending that this one may too (the caller runs the next layer, or final_logits with
 * add_pending, on the same rows next). */
static void layer_forward(ivl_language *lm, lm_layer *w, int64_t x_row0, int64_t n, int64_t pos0,
                          double theta, gboolean add_pending, gboolean leave_pending)
{
  ivl_backend *be = lm->be;
  const ivl_backend_ops *o = be->ops;
  const ivl_llm_config *c = &lm->cfg;
  ivl_tensor x = ivl_tensor_view_rows(lm->x, x_row0, n), xn = ivl_tensor_view_rows(lm->xn, 0, n);
  ivl_tensor q = ivl_tensor_view_rows(lm->q, 0, n), att = ivl_tensor_view_rows(lm->att, 0, n);
  ivl_tensor k = ivl_tensor_view_rows(lm->k, 0, n), v = ivl_tensor_view_rows(lm->v, 0, n);
  ivl_tensor out = ivl_tensor_view_rows(lm->out, 0, n);
  ivl_tensor gate = ivl_tensor_view_rows(lm->gate, 0, n);
  ivl_tensor up = ivl_tensor_view_rows(lm->up, 0, n);
  float eps = (float)c->rms_norm_eps;

  if (add_pending)
    o->add_rms_norm(be, &xn, &x, &out, w->attn_norm, eps);
  else
    o->rms_norm(be, &xn, &x, w->attn_norm, eps);
  if (o->matmul_qkv) {
    o->matmul_qkv(be, &q, &k, &v, &xn, w->wq, w->wk, w->wv, w->bq, w->bk, w->bv);
  } else {
    o->matmul(be, &q, &xn, w->wq, w->bq);
    o->matmul(be, &k, &xn, w->wk, w->bk);
    o->matmul(be, &v, &xn, w->wv, w->bv);
  }
  if (o->rope_store_kv) {
    o->rope_store_kv(be, &q, &k, &v, w->k_cache, w->v_cache, c->num_heads, c->num_kv_heads,
                     c->head_dim, pos0, theta);
  } else {
    o->rope(be, &q, c->num_heads, c->head_dim, pos0, theta);
    o->rope(be, &k, c->num_kv_heads, c->head_dim, pos0, theta);
    o->copy_rows(be, w->k_cache, pos0, &k, 0, n);
    o->copy_rows(be, w->v_cache, pos0, &v, 0, n);
  }
  const int64_t kv_rows = lm->recording ? lm->n_ctx : pos0 + n;
  ivl_tensor kc = ivl_tensor_view_rows(w->k_cache, 0, kv_rows);
  ivl_tensor vc = ivl_tensor_view_rows(w->v_cache, 0, kv_rows);
  o->attention(be, &att, &q, &kc, &vc, 1, c->num_heads, c->num_kv_heads, c->head_dim, TRUE, pos0,
               1.0f / sqrtf((float)c->head_dim));
  o->matmul(be, &out, &att, w->wo, w->bo);
  if (o->add_rms_norm) {
    o->add_rms_norm(be, &xn, &x, &out, w->ffn_norm, eps);
  } else {
    o->add(be, &x, &x, &out);
    o->rms_norm(be, &xn, &x, w->ffn_norm, eps);
  }
  if (o->matmul_silu_mul) {
    o->matmul_silu_mul(be, &gate, &up, &xn, w->w_gate, w->w_up);
  } else {
    o->matmul(be, &gate, &xn, w->w_gate, NULL);
    o->matmul(be, &up, &xn, w->w_up, NULL);
    o->silu_mul(be, &gate, &up);
  }
  o->matmul(be, &out, &gate, w->w_down, NULL);
  if (!leave_pending || !o->add_rms_norm)
    o->add(be, &x, &x, &out);
}

/* Whether layer_forward may leave the MLP's residual add for the next norm. */
static gboolean can_fold(const ivl_language *lm)
{
  return lm->be->ops->add_rms_norm != NULL;
}

/* Token embeddings for ids[0..n) into residual rows x_row0.., with runs of image_token
 * replaced by the next image rows. */
static void embed_chunk(ivl_language *lm, int64_t x_row0, const int32_t *ids, int64_t n,
                        int32_t image_token, const ivl_tensor *image_embeds, int64_t *image_row)
{
  ivl_backend *be = lm->be;
  ivl_tensor x = ivl_tensor_view_rows(lm->x, x_row0, n);
  be->ops->get_rows(be, &x, lm->embed, ids, n);
  if (!image_embeds)
    return;
  for (int64_t i = 0; i < n;) {
    if (ids[i] != image_token) {
      i++;
      continue;
    }
    int64_t run = 1;
    while (i + run < n && ids[i + run] == image_token)
      run++;
    be->ops->copy_rows(be, lm->x, x_row0 + i, image_embeds, *image_row, run);
    *image_row += run;
    i += run;
  }
}

/* logits = lm_head(norm(x[row])), after x[row] += out[row] when the last layer left its add
 * pending. */
static void final_logits(ivl_language *lm, int64_t row, gboolean add_pending)
{
  ivl_backend *be = lm->be;
  ivl_tensor last = ivl_tensor_view_rows(lm->x, row, 1);
  ivl_tensor out = ivl_tensor_view_rows(lm->out, row, 1);
  if (add_pending)
    be->ops->add_rms_norm(be, lm->last, &last, &out, lm->norm, (float)lm->cfg.rms_norm_eps);
  else
    be->ops->rms_norm(be, lm->last, &last, lm->norm, (float)lm->cfg.rms_norm_eps);
  be->ops->matmul(be, lm->logits, lm->last, lm->lm_head, NULL);
}

static gboolean graphs_enabled(const ivl_language *lm)
{
  return lm->be->ops->graph_begin != NULL && g_strcmp0(g_getenv("IVL_CUDA_GRAPHS"), "0") != 0;
}

/* One decode token through a recorded graph, which removes the per-kernel launch gaps: the
 * first call records the step, every call replays it at its position and RoPE theta (which
 * dynamic NTK changes past max_position_embeddings). Set IVL_CUDA_GRAPHS=0 to run the ops
 * directly instead. */
static gboolean decode_with_graph(ivl_language *lm, int32_t id, int64_t pos, double theta,
                                  GError **error)
{
  ivl_backend *be = lm->be;
  if (!lm->graph_ready) {
    lm->graph_ready = FALSE;
    if (!be->ops->graph_begin(be, pos, error))
      return FALSE;
    lm->recording = TRUE;
    embed_chunk(lm, 0, &id, 1, -1, NULL, NULL);
    const gboolean fold = can_fold(lm);
    for (int l = 0; l < lm->cfg.num_layers; l++)
      layer_forward(lm, &lm->layers[l], 0, 1, pos, theta, fold && l > 0, fold);
    final_logits(lm, 0, fold);
    lm->recording = FALSE;
    if (!be->ops->graph_end(be, error))
      return FALSE;
    lm->graph_ready = TRUE;
  }
  if (!be->ops->graph_replay(be, pos, &id, 1, theta, error)) {
    lm->graph_ready = FALSE;
    return FALSE;
  }
  lm->n_past = pos + 1;
  return TRUE;
}

/* The arguments of one ivl_language_forward call, to run it again. */
typedef struct {
  const int32_t *ids;
  int64_t n, pos0;
  int32_t image_token;
  const ivl_tensor *image_embeds;
  double theta;
} forward_call;

/* *finite tells whether rows [0, n_rows) of t hold only finite values. */
static gboolean rows_finite(ivl_language *lm, const ivl_tensor *t, int64_t n_rows, gboolean *finite,
                            GError **error)
{
  gsize count = (gsize)n_rows * (gsize)t->cols;
  g_autofree float *host = g_try_new(float, count);
  if (!host) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_OUT_OF_MEMORY,
                "cannot check %" G_GSIZE_FORMAT " values", count);
    return FALSE;
  }
  if (!lm->be->ops->download_f32(lm->be, t, 0, n_rows, host, error))
    return FALSE;
  *finite = TRUE;
  for (gsize i = 0; i < count && *finite; i++)
    *finite = isfinite(host[i]);
  return TRUE;
}

/* The call's passes through every layer, each layer over the pass's chunks in order. With
 * `where`, each step's activations are checked and the run stops (TRUE) at the first that is
 * not finite, naming it in *where. */
static gboolean run_chunks(ivl_language *lm, const forward_call *c, char **where, GError **error)
{
  ivl_backend *be = lm->be;
  int64_t image_row = 0;
  gboolean finite = TRUE;
  lm->n_past = c->pos0;
  for (int64_t p0 = 0; p0 < c->n; p0 += lm->pass_rows) {
    int64_t len = MIN(lm->pass_rows, c->n - p0);
    for (int64_t c0 = 0; c0 < len; c0 += CHUNK)
      embed_chunk(lm, c0, c->ids + p0 + c0, MIN(CHUNK, len - c0), c->image_token, c->image_embeds,
                  &image_row);
    if (where && !rows_finite(lm, lm->x, len, &finite, error))
      return FALSE;
    if (!finite) {
      *where = g_strdup("the token or image embeddings");
      return TRUE;
    }
    /* A pass of one chunk leaves each layer's last add to the next norm, unless every
     * layer's output is checked; several chunks share `out`, so theirs cannot wait. */
    const gboolean fold = can_fold(lm) && len <= CHUNK && !where;
    for (int l = 0; l < lm->cfg.num_layers; l++) {
      for (int64_t c0 = 0; c0 < len; c0 += CHUNK)
        layer_forward(lm, &lm->layers[l], c0, MIN(CHUNK, len - c0), c->pos0 + p0 + c0, c->theta,
                      fold && l > 0, fold);
      if (!ivl_backend_take_error(be, error))
        return FALSE;
      if (where && !rows_finite(lm, lm->x, len, &finite, error))
        return FALSE;
      if (!finite) {
        *where = g_strdup_printf("language layer %d", l);
        return TRUE;
      }
    }
    lm->n_past = c->pos0 + p0 + len;
    /* With fold, x misses the last layer's MLP output but in the row final_logits adds it
     * to: later rows and passes read only the KV cache. */
    if (p0 + len == c->n)
      final_logits(lm, len - 1, fold && lm->cfg.num_layers > 0);
  }
  return ivl_backend_take_error(be, error);
}

gboolean ivl_language_forward(ivl_language *lm, const int32_t *ids, int64_t n, int64_t pos0,
                              int32_t image_token, const ivl_tensor *image_embeds, GError **error)
{
  if (n <= 0 || pos0 < 0 || pos0 > lm->n_past || pos0 + n > lm->n_ctx) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_INVALID_ARGUMENT,
                "%" G_GINT64_FORMAT " tokens at position %" G_GINT64_FORMAT
                " do not fit the context of %d tokens",
                n, pos0, lm->n_ctx);
    return FALSE;
  }
  for (int64_t i = 0; i < n; i++) {
    if (ids[i] < 0 || ids[i] >= lm->cfg.vocab_size) {
      g_set_error(error, IVL_ERROR, IVL_ERROR_INVALID_ARGUMENT,
                  "token id %d is outside the vocabulary of %d", ids[i], lm->cfg.vocab_size);
      return FALSE;
    }
  }
  /* transformers' dynamic NTK picks the base from the whole call's length, so every chunk
   * of one call uses the same theta. */
  double theta = ivl_language_rope_theta(&lm->cfg, pos0 + n);
  if (n == 1 && image_embeds == NULL && graphs_enabled(lm))
    return decode_with_graph(lm, ids[0], pos0, theta, error);
  const forward_call call = {ids, n, pos0, image_token, image_embeds, theta};
  if (!run_chunks(lm, &call, NULL, error))
    return FALSE;
  /* Damaged weights (NaN or Inf) would otherwise decode as one token repeated. They show in
   * the prompt's logits already, so single decode steps go unchecked and stay as fast. */
  gboolean finite = TRUE;
  if (n > 1 && !rows_finite(lm, lm->logits, 1, &finite, error))
    return FALSE;
  if (finite)
    return TRUE;
  /* The call runs again, checked after each step, to say where values stop being numbers. */
  g_autofree char *where = NULL;
  if (!run_chunks(lm, &call, &where, error))
    return FALSE;
  g_set_error(error, IVL_ERROR, IVL_ERROR_CORRUPT,
              "the language model computes NaN or Inf, first in %s: its weights are damaged",
              where ? where : "the output layer (norm and lm_head)");
  return FALSE;
}

gboolean ivl_language_get_logits(ivl_language *lm, float *logits, GError **error)
{
  return lm->be->ops->download_f32(lm->be, lm->logits, 0, 1, logits, error);
}

int32_t ivl_language_argmax(ivl_language *lm)
{
  return lm->be->ops->argmax(lm->be, lm->logits, 0);
}

gboolean ivl_language_top_k(ivl_language *lm, const ivl_sampler_device_part *part, float *values,
                            int32_t *ids, int cap, int *n, GError **error)
{
  if (!lm->be->ops->top_k) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_UNSUPPORTED, "the %s backend samples on the host",
                lm->be->ops->name);
    return FALSE;
  }
  return lm->be->ops->top_k(lm->be, lm->logits, 0, part->seen, part->n_seen, part->penalty,
                            part->temperature, part->k, values, ids, cap, n, error);
}
