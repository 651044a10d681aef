/* emu-device.cc — running a launch: each block's threads are fibers on one host thread,
 * switched by emu-switch.S at __syncthreads, __syncwarp, shuffles and votes only, so a
 * thread runs alone from one rendezvous to the next. Also the checks a GPU does not make
 * (each report is fatal, like compute-sanitizer with an error exit code):
 *  - global accesses: every load and store of a kernel (instrumented by -fsanitize=thread,
 *    whose hooks are defined here) against the shadow of the allocations: outside any
 *    allocation, or a read of a byte nothing has written;
 *  - shared memory (the kernels' static __shared__ variables live in .bss, and the dynamic
 *    area too): two threads touching one byte between barriers, one of them writing, with no
 *    __syncthreads (or, in one warp, __syncwarp) between;
 *  - __syncthreads reached at different places, or while other threads of the block exited;
 *  - warp operations whose mask names lanes that never arrive, that exited, or that are past
 *    the block, and shuffles reading a lane outside the mask;
 *  - launch limits (emu-runtime.cc). */
#include "emu-private.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#include <vector>

#define STACK_BYTES ((size_t)128 << 10)
#define MAX_THREADS 1024

enum { RUNNABLE, AT_BARRIER, AT_WARP, DONE };

struct emu_thread {
  void *sp;
  ivl_emu_thread_ids ids;
  int tid, lane, warp;
  int state;
  const char *file; /* where it waits */
  int line;
  unsigned mask; /* warp op */
  int op, arg, width;
  uint64_t value, result;
};

/* Kernel code reads ivl_emu_ids on every index; keep it (and the rest of this state) out of
 * .bss, where the race check looks for __shared__ variables. */
#define DATA __attribute__((section(".data")))
static ivl_emu_thread_ids no_ids;
extern "C" {
DATA const ivl_emu_thread_ids *ivl_emu_ids = &no_ids;
}
static DATA emu_thread *threads = nullptr;
static DATA emu_thread *cur = nullptr;
static DATA void *sched_sp = nullptr;
static DATA char *stacks = nullptr;
static DATA int n_threads = 0;
static DATA ivl_emu_body_fn cur_body = nullptr;
static DATA void *cur_args = nullptr;
static DATA ivl_emu_launch_site cur_site = {nullptr, 0, nullptr};
/* Epochs: a new value at each block start and each barrier (block_epoch), at each
 * __syncwarp of a warp (warp_epoch[w]); an access is ordered after another when an epoch it
 * shares with it moved on since. */
static DATA uint32_t epoch_counter = 1;
static DATA uint32_t block_epoch = 1;
static DATA uint32_t warp_epoch[MAX_THREADS / 32] = {1};
static DATA uint32_t warp_arrived[MAX_THREADS / 32] = {0}; /* lanes waiting at a warp op */
/* What the lanes of each warp gave to their last ivl_emu_warp_gather, lane after lane. */
static DATA char (*gathered)[32 * IVL_EMU_GATHER_MAX] = nullptr;

/* The dynamic shared memory of the running block: in .bss, so the race check covers it. */
static char dynamic_shared[IVL_EMU_SHARED_OPTIN] __attribute__((aligned(16)));

extern "C" void *ivl_emu_dynamic_shared(void)
{
  return dynamic_shared;
}

/* -- reports -- */

[[noreturn]] void ivl_emu_report(const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "ivl-emu: ERROR: ");
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  if (cur != nullptr)
    fprintf(stderr, "\n  in the kernel launched at %s:%d, block (%u,%u,%u), thread (%u,%u,%u)",
            cur_site.file, cur_site.line, cur->ids.block_idx.x, cur->ids.block_idx.y,
            cur->ids.block_idx.z, cur->ids.thread_idx.x, cur->ids.thread_idx.y,
            cur->ids.thread_idx.z);
  else if (cur_site.file != nullptr)
    fprintf(stderr, "\n  in the kernel launched at %s:%d", cur_site.file, cur_site.line);
  fprintf(stderr, "\n");
  fflush(stderr);
  abort();
}

static void describe_thread(char *buf, size_t n, const emu_thread *t)
{
  snprintf(buf, n, "thread (%u,%u,%u)", t->ids.thread_idx.x, t->ids.thread_idx.y,
           t->ids.thread_idx.z);
}

/* -- global memory -- */

static void global_access(uintptr_t a, size_t n, int write)
{
  if (ivl_emu_profiling)
    ivl_emu_profile_access(a, n, write);
  uint8_t *s = ivl_emu_shadow_of(a);
  const int device = ivl_emu_running_device;
  if (n == 4 && !write) {
    uint32_t w;
    memcpy(&w, s, 4);
    if (w == (uint32_t)(IVL_EMU_ADDRESSABLE | IVL_EMU_WRITTEN | device << IVL_EMU_DEVICE_SHIFT) *
                 0x01010101u)
      return;
  }
  for (size_t i = 0; i < n; i++) {
    if (!(s[i] & IVL_EMU_ADDRESSABLE)) {
      char where[256];
      ivl_emu_describe_address(a + i, where, sizeof where);
      ivl_emu_report("out-of-bounds global %s of %zu bytes at %p: %s", write ? "write" : "read", n,
                     (void *)a, where);
    }
    const int owner = s[i] >> IVL_EMU_DEVICE_SHIFT;
    if (owner != device && !ivl_emu_peer_enabled(device, owner))
      ivl_emu_report("global %s of %zu bytes at %p by a kernel on device %d: the memory is device "
                     "%d's and peer access is not enabled",
                     write ? "write" : "read", n, (void *)a, device, owner);
    if (write)
      s[i] |= IVL_EMU_WRITTEN;
    else if (!(s[i] & IVL_EMU_WRITTEN)) {
      char where[256];
      ivl_emu_describe_address(a + i, where, sizeof where);
      ivl_emu_report("read of uninitialised device memory (%zu bytes at %p, never written): %s", n,
                     (void *)a, where);
    }
  }
}

/* -- shared memory -- */

struct shared_shadow {
  uint32_t w_block, w_warp_epoch, r_block, r_warp_epoch;
  uint16_t w_tid, r_tid;  /* r_tid MANY_READERS: more than one thread read */
  int16_t w_warp, r_warp; /* r_warp -1: readers in several warps */
};
#define MANY_READERS 0xFFFF

extern "C" char __bss_start[], _end[];
static DATA shared_shadow *shared_shadows = nullptr;

static bool ordered(uint32_t block, int warp, uint32_t warp_ep, int tid)
{
  return block != block_epoch || tid == cur->tid ||
         (warp == cur->warp && warp_epoch[cur->warp] != warp_ep);
}

static void race(uintptr_t a, const char *what, int other_tid)
{
  char other[64] = "several threads";
  if (other_tid != MANY_READERS)
    describe_thread(other, sizeof other, &threads[other_tid]);
  ivl_emu_report("shared-memory race at %p (.bss offset %td): this thread %s what %s %s with no "
                 "barrier between",
                 (void *)a, (char *)a - __bss_start, what, other,
                 strcmp(what, "reads") == 0 ? "wrote" : "accessed");
}

static void shared_access(uintptr_t a, size_t n, int write)
{
  if (shared_shadows == nullptr) {
    const size_t bytes = (size_t)(_end - __bss_start) * sizeof(shared_shadow);
    void *m = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED)
      ivl_emu_report("cannot map the shared-memory shadow");
    shared_shadows = (shared_shadow *)m;
  }
  shared_shadow *s = shared_shadows + (a - (uintptr_t)__bss_start);
  const int tid = cur->tid, warp = cur->warp;
  for (size_t i = 0; i < n; i++, s++) {
    if (s->w_block != 0 && !ordered(s->w_block, s->w_warp, s->w_warp_epoch, s->w_tid))
      race(a + i, write ? "overwrites" : "reads", s->w_tid);
    if (write) {
      if (s->r_block != 0 && s->r_block == block_epoch && s->r_tid != tid &&
          !(s->r_warp == warp && warp_epoch[warp] != s->r_warp_epoch))
        race(a + i, "overwrites", s->r_tid);
      s->w_block = block_epoch, s->w_tid = (uint16_t)tid, s->w_warp = (int16_t)warp;
      s->w_warp_epoch = warp_epoch[warp];
    } else {
      if (s->r_block == block_epoch && s->r_tid != tid) {
        s->r_tid = MANY_READERS;
        if (s->r_warp != warp)
          s->r_warp = -1;
      } else {
        s->r_tid = (uint16_t)tid, s->r_warp = (int16_t)warp;
      }
      s->r_block = block_epoch, s->r_warp_epoch = warp_epoch[warp];
    }
  }
}

static inline void access(const void *p, size_t n, int write)
{
  if (cur == nullptr)
    return;
  const uintptr_t a = (uintptr_t)p;
  if (ivl_emu_is_device(a))
    global_access(a, n, write);
  else if (a - (uintptr_t)__bss_start < (uintptr_t)(_end - __bss_start))
    shared_access(a, n, write);
}

extern "C" void ivl_emu_check_access(const void *p, size_t n, int write)
{
  if (cur != nullptr && ivl_emu_is_device((uintptr_t)p))
    global_access((uintptr_t)p, n, write);
}

extern "C" void ivl_emu_copy(void *dst, const void *src, size_t n)
{
  memcpy(dst, src, n);
}

/* The calls -fsanitize=thread puts before each memory access of the kernels. */
extern "C" {
void __tsan_init(void)
{
}
void __tsan_func_entry(void *)
{
}
void __tsan_func_exit(void)
{
}
void __tsan_vptr_update(void **, void *)
{
}
void __tsan_vptr_read(void **)
{
}
void __tsan_read_range(void *p, size_t n)
{
  access(p, n, 0);
}
void __tsan_write_range(void *p, size_t n)
{
  access(p, n, 1);
}
#define HOOKS(n)                                                                                   \
  void __tsan_read##n(void *p)                                                                     \
  {                                                                                                \
    access(p, n, 0);                                                                               \
  }                                                                                                \
  void __tsan_write##n(void *p)                                                                    \
  {                                                                                                \
    access(p, n, 1);                                                                               \
  }                                                                                                \
  void __tsan_unaligned_read##n(void *p)                                                           \
  {                                                                                                \
    access(p, n, 0);                                                                               \
  }                                                                                                \
  void __tsan_unaligned_write##n(void *p)                                                          \
  {                                                                                                \
    access(p, n, 1);                                                                               \
  }
/* Static locals with a constructor (bf16 pair arrays) are guarded by an atomic flag. */
#define ATOMIC_HOOKS(n, type)                                                                      \
  type __tsan_atomic##n##_load(const volatile type *p, int)                                        \
  {                                                                                                \
    return *p;                                                                                     \
  }                                                                                                \
  void __tsan_atomic##n##_store(volatile type *p, type v, int)                                     \
  {                                                                                                \
    *p = v;                                                                                        \
  }
ATOMIC_HOOKS(8, uint8_t)
ATOMIC_HOOKS(16, uint16_t)
ATOMIC_HOOKS(32, uint32_t)
ATOMIC_HOOKS(64, uint64_t)
#undef ATOMIC_HOOKS
HOOKS(1)
HOOKS(2)
HOOKS(4)
HOOKS(8)
HOOKS(16)
#undef HOOKS
}

/* -- fibers -- */

extern "C" void ivl_emu_switch(void **save, void *to);
extern "C" void ivl_emu_fiber_start(void);

static void yield(void)
{
  ivl_emu_switch(&cur->sp, sched_sp);
}

extern "C" void ivl_emu_fiber_main(emu_thread *t)
{
  (void)t;
  cur_body(cur_args);
  cur->state = DONE;
  yield();
  abort(); /* a finished fiber is never resumed */
}

static void fiber_init(emu_thread *t, char *stack_top)
{
  /* What ivl_emu_switch pops: r15 r14 r13 r12 rbx rbp, then the return address; the stack
   * is 16-byte aligned after that return, as a call expects. */
  void **sp = (void **)(stack_top - 72);
  memset(sp, 0, 72);
  sp[3] = t; /* r12: ivl_emu_fiber_start passes it on */
  sp[6] = (void *)ivl_emu_fiber_start;
  t->sp = sp;
}

static void ensure_stacks(void)
{
  if (stacks != nullptr)
    return;
  void *m = mmap(nullptr, STACK_BYTES * MAX_THREADS, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (m == MAP_FAILED)
    ivl_emu_report("cannot map fiber stacks");
  stacks = (char *)m;
  threads = new emu_thread[MAX_THREADS];
  gathered = new char[MAX_THREADS / 32][32 * IVL_EMU_GATHER_MAX];
}

/* -- rendezvous -- */

extern "C" void ivl_emu_syncthreads(const char *file, int line)
{
  if (cur == nullptr)
    ivl_emu_report("__syncthreads outside a kernel");
  cur->state = AT_BARRIER;
  cur->file = file, cur->line = line;
  yield();
}

static int source_lane(const emu_thread *t)
{
  const int w = t->width, base = t->lane & ~(w - 1);
  int src = t->lane;
  switch (t->op) {
  case IVL_EMU_SHFL_IDX:
    src = base + (t->arg & (w - 1));
    break;
  case IVL_EMU_SHFL_UP:
    src = t->lane - t->arg >= base ? t->lane - t->arg : t->lane;
    break;
  case IVL_EMU_SHFL_DOWN:
    src = t->lane + t->arg < base + w ? t->lane + t->arg : t->lane;
    break;
  case IVL_EMU_SHFL_XOR:
    src = (t->lane ^ t->arg) < base + w ? t->lane ^ t->arg : t->lane;
    break;
  default:
    break;
  }
  return src;
}

/* Called by the last lane of `mask` to arrive: every lane gets its result. */
static void complete_warp_op(emu_thread *first, unsigned mask)
{
  uint64_t ballot = 0;
  for (int l = 0; l < 32; l++)
    if (mask & (1u << l))
      ballot |= (uint64_t)(first[l].value != 0) << l;
  for (int l = 0; l < 32; l++) {
    if (!(mask & (1u << l)))
      continue;
    emu_thread *t = &first[l];
    if (t->op != cur->op || t->file != cur->file || t->line != cur->line)
      ivl_emu_report("lanes %d and %d of warp %d meet at different warp operations (%s:%d and "
                     "%s:%d) with the same mask %#x",
                     t->lane, cur->lane, cur->warp, t->file, t->line, cur->file, cur->line, mask);
    if (t->op == IVL_EMU_BALLOT) {
      t->result = ballot;
    } else if (t->op == IVL_EMU_GATHER) {
      /* The lanes wait here, so their contributions (on their stacks) are still there. */
      if (t->arg != cur->arg)
        ivl_emu_report("a warp gather at %s:%d: lanes %d and %d give %d and %d bytes", t->file,
                       t->line, t->lane, cur->lane, t->arg, cur->arg);
      memcpy(gathered[cur->warp] + l * t->arg, (const void *)(uintptr_t)t->value, t->arg);
      t->result = (uintptr_t)gathered[cur->warp];
    } else if (t->op != IVL_EMU_SYNCWARP) {
      const int src = source_lane(t);
      if (!(mask & (1u << src)))
        ivl_emu_report("a shuffle at %s:%d: lane %d reads lane %d, which is not in the mask %#x",
                       t->file, t->line, t->lane, src, mask);
      t->result = first[src].value;
    }
    t->state = RUNNABLE;
  }
  warp_arrived[cur->warp] &= ~mask;
  if (cur->op == IVL_EMU_SYNCWARP)
    warp_epoch[cur->warp] = ++epoch_counter;
}

extern "C" uint64_t ivl_emu_warp(unsigned mask, enum ivl_emu_warp_op op, uint64_t value, int arg,
                                 int width, const char *file, int line)
{
  if (cur == nullptr)
    ivl_emu_report("a warp operation outside a kernel");
  const int first_tid = cur->warp * 32;
  if (!(mask & (1u << cur->lane)))
    ivl_emu_report("a warp operation at %s:%d with mask %#x, which leaves out the calling lane %d",
                   file, line, mask, cur->lane);
  if (first_tid + 32 > n_threads && (mask >> (n_threads - first_tid)) != 0)
    ivl_emu_report("a warp operation at %s:%d with mask %#x names lanes past the block's %d "
                   "threads",
                   file, line, mask, n_threads);
  if (op == IVL_EMU_GATHER && (mask != 0xffffffffu || arg <= 0 || arg > IVL_EMU_GATHER_MAX))
    ivl_emu_report("a warp gather at %s:%d with mask %#x and %d bytes (full warps, at most %d)",
                   file, line, mask, arg, IVL_EMU_GATHER_MAX);
  if (width <= 0 || width > 32 || (width & (width - 1)) != 0)
    ivl_emu_report("a shuffle at %s:%d with width %d", file, line, width);
  cur->state = AT_WARP;
  cur->mask = mask, cur->op = op, cur->value = value, cur->arg = arg, cur->width = width;
  cur->file = file, cur->line = line;
  emu_thread *first = &threads[first_tid];
  warp_arrived[cur->warp] |= 1u << cur->lane;
  bool all = (warp_arrived[cur->warp] & mask) == mask;
  for (int l = 0; l < 32 && all; l++)
    if (mask & (1u << l))
      all = first[l].mask == mask;
  if (all)
    complete_warp_op(first, mask);
  else
    yield();
  return cur->result;
}

/* Nothing can run: release a barrier all live threads reached at one place, else report. */
static void resolve(void)
{
  int at_barrier = 0, done = 0, at_warp = 0;
  emu_thread *b = nullptr, *w = nullptr, *d = nullptr;
  for (int i = 0; i < n_threads; i++) {
    emu_thread *t = &threads[i];
    if (t->state == AT_BARRIER) {
      if (b != nullptr && (t->file != b->file || t->line != b->line)) {
        char tb[64], tt[64];
        describe_thread(tb, sizeof tb, b);
        describe_thread(tt, sizeof tt, t);
        cur = t;
        ivl_emu_report("divergent __syncthreads: %s waits at %s:%d, %s at %s:%d", tb, b->file,
                       b->line, tt, t->file, t->line);
      }
      b = t, at_barrier++;
    } else if (t->state == DONE) {
      d = t, done++;
    } else if (t->state == AT_WARP) {
      w = w ? w : t, at_warp++;
    }
  }
  if (at_warp > 0) {
    const emu_thread *first = &threads[w->warp * 32];
    char missing[256] = "";
    size_t len = 0;
    for (int l = 0; l < 32 && len < sizeof missing - 32; l++)
      if ((w->mask & (1u << l)) && !(first[l].state == AT_WARP && first[l].mask == w->mask))
        len += (size_t)snprintf(missing + len, sizeof missing - len, " %d (%s)", l,
                                first[l].state == DONE         ? "exited"
                                : first[l].state == AT_BARRIER ? "at __syncthreads"
                                                               : "at another warp operation");
    cur = w;
    ivl_emu_report("a warp operation at %s:%d with mask %#x waits for lanes that never arrive:%s",
                   w->file, w->line, w->mask, missing);
  }
  if (at_barrier > 0 && done > 0) {
    char td[64];
    describe_thread(td, sizeof td, d);
    cur = b;
    ivl_emu_report("divergent __syncthreads at %s:%d: %d threads wait there but %d exited (%s)",
                   b->file, b->line, at_barrier, done, td);
  }
  block_epoch = ++epoch_counter;
  for (int i = 0; i < n_threads; i++)
    threads[i].state = RUNNABLE;
}

static void run_block(uint3 block_idx, dim3 grid, dim3 block)
{
  block_epoch = ++epoch_counter;
  for (int w = 0; w < (n_threads + 31) / 32; w++) {
    warp_epoch[w] = ++epoch_counter;
    warp_arrived[w] = 0;
  }
  int tid = 0;
  for (unsigned z = 0; z < block.z; z++)
    for (unsigned y = 0; y < block.y; y++)
      for (unsigned x = 0; x < block.x; x++, tid++) {
        emu_thread *t = &threads[tid];
        t->ids.thread_idx = uint3{x, y, z};
        t->ids.block_idx = block_idx;
        t->ids.block_dim = block;
        t->ids.grid_dim = grid;
        t->tid = tid, t->lane = tid & 31, t->warp = tid >> 5;
        t->state = RUNNABLE;
        t->result = 0;
        fiber_init(t, stacks + STACK_BYTES * (size_t)(tid + 1));
      }
  for (;;) {
    bool ran = false, live = false;
    for (int i = 0; i < n_threads; i++) {
      emu_thread *t = &threads[i];
      if (t->state == RUNNABLE) {
        cur = t;
        ivl_emu_ids = &t->ids;
        ivl_emu_switch(&sched_sp, t->sp);
        ran = true;
      }
      live = live || t->state != DONE;
    }
    cur = nullptr;
    ivl_emu_ids = &no_ids;
    if (!live)
      return;
    if (!ran)
      resolve();
  }
}

/* A crash inside a kernel (an address outside every allocation and outside the host's
 * memory) still says which kernel and thread. */
static void on_segv(int sig, siginfo_t *si, void *)
{
  if (cur == nullptr) {
    signal(sig, SIG_DFL);
    raise(sig);
    return;
  }
  ivl_emu_report("invalid memory access at %p (signal %d)", si->si_addr, sig);
}

void ivl_emu_run_grid(dim3 grid, dim3 block, ivl_emu_body_fn body, void *args,
                      ivl_emu_launch_site site)
{
  static bool handler = false;
  if (!handler) {
    struct sigaction sa = {};
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sa, nullptr);
    sigaction(SIGBUS, &sa, nullptr);
    handler = true;
  }
  ensure_stacks();
  cur_body = body, cur_args = args, cur_site = site;
  n_threads = (int)(block.x * block.y * block.z);
  if (ivl_emu_profiling)
    ivl_emu_profile_launch_begin();
  for (unsigned z = 0; z < grid.z; z++)
    for (unsigned y = 0; y < grid.y; y++)
      for (unsigned x = 0; x < grid.x; x++)
        run_block(uint3{x, y, z}, grid, block);
  if (ivl_emu_profiling)
    ivl_emu_profile_launch_end(site);
  cur_site = {nullptr, 0, nullptr};
}
