/* test-cuda-fused — the CUDA backend's decode fusions (issue 16, item 3) give bitwise what the
 * ops they replace give on the same backend (whose results test-backend-ops checks against
 * the CPU): add_rms_norm against add then rms_norm, matmul_silu_mul against two matmuls and
 * silu_mul, matmul_qkv against three matmuls, rope_store_kv against two ropes and two
 * copy_rows, on the 1B's shapes and on widths the fused kernels do not take. Exit 77 without
 * a CUDA device. */
#include "ivl-config.h"

#include "backend.h"
#include "ops-harness.h"
#include "ivl.h"

#include <math.h>
#include <string.h>

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

static void assert_same(const ivl_tensor *a, const ivl_tensor *b)
{
  g_autofree float *x = download(a), *y = download(b);
  g_assert_cmpmem(x, sizeof(float) * a->rows * a->cols, y, sizeof(float) * b->rows * b->cols);
}

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
  g_test_add_func("/cuda-fused/rope-store-kv", test_rope_store_kv);
  const int rc = g_test_run();
  be->ops->free(be);
  return rc;
}
