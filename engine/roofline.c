/* Memory bandwidth, f32 FMA peak, bf16 and int8 dot-product peaks, measured on the thread pool the
 * backend uses. Both loops are split into many small tasks so that a thread descheduled on a shared
 * machine does not leave the others idle while the clock runs; the best of several passes is kept.
 */
#include "roofline.h"

#include "cpu-kernels.h"
#include "ivl.h"
#include "threadpool.h"

#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define HAVE_X86_SIMD 1
#else
#define HAVE_X86_SIMD 0
#endif

#define READ_BYTES ((size_t)512 << 20) /* 16x a 32 MiB L3 */
#define READ_CHUNK ((size_t)8 << 20)
#define READ_PASSES 6
#define FMA_ITERS 200000 /* per task: 12 x 8-wide FMAs each, ~1 ms */
#define FMA_PASSES 3

typedef struct {
  const float *buf;
  gboolean simd;
  gboolean vnni;   /* the int8 probe takes VNNI */
  float sink[256]; /* one slot per task mod 256, so the loops are not optimised away */
} roof_job;

static float read_portable(const float *p, size_t n)
{
  float s[8] = {0};
  for (size_t i = 0; i < n; i += 8)
    for (int l = 0; l < 8; l++)
      s[l] += p[i + l];
  return s[0] + s[1] + s[2] + s[3] + s[4] + s[5] + s[6] + s[7];
}

#if HAVE_X86_SIMD
__attribute__((target("avx2,fma"))) static float read_avx2(const float *p, size_t n)
{
  __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
  for (size_t i = 0; i < n; i += 32) {
    s0 = _mm256_add_ps(s0, _mm256_load_ps(p + i));
    s1 = _mm256_add_ps(s1, _mm256_load_ps(p + i + 8));
    s2 = _mm256_add_ps(s2, _mm256_load_ps(p + i + 16));
    s3 = _mm256_add_ps(s3, _mm256_load_ps(p + i + 24));
  }
  float out[8];
  _mm256_storeu_ps(out, _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
  return out[0] + out[1] + out[2] + out[3] + out[4] + out[5] + out[6] + out[7];
}

/* 12 independent accumulators cover 4-cycle FMA latency at 2 FMAs per cycle with room. */
__attribute__((target("avx2,fma"))) static float fma_avx2(float seed)
{
  __m256 acc[12];
  __m256 m = _mm256_set1_ps(0.999999f), a = _mm256_set1_ps(seed * 1e-7f);
  for (int i = 0; i < 12; i++)
    acc[i] = _mm256_set1_ps(seed + (float)i);
  for (int it = 0; it < FMA_ITERS; it++)
#pragma GCC unroll 12
    for (int i = 0; i < 12; i++)
      acc[i] = _mm256_fmadd_ps(acc[i], m, a);
  __m256 s = acc[0];
  for (int i = 1; i < 12; i++)
    s = _mm256_add_ps(s, acc[i]);
  float out[8];
  _mm256_storeu_ps(out, s);
  return out[0] + out[7];
}

/* fma_avx2 for vdpbf16ps, as many 512-bit instructions (each 16 lanes x 2 multiply-adds):
 * Zen 4 runs it at twice the FMA's FLOP rate. */
__attribute__((target("avx512f,avx512bf16"))) static float dot_bf16(float seed)
{
  __m512 acc[12];
  __m512bh a = (__m512bh)_mm512_set1_epi32(0x3f803f80), b = (__m512bh)_mm512_set1_epi32(0x33d633d6);
  for (int i = 0; i < 12; i++)
    acc[i] = _mm512_set1_ps(seed + (float)i);
  for (int it = 0; it < FMA_ITERS / 2; it++)
#pragma GCC unroll 12
    for (int i = 0; i < 12; i++)
      acc[i] = _mm512_dpbf16_ps(acc[i], a, b);
  __m512 s = acc[0];
  for (int i = 1; i < 12; i++)
    s = _mm512_add_ps(s, acc[i]);
  return _mm512_reduce_add_ps(s);
}
/* The integer dot products' own form, register-resident: VNNI's vpdpbusd (64 multiply-adds of
 * bytes into 16 int32 lanes per instruction), or AVX2's maddubs + madd + add (32 per three). */
__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni"))) static float
dot_int8_vnni(float seed)
{
  __m512i acc[12];
  const __m512i a = _mm512_set1_epi8(3), b = _mm512_set1_epi8((char)(int)seed);
  for (int i = 0; i < 12; i++)
    acc[i] = _mm512_set1_epi32(i);
  for (int it = 0; it < FMA_ITERS / 4; it++)
#pragma GCC unroll 12
    for (int i = 0; i < 12; i++)
      acc[i] = _mm512_dpbusd_epi32(acc[i], a, b);
  __m512i s = acc[0];
  for (int i = 1; i < 12; i++)
    s = _mm512_add_epi32(s, acc[i]);
  return (float)_mm512_reduce_add_epi32(s);
}

__attribute__((target("avx2"))) static float dot_int8_avx2(float seed)
{
  __m256i acc[12];
  const __m256i a = _mm256_set1_epi8(3), b = _mm256_set1_epi8((char)(int)seed),
                ones = _mm256_set1_epi16(1);
  for (int i = 0; i < 12; i++)
    acc[i] = _mm256_set1_epi32(i);
  for (int it = 0; it < FMA_ITERS / 4; it++)
#pragma GCC unroll 12
    for (int i = 0; i < 12; i++)
      acc[i] = _mm256_add_epi32(acc[i], _mm256_madd_epi16(_mm256_maddubs_epi16(a, b), ones));
  __m256i s = acc[0];
  for (int i = 1; i < 12; i++)
    s = _mm256_add_epi32(s, acc[i]);
  int out[8];
  _mm256_storeu_si256((__m256i *)out, s);
  return (float)(out[0] + out[7]);
}
#endif

static float fma_portable(float seed)
{
  float acc[12][8];
  for (int i = 0; i < 12; i++)
    for (int l = 0; l < 8; l++)
      acc[i][l] = seed + (float)(i + l);
  for (int it = 0; it < FMA_ITERS; it++)
    for (int i = 0; i < 12; i++)
      for (int l = 0; l < 8; l++)
        acc[i][l] = acc[i][l] * 0.999999f + seed * 1e-7f;
  return acc[0][0] + acc[11][7];
}

static void read_task(void *ctx, int64_t task, int thread)
{
  roof_job *job = ctx;
  const float *p = job->buf + (size_t)task * (READ_CHUNK / sizeof(float));
  size_t n = READ_CHUNK / sizeof(float);
  (void)thread;
#if HAVE_X86_SIMD
  if (job->simd) {
    job->sink[task % 256] += read_avx2(p, n);
    return;
  }
#endif
  job->sink[task % 256] += read_portable(p, n);
}

static void fma_task(void *ctx, int64_t task, int thread)
{
  roof_job *job = ctx;
  (void)thread;
#if HAVE_X86_SIMD
  if (job->simd) {
    job->sink[task % 256] += fma_avx2((float)task);
    return;
  }
#endif
  job->sink[task % 256] += fma_portable((float)task);
}

static void bf16_task(void *ctx, int64_t task, int thread)
{
  roof_job *job = ctx;
  (void)thread;
#if HAVE_X86_SIMD
  job->sink[task % 256] += dot_bf16((float)task);
#endif
}

static void int8_task(void *ctx, int64_t task, int thread)
{
  roof_job *job = ctx;
  (void)thread;
#if HAVE_X86_SIMD
  job->sink[task % 256] += job->vnni ? dot_int8_vnni((float)task) : dot_int8_avx2((float)task);
#endif
}

static double best_seconds(ivl_threadpool *pool, int passes, int64_t n_tasks, ivl_task_fn fn,
                           roof_job *job)
{
  double best = G_MAXDOUBLE;
  for (int p = 0; p < passes; p++) {
    gint64 t0 = g_get_monotonic_time();
    ivl_threadpool_run(pool, n_tasks, fn, job);
    best = MIN(best, (double)(g_get_monotonic_time() - t0) * 1e-6);
  }
  return MAX(best, 1e-9);
}

gboolean ivl_roofline_measure(int n_threads, ivl_roofline *out, GError **error)
{
  ivl_threadpool *pool = ivl_threadpool_new(n_threads, error);
  if (pool == NULL)
    return FALSE;
  void *buf = NULL;
  if (posix_memalign(&buf, 64, READ_BYTES) != 0) {
    ivl_threadpool_free(pool);
    g_set_error(error, IVL_ERROR, IVL_ERROR_OUT_OF_MEMORY,
                "cannot allocate %zu MiB to measure memory bandwidth", READ_BYTES >> 20);
    return FALSE;
  }
  memset(buf, 0, READ_BYTES); /* fault every page in before the clock runs */
  roof_job job = {.buf = buf, .simd = cpu_simd_available()};
  int64_t read_tasks = (int64_t)(READ_BYTES / READ_CHUNK);
  double read_s = best_seconds(pool, READ_PASSES, read_tasks, read_task, &job);
  int threads = ivl_threadpool_n_threads(pool);
  int64_t fma_tasks = 16 * (int64_t)threads;
  double fma_s = best_seconds(pool, FMA_PASSES, fma_tasks, fma_task, &job);
  double bf16_flops = 0;
  if (cpu_bf16_dot_available())
    bf16_flops = (double)fma_tasks * (FMA_ITERS / 2) * 12 * 64 /
                 best_seconds(pool, FMA_PASSES, fma_tasks, bf16_task, &job);
  /* per task: FMA_ITERS / 4 rounds of 12 instructions, each 64 (VNNI) or 32 (AVX2) multiply-adds */
  double int8_ops = 0;
  job.vnni = cpu_avx512_available() && cpu_int_dot_vnni_available();
  if (job.simd && cpu_int_dot_enabled())
    int8_ops = (double)fma_tasks * (FMA_ITERS / 4) * 12 * (job.vnni ? 64 : 32) * 2 /
               best_seconds(pool, FMA_PASSES, fma_tasks, int8_task, &job);
  free(buf);
  ivl_threadpool_free(pool);

  *out = (ivl_roofline){
      .n_threads = threads,
      .read_bytes_per_s = (double)READ_BYTES / read_s,
      .f32_flops_per_s = (double)fma_tasks * FMA_ITERS * 12 * 8 * 2 / fma_s,
      .simd = job.simd,
      .bf16_flops_per_s = bf16_flops,
      .int8_ops_per_s = int8_ops,
  };
  return TRUE;
}
