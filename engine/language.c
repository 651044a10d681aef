/* language.c — the Qwen2 decoder (spec 7c), and InternLM2's (spec 7d) as the same blocks: pre-norm
 * blocks, GQA attention with rotate-half RoPE over a KV cache, SwiGLU MLP, final RMSNorm and
 * lm_head.
 *
 * Long prompts run in chunks of CHUNK rows: with causal attention over the cache, chunked
 * prefill computes exactly what one pass would, and the activations stay small. Up to
 * PASS_CHUNKS chunks of one sequence make a pass: each layer runs over every chunk of the pass
 * before the next layer starts (only the residual stream spans the pass), so a quantized
 * weight the GPU expands to bf16 for the first chunk serves the others (backend-cuda-ops.c
 * keeps a layer's expansions) instead of being expanded again per chunk.
 */
#include "language.h"

#include <math.h>
#include <string.h>

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
  int stage;                 /* the backend (device) holding this layer and its caches */
} lm_layer;

/* The activations of one step on one backend: a model split over devices has one per device,
 * and the residual stream x is copied from one to the next at the boundary. */
typedef struct {
  ivl_backend *be;
  ivl_tensor *x;         /* [pass_rows, D] residual stream */
  ivl_tensor *xn;        /* [CHUNK, D] normed */
  ivl_tensor *q, *att;   /* [CHUNK, H*hd] */
  ivl_tensor *k, *v;     /* [CHUNK, KV*hd] */
  ivl_tensor *out;       /* [CHUNK, D] o_proj / down output */
  ivl_tensor *gate, *up; /* [CHUNK, I] */
} lm_state;

/* A run of the token's path on one backend: the embeddings (first unit), consecutive layers,
 * the final norm and lm_head (last unit, on the first backend). Decode records one graph
 * per unit; split_model's placement visits the first device twice (its last layer is
 * there), hence `graph`, the unit's number among those of its backend. */
typedef struct {
  int stage;
  int first, end; /* layers [first, end) */
  gboolean embed, head;
  int graph;
} lm_unit;

struct ivl_kv_cache {
  int n_layers, n_ctx;
  int64_t n_past;
  ivl_tensor **k; /* per layer [n_ctx, KV*hd] act, rotated keys, on the layer's backend */
  ivl_tensor **v; /* per layer [n_ctx, KV*hd] act */
};

struct ivl_language {
  ivl_backend *be;
  ivl_llm_config cfg; /* torch_dtype borrowed from the model's config */
  int n_ctx;
  ivl_kv_cache *kv;    /* the model's own cache, for ivl_language_forward */
  ivl_tensor *embed;   /* [V, D] embed_tokens (borrowed) */
  ivl_tensor *norm;    /* [1, D] model.norm */
  ivl_tensor *lm_head; /* [V, D] (embed when tied) */
  lm_layer *layers;
  /* run state: the activations of a step per backend (states[0] is on be), the residual
   * stream of a pass */
  int64_t pass_rows; /* up to PASS_CHUNKS * CHUNK */
  lm_state states[IVL_MAX_GPUS];
  int n_states;
  lm_unit units[2 * IVL_MAX_GPUS + 2];
  int n_units;
  int32_t ids[CHUNK]; /* the step's token ids, all sequences in a row */
  ivl_tensor *last;   /* [n_logits, D] final norm of the rows that give logits */
  ivl_tensor *logits; /* [n_logits, V] */
  int n_logits;       /* rows of last and logits */
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
  ivl_loader_set_backend(ld, lm->states[lm->layers[l].stage].be);
  return lm->cfg.arch == IVL_LLM_QWEN2 ? load_qwen2_layer(lm, ld, l, error)
                                       : load_internlm2_layer(lm, ld, l, error);
}

guint64 ivl_language_kv_bytes(const ivl_language *lm, int n_ctx)
{
  const ivl_llm_config *c = &lm->cfg;
  return 2 * (guint64)c->num_layers * (guint64)n_ctx * (guint64)c->num_kv_heads *
         (guint64)c->head_dim * ivl_dtype_size(lm->be->act_dtype);
}

ivl_kv_cache *ivl_kv_cache_new(ivl_language *lm, int n_ctx, GError **error)
{
  int64_t kvd = (int64_t)lm->cfg.num_kv_heads * lm->cfg.head_dim;
  ivl_kv_cache *kv = g_new0(ivl_kv_cache, 1);
  kv->n_layers = lm->cfg.num_layers;
  kv->n_ctx = n_ctx;
  kv->k = g_new0(ivl_tensor *, kv->n_layers);
  kv->v = g_new0(ivl_tensor *, kv->n_layers);
  for (int l = 0; l < kv->n_layers; l++) {
    ivl_backend *be = lm->states[lm->layers[l].stage].be;
    if (!(kv->k[l] = be->ops->tensor_new(be, be->act_dtype, n_ctx, kvd, error)) ||
        !(kv->v[l] = be->ops->tensor_new(be, be->act_dtype, n_ctx, kvd, error))) {
      ivl_kv_cache_free(kv);
      return NULL;
    }
  }
  return kv;
}

void ivl_kv_cache_free(ivl_kv_cache *kv)
{
  if (!kv)
    return;
  for (int l = 0; l < kv->n_layers; l++) {
    if (kv->k[l])
      kv->k[l]->backend->ops->tensor_free(kv->k[l]->backend, kv->k[l]);
    if (kv->v[l])
      kv->v[l]->backend->ops->tensor_free(kv->v[l]->backend, kv->v[l]);
  }
  g_free(kv->k);
  g_free(kv->v);
  g_free(kv);
}

int ivl_kv_cache_get_n_ctx(const ivl_kv_cache *kv)
{
  return kv->n_ctx;
}

int64_t ivl_kv_cache_get_n_past(const ivl_kv_cache *kv)
{
  return kv->n_past;
}

/* Rows for the logits of n sequences at once; a graph recorded with the old ones is dropped,
 * since it would write into freed memory. */
static gboolean ensure_logit_rows(ivl_language *lm, int n, GError **error)
{
  ivl_backend *be = lm->be;
  if (n <= lm->n_logits)
    return TRUE;
  ivl_tensor *last = be->ops->tensor_new(be, be->act_dtype, n, lm->cfg.hidden_size, error);
  /* f32 whatever the activations: bf16 logits would round near-ties together and let greedy
   * decoding pick another token than the CPU reference. */
  ivl_tensor *logits =
      last ? be->ops->tensor_new(be, IVL_DTYPE_F32, n, lm->cfg.vocab_size, error) : NULL;
  if (!logits) {
    if (last)
      be->ops->tensor_free(be, last);
    return FALSE;
  }
  if (lm->last) {
    /* a recorded graph and queued ops may still use the old rows */
    if (!be->ops->synchronize(be, error)) {
      be->ops->tensor_free(be, last);
      be->ops->tensor_free(be, logits);
      return FALSE;
    }
    be->ops->tensor_free(be, lm->last);
    be->ops->tensor_free(be, lm->logits);
  }
  lm->last = last;
  lm->logits = logits;
  lm->n_logits = n;
  lm->graph_ready = FALSE;
  return TRUE;
}

static gboolean alloc_stage(ivl_language *lm, lm_state *st, GError **error)
{
  ivl_backend *be = st->be;
  const ivl_llm_config *c = &lm->cfg;
  ivl_dtype a = be->act_dtype;
  int64_t d = c->hidden_size, qd = (int64_t)c->num_heads * c->head_dim;
  int64_t kvd = (int64_t)c->num_kv_heads * c->head_dim;
  return (st->x = be->ops->tensor_new(be, a, lm->pass_rows, d, error)) &&
         (st->xn = be->ops->tensor_new(be, a, CHUNK, d, error)) &&
         (st->q = be->ops->tensor_new(be, a, CHUNK, qd, error)) &&
         (st->att = be->ops->tensor_new(be, a, CHUNK, qd, error)) &&
         (st->k = be->ops->tensor_new(be, a, CHUNK, kvd, error)) &&
         (st->v = be->ops->tensor_new(be, a, CHUNK, kvd, error)) &&
         (st->out = be->ops->tensor_new(be, a, CHUNK, d, error)) &&
         (st->gate = be->ops->tensor_new(be, a, CHUNK, c->intermediate_size, error)) &&
         (st->up = be->ops->tensor_new(be, a, CHUNK, c->intermediate_size, error));
}

static gboolean alloc_state(ivl_language *lm, GError **error)
{
  lm->pass_rows = MIN((int64_t)PASS_CHUNKS * CHUNK, MAX((int64_t)lm->n_ctx, CHUNK));
  for (int i = 0; i < lm->n_states; i++)
    if (!alloc_stage(lm, &lm->states[i], error))
      return FALSE;
  return ensure_logit_rows(lm, 1, error) && (lm->kv = ivl_kv_cache_new(lm, lm->n_ctx, error));
}

/* The units of the token's path (lm_unit): the embeddings on the first backend, each run
 * of layers on one backend, the head back on the first. A placement that visits a backend
 * more often than it keeps graphs is refused (gpu-placement.c's never does). */
static gboolean plan_units(ivl_language *lm, GError **error)
{
  int per_stage[IVL_MAX_GPUS] = {0};
  lm_unit *u = lm->units;
  u[0] = (lm_unit){.stage = 0, .embed = TRUE};
  per_stage[0] = 1;
  int n = 1;
  for (int l = 0; l < lm->cfg.num_layers; l++) {
    lm_unit *cur = &u[n - 1];
    const int stage = lm->layers[l].stage;
    if (cur->stage == stage && (cur->end == l || cur->first == cur->end)) {
      if (cur->first == cur->end)
        cur->first = l;
      cur->end = l + 1;
      continue;
    }
    if (n + 2 > (int)G_N_ELEMENTS(lm->units) || per_stage[stage] == IVL_BACKEND_MAX_GRAPHS) {
      g_set_error(error, IVL_ERROR, IVL_ERROR_UNSUPPORTED,
                  "layer %d goes back to a device already visited twice per token", l);
      return FALSE;
    }
    u[n++] = (lm_unit){.stage = stage, .first = l, .end = l + 1, .graph = per_stage[stage]++};
  }
  if (u[n - 1].stage != 0) {
    if (per_stage[0] == IVL_BACKEND_MAX_GRAPHS) {
      g_set_error(error, IVL_ERROR, IVL_ERROR_UNSUPPORTED,
                  "lm_head goes back to the first device after it was visited twice");
      return FALSE;
    }
    const int end = lm->cfg.num_layers;
    u[n++] = (lm_unit){.stage = 0, .first = end, .end = end, .graph = per_stage[0]++};
  }
  u[n - 1].head = TRUE;
  lm->n_units = n;
  if (lm->n_states > 1 && !lm->be->ops->copy_rows_from) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_UNSUPPORTED,
                "the %s backend cannot split a model over devices", lm->be->ops->name);
    return FALSE;
  }
  return TRUE;
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
                               int n_ctx, const ivl_language_split *split, GError **error)
{
  if (!check_supported(cfg, error))
    return NULL;
  ivl_language *lm = g_new0(ivl_language, 1);
  lm->be = be;
  lm->cfg = *cfg;
  lm->n_ctx = n_ctx;
  lm->layers = g_new0(lm_layer, cfg->num_layers);
  lm->n_states = split ? split->n_backends : 1;
  lm->states[0].be = be;
  for (int i = 1; i < lm->n_states; i++)
    lm->states[i].be = split->backends[i];
  for (int l = 0; split && l < cfg->num_layers; l++)
    lm->layers[l].stage = split->backend_of_layer[l];
  if (!plan_units(lm, error)) {
    ivl_language_free(lm);
    return NULL;
  }
  ivl_loader_set_backend(ld, be);
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
  ivl_loader_set_backend(ld, be);
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
  for (int i = 0; i < lm->n_states; i++) {
    lm_state *st = &lm->states[i];
    ivl_tensor *state[] = {st->x, st->xn, st->q, st->att, st->k, st->v, st->out, st->gate, st->up};
    for (size_t j = 0; j < G_N_ELEMENTS(state); j++)
      if (state[j])
        st->be->ops->tensor_free(st->be, state[j]);
  }
  ivl_tensor *head[] = {lm->last, lm->logits};
  for (size_t i = 0; i < G_N_ELEMENTS(head); i++)
    if (head[i])
      lm->be->ops->tensor_free(lm->be, head[i]);
  ivl_kv_cache_free(lm->kv);
  g_free(lm->layers);
  g_free(lm);
}

int ivl_language_get_n_ctx(const ivl_language *lm)
{
  return lm->n_ctx;
}

ivl_kv_cache *ivl_language_get_kv(ivl_language *lm)
{
  return lm->kv;
}

int64_t ivl_language_get_n_past(const ivl_language *lm)
{
  return lm->kv->n_past;
}

int ivl_language_get_max_rows(const ivl_language *lm)
{
  (void)lm;
  return CHUNK;
}

/* x = x + o_proj(attn(rope(q), rope(k), v)); x = x + down(silu(gate(xn)) * up(xn)) for the
 * step's rows, residual rows x_row0.. (views of the chunk buffers with n rows): every product
 * over all the rows at once, RoPE and attention per sequence, over its own cache and
 * positions.
 *
 * With the backend's fused add_rms_norm, a residual add can wait in `out` for the next norm:
 * add_pending says the previous layer left its MLP output there (for these rows), and
 * leave_pending that this one may too (the caller runs the next layer on the same backend, or
 * final_logits with add_pending, on the same rows next). */
static void layer_forward(ivl_language *lm, int l, int64_t x_row0, const ivl_lm_rows *seqs,
                          int n_seqs, int64_t n, gboolean add_pending, gboolean leave_pending)
{
  lm_layer *w = &lm->layers[l];
  lm_state *st = &lm->states[w->stage];
  ivl_backend *be = st->be;
  const ivl_backend_ops *o = be->ops;
  const ivl_llm_config *c = &lm->cfg;
  ivl_tensor x = ivl_tensor_view_rows(st->x, x_row0, n), xn = ivl_tensor_view_rows(st->xn, 0, n);
  ivl_tensor q = ivl_tensor_view_rows(st->q, 0, n), att = ivl_tensor_view_rows(st->att, 0, n);
  ivl_tensor k = ivl_tensor_view_rows(st->k, 0, n), v = ivl_tensor_view_rows(st->v, 0, n);
  ivl_tensor out = ivl_tensor_view_rows(st->out, 0, n);
  ivl_tensor gate = ivl_tensor_view_rows(st->gate, 0, n);
  ivl_tensor up = ivl_tensor_view_rows(st->up, 0, n);
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
  int64_t r = 0;
  for (int i = 0; i < n_seqs; i++) {
    const ivl_lm_rows *s = &seqs[i];
    ivl_tensor qs = ivl_tensor_view_rows(st->q, r, s->n), ks = ivl_tensor_view_rows(st->k, r, s->n);
    ivl_tensor as = ivl_tensor_view_rows(st->att, r, s->n);
    if (o->rope_store_kv) {
      ivl_tensor vs = ivl_tensor_view_rows(st->v, r, s->n);
      o->rope_store_kv(be, &qs, &ks, &vs, s->kv->k[l], s->kv->v[l], c->num_heads, c->num_kv_heads,
                       c->head_dim, s->pos0, s->theta);
    } else {
      o->rope(be, &qs, c->num_heads, c->head_dim, s->pos0, s->theta);
      o->rope(be, &ks, c->num_kv_heads, c->head_dim, s->pos0, s->theta);
      o->copy_rows(be, s->kv->k[l], s->pos0, &k, r, s->n);
      o->copy_rows(be, s->kv->v[l], s->pos0, &v, r, s->n);
    }
    const int64_t kv_rows = lm->recording ? s->kv->n_ctx : s->pos0 + s->n;
    ivl_tensor kc = ivl_tensor_view_rows(s->kv->k[l], 0, kv_rows);
    ivl_tensor vc = ivl_tensor_view_rows(s->kv->v[l], 0, kv_rows);
    o->attention(be, &as, &qs, &kc, &vc, 1, c->num_heads, c->num_kv_heads, c->head_dim, TRUE,
                 s->pos0, 1.0f / sqrtf((float)c->head_dim));
    r += s->n;
  }
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

/* Token embeddings for the step's ids into residual rows x_row0.., each sequence's runs of
 * its image_token replaced by its next image rows. */
static void embed_rows(ivl_language *lm, int64_t x_row0, const ivl_lm_rows *seqs, int n_seqs,
                       int64_t n)
{
  ivl_backend *be = lm->be;
  ivl_tensor x = ivl_tensor_view_rows(lm->states[0].x, x_row0, n);
  const int32_t *ids = seqs[0].ids;
  if (n_seqs > 1) {
    int64_t r = 0;
    for (int i = 0; i < n_seqs; r += seqs[i].n, i++)
      memcpy(lm->ids + r, seqs[i].ids, (size_t)seqs[i].n * sizeof *ids);
    ids = lm->ids;
  }
  be->ops->get_rows(be, &x, lm->embed, ids, n);
  int64_t r = 0;
  for (int s = 0; s < n_seqs; r += seqs[s].n, s++) {
    const ivl_lm_rows *q = &seqs[s];
    int64_t image_row = q->image_row;
    for (int64_t i = 0; q->image_embeds && i < q->n;) {
      if (q->ids[i] != q->image_token) {
        i++;
        continue;
      }
      int64_t run = 1;
      while (i + run < q->n && q->ids[i + run] == q->image_token)
        run++;
      be->ops->copy_rows(be, lm->states[0].x, x_row0 + r + i, q->image_embeds, image_row, run);
      image_row += run;
      i += run;
    }
  }
}

/* logits[j] = lm_head(norm(x[last row of the j-th sequence that wants logits])), as one
 * product over those rows; with add_pending, after x[row] += out[row - x_row0] (the last
 * layer left its add to this norm). */
static void final_logits(ivl_language *lm, int64_t x_row0, const ivl_lm_rows *seqs, int n_seqs,
                         gboolean add_pending)
{
  ivl_backend *be = lm->be;
  int64_t r = x_row0, j = 0;
  for (int i = 0; i < n_seqs; i++) {
    r += seqs[i].n;
    if (!seqs[i].logits)
      continue;
    ivl_tensor row = ivl_tensor_view_rows(lm->states[0].x, r - 1, 1);
    ivl_tensor last = ivl_tensor_view_rows(lm->last, j++, 1);
    ivl_tensor out = ivl_tensor_view_rows(lm->states[0].out, r - 1 - x_row0, 1);
    if (add_pending)
      be->ops->add_rms_norm(be, &last, &row, &out, lm->norm, (float)lm->cfg.rms_norm_eps);
    else
      be->ops->rms_norm(be, &last, &row, lm->norm, (float)lm->cfg.rms_norm_eps);
  }
  if (j == 0)
    return;
  ivl_tensor last = ivl_tensor_view_rows(lm->last, 0, j);
  ivl_tensor logits = ivl_tensor_view_rows(lm->logits, 0, j);
  be->ops->matmul(be, &logits, &last, lm->lm_head, NULL);
}

static gboolean graphs_enabled(const ivl_language *lm)
{
  return lm->be->ops->graph_begin != NULL && g_strcmp0(g_getenv("IVL_CUDA_GRAPHS"), "0") != 0;
}

/* x rows [0, n) of the unit before u, onto u's backend (nothing when both share one). */
static void move_x(ivl_language *lm, const lm_unit *u, int64_t n)
{
  const lm_state *from = &lm->states[u[-1].stage];
  lm_state *to = &lm->states[u->stage];
  if (from != to)
    to->be->ops->copy_rows_from(to->be, to->x, 0, from->x, 0, n);
}

/* Records unit u's part of a decode step of `one` as graph u->graph of its backend. */
static gboolean record_unit(ivl_language *lm, const lm_unit *u, const ivl_lm_rows *one,
                            GError **error)
{
  ivl_backend *be = lm->states[u->stage].be;
  if (!be->ops->graph_begin(be, u->graph, one->pos0, error))
    return FALSE;
  lm->recording = TRUE;
  const gboolean fold = can_fold(lm);
  if (u->embed)
    embed_rows(lm, 0, one, 1, 1);
  for (int l = u->first; l < u->end; l++)
    layer_forward(lm, l, 0, one, 1, 1, fold && l > u->first, fold && (l + 1 < u->end || u->head));
  if (u->head)
    final_logits(lm, 0, one, 1, fold && u->end > u->first);
  lm->recording = FALSE;
  return be->ops->graph_end(be, error);
}

/* One decode token of the model's own cache through recorded graphs, which removes the
 * per-kernel launch gaps: the first call records the step, every call replays it at its
 * position and RoPE theta (which dynamic NTK changes past max_position_embeddings). Split
 * over devices, one graph per unit (per device, and a second on the first device for
 * split_model's last layer and the head), and x is copied between them outside the graphs:
 * a graph runs on one device's stream. Set IVL_CUDA_GRAPHS=0 to run the ops directly. */
static gboolean decode_with_graph(ivl_language *lm, int32_t id, int64_t pos, double theta,
                                  GError **error)
{
  if (!lm->graph_ready) {
    const ivl_lm_rows one = {.kv = lm->kv,
                             .ids = &id,
                             .n = 1,
                             .pos0 = pos,
                             .image_token = -1,
                             .theta = theta,
                             .logits = TRUE};
    for (int i = 0; i < lm->n_units; i++)
      if (!record_unit(lm, &lm->units[i], &one, error))
        return FALSE;
    lm->graph_ready = TRUE;
  }
  for (int i = 0; i < lm->n_units; i++) {
    const lm_unit *u = &lm->units[i];
    ivl_backend *be = lm->states[u->stage].be;
    if (i > 0)
      move_x(lm, u, 1);
    if (!ivl_backend_take_error(be, error) ||
        !be->ops->graph_replay(be, u->graph, pos, &id, u->embed ? 1 : 0, theta, error)) {
      lm->graph_ready = FALSE;
      return FALSE;
    }
  }
  lm->kv->n_past = pos + 1;
  return TRUE;
}

/* The first recorded failure of any backend of the model. */
static gboolean take_errors(ivl_language *lm, GError **error)
{
  gboolean ok = TRUE;
  for (int i = 0; i < lm->n_states; i++)
    ok = ivl_backend_take_error(lm->states[i].be, ok ? error : NULL) && ok;
  return ok;
}

/* *finite tells whether rows [0, n_rows) of t hold only finite values. */
static gboolean rows_finite(const ivl_tensor *t, int64_t n_rows, gboolean *finite, GError **error)
{
  gsize count = (gsize)n_rows * (gsize)t->cols;
  g_autofree float *host = g_try_new(float, count);
  if (!host) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_OUT_OF_MEMORY,
                "cannot check %" G_GSIZE_FORMAT " values", count);
    return FALSE;
  }
  if (!t->backend->ops->download_f32(t->backend, t, 0, n_rows, host, error))
    return FALSE;
  *finite = TRUE;
  for (gsize i = 0; i < count && *finite; i++)
    *finite = isfinite(host[i]);
  return TRUE;
}

/* Rows [0, n) of the residual stream through every unit: the embeddings `embed` writes,
 * then each unit's layers on its backend (x moved there first), the head's logits from
 * `head`. With `where`, each layer's activations are checked and the run stops (TRUE) at the
 * first that is not finite, naming it in *where. */
typedef void (*run_part)(ivl_language *lm, const void *data);
typedef void (*run_layer)(ivl_language *lm, int l, gboolean add_pending, gboolean leave_pending,
                          const void *data);
typedef void (*run_head)(ivl_language *lm, gboolean add_pending, const void *data);

/* With fold, each unit's layers leave their last residual add to the next norm (layer_forward):
 * not across units, whose x moves to another backend without `out`. */
static gboolean run_units(ivl_language *lm, int64_t n, run_part embed, run_layer layer,
                          run_head head, const void *data, gboolean fold, char **where,
                          GError **error)
{
  gboolean finite = TRUE;
  for (int i = 0; i < lm->n_units; i++) {
    const lm_unit *u = &lm->units[i];
    lm_state *st = &lm->states[u->stage];
    if (u->embed) {
      embed(lm, data);
      if (where && !rows_finite(st->x, n, &finite, error))
        return FALSE;
      if (!finite) {
        *where = g_strdup("the token or image embeddings");
        return TRUE;
      }
    } else {
      move_x(lm, u, n);
    }
    for (int l = u->first; l < u->end; l++) {
      layer(lm, l, fold && l > u->first, fold && (l + 1 < u->end || u->head), data);
      if (!ivl_backend_take_error(st->be, error))
        return FALSE;
      if (where && !rows_finite(st->x, n, &finite, error))
        return FALSE;
      if (!finite) {
        *where = g_strdup_printf("language layer %d", l);
        return TRUE;
      }
    }
    if (u->head)
      head(lm, fold && u->end > u->first, data);
  }
  return take_errors(lm, error);
}

/* A step: several sequences' rows side by side in rows [0, n). */
typedef struct {
  const ivl_lm_rows *seqs;
  int n_seqs;
  int64_t n;
} step_rows;

static void step_embed(ivl_language *lm, const void *data)
{
  const step_rows *s = data;
  embed_rows(lm, 0, s->seqs, s->n_seqs, s->n);
}

static void step_layer(ivl_language *lm, int l, gboolean add_pending, gboolean leave_pending,
                       const void *data)
{
  const step_rows *s = data;
  layer_forward(lm, l, 0, s->seqs, s->n_seqs, s->n, add_pending, leave_pending);
}

static void step_head(ivl_language *lm, gboolean add_pending, const void *data)
{
  const step_rows *s = data;
  final_logits(lm, 0, s->seqs, s->n_seqs, add_pending);
}

/* One step's rows through every layer; see run_units for `where`. */
static gboolean run_step(ivl_language *lm, const ivl_lm_rows *seqs, int n_seqs, char **where,
                         GError **error)
{
  step_rows s = {.seqs = seqs, .n_seqs = n_seqs};
  for (int i = 0; i < n_seqs; i++) {
    s.n += seqs[i].n;
    seqs[i].kv->n_past = seqs[i].pos0; /* the cache beyond is rewritten from here */
  }
  /* Folded adds leave x without the last layer's MLP output but in the rows final_logits
   * adds it to: later steps read only the KV cache. Checked runs look at every layer's x. */
  if (!run_units(lm, s.n, step_embed, step_layer, step_head, &s, can_fold(lm) && !where, where,
                 error))
    return FALSE;
  if (where && *where)
    return TRUE;
  for (int i = 0; i < n_seqs; i++)
    seqs[i].kv->n_past = seqs[i].pos0 + seqs[i].n;
  return TRUE;
}

static gboolean check_rows(const ivl_language *lm, const ivl_lm_rows *s, GError **error)
{
  if (s->n <= 0 || s->pos0 < 0 || s->pos0 > s->kv->n_past || s->pos0 + s->n > s->kv->n_ctx) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_INVALID_ARGUMENT,
                "%" G_GINT64_FORMAT " tokens at position %" G_GINT64_FORMAT
                " do not fit the context of %d tokens",
                s->n, s->pos0, s->kv->n_ctx);
    return FALSE;
  }
  for (int64_t i = 0; i < s->n; i++) {
    if (s->ids[i] < 0 || s->ids[i] >= lm->cfg.vocab_size) {
      g_set_error(error, IVL_ERROR, IVL_ERROR_INVALID_ARGUMENT,
                  "token id %d is outside the vocabulary of %d", s->ids[i], lm->cfg.vocab_size);
      return FALSE;
    }
  }
  return TRUE;
}

gboolean ivl_language_forward_batch(ivl_language *lm, const ivl_lm_rows *seqs, int n_seqs,
                                    GError **error)
{
  int64_t n = 0;
  int n_logits = 0;
  for (int i = 0; i < n_seqs; i++) {
    if (!check_rows(lm, &seqs[i], error))
      return FALSE;
    n += seqs[i].n;
    n_logits += seqs[i].logits;
  }
  if (n_seqs <= 0 || n > CHUNK) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_INVALID_ARGUMENT,
                "a step runs 1 to %d rows, not %" G_GINT64_FORMAT, CHUNK, n);
    return FALSE;
  }
  return ensure_logit_rows(lm, MAX(n_logits, 1), error) && run_step(lm, seqs, n_seqs, NULL, error);
}

/* A pass: one sequence's chunks, chunk i in residual rows [i * CHUNK, ...). */
typedef struct {
  ivl_lm_rows chunks[PASS_CHUNKS];
  int n_chunks;
} pass_rows;

static void pass_embed(ivl_language *lm, const void *data)
{
  const pass_rows *p = data;
  for (int i = 0; i < p->n_chunks; i++)
    embed_rows(lm, (int64_t)i * CHUNK, &p->chunks[i], 1, p->chunks[i].n);
}

static void pass_layer(ivl_language *lm, int l, gboolean add_pending, gboolean leave_pending,
                       const void *data)
{
  const pass_rows *p = data;
  for (int i = 0; i < p->n_chunks; i++)
    layer_forward(lm, l, (int64_t)i * CHUNK, &p->chunks[i], 1, p->chunks[i].n, add_pending,
                  leave_pending);
}

static void pass_head(ivl_language *lm, gboolean add_pending, const void *data)
{
  const pass_rows *p = data;
  const int last = p->n_chunks - 1;
  if (p->chunks[last].logits)
    final_logits(lm, (int64_t)last * CHUNK, &p->chunks[last], 1, add_pending);
}

/* One sequence's call in passes, each layer over the pass's chunks in order; see run_units
 * for `where`. */
static gboolean run_chunks(ivl_language *lm, const ivl_lm_rows *call, char **where, GError **error)
{
  pass_rows p;
  int64_t image_row = call->image_row;
  for (int64_t p0 = 0; p0 < call->n; p0 += lm->pass_rows) {
    int64_t len = MIN(lm->pass_rows, call->n - p0);
    p.n_chunks = 0;
    call->kv->n_past = call->pos0 + p0; /* the cache beyond is rewritten from here */
    for (int64_t c0 = 0; c0 < len; c0 += CHUNK) {
      ivl_lm_rows *ch = &p.chunks[p.n_chunks++];
      *ch = *call;
      ch->ids = call->ids + p0 + c0;
      ch->n = MIN(CHUNK, len - c0);
      ch->pos0 = call->pos0 + p0 + c0;
      ch->image_row = image_row;
      ch->logits = p0 + c0 + ch->n == call->n;
      if (call->image_embeds)
        for (int64_t i = 0; i < ch->n; i++)
          image_row += ch->ids[i] == call->image_token;
    }
    /* The chunks of a pass share `out`: only a pass of one chunk can fold its adds. */
    if (!run_units(lm, len, pass_embed, pass_layer, pass_head, &p,
                   can_fold(lm) && p.n_chunks == 1 && !where, where, error))
      return FALSE;
    if (where && *where)
      return TRUE;
    call->kv->n_past = call->pos0 + p0 + len;
  }
  return TRUE;
}

gboolean ivl_language_forward(ivl_language *lm, const int32_t *ids, int64_t n, int64_t pos0,
                              int32_t image_token, const ivl_tensor *image_embeds, GError **error)
{
  /* transformers' dynamic NTK picks the base from the whole call's length, so every chunk
   * of one call uses the same theta. */
  const ivl_lm_rows call = {.kv = lm->kv,
                            .ids = ids,
                            .n = n,
                            .pos0 = pos0,
                            .image_token = image_token,
                            .image_embeds = image_embeds,
                            .theta = ivl_language_rope_theta(&lm->cfg, pos0 + n),
                            .logits = TRUE};
  if (!check_rows(lm, &call, error))
    return FALSE;
  if (n == 1 && image_embeds == NULL && graphs_enabled(lm))
    return decode_with_graph(lm, ids[0], pos0, call.theta, error);
  if (!run_chunks(lm, &call, NULL, error))
    return FALSE;
  /* Damaged weights (NaN or Inf) would otherwise decode as one token repeated. They show in
   * the prompt's logits already, so single decode steps go unchecked and stay as fast. */
  gboolean finite = TRUE;
  if (n > 1 && !rows_finite(lm->logits, 1, &finite, error))
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

gboolean ivl_language_get_logits_row(ivl_language *lm, int row, float *logits, GError **error)
{
  return lm->be->ops->download_f32(lm->be, lm->logits, row, 1, logits, error);
}

int32_t ivl_language_argmax_row(ivl_language *lm, int row)
{
  return lm->be->ops->argmax(lm->be, lm->logits, row);
}

gboolean ivl_language_top_k_row(ivl_language *lm, int row, const ivl_sampler_device_part *part,
                                float *values, int32_t *ids, int cap, int *n, GError **error)
{
  if (!lm->be->ops->top_k) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_UNSUPPORTED, "the %s backend samples on the host",
                lm->be->ops->name);
    return FALSE;
  }
  return lm->be->ops->top_k(lm->be, lm->logits, row, part->seen, part->n_seen, part->penalty,
                            part->temperature, part->k, values, ids, cap, n, error);
}

gboolean ivl_language_get_logits(ivl_language *lm, float *logits, GError **error)
{
  return ivl_language_get_logits_row(lm, 0, logits, error);
}

int32_t ivl_language_argmax(ivl_language *lm)
{
  return ivl_language_argmax_row(lm, 0);
}
