/* projector.c — spec 7b: drop the cls token, pixel shuffle v2 (x0.5), then
 * mlp1 = LayerNorm(4Dv, eps 1e-5) -> Linear(4Dv, Dl) -> GELU -> Linear(Dl, Dl). */
#include "projector.h"

#include "ivl.h"
#include "tensor-view.h"

/* mlp1.0 is nn.LayerNorm's default eps, not the ViT's 1e-6 (spec 1a). */
#define MLP1_LN_EPS 1e-5f

struct ivl_projector {
  ivl_backend *be;
  int dv, dl;
  int grid;                /* vision patches per side (32) */
  ivl_tensor *ln_w, *ln_b; /* [1, 4Dv] */
  ivl_tensor *w1, *b1;     /* [Dl, 4Dv], [1, Dl] */
  ivl_tensor *w2, *b2;     /* [Dl, Dl], [1, Dl] */
};

ivl_projector *ivl_projector_new(ivl_backend *be, const ivl_config *cfg, ivl_loader *ld,
                                 GError **error)
{
  ivl_projector *p = g_new0(ivl_projector, 1);
  p->be = be;
  p->dv = cfg->vision.hidden_size;
  p->dl = cfg->llm.hidden_size;
  p->grid = cfg->force_image_size / cfg->vision.patch_size;
  if (cfg->downsample_ratio != 0.5 || g_strcmp0(cfg->ps_version, "v2") != 0 || p->grid % 2) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_UNSUPPORTED,
                "only pixel shuffle v2 with downsample_ratio 0.5 on an even grid is "
                "supported (got %s, %g, grid %d)",
                cfg->ps_version, cfg->downsample_ratio, p->grid);
    g_free(p);
    return NULL;
  }
  int64_t d4 = 4 * (int64_t)p->dv;
  if (!(p->ln_w = ivl_loader_weight(ld, 1, d4, error, "mlp1.0.weight")) ||
      !(p->ln_b = ivl_loader_weight(ld, 1, d4, error, "mlp1.0.bias")) ||
      !(p->w1 = ivl_loader_weight(ld, p->dl, d4, error, "mlp1.1.weight")) ||
      !(p->b1 = ivl_loader_weight(ld, 1, p->dl, error, "mlp1.1.bias")) ||
      !(p->w2 = ivl_loader_weight(ld, p->dl, p->dl, error, "mlp1.3.weight")) ||
      !(p->b2 = ivl_loader_weight(ld, 1, p->dl, error, "mlp1.3.bias"))) {
    g_free(p);
    return NULL;
  }
  return p;
}

void ivl_projector_free(ivl_projector *proj)
{
  g_free(proj);
}

gboolean ivl_projector_forward(ivl_projector *p, const ivl_tensor *vit, int n_tiles,
                               ivl_tensor *out, int64_t row0, GError **error)
{
  ivl_backend *be = p->be;
  const ivl_backend_ops *o = be->ops;
  int64_t np = (int64_t)p->grid * p->grid;
  int64_t n_out = (int64_t)n_tiles * np / 4;
  ivl_tensor *patches = NULL, *shuffled = NULL, *normed = NULL, *hidden = NULL;
  gboolean ok = FALSE;

  if (!(patches = o->tensor_new(be, be->act_dtype, n_tiles * np, p->dv, error)) ||
      !(shuffled = o->tensor_new(be, be->act_dtype, n_out, 4 * (int64_t)p->dv, error)) ||
      !(normed = o->tensor_new(be, be->act_dtype, n_out, 4 * (int64_t)p->dv, error)) ||
      !(hidden = o->tensor_new(be, be->act_dtype, n_out, p->dl, error)))
    goto out;
  for (int i = 0; i < n_tiles; i++)
    o->copy_rows(be, patches, i * np, vit, i * (np + 1) + 1, np);
  o->pixel_shuffle(be, shuffled, patches, n_tiles, p->grid);
  o->layer_norm(be, normed, shuffled, p->ln_w, p->ln_b, MLP1_LN_EPS);
  o->matmul(be, hidden, normed, p->w1, p->b1);
  o->gelu(be, hidden);
  ivl_tensor dst = ivl_tensor_view_rows(out, row0, n_out);
  o->matmul(be, &dst, hidden, p->w2, p->b2);
  ok = ivl_backend_take_error(be, error);
out:
  if (patches)
    o->tensor_free(be, patches);
  if (shuffled)
    o->tensor_free(be, shuffled);
  if (normed)
    o->tensor_free(be, normed);
  if (hidden)
    o->tensor_free(be, hidden);
  return ok;
}
