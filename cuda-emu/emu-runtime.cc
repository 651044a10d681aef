/* emu-runtime.cc — the subset of the CUDA runtime that ivl calls, on the host: device memory
 * in one reserved address range (each allocation followed by an unmapped page, and shadowed
 * byte for byte: inside an allocation, written), streams that run each operation when it is
 * enqueued (in order, as a stream must), stream capture into graphs that replay the recorded
 * operations, events, and an H100's properties. */
#include "emu-private.h"
#include "ivl-emu.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

#include <map>
#include <memory>
#include <mutex>
#include <vector>

#define PAGE ((size_t)4096)
#define ARENA_BYTES ((size_t)1 << 38) /* 256 GiB of addresses, never reused */

uintptr_t ivl_emu_arena_base;
size_t ivl_emu_arena_size;
uint8_t *ivl_emu_shadow;

#define MAX_DEVICES 16

static size_t arena_next;
static std::map<uintptr_t, size_t> allocations; /* start -> size */
static std::map<uintptr_t, int> allocation_device;
static size_t used_bytes[MAX_DEVICES];
static long mallocs_on[MAX_DEVICES];
static cudaError_t last_error = cudaSuccess;
static ivl_emu_stats stats;
static std::map<const void *, int> max_dynamic_shared;

static struct {
  bool ready;
  int devices, device, sm;
  size_t total[MAX_DEVICES], free_at_start[MAX_DEVICES];
  bool no_kernel_image, no_peer;
  int fail_device;
  long fail_malloc; /* the fail_malloc-th cudaMalloc on fail_device fails; 0: none */
  bool peer_enabled[MAX_DEVICES][MAX_DEVICES];
} dev;

static long env_long(const char *name, long fallback)
{
  const char *s = getenv(name);
  return s != nullptr && *s != '\0' ? strtol(s, nullptr, 10) : fallback;
}

/* Item i of a comma-separated list of numbers; the last one stands for the devices after it. */
static long env_item(const char *name, int i, long fallback)
{
  const char *s = getenv(name);
  if (s == nullptr || *s == '\0')
    return fallback;
  long v = strtol(s, nullptr, 10);
  for (const char *p = s; i > 0 && (p = strchr(p, ',')) != nullptr; i--)
    v = strtol(++p, nullptr, 10);
  return v;
}

static void setup(void)
{
  if (dev.ready)
    return;
  dev.ready = true;
  dev.devices = (int)env_long("IVL_EMU_DEVICES", 1);
  if (dev.devices > MAX_DEVICES)
    ivl_emu_report("IVL_EMU_DEVICES=%d: at most %d devices", dev.devices, MAX_DEVICES);
  dev.sm = (int)env_long("IVL_EMU_SM", 90);
  for (int d = 0; d < MAX_DEVICES; d++) {
    dev.total[d] = (size_t)env_item("IVL_EMU_MEMORY_MIB", d, 81559) << 20;
    dev.free_at_start[d] = (size_t)env_item("IVL_EMU_FREE_MIB", d, (long)(dev.total[d] >> 20) - 512)
                           << 20;
  }
  dev.no_kernel_image = env_long("IVL_EMU_NO_KERNEL_IMAGE", 0) != 0;
  dev.no_peer = env_long("IVL_EMU_NO_PEER", 0) != 0;
  const char *fail = getenv("IVL_EMU_FAIL_MALLOC");
  if (fail != nullptr && sscanf(fail, "%d:%ld", &dev.fail_device, &dev.fail_malloc) != 2)
    ivl_emu_report("IVL_EMU_FAIL_MALLOC=%s: expected DEVICE:N", fail);
  void *a =
      mmap(nullptr, ARENA_BYTES, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  void *s =
      mmap(nullptr, ARENA_BYTES, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (a == MAP_FAILED || s == MAP_FAILED)
    ivl_emu_report("cannot reserve the emulated device's address range");
  ivl_emu_arena_base = (uintptr_t)a;
  ivl_emu_shadow = (uint8_t *)s;
  ivl_emu_arena_size = ARENA_BYTES;
}

void ivl_emu_set_error(cudaError_t err)
{
  if (last_error == cudaSuccess)
    last_error = err;
}

void ivl_emu_count_gemm(void)
{
  stats.gemms++;
}

static std::map<uintptr_t, size_t>::iterator find_allocation(uintptr_t a);

extern "C" void ivl_emu_get_stats(ivl_emu_stats *s)
{
  *s = stats;
}

extern "C" size_t ivl_emu_device_used(int device)
{
  return device >= 0 && device < MAX_DEVICES ? used_bytes[device] : 0;
}

int ivl_emu_device_of(const void *p)
{
  auto it = find_allocation((uintptr_t)p);
  return it == allocations.end() ? -1 : allocation_device[it->first];
}

int ivl_emu_running_device;

bool ivl_emu_peer_enabled(int device, int owner)
{
  return device == owner || dev.peer_enabled[device][owner];
}

void ivl_emu_check_device(int device, const void *p, const char *what)
{
  const int owner = ivl_emu_device_of(p);
  if (owner >= 0 && owner != device && !dev.peer_enabled[device][owner])
    ivl_emu_report("%s on device %d reads memory of device %d without peer access (%p)", what,
                   device, owner, p);
}

/* -- memory -- */

static std::map<uintptr_t, size_t>::iterator find_allocation(uintptr_t a)
{
  auto it = allocations.upper_bound(a);
  if (it == allocations.begin())
    return allocations.end();
  --it;
  return a < it->first + it->second ? it : allocations.end();
}

void ivl_emu_describe_address(uintptr_t a, char *buf, size_t n)
{
  auto it = allocations.upper_bound(a);
  if (it != allocations.begin()) {
    --it;
    if (a < it->first + it->second)
      snprintf(buf, n, "byte %zu of the %zu-byte allocation at %p", (size_t)(a - it->first),
               it->second, (void *)it->first);
    else
      snprintf(buf, n, "%zu bytes past the end of the %zu-byte allocation at %p",
               (size_t)(a - it->first - it->second), it->second, (void *)it->first);
    return;
  }
  snprintf(buf, n, "before every allocation");
}

void ivl_emu_check_range(const void *p, size_t n, bool write, const char *what)
{
  const uintptr_t a = (uintptr_t)p;
  if (n == 0)
    return;
  if (!ivl_emu_is_device(a) || find_allocation(a) == allocations.end() ||
      find_allocation(a + n - 1) != find_allocation(a)) {
    char where[256];
    ivl_emu_describe_address(ivl_emu_is_device(a) ? a + n - 1 : a, where, sizeof where);
    ivl_emu_report("%s: %zu bytes at %p are not inside one device allocation (%s)", what, n, p,
                   where);
  }
  if (write)
    return;
  const uint8_t *s = ivl_emu_shadow_of(a);
  for (size_t i = 0; i < n; i++)
    if (!(s[i] & IVL_EMU_WRITTEN)) {
      char where[256];
      ivl_emu_describe_address(a + i, where, sizeof where);
      ivl_emu_report("%s reads uninitialised device memory: %s", what, where);
    }
}

void ivl_emu_mark_written(void *p, size_t n)
{
  uint8_t *s = ivl_emu_shadow_of((uintptr_t)p);
  for (size_t i = 0; i < n; i++)
    s[i] |= IVL_EMU_WRITTEN;
}

extern "C" cudaError_t cudaMalloc(void **p, size_t size)
{
  setup();
  *p = nullptr;
  if (dev.devices <= 0)
    return last_error = cudaErrorNoDevice;
  const int on = dev.device;
  if (++mallocs_on[on] == dev.fail_malloc && on == dev.fail_device)
    return last_error = cudaErrorMemoryAllocation;
  if (size > dev.free_at_start[on] - used_bytes[on] || size > ARENA_BYTES / 4)
    return last_error = cudaErrorMemoryAllocation;
  const size_t mapped = (size + PAGE - 1) / PAGE * PAGE;
  if (arena_next + mapped + PAGE > ARENA_BYTES)
    return last_error = cudaErrorMemoryAllocation;
  char *d = (char *)ivl_emu_arena_base + arena_next;
  uint8_t *s = ivl_emu_shadow + arena_next;
  if (mprotect(d, mapped, PROT_READ | PROT_WRITE) != 0 ||
      mprotect(s, mapped, PROT_READ | PROT_WRITE) != 0)
    return last_error = cudaErrorMemoryAllocation;
  arena_next += mapped + PAGE; /* the page after stays unmapped */
  /* Device memory is not zeroed: all-ones bytes are a NaN in f32, f16 and bf16 alike, so an
   * unwritten value that slips past the checks still shows. */
  memset(d, 0xFF, size);
  memset(s, IVL_EMU_ADDRESSABLE | dev.device << IVL_EMU_DEVICE_SHIFT, size);
  allocations[(uintptr_t)d] = size;
  allocation_device[(uintptr_t)d] = dev.device;
  used_bytes[dev.device] += size;
  stats.mallocs++;
  *p = d;
  return cudaSuccess;
}

extern "C" cudaError_t cudaFree(void *p)
{
  if (p == nullptr)
    return cudaSuccess;
  auto it = allocations.find((uintptr_t)p);
  if (it == allocations.end())
    return last_error = cudaErrorInvalidValue;
  const size_t mapped = (it->second + PAGE - 1) / PAGE * PAGE;
  uint8_t *s = ivl_emu_shadow_of((uintptr_t)p);
  mprotect(p, mapped, PROT_NONE);
  mprotect(s, mapped, PROT_NONE);
  madvise(p, mapped, MADV_DONTNEED);
  madvise(s, mapped, MADV_DONTNEED);
  used_bytes[allocation_device[it->first]] -= it->second;
  allocation_device.erase(it->first);
  allocations.erase(it);
  stats.frees++;
  return cudaSuccess;
}

extern "C" cudaError_t cudaMemGetInfo(size_t *free_b, size_t *total_b)
{
  setup();
  if (dev.devices <= 0)
    return cudaErrorNoDevice;
  *free_b = dev.free_at_start[dev.device] - used_bytes[dev.device];
  *total_b = dev.total[dev.device];
  return cudaSuccess;
}

static cudaError_t copy(void *dst, const void *src, size_t n, cudaMemcpyKind kind,
                        cudaStream_t stream)
{
  setup();
  if (n == 0)
    return cudaSuccess;
  const bool dst_dev = ivl_emu_is_device((uintptr_t)dst),
             src_dev = ivl_emu_is_device((uintptr_t)src);
  const bool want_dst = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
  const bool want_src = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
  if (kind != cudaMemcpyDefault && (dst_dev != want_dst || src_dev != want_src))
    return last_error = cudaErrorInvalidValue;
  ivl_emu_enqueue(stream, [=] {
    if (dst_dev)
      ivl_emu_check_range(dst, n, true, "cudaMemcpy destination");
    if (src_dev)
      ivl_emu_check_range(src, n, true, "cudaMemcpy source");
    memcpy(dst, src, n);
    if (dst_dev && src_dev)
      for (size_t i = 0; i < n; i++) { /* the written bits; each side keeps its device */
        uint8_t *d = ivl_emu_shadow_of((uintptr_t)dst + i);
        *d = (uint8_t)((*d & ~IVL_EMU_WRITTEN) |
                       (*ivl_emu_shadow_of((uintptr_t)src + i) & IVL_EMU_WRITTEN));
      }
    else if (dst_dev)
      ivl_emu_mark_written(dst, n);
    if (ivl_emu_profiling)
      ivl_emu_profile_copy(dst_dev && src_dev ? "cudaMemcpy device to device"
                           : dst_dev          ? "cudaMemcpy host to device"
                                              : "cudaMemcpy device to host",
                           n, !(dst_dev && src_dev));
  });
  return cudaSuccess;
}

extern "C" cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t n, cudaMemcpyKind kind,
                                       cudaStream_t stream)
{
  return copy(dst, src, n, kind, stream);
}

extern "C" cudaError_t cudaMemcpy(void *dst, const void *src, size_t n, cudaMemcpyKind kind)
{
  return copy(dst, src, n, kind, nullptr);
}

extern "C" cudaError_t cudaMemsetAsync(void *p, int value, size_t n, cudaStream_t stream)
{
  if (n == 0)
    return cudaSuccess;
  if (!ivl_emu_is_device((uintptr_t)p))
    return last_error = cudaErrorInvalidValue;
  ivl_emu_enqueue(stream, [=] {
    ivl_emu_check_range(p, n, true, "cudaMemset");
    memset(p, value, n);
    ivl_emu_mark_written(p, n);
    if (ivl_emu_profiling)
      ivl_emu_profile_copy("cudaMemset", n, false);
  });
  return cudaSuccess;
}

extern "C" cudaError_t cudaMemset(void *p, int value, size_t n)
{
  return cudaMemsetAsync(p, value, n, nullptr);
}

/* -- streams, graphs, events -- */

struct CUgraph_st {
  std::vector<std::function<void()>> ops;
};
struct CUgraphExec_st {
  std::vector<std::function<void()>> ops;
};
struct CUstream_st {
  CUgraph_st *capture; /* non-null while capturing */
  bool invalidated;
  int device;
};
struct CUevent_st {
  double ms;
};

static double now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

bool ivl_emu_capturing(cudaStream_t stream)
{
  return stream != nullptr && stream != cudaStreamLegacy && stream != cudaStreamPerThread &&
         stream->capture != nullptr;
}

void ivl_emu_enqueue(cudaStream_t stream, std::function<void()> op)
{
  if (ivl_emu_capturing(stream))
    stream->capture->ops.push_back(std::move(op));
  else
    op();
}

extern "C" cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned int)
{
  setup();
  if (dev.devices <= 0)
    return last_error = cudaErrorNoDevice;
  *s = new CUstream_st{nullptr, false, dev.device};
  return cudaSuccess;
}

extern "C" cudaError_t cudaStreamCreate(cudaStream_t *s)
{
  return cudaStreamCreateWithFlags(s, 0);
}

extern "C" cudaError_t cudaStreamDestroy(cudaStream_t s)
{
  if (s == nullptr)
    return cudaErrorInvalidResourceHandle;
  delete s->capture;
  delete s;
  return cudaSuccess;
}

extern "C" cudaError_t cudaStreamSynchronize(cudaStream_t s)
{
  if (ivl_emu_capturing(s)) {
    s->invalidated = true;
    return last_error = cudaErrorStreamCaptureUnsupported;
  }
  return cudaSuccess;
}

extern "C" cudaError_t cudaDeviceSynchronize(void)
{
  return cudaSuccess;
}

extern "C" cudaError_t cudaStreamBeginCapture(cudaStream_t s, enum cudaStreamCaptureMode)
{
  if (s == nullptr || s == cudaStreamLegacy || s == cudaStreamPerThread)
    return last_error = cudaErrorStreamCaptureUnsupported;
  if (s->capture != nullptr)
    return last_error = cudaErrorIllegalState;
  s->capture = new CUgraph_st;
  s->invalidated = false;
  return cudaSuccess;
}

extern "C" cudaError_t cudaStreamEndCapture(cudaStream_t s, cudaGraph_t *graph)
{
  *graph = nullptr;
  if (!ivl_emu_capturing(s))
    return last_error = cudaErrorIllegalState;
  CUgraph_st *g = s->capture;
  s->capture = nullptr;
  if (s->invalidated) {
    delete g;
    return last_error = cudaErrorStreamCaptureInvalidated;
  }
  *graph = g;
  return cudaSuccess;
}

extern "C" cudaError_t cudaGraphInstantiate(cudaGraphExec_t *exec, cudaGraph_t graph,
                                            unsigned long long)
{
  if (graph == nullptr)
    return last_error = cudaErrorInvalidValue;
  *exec = new CUgraphExec_st{graph->ops};
  stats.graph_instantiations++;
  return cudaSuccess;
}

extern "C" cudaError_t cudaGraphDestroy(cudaGraph_t graph)
{
  delete graph;
  return cudaSuccess;
}

extern "C" cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec)
{
  delete exec;
  return cudaSuccess;
}

extern "C" cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t stream)
{
  if (exec == nullptr)
    return last_error = cudaErrorInvalidValue;
  stats.graph_launches++;
  for (auto &op : exec->ops)
    ivl_emu_enqueue(stream, op);
  return cudaSuccess;
}

extern "C" cudaError_t cudaEventCreate(cudaEvent_t *e)
{
  *e = new CUevent_st{0.0};
  return cudaSuccess;
}

extern "C" cudaError_t cudaEventCreateWithFlags(cudaEvent_t *e, unsigned int)
{
  return cudaEventCreate(e);
}

/* Streams run each operation when it is enqueued: what an event marks is already done. */
extern "C" cudaError_t cudaStreamWaitEvent(cudaStream_t, cudaEvent_t e, unsigned int)
{
  return e == nullptr ? (last_error = cudaErrorInvalidResourceHandle) : cudaSuccess;
}

extern "C" cudaError_t cudaEventDestroy(cudaEvent_t e)
{
  delete e;
  return cudaSuccess;
}

extern "C" cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t stream)
{
  ivl_emu_enqueue(stream, [e] { e->ms = now_ms(); });
  return cudaSuccess;
}

extern "C" cudaError_t cudaEventSynchronize(cudaEvent_t)
{
  return cudaSuccess;
}

/* Host time: the emulation says nothing about a GPU's speed. */
extern "C" cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t a, cudaEvent_t b)
{
  *ms = (float)(b->ms - a->ms);
  return cudaSuccess;
}

/* -- launches -- */

extern "C" cudaError_t cudaFuncSetAttribute(const void *func, enum cudaFuncAttribute attr,
                                            int value)
{
  if (attr != cudaFuncAttributeMaxDynamicSharedMemorySize)
    return cudaSuccess;
  if (value < 0 || value > IVL_EMU_SHARED_OPTIN)
    return last_error = cudaErrorInvalidValue;
  max_dynamic_shared[func] = value;
  return cudaSuccess;
}

static bool launch_fits(const void *kernel, dim3 grid, dim3 block, size_t shared,
                        ivl_emu_launch_site site)
{
  const unsigned long long threads = (unsigned long long)block.x * block.y * block.z;
  const auto it = max_dynamic_shared.find(kernel);
  const size_t shared_max =
      it != max_dynamic_shared.end() ? (size_t)it->second : (size_t)IVL_EMU_SHARED_DEFAULT;
  const char *why = nullptr;
  if (threads == 0 || threads > 1024 || block.x > 1024 || block.y > 1024 || block.z > 64)
    why = "block outside 1..1024 threads (x, y <= 1024, z <= 64)";
  else if (grid.x == 0 || grid.y == 0 || grid.z == 0 || grid.x > 0x7FFFFFFFu || grid.y > 65535 ||
           grid.z > 65535)
    why = "grid outside 1..2^31-1 x 1..65535 x 1..65535 blocks";
  else if (shared > shared_max)
    why = shared > IVL_EMU_SHARED_OPTIN ? "dynamic shared memory over 227 KB"
                                        : "dynamic shared memory over 48 KB without "
                                          "cudaFuncAttributeMaxDynamicSharedMemorySize";
  if (why == nullptr)
    return true;
  fprintf(stderr,
          "ivl-emu: launch at %s:%d refused (grid %u x %u x %u, block %u x %u x %u, %zu bytes "
          "of dynamic shared memory): %s\n",
          site.file, site.line, grid.x, grid.y, grid.z, block.x, block.y, block.z, shared, why);
  ivl_emu_set_error(cudaErrorInvalidConfiguration);
  return false;
}

extern "C" void ivl_emu_launch(const void *kernel, dim3 grid, dim3 block, size_t shared,
                               cudaStream_t stream, ivl_emu_body_fn body, void *args,
                               void (*free_args)(void *), ivl_emu_launch_site site)
{
  setup();
  std::shared_ptr<void> held(args, free_args);
  if (dev.no_kernel_image) {
    ivl_emu_set_error(cudaErrorNoKernelImageForDevice);
    return;
  }
  if (!launch_fits(kernel, grid, block, shared, site))
    return;
  if (stream != nullptr && stream != cudaStreamLegacy && stream != cudaStreamPerThread &&
      stream->device != dev.device) {
    /* as a GPU does: the stream belongs to another device than the current one */
    fprintf(stderr,
            "ivl-emu: launch at %s:%d on a stream of device %d while device %d is "
            "current\n",
            site.file, site.line, stream->device, dev.device);
    ivl_emu_set_error(cudaErrorInvalidResourceHandle);
    return;
  }
  stats.launches++;
  const int device =
      stream != nullptr && stream != cudaStreamLegacy && stream != cudaStreamPerThread
          ? stream->device
          : dev.device;
  ivl_emu_enqueue(stream, [=] {
    ivl_emu_running_device = device;
    ivl_emu_run_grid(grid, block, body, held.get(), site);
  });
}

/* -- several devices -- */

extern "C" cudaError_t cudaDeviceCanAccessPeer(int *can, int device, int peer)
{
  setup();
  if (device < 0 || device >= dev.devices || peer < 0 || peer >= dev.devices)
    return last_error = cudaErrorInvalidDevice;
  *can = !dev.no_peer && device != peer;
  return cudaSuccess;
}

extern "C" cudaError_t cudaDeviceEnablePeerAccess(int peer, unsigned int)
{
  setup();
  if (peer < 0 || peer >= dev.devices || peer == dev.device || dev.no_peer)
    return last_error = cudaErrorInvalidDevice;
  if (dev.peer_enabled[dev.device][peer])
    return last_error = cudaErrorPeerAccessAlreadyEnabled;
  dev.peer_enabled[dev.device][peer] = true;
  return cudaSuccess;
}

/* Works with or without peer access, as CUDA's does (the driver stages through the host). */
extern "C" cudaError_t cudaMemcpyPeerAsync(void *dst, int dst_device, const void *src,
                                           int src_device, size_t n, cudaStream_t stream)
{
  setup();
  if (n > 0 && (ivl_emu_device_of(dst) != dst_device || ivl_emu_device_of(src) != src_device)) {
    fprintf(stderr, "ivl-emu: cudaMemcpyPeer from device %d to %d of memory on devices %d, %d\n",
            src_device, dst_device, ivl_emu_device_of(src), ivl_emu_device_of(dst));
    return last_error = cudaErrorInvalidValue;
  }
  stats.peer_copies++;
  return copy(dst, src, n, cudaMemcpyDeviceToDevice, stream);
}

extern "C" cudaError_t cudaMemcpyPeer(void *dst, int dst_device, const void *src, int src_device,
                                      size_t n)
{
  return cudaMemcpyPeerAsync(dst, dst_device, src, src_device, n, nullptr);
}

extern "C" cudaError_t cudaMallocHost(void **p, size_t size)
{
  *p = aligned_alloc(PAGE, (size + PAGE - 1) / PAGE * PAGE);
  return *p != nullptr ? cudaSuccess : (last_error = cudaErrorMemoryAllocation);
}

extern "C" cudaError_t cudaFreeHost(void *p)
{
  free(p);
  return cudaSuccess;
}

/* -- device and errors -- */

extern "C" cudaError_t cudaGetDeviceCount(int *count)
{
  setup();
  *count = dev.devices > 0 ? dev.devices : 0;
  return dev.devices > 0 ? cudaSuccess : (last_error = cudaErrorNoDevice);
}

extern "C" cudaError_t cudaSetDevice(int device)
{
  setup();
  if (device < 0 || device >= dev.devices)
    return last_error = cudaErrorInvalidDevice;
  dev.device = device;
  return cudaSuccess;
}

extern "C" cudaError_t cudaGetDevice(int *device)
{
  setup();
  *device = dev.device;
  return cudaSuccess;
}

extern "C" cudaError_t cudaGetDeviceProperties(struct cudaDeviceProp *p, int device)
{
  setup();
  if (device < 0 || device >= dev.devices)
    return last_error = cudaErrorInvalidDevice;
  memset(p, 0, sizeof *p);
  snprintf(p->name, sizeof p->name, "NVIDIA H100 80GB HBM3 (CPU emulation)");
  p->totalGlobalMem = dev.total[device];
  p->sharedMemPerBlock = IVL_EMU_SHARED_DEFAULT;
  p->sharedMemPerBlockOptin = IVL_EMU_SHARED_OPTIN;
  p->sharedMemPerMultiprocessor = 228 << 10;
  p->regsPerBlock = 65536;
  p->warpSize = 32;
  p->maxThreadsPerBlock = 1024;
  p->maxThreadsDim[0] = 1024, p->maxThreadsDim[1] = 1024, p->maxThreadsDim[2] = 64;
  p->maxGridSize[0] = 0x7FFFFFFF, p->maxGridSize[1] = 65535, p->maxGridSize[2] = 65535;
  p->major = dev.sm / 10, p->minor = dev.sm % 10;
  p->multiProcessorCount = 132;
  p->memoryBusWidth = 5120;
  p->l2CacheSize = 50 << 20;
  p->maxThreadsPerMultiProcessor = 2048;
  return cudaSuccess;
}

extern "C" cudaError_t cudaGetLastError(void)
{
  const cudaError_t e = last_error;
  last_error = cudaSuccess;
  return e;
}

extern "C" cudaError_t cudaPeekAtLastError(void)
{
  return last_error;
}

#define CODE(c, text)                                                                              \
  {                                                                                                \
    c, #c, text                                                                                    \
  }
static const ivl_emu_code_text errors[] = {
    CODE(cudaSuccess, "no error"),
    CODE(cudaErrorInvalidValue, "invalid argument"),
    CODE(cudaErrorMemoryAllocation, "out of memory"),
    CODE(cudaErrorInvalidConfiguration, "invalid configuration argument"),
    CODE(cudaErrorNoDevice, "no CUDA-capable device is detected"),
    CODE(cudaErrorInvalidDevice, "invalid device ordinal"),
    CODE(cudaErrorPeerAccessAlreadyEnabled, "peer access is already enabled to the context"),
    CODE(cudaErrorNoKernelImageForDevice,
         "no kernel image is available for execution on the device"),
    CODE(cudaErrorStreamCaptureUnsupported, "operation not permitted when stream is capturing"),
    CODE(cudaErrorStreamCaptureInvalidated,
         "operation failed due to a previous error during capture"),
    CODE(cudaErrorIllegalState, "the resource is in an illegal state"),
    CODE(cudaErrorInvalidResourceHandle, "invalid resource handle"),
    CODE(cudaErrorInsufficientDriver,
         "CUDA driver version is insufficient for CUDA runtime version"),
};
#undef CODE

extern "C" const char *cudaGetErrorName(cudaError_t e)
{
  return ivl_emu_code_string(errors, e, true, "cudaErrorUnknown");
}

extern "C" const char *cudaGetErrorString(cudaError_t e)
{
  return ivl_emu_code_string(errors, e, false, "unknown error");
}
