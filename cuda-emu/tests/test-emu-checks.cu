/* test-emu-checks — the CUDA emulation's own test: the device model does what a GPU does
 * (barriers, shuffles, votes, atomics, shared memory, graphs), and each check a GPU does not
 * make fires on a deliberately broken kernel (run in a subprocess, since a report aborts). */
#include "ivl-cuda-emu.h"
#include "ivl-emu.h"
#include "mma.cuh"

#include <glib.h>

#define LAUNCH(...) ivl_launch_at(ivl_emu_launch_site{__FILE__, __LINE__, nullptr}, __VA_ARGS__)

static float *device_floats(int n, float v)
{
  float *d = nullptr;
  g_assert_cmpint(cudaMalloc((void **)&d, n * sizeof(float)), ==, cudaSuccess);
  float *h = g_new(float, n);
  for (int i = 0; i < n; i++)
    h[i] = v;
  g_assert_cmpint(cudaMemcpy(d, h, n * sizeof(float), cudaMemcpyHostToDevice), ==, cudaSuccess);
  g_free(h);
  return d;
}

static float read_back(const float *d, int i)
{
  float v = 0;
  g_assert_cmpint(cudaMemcpy(&v, d + i, sizeof v, cudaMemcpyDeviceToHost), ==, cudaSuccess);
  return v;
}

/* -- what a GPU does -- */

/* Block sum through shared memory and shuffles, written per block. */
static __global__ void block_sum_kernel(float *out, const float *x)
{
  __shared__ float partial[32];
  float v = x[blockIdx.x * blockDim.x + threadIdx.x];
  for (int o = 16; o > 0; o >>= 1)
    v += __shfl_xor_sync(0xffffffffu, v, o);
  if ((threadIdx.x & 31) == 0)
    partial[threadIdx.x >> 5] = v;
  __syncthreads();
  if (threadIdx.x < 32) {
    v = threadIdx.x < blockDim.x / 32 ? partial[threadIdx.x] : 0.0f;
    for (int o = 16; o > 0; o >>= 1)
      v += __shfl_down_sync(0xffffffffu, v, o);
    const unsigned ballot = __ballot_sync(0xffffffffu, threadIdx.x < 16);
    if (threadIdx.x == 0)
      out[blockIdx.x] = v + (float)__popc(ballot);
  }
}

static void test_block_sum(void)
{
  float *x = device_floats(4 * 256, 1.0f), *out = device_floats(4, 0.0f);
  LAUNCH(block_sum_kernel, 4, 256, 0, nullptr, out, (const float *)x);
  g_assert_cmpint(cudaGetLastError(), ==, cudaSuccess);
  for (int b = 0; b < 4; b++)
    g_assert_cmpfloat(read_back(out, b), ==, 256.0f + 16.0f);
  cudaFree(x);
  cudaFree(out);
}

/* Lanes exchange through shared memory with __syncwarp between (no race), and atomics. */
static __global__ void warp_exchange_kernel(float *out, int *counter)
{
  __shared__ float s[64];
  s[threadIdx.x] = (float)threadIdx.x;
  __syncwarp();
  out[threadIdx.x] = s[threadIdx.x ^ 1];
  atomicAdd(counter, 1);
}

static void test_warp_exchange(void)
{
  float *out = device_floats(64, 0.0f);
  int *counter = nullptr;
  cudaMalloc((void **)&counter, sizeof(int));
  cudaMemset(counter, 0, sizeof(int));
  LAUNCH(warp_exchange_kernel, 1, 64, 0, nullptr, out, counter);
  g_assert_cmpfloat(read_back(out, 6), ==, 7.0f);
  g_assert_cmpfloat(read_back(out, 33), ==, 32.0f);
  int c = 0;
  cudaMemcpy(&c, counter, sizeof c, cudaMemcpyDeviceToHost);
  g_assert_cmpint(c, ==, 64);
  cudaFree(out);
  cudaFree(counter);
}

/* mma.sync m16n8k16 (kernels/mma.cuh) against a plain product: each lane loads its fragments
 * of A (16 x 16), B (16 x 8) and C as the PTX ISA lays them out, and stores D likewise. The
 * matrices are neither symmetric nor periodic along any layout's stride, so a lane or register
 * taken for another fails; their values (small integers and halves) make every sum exact.
 * Two warps, each with its own matrices, check that warps do not share the exchange. */
static __global__ void mma_kernel(float *d, const float *a, const float *b, const float *c)
{
  const int w = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const float *aw = a + w * 256, *bw = b + w * 128, *cw = c + w * 128;
  uint32_t ar[4], br[2];
  for (int i = 0; i < 4; i++) {
    const int r = g + 8 * (i & 1), k = 2 * t + 8 * (i >> 1);
    ar[i] = ivl_pack_bf16x2(aw[r * 16 + k], aw[r * 16 + k + 1]);
  }
  for (int i = 0; i < 2; i++) {
    const int k = 2 * t + 8 * i;
    br[i] = ivl_pack_bf16x2(bw[k * 8 + g], bw[(k + 1) * 8 + g]);
  }
  float acc[4];
  for (int i = 0; i < 4; i++)
    acc[i] = cw[(g + 8 * (i >> 1)) * 8 + 2 * t + (i & 1)];
  ivl_mma_bf16_16816(acc, ar, br);
  for (int i = 0; i < 4; i++)
    d[w * 128 + (g + 8 * (i >> 1)) * 8 + 2 * t + (i & 1)] = acc[i];
}

static void test_mma(void)
{
  float ha[2 * 256], hb[2 * 128], hc[2 * 128], want[2 * 128], got[2 * 128];
  for (int i = 0; i < 2 * 256; i++)
    ha[i] = (float)((i * 37 + i / 16 * 5) % 23 - 11) * 0.5f;
  for (int i = 0; i < 2 * 128; i++) {
    hb[i] = (float)((i * 29 + i / 8 * 3) % 19 - 9);
    hc[i] = (float)(i % 7) - 3.0f;
  }
  for (int w = 0; w < 2; w++)
    for (int r = 0; r < 16; r++)
      for (int n = 0; n < 8; n++) {
        float s = hc[w * 128 + r * 8 + n];
        for (int k = 0; k < 16; k++)
          s += ha[w * 256 + r * 16 + k] * hb[w * 128 + k * 8 + n];
        want[w * 128 + r * 8 + n] = s;
      }
  float *a = device_floats(2 * 256, 0), *b = device_floats(2 * 128, 0),
        *c = device_floats(2 * 128, 0), *d = device_floats(2 * 128, 0);
  cudaMemcpy(a, ha, sizeof ha, cudaMemcpyHostToDevice);
  cudaMemcpy(b, hb, sizeof hb, cudaMemcpyHostToDevice);
  cudaMemcpy(c, hc, sizeof hc, cudaMemcpyHostToDevice);
  LAUNCH(mma_kernel, 1, 64, 0, nullptr, d, (const float *)a, (const float *)b, (const float *)c);
  g_assert_cmpint(cudaGetLastError(), ==, cudaSuccess);
  cudaMemcpy(got, d, sizeof got, cudaMemcpyDeviceToHost);
  for (int i = 0; i < 2 * 128; i++)
    if (got[i] != want[i])
      g_error("mma: D[%d][%d][%d] = %g, want %g", i / 128, i % 128 / 8, i % 8, got[i], want[i]);
  cudaFree(a);
  cudaFree(b);
  cudaFree(c);
  cudaFree(d);
}

static __global__ void add_one_kernel(float *x, const int *step)
{
  x[threadIdx.x] += (float)*step;
}

/* A captured launch is recorded, not run; replays run it with what memory holds then. */
static void test_graph(void)
{
  cudaStream_t s;
  cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking);
  float *x = device_floats(32, 0.0f);
  int *step = nullptr;
  cudaMalloc((void **)&step, sizeof(int));
  int one = 1;
  cudaMemcpy(step, &one, sizeof one, cudaMemcpyHostToDevice);
  g_assert_cmpint(cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed), ==, cudaSuccess);
  LAUNCH(add_one_kernel, 1, 32, 0, s, x, (const int *)step);
  g_assert_cmpint(cudaStreamSynchronize(s), ==, cudaErrorStreamCaptureUnsupported);
  cudaGraph_t g;
  g_assert_cmpint(cudaStreamEndCapture(s, &g), ==, cudaErrorStreamCaptureInvalidated);
  cudaGetLastError();
  g_assert_cmpint(cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed), ==, cudaSuccess);
  LAUNCH(add_one_kernel, 1, 32, 0, s, x, (const int *)step);
  g_assert_cmpint(cudaStreamEndCapture(s, &g), ==, cudaSuccess);
  g_assert_cmpfloat(read_back(x, 5), ==, 0.0f);
  cudaGraphExec_t e;
  g_assert_cmpint(cudaGraphInstantiate(&e, g, 0), ==, cudaSuccess);
  cudaGraphLaunch(e, s);
  int three = 3;
  cudaMemcpyAsync(step, &three, sizeof three, cudaMemcpyHostToDevice, s);
  cudaGraphLaunch(e, s);
  cudaStreamSynchronize(s);
  g_assert_cmpfloat(read_back(x, 5), ==, 4.0f);
  cudaGraphExecDestroy(e);
  cudaGraphDestroy(g);
  cudaStreamDestroy(s);
  cudaFree(x);
  cudaFree(step);
}

/* -- the checks -- */

static __global__ void read_kernel(float *out, const float *x, int i)
{
  if (threadIdx.x == 0)
    *out = x[i];
}

static __global__ void write_kernel(float *x, int i)
{
  if (threadIdx.x == 0)
    x[i] = 1.0f;
}

static void broken_read_past_end(void)
{
  float *x = device_floats(100, 1.0f), *out = device_floats(1, 0.0f);
  LAUNCH(read_kernel, 1, 32, 0, nullptr, out, (const float *)x, 100);
}

static void broken_write_past_end(void)
{
  float *x = device_floats(100, 1.0f);
  LAUNCH(write_kernel, 1, 32, 0, nullptr, x, 101);
}

static void broken_uninitialised_read(void)
{
  float *x = nullptr, *out = device_floats(1, 0.0f);
  cudaMalloc((void **)&x, 100 * sizeof(float));
  cudaMemset(x, 0, 50 * sizeof(float));
  LAUNCH(read_kernel, 1, 32, 0, nullptr, out, (const float *)x, 10);
  LAUNCH(read_kernel, 1, 32, 0, nullptr, out, (const float *)x, 60);
}

/* Thread 1 reads what thread 0 writes, with no barrier between. */
static __global__ void racy_kernel(float *out)
{
  __shared__ float s[32];
  if (threadIdx.x == 0)
    s[0] = 1.0f;
  if (threadIdx.x == 1)
    *out = s[0];
}

/* One block of 64 threads of a kernel that takes an output of 64 floats. */
static void run_block_of_64(void (*kernel)(float *))
{
  float *out = device_floats(64, 0.0f);
  LAUNCH(kernel, 1, 64, 0, nullptr, out);
}

static void broken_shared_race(void)
{
  run_block_of_64(racy_kernel);
}

/* The same in two warps but with __syncwarp between: still a race (no block barrier). */
static __global__ void racy_warps_kernel(float *out)
{
  __shared__ float s[64];
  s[threadIdx.x] = 1.0f;
  __syncwarp();
  out[threadIdx.x] = s[63 - threadIdx.x];
}

static void broken_shared_race_warps(void)
{
  run_block_of_64(racy_warps_kernel);
}

static __global__ void divergent_kernel(float *out)
{
  if (threadIdx.x < 32)
    __syncthreads();
  else
    __syncthreads();
  out[threadIdx.x] = 0.0f;
}

static void broken_divergent_syncthreads(void)
{
  run_block_of_64(divergent_kernel);
}

static __global__ void exit_before_barrier_kernel(float *out)
{
  if (threadIdx.x >= 32)
    return;
  __syncthreads();
  out[threadIdx.x] = 0.0f;
}

static void broken_exit_before_barrier(void)
{
  run_block_of_64(exit_before_barrier_kernel);
}

/* Lanes 0..15 shuffle with `mask`, reading lane ^ `lane_xor`; lanes 16..31 go on. */
static __global__ void half_warp_shuffle_kernel(float *out, unsigned mask, int lane_xor)
{
  float v = (float)threadIdx.x;
  if (threadIdx.x < 16)
    v = __shfl_xor_sync(mask, v, lane_xor);
  out[threadIdx.x] = v;
}

/* The full mask names lanes 16..31, which never arrive. */
static void broken_shuffle_missing_lanes(void)
{
  float *out = device_floats(32, 0.0f);
  LAUNCH(half_warp_shuffle_kernel, 1, 32, 0, nullptr, out, 0xffffffffu, 1);
}

/* The mask is right, but lane l reads lane l ^ 16, outside it. */
static void broken_shuffle_outside_mask(void)
{
  float *out = device_floats(32, 0.0f);
  LAUNCH(half_warp_shuffle_kernel, 1, 32, 0, nullptr, out, 0x0000ffffu, 16);
}

/* A kernel on device 0 reading device 1's memory without peer access. */
static void broken_other_device(void)
{
  cudaSetDevice(1);
  float *x = device_floats(4, 1.0f);
  cudaSetDevice(0);
  float *out = device_floats(1, 0.0f);
  LAUNCH(read_kernel, 1, 32, 0, nullptr, out, (const float *)x, 0);
}

static void expect_report(const char *test, const char *pattern)
{
  g_test_trap_subprocess(test, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_failed();
  g_test_trap_assert_stderr(pattern);
}

static void test_oob_read(void)
{
  expect_report("/emu/subprocess/read-past-end",
                "*out-of-bounds global read of 4 bytes*0 bytes past the end of the 400-byte*");
}
static void test_oob_write(void)
{
  expect_report("/emu/subprocess/write-past-end", "*out-of-bounds global write*4 bytes past*");
}
static void test_uninitialised(void)
{
  expect_report("/emu/subprocess/uninitialised",
                "*read of uninitialised device memory*byte 240 of the 400-byte*");
}
static void test_race(void)
{
  expect_report("/emu/subprocess/shared-race", "*shared-memory race*this thread reads what "
                                               "thread (0,0,0) wrote*thread (1,0,0)*");
}
static void test_race_warps(void)
{
  expect_report("/emu/subprocess/shared-race-warps", "*shared-memory race*");
}
static void test_divergent(void)
{
  expect_report("/emu/subprocess/divergent", "*divergent __syncthreads*test-emu-checks.cu*");
}
static void test_exit_before_barrier(void)
{
  expect_report("/emu/subprocess/exit-before-barrier",
                "*divergent __syncthreads*32 threads wait there but 32 exited*");
}
static void test_missing_lanes(void)
{
  expect_report("/emu/subprocess/missing-lanes",
                "*mask 0xffffffff waits for lanes that never arrive: 16 (exited)*");
}
static void test_outside_mask(void)
{
  expect_report("/emu/subprocess/outside-mask", "*lane 0 reads lane 16, which is not in the mask*");
}

static __global__ void nothing_kernel(float *)
{
}

static void test_launch_limits(void)
{
  float *out = device_floats(1, 0.0f);
  const void *k = (const void *)nothing_kernel;
  LAUNCH(nothing_kernel, 1, 1024, 0, nullptr, out);
  g_assert_cmpint(cudaGetLastError(), ==, cudaSuccess);
  LAUNCH(nothing_kernel, 1, 1025, 0, nullptr, out);
  g_assert_cmpint(cudaGetLastError(), ==, cudaErrorInvalidConfiguration);
  LAUNCH(nothing_kernel, 1, dim3(32, 32, 2), 0, nullptr, out);
  g_assert_cmpint(cudaGetLastError(), ==, cudaErrorInvalidConfiguration);
  LAUNCH(nothing_kernel, dim3(1, 65536), 32, 0, nullptr, out);
  g_assert_cmpint(cudaGetLastError(), ==, cudaErrorInvalidConfiguration);
  LAUNCH(nothing_kernel, dim3(1, 1, 65536), 32, 0, nullptr, out);
  g_assert_cmpint(cudaGetLastError(), ==, cudaErrorInvalidConfiguration);
  LAUNCH(nothing_kernel, dim3(0x80000000u), 32, 0, nullptr, out);
  g_assert_cmpint(cudaGetLastError(), ==, cudaErrorInvalidConfiguration);
  LAUNCH(nothing_kernel, 1, 32, 48 << 10, nullptr, out);
  g_assert_cmpint(cudaGetLastError(), ==, cudaSuccess);
  LAUNCH(nothing_kernel, 1, 32, (48 << 10) + 1, nullptr, out);
  g_assert_cmpint(cudaGetLastError(), ==, cudaErrorInvalidConfiguration);
  g_assert_cmpint(cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, 227 << 10),
                  ==, cudaSuccess);
  LAUNCH(nothing_kernel, 1, 32, 227 << 10, nullptr, out);
  g_assert_cmpint(cudaGetLastError(), ==, cudaSuccess);
  LAUNCH(nothing_kernel, 1, 32, (227 << 10) + 1, nullptr, out);
  g_assert_cmpint(cudaGetLastError(), ==, cudaErrorInvalidConfiguration);
  g_assert_cmpint(cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, 228 << 10),
                  ==, cudaErrorInvalidValue);
  cudaGetLastError();
  cudaFree(out);
}

/* Two devices: memory counted per device, a kernel reads the other's memory once peer access
 * is enabled, cudaMemcpyPeer carries the data and its written state, and a launch into a
 * stream of another device than the current one fails as on a GPU. */
static void test_two_devices(void)
{
  size_t free1, free1_after, total;
  const size_t used0 = ivl_emu_device_used(0);
  cudaSetDevice(1);
  cudaMemGetInfo(&free1, &total);
  float *x = device_floats(256, 2.0f);
  cudaMemGetInfo(&free1_after, &total);
  g_assert_cmpuint(free1_after, ==, free1 - 1024);
  g_assert_cmpuint(ivl_emu_device_used(1), ==, 1024);
  g_assert_cmpuint(ivl_emu_device_used(0), ==, used0);
  cudaStream_t stream1 = nullptr;
  g_assert_cmpint(cudaStreamCreate(&stream1), ==, cudaSuccess);
  cudaSetDevice(0);
  float *y = nullptr, *out = device_floats(1, 0.0f);
  g_assert_cmpint(cudaMalloc((void **)&y, 256 * sizeof(float)), ==, cudaSuccess);
  g_assert_cmpint(cudaMemcpyPeer(y, 0, x, 1, 256 * sizeof(float)), ==, cudaSuccess);
  g_assert_cmpint(cudaMemcpyPeer(y, 1, x, 1, 256 * sizeof(float)), ==, cudaErrorInvalidValue);
  cudaGetLastError();
  LAUNCH(read_kernel, 1, 32, 0, nullptr, out, (const float *)y, 255);
  g_assert_cmpfloat(read_back(out, 0), ==, 2.0f);
  int can = 0;
  g_assert_cmpint(cudaDeviceCanAccessPeer(&can, 0, 1), ==, cudaSuccess);
  g_assert_cmpint(can, ==, 1);
  g_assert_cmpint(cudaDeviceEnablePeerAccess(1, 0), ==, cudaSuccess);
  g_assert_cmpint(cudaDeviceEnablePeerAccess(1, 0), ==, cudaErrorPeerAccessAlreadyEnabled);
  cudaGetLastError();
  LAUNCH(read_kernel, 1, 32, 0, nullptr, out, (const float *)x, 3);
  g_assert_cmpfloat(read_back(out, 0), ==, 2.0f);
  LAUNCH(read_kernel, 1, 32, 0, stream1, out, (const float *)x, 3);
  g_assert_cmpint(cudaGetLastError(), ==, cudaErrorInvalidResourceHandle);
  cudaStreamDestroy(stream1);
  cudaFree(x), cudaFree(y), cudaFree(out);
  g_assert_cmpuint(ivl_emu_device_used(1), ==, 0);
}

static void test_other_device(void)
{
  expect_report("/emu/subprocess/other-device",
                "*read of 4 bytes*by a kernel on device 0: the memory is device 1's and peer "
                "access is not enabled*");
}

/* Out of memory, the device count and the free memory follow the environment (set before
 * the first call, so in a subprocess). */
static void configured_device(void)
{
  if (!g_test_subprocess())
    return;
  int n = 0;
  g_assert_cmpint(cudaGetDeviceCount(&n), ==, cudaSuccess);
  g_assert_cmpint(n, ==, 3);
  size_t free_b, total_b;
  cudaMemGetInfo(&free_b, &total_b);
  g_assert_cmpuint(free_b, ==, (size_t)100 << 20);
  g_assert_cmpuint(total_b, ==, (size_t)1024 << 20);
  void *a = nullptr, *b = nullptr;
  g_assert_cmpint(cudaMalloc(&a, 60 << 20), ==, cudaSuccess);
  g_assert_cmpint(cudaMalloc(&b, 60 << 20), ==, cudaErrorMemoryAllocation);
  g_assert_cmpint(cudaGetLastError(), ==, cudaErrorMemoryAllocation);
  cudaFree(a);
  g_assert_cmpint(cudaMalloc(&b, 60 << 20), ==, cudaSuccess);
  struct cudaDeviceProp p;
  g_assert_cmpint(cudaGetDeviceProperties(&p, 2), ==, cudaSuccess);
  g_assert_cmpint(p.major, ==, 9);
  g_assert_cmpint(cudaGetDeviceProperties(&p, 3), ==, cudaErrorInvalidDevice);
}

static void test_configured_device(void)
{
  g_setenv("IVL_EMU_CHECKS_CONFIGURED", "1", TRUE);
  g_test_trap_subprocess("/emu/subprocess/configured-device", 0, G_TEST_SUBPROCESS_INHERIT_STDERR);
  g_unsetenv("IVL_EMU_CHECKS_CONFIGURED");
  g_test_trap_assert_passed();
}

int main(int argc, char **argv)
{
  if (g_strcmp0(g_getenv("IVL_EMU_CHECKS_CONFIGURED"), "1") == 0) {
    g_setenv("IVL_EMU_DEVICES", "3", TRUE);
    g_setenv("IVL_EMU_MEMORY_MIB", "1024", TRUE);
    g_setenv("IVL_EMU_FREE_MIB", "100", TRUE);
  } else if (!g_getenv("IVL_EMU_DEVICES"))
    g_setenv("IVL_EMU_DEVICES", "2", TRUE);
  g_test_init(&argc, &argv, nullptr);
  g_test_add_func("/emu/block-sum", test_block_sum);
  g_test_add_func("/emu/warp-exchange", test_warp_exchange);
  g_test_add_func("/emu/mma", test_mma);
  g_test_add_func("/emu/graph", test_graph);
  g_test_add_func("/emu/launch-limits", test_launch_limits);
  g_test_add_func("/emu/two-devices", test_two_devices);
  g_test_add_func("/emu/check/other-device", test_other_device);
  g_test_add_func("/emu/subprocess/other-device", broken_other_device);
  g_test_add_func("/emu/check/read-past-end", test_oob_read);
  g_test_add_func("/emu/check/write-past-end", test_oob_write);
  g_test_add_func("/emu/check/uninitialised", test_uninitialised);
  g_test_add_func("/emu/check/shared-race", test_race);
  g_test_add_func("/emu/check/shared-race-warps", test_race_warps);
  g_test_add_func("/emu/check/divergent-syncthreads", test_divergent);
  g_test_add_func("/emu/check/exit-before-barrier", test_exit_before_barrier);
  g_test_add_func("/emu/check/shuffle-missing-lanes", test_missing_lanes);
  g_test_add_func("/emu/check/shuffle-outside-mask", test_outside_mask);
  g_test_add_func("/emu/subprocess/read-past-end", broken_read_past_end);
  g_test_add_func("/emu/subprocess/write-past-end", broken_write_past_end);
  g_test_add_func("/emu/subprocess/uninitialised", broken_uninitialised_read);
  g_test_add_func("/emu/subprocess/shared-race", broken_shared_race);
  g_test_add_func("/emu/subprocess/shared-race-warps", broken_shared_race_warps);
  g_test_add_func("/emu/subprocess/divergent", broken_divergent_syncthreads);
  g_test_add_func("/emu/subprocess/exit-before-barrier", broken_exit_before_barrier);
  g_test_add_func("/emu/subprocess/missing-lanes", broken_shuffle_missing_lanes);
  g_test_add_func("/emu/subprocess/outside-mask", broken_shuffle_outside_mask);
  g_test_add_func("/emu/subprocess/configured-device", configured_device);
  g_test_add_func("/emu/configured-device", test_configured_device);
  return g_test_run();
}
