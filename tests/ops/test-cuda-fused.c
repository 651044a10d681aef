/* test-cuda-fused — the CUDA backend's decode fusions (issue 16, item 3) and vision epilogues
 * (item 5) give bitwise what the ops they replace give on the same backend (whose results
 * test-backend-ops checks against the CPU): add_rms_norm against add then rms_norm,
 * matmul_silu_mul against two matmuls and silu_mul, matmul_qkv against three matmuls (one row
 * and many), rope_store_kv against two ropes and two copy_rows, matmul_gelu against matmul
 * then gelu, matmul_add_scaled against matmul, add_scaled and a norm, on the 1B's shapes and on
 * widths the fused kernels do not take; under the emulation, each saves the launches it is
 * for. Exit 77 without a CUDA device. */
#include "ivl-config.h"

#include "backend.h"
#include "ops-harness.h"
#include "ivl.h"
#include "tensor-view.h"

#include <math.h>
#include <string.h>
#if IVL_CUDA_EMULATION
#include "ivl-emu.h"
#endif

static ivl_backend *be;

static ivl_tensor *act(int64_t rows, int64_t cols, float seed)
{
  g_autoptr(GError) error = NULL;
  ivl_tensor *t = be->ops->tensor_new(be, be->act_dtype, rows, cols, &error);
  g_assert_no_error(error);
  g_autofree float *host = g_new(float, rows *cols);
  for (int64_t i = 0; i < rows * cols; i++)
    host[i] = sinf(seed + 0.37f * (float)i);
  g_assert_true(be->ops->upload_f32(be, t, 0, rows, host, &error));
  return t;
}

static ivl_tensor *weight(int64_t rows, int64_t cols, float seed)
{
  g_autoptr(GError) error = NULL;
  g_autofree uint16_t *host = g_new(uint16_t, rows * cols);
  for (int64_t i = 0; i < rows * cols; i++) {
    const float v = 0.05f * cosf(seed + 0.11f * (float)i);
    uint32_t bits;
    memcpy(&bits, &v, 4);
    host[i] = (uint16_t)(bits >> 16);
  }
  ivl_tensor *t = be->ops->weight_from_host(be, IVL_DTYPE_BF16, rows, cols, host, &error);
  g_assert_no_error(error);
  return t;
}

static float *download(const ivl_tensor *t)
{
  g_autoptr(GError) error = NULL;
  float *host = g_new(float, t->rows * t->cols);
  g_assert_true(be->ops->download_f32(be, t, 0, t->rows, host, &error));
  return host;
}

/* Kernel launches and cuBLAS calls so far, under the emulation (0 on a GPU): a fusion must
 * save the launches it is for, not only give the same bits. */
static guint64 launches(void)
{
#if IVL_CUDA_EMULATION
  ivl_emu_stats st;
  ivl_emu_get_stats(&st);
  return st.launches + st.gemms;
#else
  return 0;
#endif
}

static void assert_saves(guint64 composed, guint64 fused, guint64 saved)
{
#if IVL_CUDA_EMULATION
  g_assert_cmpuint(fused + saved, ==, composed);
#else
  (void)composed, (void)fused, (void)saved;
#endif
}

static void assert_same(const ivl_tensor *a, const ivl_tensor *b)
{
  g_autofree float *x = download(a), *y = download(b);
  g_assert_cmpmem(x, sizeof(float) * a->rows * a->cols, y, sizeof(float) * b->rows * b->cols);
}

#if !IVL_CUDA_EMULATION
/* sum((a - b)²) / sum(a²) <= nmse */
static void assert_close(const ivl_tensor *a, const ivl_tensor *b, double nmse)
{
  g_autofree float *x = download(a), *y = download(b);
  double num = 0.0, den = 0.0;
  for (int64_t i = 0; i < a->rows * a->cols; i++)
    num += ((double)x[i] - y[i]) * ((double)x[i] - y[i]), den += (double)x[i] * x[i];
  g_assert_cmpfloat(num, <=, nmse * den);
}
#endif

static void test_add_rms_norm(void)
{
  const int64_t rows = 3, cols = 896;
  ivl_tensor *x1 = act(rows, cols, 1), *x2 = act(rows, cols, 1), *r = act(rows, cols, 2);
  ivl_tensor *y1 = act(rows, cols, 0), *y2 = act(rows, cols, 0), *w = weight(1, cols, 3);
  be->ops->add(be, x1, x1, r);
  be->ops->rms_norm(be, y1, x1, w, 1e-6f);
  be->ops->add_rms_norm(be, y2, x2, r, w, 1e-6f);
  assert_same(x1, x2);
  assert_same(y1, y2);
  ivl_tensor *all[] = {x1, x2, r, y1, y2, w};
  for (gsize i = 0; i < G_N_ELEMENTS(all); i++)
    be->ops->tensor_free(be, all[i]);
}

static void check_gate_up(int64_t out, int64_t in)
{
  ivl_tensor *x = act(1, in, 4), *wg = weight(out, in, 5), *wu = weight(out, in, 6);
  ivl_tensor *g1 = act(1, out, 0), *u1 = act(1, out, 0), *g2 = act(1, out, 0), *u2 = act(1, out, 0);
  be->ops->matmul(be, g1, x, wg, NULL);
  be->ops->matmul(be, u1, x, wu, NULL);
  be->ops->silu_mul(be, g1, u1);
  be->ops->matmul_silu_mul(be, g2, u2, x, wg, wu);
  assert_same(g1, g2);
  ivl_tensor *all[] = {x, wg, wu, g1, u1, g2, u2};
  for (gsize i = 0; i < G_N_ELEMENTS(all); i++)
    be->ops->tensor_free(be, all[i]);
}

/* The 1B's MLP (fused kernel), and an input width the 16-byte GEMV does not take (the three
 * ops). */
static void test_matmul_silu_mul(void)
{
  check_gate_up(4864, 896);
  check_gate_up(37, 60);
}

static void check_qkv(int64_t in, int64_t qd, int64_t kvd, gboolean bias)
{
  ivl_tensor *x = act(1, in, 7);
  ivl_tensor *w[3] = {weight(qd, in, 8), weight(kvd, in, 9), weight(kvd, in, 10)};
  ivl_tensor *b[3] = {NULL, NULL, NULL};
  ivl_tensor *y1[3], *y2[3];
  for (int m = 0; m < 3; m++) {
    if (bias)
      b[m] = weight(1, w[m]->rows, 11 + m);
    y1[m] = act(1, w[m]->rows, 0);
    y2[m] = act(1, w[m]->rows, 0);
    be->ops->matmul(be, y1[m], x, w[m], b[m]);
  }
  be->ops->matmul_qkv(be, y2[0], y2[1], y2[2], x, w[0], w[1], w[2], b[0], b[1], b[2]);
  for (int m = 0; m < 3; m++) {
    assert_same(y1[m], y2[m]);
    be->ops->tensor_free(be, w[m]);
    be->ops->tensor_free(be, y1[m]);
    be->ops->tensor_free(be, y2[m]);
    if (b[m])
      be->ops->tensor_free(be, b[m]);
  }
  be->ops->tensor_free(be, x);
}

/* The 1B's q|k|v with biases, and an input width the 16-byte GEMV does not take. */
static void test_matmul_qkv(void)
{
  check_qkv(896, 896, 128, TRUE);
  check_qkv(60, 64, 64, FALSE);
}

/* Many rows (vision tiles, prefill): three cuBLAS products, or one when q, k, v and their
 * weights are row blocks of one tensor each (as the vision tower holds them), then their
 * biases in one launch. cuBLAS may sum a batched product in another order than a single one:
 * bitwise under the emulation, within a bf16 rounding on a GPU. */
static void check_qkv_rows(int64_t rows, int64_t in, int64_t qd, int64_t kvd, int n_bias,
                           gboolean one_buffer)
{
  ivl_tensor *x = act(rows, in, 17);
  ivl_tensor *w_all = one_buffer ? weight(3 * qd, in, 18) : NULL;
  ivl_tensor *y_all = one_buffer ? act(3 * rows, qd, 0) : NULL;
  ivl_tensor wv[3], yv[3];
  ivl_tensor *w[3], *b[3] = {NULL, NULL, NULL}, *y1[3], *y2[3];
  for (int m = 0; m < 3; m++) {
    const int64_t d = m == 0 ? qd : kvd;
    if (one_buffer) {
      wv[m] = ivl_tensor_view_rows(w_all, m * qd, qd);
      yv[m] = ivl_tensor_view_rows(y_all, m * rows, rows);
      w[m] = &wv[m], y2[m] = &yv[m];
    } else {
      w[m] = weight(d, in, 18 + m);
      y2[m] = act(rows, d, 0);
    }
    if (m < n_bias)
      b[m] = weight(1, d, 21 + m);
    y1[m] = act(rows, d, 0);
  }
  const guint64 t0 = launches();
  for (int m = 0; m < 3; m++)
    be->ops->matmul(be, y1[m], x, w[m], b[m]);
  const guint64 t1 = launches();
  be->ops->matmul_qkv(be, y2[0], y2[1], y2[2], x, w[0], w[1], w[2], b[0], b[1], b[2]);
  assert_saves(t1 - t0, launches() - t1, (n_bias - 1) + (one_buffer ? 2 : 0));
  for (int m = 0; m < 3; m++) {
#if IVL_CUDA_EMULATION
    assert_same(y1[m], y2[m]);
#else
    assert_close(y1[m], y2[m], 1e-5);
#endif
    ivl_tensor *all[] = {one_buffer ? NULL : w[m], one_buffer ? NULL : y2[m], y1[m], b[m]};
    for (gsize i = 0; i < G_N_ELEMENTS(all); i++)
      if (all[i])
        be->ops->tensor_free(be, all[i]);
  }
  ivl_tensor *all[] = {x, w_all, y_all};
  for (gsize i = 0; i < G_N_ELEMENTS(all); i++)
    if (all[i])
      be->ops->tensor_free(be, all[i]);
}

/* A vision tile's q|k|v (one buffer, one weight, biases), a prefill's (GQA widths), one bias
 * of three. */
static void test_matmul_qkv_rows(void)
{
  check_qkv_rows(37, 64, 64, 64, 3, TRUE);
  check_qkv_rows(9, 96, 96, 32, 3, FALSE);
  check_qkv_rows(5, 64, 64, 32, 1, FALSE);
}

/* fc1 + GELU against matmul then gelu: many rows (cuBLAS and the fused epilogue), one row (the
 * GEMV and gelu), with and without a bias. */
static void check_matmul_gelu(int64_t rows, int64_t out, int64_t in, gboolean bias)
{
  ivl_tensor *x = act(rows, in, 24), *w = weight(out, in, 25);
  ivl_tensor *b = bias ? weight(1, out, 26) : NULL;
  ivl_tensor *y1 = act(rows, out, 0), *y2 = act(rows, out, 0);
  const guint64 t0 = launches();
  be->ops->matmul(be, y1, x, w, b);
  be->ops->gelu(be, y1);
  const guint64 t1 = launches();
  be->ops->matmul_gelu(be, y2, x, w, b);
  assert_saves(t1 - t0, launches() - t1, rows > 1 && bias);
  assert_same(y1, y2);
  ivl_tensor *all[] = {x, w, b, y1, y2};
  for (gsize i = 0; i < G_N_ELEMENTS(all); i++)
    if (all[i])
      be->ops->tensor_free(be, all[i]);
}

static void test_matmul_gelu(void)
{
  check_matmul_gelu(33, 256, 64, TRUE);
  check_matmul_gelu(7, 40, 24, FALSE);
  check_matmul_gelu(1, 256, 64, TRUE);
}

/* proj/fc2 + bias + layer scale + residual (+ the next norm: 0 none, 1 layer norm, 2 RMS
 * norm) against matmul, add_scaled (and the norm). */
static void check_matmul_add_scaled(int64_t rows, int64_t out, int64_t in, gboolean bias, int norm)
{
  ivl_tensor *x = act(rows, in, 27), *w = weight(out, in, 28), *ls = weight(1, out, 29);
  ivl_tensor *b = bias ? weight(1, out, 30) : NULL;
  ivl_tensor *nw = norm ? weight(1, out, 32) : NULL, *nb = norm == 1 ? weight(1, out, 33) : NULL;
  ivl_tensor *r1 = act(rows, out, 31), *r2 = act(rows, out, 31);
  ivl_tensor *o1 = act(rows, out, 0), *o2 = act(rows, out, 0);
  ivl_tensor *n1 = act(rows, out, 0), *n2 = act(rows, out, 0);
  const guint64 t0 = launches();
  be->ops->matmul(be, o1, x, w, b);
  be->ops->add_scaled(be, r1, o1, ls);
  if (norm == 1)
    be->ops->layer_norm(be, n1, r1, nw, nb, 1e-6f);
  else if (norm == 2)
    be->ops->rms_norm(be, n1, r1, nw, 1e-6f);
  const guint64 t1 = launches();
  be->ops->matmul_add_scaled(be, r2, o2, x, w, b, ls, norm ? n2 : NULL, nw, nb, 1e-6f);
  assert_saves(t1 - t0, launches() - t1, rows > 1 ? (bias != FALSE) + (norm != 0) : 0);
  assert_same(r1, r2);
  assert_same(n1, n2);
  ivl_tensor *all[] = {x, w, ls, b, nw, nb, r1, r2, o1, o2, n1, n2};
  for (gsize i = 0; i < G_N_ELEMENTS(all); i++)
    if (all[i])
      be->ops->tensor_free(be, all[i]);
}

static void test_matmul_add_scaled(void)
{
  check_matmul_add_scaled(33, 64, 256, TRUE, 0);
  check_matmul_add_scaled(6, 24, 40, FALSE, 0);
  check_matmul_add_scaled(1, 64, 256, TRUE, 0);
  check_matmul_add_scaled(33, 320, 64, TRUE, 1);
  check_matmul_add_scaled(5, 96, 32, TRUE, 2);
  check_matmul_add_scaled(1, 64, 256, TRUE, 1);
}

/* rows rows at pos0 of a cache of cache rows: rope + copies against the fused op. */
static void check_rope_store_kv(int64_t rows, int heads, int kv_heads, int hd, int64_t pos0,
                                int64_t cache)
{
  ivl_tensor *q1 = act(rows, heads * hd, 12), *q2 = act(rows, heads * hd, 12);
  ivl_tensor *k1 = act(rows, kv_heads * hd, 13), *k2 = act(rows, kv_heads * hd, 13);
  ivl_tensor *v = act(rows, kv_heads * hd, 14);
  ivl_tensor *kc1 = act(cache, kv_heads * hd, 15), *kc2 = act(cache, kv_heads * hd, 15);
  ivl_tensor *vc1 = act(cache, kv_heads * hd, 16), *vc2 = act(cache, kv_heads * hd, 16);
  be->ops->rope(be, q1, heads, hd, pos0, 1e6);
  be->ops->rope(be, k1, kv_heads, hd, pos0, 1e6);
  be->ops->copy_rows(be, kc1, pos0, k1, 0, rows);
  be->ops->copy_rows(be, vc1, pos0, v, 0, rows);
  be->ops->rope_store_kv(be, q2, k2, v, kc2, vc2, heads, kv_heads, hd, pos0, 1e6);
  assert_same(q1, q2);
  assert_same(k1, k2);
  assert_same(kc1, kc2);
  assert_same(vc1, vc2);
  ivl_tensor *all[] = {q1, q2, k1, k2, v, kc1, kc2, vc1, vc2};
  for (gsize i = 0; i < G_N_ELEMENTS(all); i++)
    be->ops->tensor_free(be, all[i]);
}

/* Decode of the 1B at 300 and of the 8B's heads at 5000, and 7 prefill rows. */
static void test_rope_store_kv(void)
{
  check_rope_store_kv(1, 14, 2, 64, 300, 512);
  check_rope_store_kv(1, 28, 4, 128, 5000, 5001);
  check_rope_store_kv(7, 4, 2, 64, 9, 20);
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  be = ops_cuda_backend_or_skip();
  g_test_add_func("/cuda-fused/add-rms-norm", test_add_rms_norm);
  g_test_add_func("/cuda-fused/matmul-silu-mul", test_matmul_silu_mul);
  g_test_add_func("/cuda-fused/matmul-qkv", test_matmul_qkv);
  g_test_add_func("/cuda-fused/matmul-qkv-rows", test_matmul_qkv_rows);
  g_test_add_func("/cuda-fused/matmul-gelu", test_matmul_gelu);
  g_test_add_func("/cuda-fused/matmul-add-scaled", test_matmul_add_scaled);
  g_test_add_func("/cuda-fused/rope-store-kv", test_rope_store_kv);
  const int rc = g_test_run();
  be->ops->free(be);
  return rc;
}
