/* bench-cpu-ops — speed of the CPU backend's heavy ops next to the machine's ceilings, as JSON.
 *
 *   decode: every matmul of a Qwen2.5-0.5B decode step (24 layers of q/k/v/o/gate/up/down in
 *           bf16, distinct weights so nothing is cached, then lm_head 151674 x 896), as GB/s of
 *           weights streamed, and as a fraction of the measured read bandwidth;
 *   vision: the matmuls of one InternViT-300M layer on one 448 px tile (1025 tokens: qkv, proj,
 *           fc1, fc2) and its attention (16 heads of 64), as GFLOP/s and a fraction of the
 *           measured f32 FMA peak.
 * Usage: bench-cpu-ops [n_threads [rows]]   (IVL_CPU_NO_SIMD=1 for the portable kernels); rows
 * > 1 times only the decode step, with that many activation rows (a batch of streams). */
#include "backend.h"
#include "cpu-kernels.h"
#include "roofline.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  ivl_backend *be;
  GPtrArray *tensors;
  GPtrArray *buffers;
} bench;

static ivl_tensor *weight(bench *b, int64_t rows, int64_t cols)
{
  size_t bytes = (size_t)(rows * cols) * 2;
  void *host = NULL;
  if (posix_memalign(&host, 64, bytes) != 0) {
    fprintf(stderr, "out of memory\n");
    exit(1);
  }
  memset(host, 0x3c, bytes); /* bf16 0x3c3c = 0.0115: finite, and every page touched */
  g_ptr_array_add(b->buffers, host);
  ivl_tensor *t = b->be->ops->weight_from_host(b->be, IVL_DTYPE_BF16, rows, cols, host, NULL);
  g_ptr_array_add(b->tensors, t);
  return t;
}

static ivl_tensor *act(bench *b, int64_t rows, int64_t cols)
{
  ivl_tensor *t = b->be->ops->tensor_new(b->be, IVL_DTYPE_F32, rows, cols, NULL);
  float *v = t->data;
  for (int64_t i = 0; i < rows * cols; i++)
    v[i] = (float)((i * 7919) % 1000) * 1e-3f - 0.5f;
  g_ptr_array_add(b->tensors, t);
  return t;
}

static double now(void)
{
  return (double)g_get_monotonic_time() * 1e-6;
}

enum { Q, K, V, O, GATE, UP, DOWN, N_MATS };
static const int64_t qwen_shape[N_MATS][2] = {
    {896, 896}, {128, 896}, {128, 896}, {896, 896}, {4864, 896}, {4864, 896}, {896, 4864},
};

/* Best of `reps` decode steps; returns seconds, sets *bytes to the weight bytes of one step. */
static double bench_decode(bench *b, int reps, int64_t rows, double *bytes, double *lm_head_s)
{
  const ivl_backend_ops *ops = b->be->ops;
  ivl_tensor *w[24][N_MATS];
  *bytes = 0;
  for (int l = 0; l < 24; l++)
    for (int m = 0; m < N_MATS; m++) {
      w[l][m] = weight(b, qwen_shape[m][0], qwen_shape[m][1]);
      *bytes += (double)qwen_shape[m][0] * qwen_shape[m][1] * 2;
    }
  ivl_tensor *lm_head = weight(b, 151674, 896);
  ivl_tensor *x = act(b, rows, 896), *x_mlp = act(b, rows, 4864);
  ivl_tensor *y = act(b, rows, 4864), *logits = act(b, rows, 151674);
  double best = G_MAXDOUBLE;
  *lm_head_s = G_MAXDOUBLE;
  for (int r = 0; r < reps; r++) {
    double t0 = now();
    for (int l = 0; l < 24; l++)
      for (int m = 0; m < N_MATS; m++) {
        ivl_tensor out = *y;
        out.cols = qwen_shape[m][0];
        ops->matmul(b->be, &out, m == DOWN ? x_mlp : x, w[l][m], NULL);
      }
    double t1 = now();
    ops->matmul(b->be, logits, x, lm_head, NULL);
    double t2 = now();
    best = MIN(best, t2 - t0);
    *lm_head_s = MIN(*lm_head_s, t2 - t1);
  }
  *bytes += 151674.0 * 896 * 2;
  return best;
}

/* Best of `reps` runs of y[m, n] = x[m, k] w[n, k]ᵀ; returns seconds. */
static double bench_gemm(bench *b, int64_t m, int64_t n, int64_t k, int reps)
{
  ivl_tensor *w = weight(b, n, k), *x = act(b, m, k), *y = act(b, m, n);
  double best = G_MAXDOUBLE;
  for (int r = 0; r < reps; r++) {
    double t0 = now();
    b->be->ops->matmul(b->be, y, x, w, NULL);
    best = MIN(best, now() - t0);
  }
  return best;
}

static double bench_attention(bench *b, int reps)
{
  ivl_tensor *q = act(b, 1025, 1024), *k = act(b, 1025, 1024), *v = act(b, 1025, 1024);
  ivl_tensor *o = act(b, 1025, 1024);
  double best = G_MAXDOUBLE;
  for (int r = 0; r < reps; r++) {
    double t0 = now();
    b->be->ops->attention(b->be, o, q, k, v, 1, 16, 16, 64, FALSE, 0, 0.125f);
    best = MIN(best, now() - t0);
  }
  return best;
}

/* Best of `reps` GELUs over the vision MLP's hidden activations [1025, 4096]. */
static double bench_gelu(bench *b, int reps)
{
  ivl_tensor *x = act(b, 1025, 4096);
  double best = G_MAXDOUBLE;
  for (int r = 0; r < reps; r++) {
    double t0 = now();
    b->be->ops->gelu(b->be, x);
    best = MIN(best, now() - t0);
  }
  return best;
}

int main(int argc, char **argv)
{
  int n_threads = argc > 1 ? atoi(argv[1]) : 0;
  int64_t rows = argc > 2 ? MAX(1, atoi(argv[2])) : 1;
  g_autoptr(GError) error = NULL;
  ivl_roofline roof;
  if (!ivl_roofline_measure(n_threads, &roof, &error)) {
    fprintf(stderr, "roofline: %s\n", error->message);
    return 1;
  }
  bench b = {ivl_backend_cpu_new(n_threads, &error), g_ptr_array_new(), g_ptr_array_new()};
  if (b.be == NULL) {
    fprintf(stderr, "backend: %s\n", error->message);
    return 1;
  }
  double bytes, lm_s;
  double dec_s = bench_decode(&b, 5, rows, &bytes, &lm_s);
  double lm_bytes = 151674.0 * 896 * 2;

  printf("{\n  \"threads\": %d,\n  \"kernels\": \"%s\",\n", roof.n_threads,
         cpu_simd_available() ? "avx2" : "portable");
  printf("  \"roofline\": {\"read_GBps\": %.2f, \"f32_GFLOPps\": %.2f},\n",
         roof.read_bytes_per_s * 1e-9, roof.f32_flops_per_s * 1e-9);
  printf("  \"decode_qwen2.5_0.5b\": {\"rows\": %" G_GINT64_FORMAT ", \"weight_MB\": %.1f, "
         "\"ms_per_step\": %.2f, \"GBps\": %.2f, \"fraction_of_bandwidth\": %.3f,\n"
         "    \"lm_head_ms\": %.2f, \"lm_head_GBps\": %.2f, \"lm_head_fraction\": %.3f}%s\n",
         rows, bytes * 1e-6, dec_s * 1e3, bytes / dec_s * 1e-9,
         bytes / dec_s / roof.read_bytes_per_s, lm_s * 1e3, lm_bytes / lm_s * 1e-9,
         lm_bytes / lm_s / roof.read_bytes_per_s, rows > 1 ? "\n}" : ",");
  if (rows > 1)
    goto out;

  static const struct {
    const char *name;
    int64_t n, k;
  } vit[] = {{"qkv", 3072, 1024}, {"proj", 1024, 1024}, {"fc1", 4096, 1024}, {"fc2", 1024, 4096}};
  printf("  \"vision_tile_internvit_300m\": {\n");
  double total_flop = 0, total_s = 0;
  for (size_t i = 0; i < G_N_ELEMENTS(vit); i++) {
    double s = bench_gemm(&b, 1025, vit[i].n, vit[i].k, 3);
    double flop = 2.0 * 1025 * vit[i].n * vit[i].k;
    total_flop += flop;
    total_s += s;
    printf("    \"%s\": {\"ms\": %.2f, \"GFLOPps\": %.2f, \"fraction_of_peak\": %.3f},\n",
           vit[i].name, s * 1e3, flop / s * 1e-9, flop / s / roof.f32_flops_per_s);
  }
  double att_s = bench_attention(&b, 3);
  double att_flop = 16 * 2.0 * 2 * 1025 * 1025 * 64;
  printf("    \"attention\": {\"ms\": %.2f, \"GFLOPps\": %.2f, \"fraction_of_peak\": %.3f},\n",
         att_s * 1e3, att_flop / att_s * 1e-9, att_flop / att_s / roof.f32_flops_per_s);
  printf("    \"gelu_fc1\": {\"ms\": %.2f},\n", bench_gelu(&b, 3) * 1e3);
  printf("    \"layer_matmuls\": {\"ms\": %.2f, \"GFLOPps\": %.2f, \"fraction_of_peak\": %.3f}\n"
         "  }\n}\n",
         total_s * 1e3, total_flop / total_s * 1e-9, total_flop / total_s / roof.f32_flops_per_s);

out:
  for (guint i = 0; i < b.tensors->len; i++)
    b.be->ops->tensor_free(b.be, b.tensors->pdata[i]);
  for (guint i = 0; i < b.buffers->len; i++)
    free(b.buffers->pdata[i]);
  g_ptr_array_unref(b.tensors);
  g_ptr_array_unref(b.buffers);
  b.be->ops->free(b.be);
  return 0;
}
