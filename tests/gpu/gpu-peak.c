/* gpu-peak — the GPU's own ceilings, measured in the same run as the benchmarks they judge:
 * device-to-device copy bandwidth (bytes read + written), the decode GEMV kernel's weight
 * streaming rate against it, cuBLAS bf16 GEMM FLOP/s (8192³, random data, not zeros), and
 * the vision-shaped flash attention. Prints one JSON object. Times are medians of CUDA-event
 * timed repeats after a warm-up. Exit 77 without a device. */
#include "ivl-cuda.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REPS 15

typedef cudaError_t (*work_fn)(void *arg);

static int cmp_float(const void *a, const void *b)
{
  const float x = *(const float *)a, y = *(const float *)b;
  return (x > y) - (x < y);
}

static int failed(cudaError_t err, const char *what)
{
  if (err == cudaSuccess)
    return 0;
  fprintf(stderr, "gpu-peak: %s: %s\n", what, cudaGetErrorString(err));
  return 1;
}

/* Median milliseconds of one call of fn, or a negative value on failure. */
static float time_ms(work_fn fn, void *arg, cudaStream_t stream)
{
  cudaEvent_t a, b;
  float ms[REPS];
  if (failed(cudaEventCreate(&a), "event") || failed(cudaEventCreate(&b), "event"))
    return -1.0f;
  for (int i = 0; i < 3; i++)
    if (failed(fn(arg), "warm-up"))
      return -1.0f;
  for (int i = 0; i < REPS; i++) {
    cudaEventRecord(a, stream);
    if (failed(fn(arg), "timed run"))
      return -1.0f;
    cudaEventRecord(b, stream);
    if (failed(cudaEventSynchronize(b), "synchronize"))
      return -1.0f;
    cudaEventElapsedTime(&ms[i], a, b);
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  qsort(ms, REPS, sizeof ms[0], cmp_float);
  return ms[REPS / 2];
}

/* Random bf16 in [-1, 1) (splitmix64), uploaded. */
static void *random_bf16(size_t n, unsigned long long seed)
{
  uint16_t *h = malloc(n * 2);
  void *d = NULL;
  if (h == NULL)
    return NULL;
  for (size_t i = 0; i < n; i++) {
    unsigned long long z = (seed += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    const float f = (float)((double)(z >> 40) / (double)(1ull << 24) * 2.0 - 1.0);
    uint32_t u;
    memcpy(&u, &f, 4);
    h[i] = (uint16_t)(u >> 16);
  }
  if (cudaMalloc(&d, n * 2) != cudaSuccess || cudaMemcpy(d, h, n * 2, cudaMemcpyHostToDevice))
    d = NULL;
  free(h);
  return d;
}

typedef struct {
  cudaStream_t stream;
  cublasHandle_t cublas;
  void *a, *b, *c;
  int64_t m, n, k;
  int seq, heads;
} work;

static cudaError_t copy_work(void *arg)
{
  work *w = arg;
  return cudaMemcpyAsync(w->c, w->a, (size_t)w->m, cudaMemcpyDeviceToDevice, w->stream);
}

static cudaError_t gemv_work(void *arg)
{
  work *w = arg;
  return ivl_cuda_gemv(w->c, IVL_CUDA_BF16, w->b, w->a, NULL, w->m, w->k, w->stream);
}

static cudaError_t gemm_work(void *arg)
{
  work *w = arg;
  cublasStatus_t st;
  return ivl_cuda_matmul(w->cublas, w->c, IVL_CUDA_BF16, w->b, w->a, NULL, w->n, w->m, w->k,
                         w->stream, &st);
}

static cudaError_t attention_work(void *arg)
{
  work *w = arg;
  return ivl_cuda_attention(w->c, w->a, w->a, w->b, w->seq, w->m, w->m, w->heads, w->heads, 64, 0,
                            0, NULL, 0.125f, NULL, w->stream);
}

static void release(work *w)
{
  cudaFree(w->a);
  cudaFree(w->b);
  cudaFree(w->c);
  w->a = w->b = w->c = NULL;
}

int main(void)
{
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
    printf("gpu-peak: no CUDA device\n");
    return 77;
  }
  struct cudaDeviceProp prop;
  cudaGetDeviceProperties(&prop, 0);
  work w = {0};
  if (failed(cudaStreamCreate(&w.stream), "stream") || cublasCreate(&w.cublas) != 0 ||
      cublasSetStream(w.cublas, w.stream) != 0)
    return 1;

  /* 2 GiB copied: far past any L2. */
  w.m = (int64_t)2 << 30;
  if (failed(cudaMalloc(&w.a, (size_t)w.m), "alloc") ||
      failed(cudaMalloc(&w.c, (size_t)w.m), "alloc"))
    return 1;
  cudaMemsetAsync(w.a, 1, (size_t)w.m, w.stream);
  const float copy_ms = time_ms(copy_work, &w, w.stream);
  const double copy_gbps = 2.0 * (double)w.m / (copy_ms * 1e-3) / 1e9;
  release(&w);

  /* GEMV over a 1 GiB bf16 weight [65536, 8192], as one decode matmul. */
  w.m = 65536, w.k = 8192;
  w.a = random_bf16((size_t)(w.m * w.k), 1);
  w.b = random_bf16((size_t)w.k, 2);
  if (w.a == NULL || w.b == NULL || failed(cudaMalloc(&w.c, (size_t)w.m * 2), "alloc"))
    return 1;
  const float gemv_ms = time_ms(gemv_work, &w, w.stream);
  const double gemv_gbps = (double)(w.m * w.k * 2) / (gemv_ms * 1e-3) / 1e9;
  release(&w);

  /* cuBLAS bf16 GEMM 8192³ through the same entry point as prefill. */
  w.m = w.n = w.k = 8192;
  w.a = random_bf16((size_t)(w.m * w.k), 3);
  w.b = random_bf16((size_t)(w.n * w.k), 4);
  if (w.a == NULL || w.b == NULL || failed(cudaMalloc(&w.c, (size_t)(w.m * w.n) * 2), "alloc"))
    return 1;
  const float gemm_ms = time_ms(gemm_work, &w, w.stream);
  const double gemm_tflops = 2.0 * (double)w.m * w.n * w.k / (gemm_ms * 1e-3) / 1e12;
  release(&w);

  /* Vision attention: 13 tiles x 1025 tokens, 16 heads of 64, non-causal. */
  w.seq = 13, w.m = 1025, w.heads = 16;
  const size_t elems = (size_t)w.seq * w.m * w.heads * 64;
  w.a = random_bf16(elems, 5);
  w.b = random_bf16(elems, 6);
  if (w.a == NULL || w.b == NULL || failed(cudaMalloc(&w.c, elems * 2), "alloc"))
    return 1;
  const float attn_ms = time_ms(attention_work, &w, w.stream);
  const double attn_tflops =
      4.0 * w.seq * (double)w.m * w.m * 64 * w.heads / (attn_ms * 1e-3) / 1e12;
  release(&w);

  if (copy_ms < 0 || gemv_ms < 0 || gemm_ms < 0 || attn_ms < 0)
    return 1;
  printf("{\"device\":\"%s\",\"compute_capability\":\"%d.%d\",\"multiprocessors\":%d,"
         "\"memory_gib\":%.1f,\"copy_gb_per_s\":%.1f,\"gemv_gb_per_s\":%.1f,"
         "\"gemv_fraction_of_copy\":%.3f,\"gemm_bf16_tflops\":%.1f,"
         "\"vision_attention_ms\":%.3f,\"vision_attention_tflops\":%.1f}\n",
         prop.name, prop.major, prop.minor, prop.multiProcessorCount,
         (double)prop.totalGlobalMem / (1 << 30), copy_gbps, gemv_gbps, gemv_gbps / copy_gbps,
         gemm_tflops, attn_ms, attn_tflops);
  cublasDestroy(w.cublas);
  cudaStreamDestroy(w.stream);
  return 0;
}
