/* vision.c — InternViT: patch embedding, position embedding, pre-norm layers with layer
 * scale (spec 7a). Tiles are batched: every [N*T, D] activation holds N tiles of T tokens
 * and attention runs per tile (n_seq = N, non-causal).
 */
#include "vision.h"

#include <math.h>

#include "ivl.h"
#include "tensor-view.h"

typedef struct {
  ivl_tensor *norm1_w, *norm1_b; /* [1, Dv]; the biases are NULL for rms_norm */
  ivl_tensor *norm2_w, *norm2_b;
  ivl_tensor *wq, *wk, *wv;    /* [Dv, Dv]: the q | k | v row blocks of attn.qkv.weight */
  ivl_tensor *bq, *bk, *bv;    /* [1, Dv] or NULL (qkv_bias false) */
  ivl_tensor qkv_parts[6];     /* wq..bv as views of the whole tensors, where loaded whole */
  ivl_tensor *q_norm, *k_norm; /* [1, Dv] or NULL (qk_normalization false) */
  ivl_tensor *proj_w, *proj_b; /* [Dv, Dv], [1, Dv] */
  ivl_tensor *ls1, *ls2;       /* [1, Dv] layer scales */
  ivl_tensor *fc1_w, *fc1_b;   /* [Dffn, Dv], [1, Dffn] */
  ivl_tensor *fc2_w, *fc2_b;   /* [Dv, Dffn], [1, Dv] */
} vit_layer;

struct ivl_vision {
  ivl_backend *be;
  ivl_vision_config cfg;
  int n_run;             /* layers to run: the selected hidden state */
  int grid;              /* patches per side: image_size / patch_size */
  int n_patches;         /* grid² */
  ivl_tensor *patch_w;   /* [Dv, C*p*p]: the Conv2d weight [Dv, C, p, p] as a matrix */
  ivl_tensor *patch_b;   /* [1, Dv] */
  ivl_tensor *cls_pos;   /* [1, Dv] act: class_embedding + position_embedding[0] */
  ivl_tensor *patch_pos; /* [n_patches, Dv] act: position_embedding[1:] */
  vit_layer *layers;     /* [n_run] (weights borrowed from the loader) */
};

/* Activations of one batch of tiles, allocated per call (the batch size varies). */
typedef struct {
  ivl_backend *be;
  ivl_tensor *pixels;  /* [N*C, S*S] f32 */
  ivl_tensor *patches; /* [N*n_patches, C*p*p] */
  ivl_tensor *embed;   /* [N*n_patches, Dv] */
  ivl_tensor *x;       /* [N*T, Dv] residual stream */
  ivl_tensor *xn;      /* [N*T, Dv] normed */
  ivl_tensor *qkv;     /* [3*N*T, Dv]: q | k | v, one matmul_qkv output */
  ivl_tensor q, k, v;  /* its row blocks */
  ivl_tensor *att;     /* [N*T, Dv] */
  ivl_tensor *out;     /* [N*T, Dv] proj / fc2 output */
  ivl_tensor *ff;      /* [N*T, Dffn] */
} vit_state;

static void vit_state_clear(vit_state *s)
{
  ivl_tensor **all[] = {&s->pixels, &s->patches, &s->embed, &s->xn, &s->qkv,
                        &s->att,    &s->out,     &s->ff,    &s->x};
  for (size_t i = 0; i < G_N_ELEMENTS(all); i++) {
    if (*all[i])
      s->be->ops->tensor_free(s->be, *all[i]);
    *all[i] = NULL;
  }
}

static gboolean vit_state_init(vit_state *s, const ivl_vision *vis, int n, GError **error)
{
  ivl_backend *be = vis->be;
  const ivl_vision_config *c = &vis->cfg;
  ivl_dtype a = be->act_dtype;
  int64_t rows = (int64_t)n * (vis->n_patches + 1);
  int64_t np = (int64_t)n * vis->n_patches;
  int64_t pp = (int64_t)c->num_channels * c->patch_size * c->patch_size;

  *s = (vit_state){.be = be};
  if (!(s->pixels = be->ops->tensor_new(be, IVL_DTYPE_F32, (int64_t)n * c->num_channels,
                                        (int64_t)c->image_size * c->image_size, error)) ||
      !(s->patches = be->ops->tensor_new(be, a, np, pp, error)) ||
      !(s->embed = be->ops->tensor_new(be, a, np, c->hidden_size, error)) ||
      !(s->x = be->ops->tensor_new(be, a, rows, c->hidden_size, error)) ||
      !(s->xn = be->ops->tensor_new(be, a, rows, c->hidden_size, error)) ||
      !(s->qkv = be->ops->tensor_new(be, a, 3 * rows, c->hidden_size, error)) ||
      !(s->att = be->ops->tensor_new(be, a, rows, c->hidden_size, error)) ||
      !(s->out = be->ops->tensor_new(be, a, rows, c->hidden_size, error)) ||
      !(s->ff = be->ops->tensor_new(be, a, rows, c->intermediate_size, error))) {
    vit_state_clear(s);
    return FALSE;
  }
  s->q = ivl_tensor_view_rows(s->qkv, 0, rows);
  s->k = ivl_tensor_view_rows(s->qkv, rows, rows);
  s->v = ivl_tensor_view_rows(s->qkv, 2 * rows, rows);
  return TRUE;
}

/* Columns [col0, col0 + n) of a vector [1, cols]. */
static ivl_tensor vector_part(const ivl_tensor *t, int64_t col0, int64_t n)
{
  ivl_tensor v = *t;
  v.cols = n;
  v.data = (char *)t->data + (size_t)col0 * ivl_dtype_size(t->dtype);
  v.owns_data = FALSE;
  return v;
}

/* attn.qkv is loaded as one weight (and bias) with q, k, v as views of it for a backend that
 * multiplies the three at once (matmul_qkv), unless it is quantized (a row view of a quantized
 * weight does not exist). */
static gboolean qkv_whole(ivl_vision *vis, ivl_loader *ld, int l)
{
  const int64_t d = vis->cfg.hidden_size;
  g_autofree char *name = g_strdup_printf("vision_model.encoder.layers.%d.attn.qkv.weight", l);
  return vis->be->ops->matmul_qkv != NULL && !ivl_loader_quantizes(ld, name, 3 * d, d);
}

static gboolean load_qkv_whole(ivl_vision *vis, ivl_loader *ld, vit_layer *w, int l, GError **error)
{
  const int64_t d = vis->cfg.hidden_size, blocks[3] = {0, 1, 2};
  const char *p = "vision_model.encoder.layers";
  ivl_tensor *qkv =
      ivl_loader_weight_gather(ld, 3 * d, d, d, blocks, 3, error, "%s.%d.attn.qkv.weight", p, l);
  if (!qkv)
    return FALSE;
  for (int m = 0; m < 3; m++)
    w->qkv_parts[m] = ivl_tensor_view_rows(qkv, m * d, d);
  w->wq = &w->qkv_parts[0], w->wk = &w->qkv_parts[1], w->wv = &w->qkv_parts[2];
  if (vis->cfg.qkv_bias) {
    ivl_tensor *b =
        ivl_loader_weight_gather(ld, 3 * d, 1, d, blocks, 3, error, "%s.%d.attn.qkv.bias", p, l);
    if (!b)
      return FALSE;
    for (int m = 0; m < 3; m++)
      w->qkv_parts[3 + m] = vector_part(b, m * d, d);
    w->bq = &w->qkv_parts[3], w->bk = &w->qkv_parts[4], w->bv = &w->qkv_parts[5];
  }
  return TRUE;
}

static gboolean load_layer(ivl_vision *vis, ivl_loader *ld, int l, GError **error)
{
  const ivl_vision_config *c = &vis->cfg;
  vit_layer *w = &vis->layers[l];
  int64_t d = c->hidden_size, f = c->intermediate_size;
  gboolean ln = c->norm_type == IVL_NORM_LAYER_NORM;
  const char *p = "vision_model.encoder.layers";

#define W(dst, r, cc, ...)                                                                         \
  if (!((dst) = ivl_loader_weight(ld, r, cc, error, __VA_ARGS__)))                                 \
  return FALSE
#define WROWS(dst, total, row0, cc, ...)                                                           \
  if (!((dst) = ivl_loader_weight_rows(ld, total, row0, d, cc, error, __VA_ARGS__)))               \
  return FALSE
  W(w->norm1_w, 1, d, "%s.%d.norm1.weight", p, l);
  W(w->norm2_w, 1, d, "%s.%d.norm2.weight", p, l);
  if (ln) {
    W(w->norm1_b, 1, d, "%s.%d.norm1.bias", p, l);
    W(w->norm2_b, 1, d, "%s.%d.norm2.bias", p, l);
  }
  if (qkv_whole(vis, ld, l)) {
    if (!load_qkv_whole(vis, ld, w, l, error))
      return FALSE;
  } else {
    WROWS(w->wq, 3 * d, 0, d, "%s.%d.attn.qkv.weight", p, l);
    WROWS(w->wk, 3 * d, d, d, "%s.%d.attn.qkv.weight", p, l);
    WROWS(w->wv, 3 * d, 2 * d, d, "%s.%d.attn.qkv.weight", p, l);
    if (c->qkv_bias) {
      WROWS(w->bq, 3 * d, 0, 1, "%s.%d.attn.qkv.bias", p, l);
      WROWS(w->bk, 3 * d, d, 1, "%s.%d.attn.qkv.bias", p, l);
      WROWS(w->bv, 3 * d, 2 * d, 1, "%s.%d.attn.qkv.bias", p, l);
    }
  }
  if (c->qk_normalization) {
    W(w->q_norm, 1, d, "%s.%d.attn.q_norm.weight", p, l);
    W(w->k_norm, 1, d, "%s.%d.attn.k_norm.weight", p, l);
  }
  W(w->proj_w, d, d, "%s.%d.attn.proj.weight", p, l);
  W(w->proj_b, 1, d, "%s.%d.attn.proj.bias", p, l);
  W(w->ls1, 1, d, "%s.%d.ls1", p, l);
  W(w->ls2, 1, d, "%s.%d.ls2", p, l);
  W(w->fc1_w, f, d, "%s.%d.mlp.fc1.weight", p, l);
  W(w->fc1_b, 1, f, "%s.%d.mlp.fc1.bias", p, l);
  W(w->fc2_w, d, f, "%s.%d.mlp.fc2.weight", p, l);
  W(w->fc2_b, 1, d, "%s.%d.mlp.fc2.bias", p, l);
#undef W
#undef WROWS
  return TRUE;
}

/* The position table is only ever used at its stored 32x32 grid (spec 7a.3: chat() feeds
 * 448 tiles), so the bicubic resize is the identity and the table is added as stored. The
 * class embedding is folded into row 0 here once. */
static gboolean load_embeddings(ivl_vision *vis, ivl_loader *ld, GError **error)
{
  ivl_backend *be = vis->be;
  int64_t d = vis->cfg.hidden_size;
  int64_t pp = (int64_t)vis->cfg.num_channels * vis->cfg.patch_size * vis->cfg.patch_size;
  int64_t n_pos = vis->n_patches + 1;

  if (!(vis->patch_w = ivl_loader_weight(ld, d, pp, error,
                                         "vision_model.embeddings.patch_embedding.weight")) ||
      !(vis->patch_b =
            ivl_loader_weight(ld, 1, d, error, "vision_model.embeddings.patch_embedding.bias")))
    return FALSE;
  g_autofree float *cls =
      ivl_loader_read_f32(ld, d, error, "vision_model.embeddings.class_embedding");
  if (!cls)
    return FALSE;
  g_autofree float *pos =
      ivl_loader_read_f32(ld, n_pos * d, error, "vision_model.embeddings.position_embedding");
  if (!pos)
    return FALSE;
  for (int64_t i = 0; i < d; i++)
    pos[i] += cls[i];
  if (!(vis->cls_pos = be->ops->tensor_new(be, be->act_dtype, 1, d, error)) ||
      !(vis->patch_pos = be->ops->tensor_new(be, be->act_dtype, n_pos - 1, d, error)))
    return FALSE;
  return be->ops->upload_f32(be, vis->cls_pos, 0, 1, pos, error) &&
         be->ops->upload_f32(be, vis->patch_pos, 0, n_pos - 1, pos + d, error);
}

ivl_vision *ivl_vision_new(ivl_backend *be, const ivl_vision_config *cfg, int select_layer,
                           ivl_loader *ld, GError **error)
{
  ivl_vision *vis = g_new0(ivl_vision, 1);
  vis->be = be;
  vis->cfg = *cfg;
  vis->grid = cfg->image_size / cfg->patch_size;
  vis->n_patches = vis->grid * vis->grid;
  /* hidden_states has num_layers + 1 entries (the embeddings first), indexed like Python. */
  vis->n_run = select_layer < 0 ? cfg->num_layers + 1 + select_layer : select_layer;
  if (vis->n_run < 0 || vis->n_run > cfg->num_layers) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_UNSUPPORTED,
                "select_layer %d is outside the %d vision layers", select_layer, cfg->num_layers);
    ivl_vision_free(vis);
    return NULL;
  }
  vis->layers = g_new0(vit_layer, MAX(vis->n_run, 1));
  if (!load_embeddings(vis, ld, error)) {
    ivl_vision_free(vis);
    return NULL;
  }
  for (int l = 0; l < vis->n_run; l++) {
    if (!load_layer(vis, ld, l, error)) {
      ivl_vision_free(vis);
      return NULL;
    }
  }
  return vis;
}

void ivl_vision_free(ivl_vision *vis)
{
  if (!vis)
    return;
  if (vis->cls_pos)
    vis->be->ops->tensor_free(vis->be, vis->cls_pos);
  if (vis->patch_pos)
    vis->be->ops->tensor_free(vis->be, vis->patch_pos);
  g_free(vis->layers);
  g_free(vis);
}

/* x = [cls + pos0, patch_embed(tile) + pos[1:]] per tile. */
static void embed(ivl_vision *vis, vit_state *s, int n)
{
  ivl_backend *be = vis->be;
  const ivl_backend_ops *o = be->ops;
  int64_t np = vis->n_patches, t = np + 1;

  o->patchify(be, s->patches, s->pixels, n, vis->cfg.image_size, vis->cfg.patch_size);
  o->matmul(be, s->embed, s->patches, vis->patch_w, vis->patch_b);
  for (int i = 0; i < n; i++) {
    o->copy_rows(be, s->x, i * t, vis->cls_pos, 0, 1);
    ivl_tensor dst = ivl_tensor_view_rows(s->x, i * t + 1, np);
    ivl_tensor src = ivl_tensor_view_rows(s->embed, i * np, np);
    o->add(be, &dst, &src, vis->patch_pos);
  }
}

static void norm(ivl_vision *vis, ivl_tensor *y, const ivl_tensor *x, const ivl_tensor *w,
                 const ivl_tensor *b)
{
  float eps = (float)vis->cfg.layer_norm_eps;
  if (vis->cfg.norm_type == IVL_NORM_LAYER_NORM)
    vis->be->ops->layer_norm(vis->be, y, x, w, b, eps);
  else
    vis->be->ops->rms_norm(vis->be, y, x, w, eps);
}

/* x += ls * (a w^T + b), through s->out; then xn = norm(x) with nw, nb unless nw is NULL. */
static void scaled_residual(ivl_vision *vis, vit_state *s, const ivl_tensor *a, const ivl_tensor *w,
                            const ivl_tensor *b, const ivl_tensor *ls, const ivl_tensor *nw,
                            const ivl_tensor *nb)
{
  ivl_backend *be = vis->be;
  if (be->ops->matmul_add_scaled) {
    be->ops->matmul_add_scaled(be, s->x, s->out, a, w, b, ls, nw ? s->xn : NULL, nw, nb,
                               (float)vis->cfg.layer_norm_eps);
    return;
  }
  be->ops->matmul(be, s->out, a, w, b);
  be->ops->add_scaled(be, s->x, s->out, ls);
  if (nw)
    norm(vis, s->xn, s->x, nw, nb);
}

/* x = x + ls1 * proj(attn(norm1(x))); x = x + ls2 * fc2(gelu(fc1(norm2(x)))), with norm1(x)
 * in xn on entry, and on return the next layer's norm1(x) unless next is NULL. */
static void layer_forward(ivl_vision *vis, const vit_layer *w, const vit_layer *next, vit_state *s,
                          int n)
{
  ivl_backend *be = vis->be;
  const ivl_backend_ops *o = be->ops;
  const ivl_vision_config *c = &vis->cfg;
  float eps = (float)c->layer_norm_eps;

  if (o->matmul_qkv) {
    o->matmul_qkv(be, &s->q, &s->k, &s->v, s->xn, w->wq, w->wk, w->wv, w->bq, w->bk, w->bv);
  } else {
    o->matmul(be, &s->q, s->xn, w->wq, w->bq);
    o->matmul(be, &s->k, s->xn, w->wk, w->bk);
    o->matmul(be, &s->v, s->xn, w->wv, w->bv);
  }
  const ivl_tensor *q = &s->q, *k = &s->k;
  if (w->q_norm) {
    /* 6B: RMSNorm over all Dv channels of q and k, before the split into heads; xn and out
     * are free until proj. */
    o->rms_norm(be, s->xn, q, w->q_norm, eps);
    o->rms_norm(be, s->out, k, w->k_norm, eps);
    q = s->xn, k = s->out;
  }
  o->attention(be, s->att, q, k, &s->v, n, c->num_heads, c->num_heads, c->head_dim, FALSE, 0,
               1.0f / sqrtf((float)c->head_dim));
  scaled_residual(vis, s, s->att, w->proj_w, w->proj_b, w->ls1, w->norm2_w, w->norm2_b);

  if (o->matmul_gelu) {
    o->matmul_gelu(be, s->ff, s->xn, w->fc1_w, w->fc1_b);
  } else {
    o->matmul(be, s->ff, s->xn, w->fc1_w, w->fc1_b);
    o->gelu(be, s->ff);
  }
  scaled_residual(vis, s, s->ff, w->fc2_w, w->fc2_b, w->ls2, next ? next->norm1_w : NULL,
                  next ? next->norm1_b : NULL);
}

ivl_tensor *ivl_vision_encode(ivl_vision *vis, const float *pixels, int n_tiles, GError **error)
{
  ivl_backend *be = vis->be;
  const ivl_vision_config *c = &vis->cfg;
  vit_state s;

  g_return_val_if_fail(n_tiles > 0, NULL);
  if (!vit_state_init(&s, vis, n_tiles, error))
    return NULL;
  if (!be->ops->upload_f32(be, s.pixels, 0, (int64_t)n_tiles * c->num_channels, pixels, error)) {
    vit_state_clear(&s);
    return NULL;
  }
  embed(vis, &s, n_tiles);
  if (vis->n_run > 0)
    norm(vis, s.xn, s.x, vis->layers[0].norm1_w, vis->layers[0].norm1_b);
  for (int l = 0; l < vis->n_run; l++) {
    const vit_layer *next = l + 1 < vis->n_run ? &vis->layers[l + 1] : NULL;
    layer_forward(vis, &vis->layers[l], next, &s, n_tiles);
    if (!ivl_backend_take_error(be, error)) {
      vit_state_clear(&s);
      return NULL;
    }
  }
  if (!ivl_backend_take_error(be, error)) {
    vit_state_clear(&s);
    return NULL;
  }
  ivl_tensor *x = g_steal_pointer(&s.x);
  vit_state_clear(&s);
  return x;
}
