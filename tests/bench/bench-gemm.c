/* bench-gemm — speed of the CPU backend's packed GEMM on the shapes where prefill and the vision
 * tower spend their time, next to the f32 FMA peak measured in the same run, as JSON.
 *
 *   prefill: the matmuls of one Qwen2.5-0.5B layer on 512 rows (q, k, v, o, gate, up, down),
 *            bf16 weights; chunk: the same on 256 rows, the chunks prefill runs in
 *            (language.c);
 *   vision:  the matmuls of one InternViT-300M layer on a 448 px tile (1025 rows: qkv, proj,
 *            fc1, fc2), bf16 weights, and its attention (16 heads of 64 over 1025 tokens,
 *            the scores and the values products);
 * with the bf16 dot products where the CPU has AVX512_BF16 ("bf16dot"), the f32 AVX-512 kernels
 * (IVL_CPU_BF16_DOT=0) and the AVX2 ones (IVL_CPU_NO_AVX512=1), the backends taking turns shape
 * by shape so all see the same moments of a shared machine. Fractions are of the f32 FMA peak;
 * the bf16dot path's also of the bf16 dot-product peak (vdpbf16ps, twice the FMA rate on Zen 4),
 * which is what its products use.
 * With one thread, times are the thread's CPU time, and the peak is taken the same way, so the
 * other processes of a shared machine do not count (with more, wall time and the roofline's
 * peak: a figure only for a quiet moment).
 * Usage: bench-gemm [n_threads [reps [prefill|chunk|vision|NAME]]]   (best of reps, default 5) */
#include "backend.h"
#include "cpu-kernels.h"
#include "roofline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

typedef struct {
  const char *group, *name;
  int64_t m, n, k; /* n = 0: the vision attention */
} shape;

static const shape shapes[] = {
    {"prefill", "q", 512, 896, 896},      {"prefill", "k", 512, 128, 896},
    {"prefill", "v", 512, 128, 896},      {"prefill", "o", 512, 896, 896},
    {"prefill", "gate", 512, 4864, 896},  {"prefill", "up", 512, 4864, 896},
    {"prefill", "down", 512, 896, 4864},  {"chunk", "q256", 256, 896, 896},
    {"chunk", "kv256", 256, 128, 896},    {"chunk", "o256", 256, 896, 896},
    {"chunk", "gate256", 256, 4864, 896}, {"chunk", "down256", 256, 896, 4864},
    {"vision", "qkv", 1025, 3072, 1024},  {"vision", "proj", 1025, 1024, 1024},
    {"vision", "fc1", 1025, 4096, 1024},  {"vision", "fc2", 1025, 1024, 4096},
    {"vision", "attention", 1025, 0, 64},
};

enum { BF16DOT, AVX512, AVX2, N_PATHS };
static const char *const path_names[N_PATHS] = {"bf16dot", "avx512", "avx2"};

typedef struct {
  ivl_tensor *x, *w, *y; /* attention: q, k, v in x, w, y and its output in out */
  ivl_tensor *out;
} operands;

static gboolean thread_clock; /* one thread: its CPU time, not the wall clock */

static double now(void)
{
  if (thread_clock) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
  }
  return (double)g_get_monotonic_time() * 1e-6;
}

#if defined(__x86_64__)
/* One thread's f32 FMA peak in FLOP/s of its CPU time, best of 5: 12 independent accumulators
 * as in roofline.c. */
__attribute__((target("avx2,fma"))) static double thread_fma_peak(void)
{
  double best = G_MAXDOUBLE;
  enum { ITERS = 2000000 };
  float sink = 0;
  for (int pass = 0; pass < 5; pass++) {
    __m256 acc[12], m = _mm256_set1_ps(0.999999f), a = _mm256_set1_ps(1e-7f);
    for (int i = 0; i < 12; i++)
      acc[i] = _mm256_set1_ps((float)(i + pass));
    double t0 = now();
    for (int it = 0; it < ITERS; it++)
#pragma GCC unroll 12
      for (int i = 0; i < 12; i++)
        acc[i] = _mm256_fmadd_ps(acc[i], m, a);
    best = MIN(best, now() - t0);
    for (int i = 0; i < 12; i++)
      sink += _mm256_cvtss_f32(acc[i]);
  }
  volatile float keep = sink;
  (void)keep;
  return ITERS * 12 * 16.0 / best;
}

/* The same for vdpbf16ps (16 lanes x 2 products x 2 FLOP each), or 0 without AVX512_BF16. */
__attribute__((target("avx512f,avx512bf16"))) static double thread_bf16_peak(void)
{
  if (!cpu_bf16_dot_available())
    return 0;
  double best = G_MAXDOUBLE;
  enum { ITERS = 2000000 };
  float sink = 0;
  for (int pass = 0; pass < 5; pass++) {
    __m512 acc[12];
    __m512bh a = (__m512bh)_mm512_set1_epi32(0x3f803f80),
             b = (__m512bh)_mm512_set1_epi32(0x33d633d6);
    for (int i = 0; i < 12; i++)
      acc[i] = _mm512_set1_ps((float)(i + pass));
    double t0 = now();
    for (int it = 0; it < ITERS; it++)
#pragma GCC unroll 12
      for (int i = 0; i < 12; i++)
        acc[i] = _mm512_dpbf16_ps(acc[i], a, b);
    best = MIN(best, now() - t0);
    for (int i = 0; i < 12; i++)
      sink += _mm512_reduce_add_ps(acc[i]);
  }
  volatile float keep = sink;
  (void)keep;
  return ITERS * 12 * 64.0 / best;
}
#endif

static ivl_tensor *act(ivl_backend *be, int64_t rows, int64_t cols)
{
  ivl_tensor *t = be->ops->tensor_new(be, IVL_DTYPE_F32, rows, cols, NULL);
  float *v = t->data;
  for (int64_t i = 0; i < rows * cols; i++)
    v[i] = (float)((i * 7919) % 1000) * 1e-3f - 0.5f;
  return t;
}

static ivl_tensor *weight(ivl_backend *be, int64_t rows, int64_t cols, void **host)
{
  size_t bytes = (size_t)(rows * cols) * 2;
  if (posix_memalign(host, 64, bytes) != 0) {
    fprintf(stderr, "out of memory\n");
    exit(1);
  }
  uint16_t *h = *host;
  for (size_t i = 0; i < bytes / 2; i++) /* bf16 in [-1, 1): finite, every page touched */
    h[i] = cpu_f32_to_bf16((float)((i * 104729) % 2000) * 1e-3f - 1.0f);
  return be->ops->weight_from_host(be, IVL_DTYPE_BF16, rows, cols, *host, NULL);
}

static double run_once(ivl_backend *be, const shape *s, operands *o)
{
  double t0 = now();
  if (s->n == 0)
    be->ops->attention(be, o->out, o->x, o->w, o->y, 1, 16, 16, 64, FALSE, 0, 0.125f);
  else
    be->ops->matmul(be, o->y, o->x, o->w, NULL);
  return now() - t0;
}

static const char *const groups[] = {"prefill", "chunk", "vision"};
enum { N_GROUPS = G_N_ELEMENTS(groups) };

static int group_of(const shape *s)
{
  for (int i = 0; i < N_GROUPS; i++)
    if (strcmp(s->group, groups[i]) == 0)
      return i;
  return 0;
}

static double flop_of(const shape *s)
{
  if (s->n == 0) /* scores and values, 16 heads */
    return 16 * 2.0 * 2 * s->m * s->m * s->k;
  return 2.0 * s->m * s->n * s->k;
}

int main(int argc, char **argv)
{
  int n_threads = argc > 1 ? atoi(argv[1]) : 0;
  int reps = argc > 2 ? MAX(1, atoi(argv[2])) : 5;
  const char *only = argc > 3 ? argv[3] : NULL;
  g_autoptr(GError) error = NULL;
  ivl_backend *be[N_PATHS] = {NULL};
  g_setenv("IVL_CPU_NO_AVX512", "1", TRUE);
  be[AVX2] = ivl_backend_cpu_new(n_threads, &error);
  g_unsetenv("IVL_CPU_NO_AVX512");
  gboolean have_avx512 = cpu_avx512_available(), have_bf16 = cpu_bf16_dot_available();
  g_setenv("IVL_CPU_BF16_DOT", "0", TRUE);
  if (be[AVX2] != NULL && have_avx512)
    be[AVX512] = ivl_backend_cpu_new(n_threads, &error);
  g_unsetenv("IVL_CPU_BF16_DOT");
  if (be[AVX512] != NULL && have_bf16)
    be[BF16DOT] = ivl_backend_cpu_new(n_threads, &error);
  if (be[AVX2] == NULL || (have_avx512 && be[AVX512] == NULL) ||
      (have_bf16 && be[BF16DOT] == NULL)) {
    fprintf(stderr, "backend: %s\n", error->message);
    return 1;
  }
  ivl_roofline roof;
  if (!ivl_roofline_measure(n_threads, &roof, &error)) {
    fprintf(stderr, "roofline: %s\n", error->message);
    return 1;
  }
  double bf16_peak = 0;
#if defined(__x86_64__)
  thread_clock = roof.n_threads == 1 && roof.simd;
  if (thread_clock)
    roof.f32_flops_per_s = thread_fma_peak();
  bf16_peak = have_bf16 ? (thread_clock ? thread_bf16_peak() : roof.bf16_flops_per_s) : 0;
#endif
  printf("{\n  \"threads\": %d,\n  \"clock\": \"%s\",\n  \"f32_GFLOPps\": %.2f,\n"
         "  \"bf16_dot_GFLOPps\": %.2f,\n  \"shapes\": [\n",
         roof.n_threads, thread_clock ? "thread_cpu" : "wall", roof.f32_flops_per_s * 1e-9,
         bf16_peak * 1e-9);
  double group_flop[N_GROUPS] = {0}, group_s[N_PATHS][N_GROUPS] = {{0}};
  gboolean first = TRUE;
  for (size_t i = 0; i < G_N_ELEMENTS(shapes); i++) {
    const shape *s = &shapes[i];
    if (only != NULL && strcmp(only, s->group) != 0 && strcmp(only, s->name) != 0)
      continue;
    int grp = group_of(s);
    operands o[N_PATHS] = {{0}};
    void *host[N_PATHS] = {NULL};
    for (int p = 0; p < N_PATHS; p++) {
      if (be[p] == NULL)
        continue;
      if (s->n == 0) {
        o[p].x = act(be[p], s->m, 1024);
        o[p].w = act(be[p], s->m, 1024);
        o[p].y = act(be[p], s->m, 1024);
        o[p].out = act(be[p], s->m, 1024);
      } else {
        o[p].x = act(be[p], s->m, s->k);
        o[p].w = weight(be[p], s->n, s->k, &host[p]);
        o[p].y = act(be[p], s->m, s->n);
      }
    }
    double best[N_PATHS] = {G_MAXDOUBLE, G_MAXDOUBLE, G_MAXDOUBLE};
    for (int r = 0; r < reps; r++)
      for (int p = 0; p < N_PATHS; p++)
        if (be[p] != NULL)
          best[p] = MIN(best[p], run_once(be[p], s, &o[p]));
    double flop = flop_of(s);
    group_flop[grp] += flop;
    printf("%s    {\"group\": \"%s\", \"name\": \"%s\", \"m\": %" G_GINT64_FORMAT
           ", \"n\": %" G_GINT64_FORMAT ", \"k\": %" G_GINT64_FORMAT,
           first ? "" : ",\n", s->group, s->name, s->m, s->n == 0 ? s->m : s->n, s->k);
    first = FALSE;
    for (int p = 0; p < N_PATHS; p++) {
      if (be[p] == NULL)
        continue;
      group_s[p][grp] += best[p];
      printf(", \"%s\": {\"ms\": %.2f, \"GFLOPps\": %.1f, \"fraction_of_peak\": %.3f",
             path_names[p], best[p] * 1e3, flop / best[p] * 1e-9,
             flop / best[p] / roof.f32_flops_per_s);
      if (p == BF16DOT)
        printf(", \"fraction_of_bf16_peak\": %.3f", flop / best[p] / bf16_peak);
      printf("}");
    }
    printf("}");
    for (int p = 0; p < N_PATHS; p++) {
      if (be[p] == NULL)
        continue;
      ivl_tensor *t[] = {o[p].x, o[p].w, o[p].y, o[p].out};
      for (size_t j = 0; j < G_N_ELEMENTS(t); j++)
        if (t[j] != NULL)
          be[p]->ops->tensor_free(be[p], t[j]);
      free(host[p]);
    }
  }
  printf("\n  ],\n  \"totals\": [");
  first = TRUE;
  for (int grp = 0; grp < N_GROUPS; grp++)
    for (int p = 0; p < N_PATHS; p++)
      if (be[p] != NULL && group_s[p][grp] > 0) {
        printf("%s\n    {\"group\": \"%s\", \"path\": \"%s\", \"ms\": %.2f, \"GFLOPps\": %.1f, "
               "\"fraction_of_peak\": %.3f",
               first ? "" : ",", groups[grp], path_names[p], group_s[p][grp] * 1e3,
               group_flop[grp] / group_s[p][grp] * 1e-9,
               group_flop[grp] / group_s[p][grp] / roof.f32_flops_per_s);
        if (p == BF16DOT)
          printf(", \"fraction_of_bf16_peak\": %.3f",
                 group_flop[grp] / group_s[p][grp] / bf16_peak);
        printf("}");
        first = FALSE;
      }
  printf("\n  ]\n}\n");
  for (int p = 0; p < N_PATHS; p++)
    if (be[p] != NULL)
      be[p]->ops->free(be[p]);
  return 0;
}
