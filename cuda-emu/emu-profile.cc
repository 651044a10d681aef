/* emu-profile.cc — what each launch would cost on a real GPU, on paper: the distinct 32-byte
 * sectors of global memory it reads and writes (DRAM traffic if every reuse within a launch
 * hits L2 and none across launches does), the FLOPs its kernel declares (IVL_FLOPS), and
 * for cuBLAS and copies the same from their shapes. Each launch is priced by the roofline
 * the caller gives (ivl-emu.h) and the prices are summed per launch site. */
#include "emu-private.h"
#include "ivl-emu.h"

#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#define SECTOR_SHIFT 5

bool ivl_emu_profiling = false;
static ivl_emu_roofline roof;
static std::map<std::string, ivl_emu_profile_entry> entries;
/* One bit per sector of the arena, for reads and for writes, and the words set this launch. */
static uint64_t *sector_bits[2];
static std::vector<uint64_t> sector_words[2];
static uint64_t sectors[2];
static double launch_flops, launch_tensor_flops;

extern "C" void ivl_emu_profile_start(const ivl_emu_roofline *r)
{
  for (int k = 0; k < 2; k++)
    if (sector_bits[k] == nullptr) {
      void *m = mmap(nullptr, ivl_emu_arena_size >> (SECTOR_SHIFT + 3), PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
      if (m == MAP_FAILED)
        ivl_emu_report("cannot map the profile's sector bitmaps");
      sector_bits[k] = (uint64_t *)m;
    }
  roof = *r;
  entries.clear();
  ivl_emu_profiling = true;
}

extern "C" void ivl_emu_profile_stop(void)
{
  ivl_emu_profiling = false;
}

void ivl_emu_profile_access(uintptr_t a, size_t n, int write)
{
  const uint64_t first = (a - ivl_emu_arena_base) >> SECTOR_SHIFT;
  const uint64_t last = (a + n - 1 - ivl_emu_arena_base) >> SECTOR_SHIFT;
  uint64_t *bits = sector_bits[write != 0];
  for (uint64_t s = first; s <= last; s++) {
    uint64_t &w = bits[s >> 6];
    const uint64_t bit = (uint64_t)1 << (s & 63);
    if (w & bit)
      continue;
    if (w == 0)
      sector_words[write != 0].push_back(s >> 6);
    w |= bit;
    sectors[write != 0]++;
  }
}

extern "C" void ivl_emu_count_flops(double flops)
{
  launch_flops += flops;
}

extern "C" void ivl_emu_count_tensor_flops(double flops)
{
  launch_tensor_flops += flops;
}

static void add(const std::string &name, double bytes, double seconds, double flops)
{
  ivl_emu_profile_entry &e = entries[name];
  if (e.launches == 0)
    snprintf(e.name, sizeof e.name, "%s", name.c_str());
  e.launches++;
  e.bytes += bytes;
  e.flops += flops;
  e.seconds += seconds;
}

void ivl_emu_profile_launch_begin(void)
{
  sectors[0] = sectors[1] = 0;
  launch_flops = launch_tensor_flops = 0;
}

void ivl_emu_profile_launch_end(ivl_emu_launch_site site)
{
  for (int k = 0; k < 2; k++) {
    for (uint64_t w : sector_words[k])
      sector_bits[k][w] = 0;
    sector_words[k].clear();
  }
  const double bytes = (double)((sectors[0] + sectors[1]) << SECTOR_SHIFT);
  /* A kernel's softmax and its mma share the SM's issue slots: their times add up. */
  const double t =
      std::max(bytes / roof.bytes_per_s, launch_flops / roof.cuda_core_flops_per_s +
                                             launch_tensor_flops / roof.tensor_flops_per_s);
  /* The kernel's name without its template arguments (IVL_LAUNCH's first macro argument ends
   * at the first comma of a template's); file:line tells the instances apart. */
  const char *kernel = site.kernel ? site.kernel : "?", *file = strrchr(site.file, '/');
  char name[sizeof(ivl_emu_profile_entry::name)];
  snprintf(name, sizeof name, "%.*s (%s:%d)", (int)strcspn(kernel, "<"), kernel,
           file ? file + 1 : site.file, site.line);
  add(name, bytes, roof.launch_s + t, launch_flops + launch_tensor_flops);
}

void ivl_emu_profile_gemm(const char *what, int m, int n, int k, int batch, bool a_shared,
                          bool b_shared, size_t a_size, size_t b_size, size_t c_size, bool reads_c,
                          bool tensor_cores)
{
  const double flops = 2.0 * m * n * k * batch;
  const double bytes = (double)m * k * a_size * (a_shared ? 1 : batch) +
                       (double)k * n * b_size * (b_shared ? 1 : batch) +
                       (double)m * n * c_size * (reads_c ? 2 : 1) * batch;
  const double rate = tensor_cores ? roof.tensor_flops_per_s : roof.cuda_core_flops_per_s;
  char name[96];
  if (batch == 1)
    snprintf(name, sizeof name, "%s %dx%dx%d%s", what, m, n, k, tensor_cores ? "" : " (f32)");
  else
    snprintf(name, sizeof name, "%s %dx%dx%dx%d%s", what, batch, m, n, k,
             tensor_cores ? "" : " (f32)");
  add(name, bytes, roof.launch_s + std::max(bytes / roof.bytes_per_s, flops / rate), flops);
}

void ivl_emu_profile_copy(const char *what, size_t n, bool over_host_link)
{
  /* A device-to-device copy reads and writes; a memset writes. */
  const double bytes = strcmp(what, "cudaMemcpy device to device") == 0 ? 2.0 * n : (double)n;
  const double rate = over_host_link ? roof.host_bytes_per_s : roof.bytes_per_s;
  add(what, bytes, roof.launch_s + bytes / rate, 0);
}

extern "C" size_t ivl_emu_profile_read(ivl_emu_profile_entry *out, size_t max)
{
  std::vector<ivl_emu_profile_entry> v;
  for (const auto &kv : entries)
    v.push_back(kv.second);
  std::sort(v.begin(), v.end(), [](const ivl_emu_profile_entry &a, const ivl_emu_profile_entry &b) {
    return a.seconds > b.seconds;
  });
  for (size_t i = 0; i < v.size() && i < max; i++)
    out[i] = v[i];
  return v.size();
}
