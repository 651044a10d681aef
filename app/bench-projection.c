/* bench-projection.c — the roofline projection of `ivl bench` under the CUDA emulation.
 *
 * Each launch is priced at max(bytes / HBM bandwidth, FLOPs / compute rate) plus a fixed
 * launch cost; the bytes are the distinct 32-byte sectors it touches (as if L2 caught every
 * reuse within a launch and none across launches), the FLOPs are cuBLAS's from its shapes
 * (tensor cores), what the kernels declare (CUDA cores) and their mma instructions' (tensor
 * cores: the flash attention). The figures are an H100 SXM's
 * datasheet values: a floor, not a measurement; tests/gpu/run.sh compares them with one. */
#include "ivl-config.h"

#include "bench-projection.h"

#include <glib/gi18n.h>

#if IVL_CUDA_EMULATION
#include "ivl-emu.h"

#define H100_HBM_BYTES_PER_S 3.35e12
#define H100_TENSOR_FLOPS 990e12   /* bf16 dense */
#define H100_CUDA_CORE_FLOPS 67e12 /* f32 FMA */
#define H100_HOST_BYTES_PER_S 50e9 /* PCIe 5 x16, as copies reach it */
#define LAUNCH_S 2.5e-6

typedef struct {
  ivl_emu_profile_entry *entries;
  size_t n;
  double units;
  uint64_t launches;
  double bytes, flops, seconds;
} phase_result;

struct ivl_bench_projection {
  phase_result phases[IVL_N_PHASES];
};

ivl_bench_projection *ivl_bench_projection_new(const char *backend)
{
  if (!g_str_equal(backend, "cuda"))
    return NULL;
  return g_new0(ivl_bench_projection, 1);
}

void ivl_bench_projection_free(ivl_bench_projection *p)
{
  if (!p)
    return;
  for (int i = 0; i < IVL_N_PHASES; i++)
    g_free(p->phases[i].entries);
  g_free(p);
}

void ivl_bench_projection_begin(ivl_bench_projection *p)
{
  if (!p)
    return;
  const ivl_emu_roofline r = {H100_HBM_BYTES_PER_S, H100_TENSOR_FLOPS, H100_CUDA_CORE_FLOPS,
                              H100_HOST_BYTES_PER_S, LAUNCH_S};
  ivl_emu_profile_start(&r);
}

void ivl_bench_projection_end(ivl_bench_projection *p, ivl_bench_phase phase, double units)
{
  if (!p)
    return;
  ivl_emu_profile_stop();
  phase_result *r = &p->phases[phase];
  g_free(r->entries);
  r->n = ivl_emu_profile_read(NULL, 0);
  r->entries = g_new(ivl_emu_profile_entry, MAX(r->n, 1));
  ivl_emu_profile_read(r->entries, r->n);
  r->units = units;
  r->launches = 0;
  r->bytes = r->flops = r->seconds = 0;
  for (size_t i = 0; i < r->n; i++) {
    r->launches += r->entries[i].launches;
    r->bytes += r->entries[i].bytes;
    r->flops += r->entries[i].flops;
    r->seconds += r->entries[i].seconds;
  }
}

static const char *const phase_keys[IVL_N_PHASES] = {"vision_per_tile", "ttft_language",
                                                     "prefill_per_token", "decode_per_token"};

static void print_phase_json(const phase_result *r, FILE *out)
{
  const double u = r->units > 0 ? r->units : 1;
  fprintf(out, "{\"ms\":%.6f,\"launches\":%.2f,\"bytes\":%.0f,\"flops\":%.0f,\"kernels\":[",
          r->seconds * 1e3 / u, r->launches / u, r->bytes / u, r->flops / u);
  for (size_t i = 0; i < r->n; i++) {
    const ivl_emu_profile_entry *e = &r->entries[i];
    /* Names are identifiers, file names and numbers: nothing to escape. */
    fprintf(out, "%s{\"name\":\"%s\",\"launches\":%.2f,\"bytes\":%.0f,\"flops\":%.0f,\"ms\":%.6f}",
            i ? "," : "", e->name, e->launches / u, e->bytes / u, e->flops / u,
            e->seconds * 1e3 / u);
  }
  fprintf(out, "]}");
}

static double decode_fraction(const ivl_bench_projection *p, double weight_bytes)
{
  const phase_result *d = &p->phases[IVL_PHASE_DECODE];
  const double s = d->units > 0 ? d->seconds / d->units : 0;
  return s > 0 ? weight_bytes / H100_HBM_BYTES_PER_S / s : 0;
}

static double ttft_ms(const ivl_bench_projection *p, int n_tiles)
{
  const phase_result *v = &p->phases[IVL_PHASE_VISION], *t = &p->phases[IVL_PHASE_TTFT];
  return (v->units > 0 ? v->seconds / v->units * n_tiles : 0) * 1e3 + t->seconds * 1e3;
}

void ivl_bench_projection_print_json(const ivl_bench_projection *p, double weight_bytes,
                                     int n_tiles, FILE *out)
{
  fprintf(out,
          ",\"projection\":{\"device\":\"H100 SXM (datasheet roofline)\","
          "\"hbm_gb_per_s\":%.0f,\"tensor_tflops\":%.0f,\"cuda_core_tflops\":%.0f,"
          "\"host_link_gb_per_s\":%.0f,\"launch_us\":%.1f,\"ttft_ms\":%.3f,"
          "\"decode_fraction_of_bandwidth\":%.4f",
          H100_HBM_BYTES_PER_S / 1e9, H100_TENSOR_FLOPS / 1e12, H100_CUDA_CORE_FLOPS / 1e12,
          H100_HOST_BYTES_PER_S / 1e9, LAUNCH_S * 1e6, ttft_ms(p, n_tiles),
          decode_fraction(p, weight_bytes));
  for (int i = 0; i < IVL_N_PHASES; i++) {
    fprintf(out, ",\"%s\":", phase_keys[i]);
    print_phase_json(&p->phases[i], out);
  }
  fprintf(out, "}");
}

void ivl_bench_projection_print_text(const ivl_bench_projection *p, double weight_bytes,
                                     int n_tiles, FILE *out)
{
  const phase_result *d = &p->phases[IVL_PHASE_DECODE], *f = &p->phases[IVL_PHASE_PREFILL],
                     *v = &p->phases[IVL_PHASE_VISION];
  fprintf(out,
          _("projection         an H100 SXM on paper (%.0f GB/s, %.0f TFLOP/s on tensor "
            "cores, %.0f on CUDA cores, %.1f µs a launch)\n"),
          H100_HBM_BYTES_PER_S / 1e9, H100_TENSOR_FLOPS / 1e12, H100_CUDA_CORE_FLOPS / 1e12,
          LAUNCH_S * 1e6);
  fprintf(out,
          _("  decode           %.3f ms per token (%.0f%% of the bandwidth ceiling), %.0f "
            "launches\n"),
          d->seconds * 1e3 / MAX(d->units, 1), 100 * decode_fraction(p, weight_bytes),
          d->launches / MAX(d->units, 1));
  fprintf(out, _("  prefill          %.4f ms per token\n"), f->seconds * 1e3 / MAX(f->units, 1));
  fprintf(out, _("  vision           %.2f ms per tile, %.0f launches\n"),
          v->seconds * 1e3 / MAX(v->units, 1), v->launches / MAX(v->units, 1));
  fprintf(out, _("  first token      %.1f ms with a %d-tile image\n"), ttft_ms(p, n_tiles),
          n_tiles);
  fprintf(out, _("  decode's kernels by projected time (ms per token, launches):\n"));
  for (size_t i = 0; i < d->n && i < 12; i++)
    fprintf(out, "    %8.4f %6.1f  %s\n", d->entries[i].seconds * 1e3 / MAX(d->units, 1),
            d->entries[i].launches / MAX(d->units, 1), d->entries[i].name);
}

#else /* not an emulated build: a GPU is measured, not projected */

ivl_bench_projection *ivl_bench_projection_new(const char *backend)
{
  (void)backend;
  return NULL;
}

void ivl_bench_projection_free(ivl_bench_projection *p)
{
  (void)p;
}

void ivl_bench_projection_begin(ivl_bench_projection *p)
{
  (void)p;
}

void ivl_bench_projection_end(ivl_bench_projection *p, ivl_bench_phase phase, double units)
{
  (void)p, (void)phase, (void)units;
}

void ivl_bench_projection_print_json(const ivl_bench_projection *p, double weight_bytes,
                                     int n_tiles, FILE *out)
{
  (void)p, (void)weight_bytes, (void)n_tiles, (void)out;
}

void ivl_bench_projection_print_text(const ivl_bench_projection *p, double weight_bytes,
                                     int n_tiles, FILE *out)
{
  (void)p, (void)weight_bytes, (void)n_tiles, (void)out;
}
#endif
