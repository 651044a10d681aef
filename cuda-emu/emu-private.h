/* emu-private.h — shared by the emulator's runtime (emu-runtime.cc), device (emu-device.cc)
 * and cuBLAS (emu-cublas.cc). */
#pragma once

#include "ivl-cuda-emu.h"

#define IVL_EMU_SHARED_DEFAULT (48 << 10)
#define IVL_EMU_SHARED_OPTIN (227 << 10)

/* Shadow byte of each device byte: addressable (inside an allocation), written. */
#define IVL_EMU_ADDRESSABLE 1
#define IVL_EMU_WRITTEN 2
/* The rest of the shadow byte: the device the allocation belongs to. */
#define IVL_EMU_DEVICE_SHIFT 2

/* The device whose kernel runs now (its stream's), and the shadow word of four written bytes
 * of its memory: global accesses compare against it first. */
extern int ivl_emu_running_device;
/* Whether the running device may read device `owner`'s memory (peer access enabled). */
bool ivl_emu_peer_enabled(int device, int owner);
extern uintptr_t ivl_emu_arena_base;
extern size_t ivl_emu_arena_size;
extern uint8_t *ivl_emu_shadow;

static inline bool ivl_emu_is_device(uintptr_t a)
{
  return a - ivl_emu_arena_base < ivl_emu_arena_size;
}
static inline uint8_t *ivl_emu_shadow_of(uintptr_t a)
{
  return ivl_emu_shadow + (a - ivl_emu_arena_base);
}

/* Prints the report (with the kernel and thread when one runs) and aborts. */
[[noreturn]] void ivl_emu_report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Which allocation an address is in or near, for reports. */
void ivl_emu_describe_address(uintptr_t a, char *buf, size_t n);
/* Checks [p, p + n) lies in one allocation (and, for a read, was written); reports if not. */
void ivl_emu_check_range(const void *p, size_t n, bool write, const char *what);
void ivl_emu_mark_written(void *p, size_t n);
/* The device an allocation belongs to (-1: none); reports when `device` may not read it. */
int ivl_emu_device_of(const void *p);
void ivl_emu_check_device(int device, const void *p, const char *what);

void ivl_emu_run_grid(dim3 grid, dim3 block, ivl_emu_body_fn body, void *args,
                      ivl_emu_launch_site site);

/* Runs `op` now, or records it when `stream` is capturing a graph. */
#include <functional>
void ivl_emu_enqueue(cudaStream_t stream, std::function<void()> op);
bool ivl_emu_capturing(cudaStream_t stream);
void ivl_emu_set_error(cudaError_t err);
void ivl_emu_count_gemm(void);

/* The profile (emu-profile.cc), fed while ivl_emu_profiling is set. */
extern bool ivl_emu_profiling;
void ivl_emu_profile_access(uintptr_t a, size_t n, int write);
void ivl_emu_profile_launch_begin(void);
void ivl_emu_profile_launch_end(ivl_emu_launch_site site);
/* A GEMM call (`what`, its cuBLAS name) of `batch` products; a_shared, b_shared: one operand
 * for the whole batch. */
void ivl_emu_profile_gemm(const char *what, int m, int n, int k, int batch, bool a_shared,
                          bool b_shared, size_t a_size, size_t b_size, size_t c_size, bool reads_c,
                          bool tensor_cores);
void ivl_emu_profile_copy(const char *what, size_t n, bool over_host_link);

/* A code's name and description, for the error-string calls of the runtime and cuBLAS. */
struct ivl_emu_code_text {
  int code;
  const char *name, *text;
};
/* The name (or the text) of `code` in `table`, else `fallback`. */
template <size_t N>
static inline const char *ivl_emu_code_string(const ivl_emu_code_text (&table)[N], int code,
                                              bool name, const char *fallback)
{
  for (const ivl_emu_code_text &t : table)
    if (t.code == code)
      return name ? t.name : t.text;
  return fallback;
}
