/* roofline.h — the machine's ceilings, measured in about a second, so that benchmarks can say
 * what fraction of the hardware a kernel uses (`ivl bench`, tests/bench/bench-cpu-ops). */
#ifndef IVL_ROOFLINE_H
#define IVL_ROOFLINE_H

#include <glib.h>

typedef struct {
  int n_threads;
  /* streaming read of a buffer far larger than the last-level cache, all threads, bytes/s */
  double read_bytes_per_s;
  /* register-resident multiply-adds, all threads, f32 FLOP/s (an FMA counts 2) */
  double f32_flops_per_s;
  gboolean simd; /* measured with AVX2/FMA (else with portable C, as the kernels would run) */
  /* register-resident bf16 dot products (vdpbf16ps: 2 multiply-adds per f32 lane), all threads,
   * FLOP/s, where the products of bf16 weights use them (cpu_bf16_dot_available()), else 0 */
  double bf16_flops_per_s;
  /* register-resident int8 dot products in the integer dot products' form (VNNI, else AVX2),
   * all threads, operations/s (a multiply-add counts 2), where quantized weights take them
   * (cpu_int_dot_enabled() and AVX2), else 0 */
  double int8_ops_per_s;
} ivl_roofline;

/* n_threads <= 0: one per online CPU. Fails only when memory or threads cannot be had. */
gboolean ivl_roofline_measure(int n_threads, ivl_roofline *out, GError **error);

#endif /* IVL_ROOFLINE_H */
