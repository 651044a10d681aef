/* op-cases.h — every backend op on the shapes the models use, run on two backends and
 * compared (after ggml's test-backend-ops): `tested` against `oracle`.
 *
 * Each case states its tolerance as a normalised mean squared error, NMSE = Σ(a-b)² / Σb²
 * (b from the oracle), with the reason next to it; data movement must match exactly. Every
 * output tensor is allocated with guard rows after it, which must come back untouched, and
 * any NaN fails. Inputs come from a GRand seeded with `seed`, printed with each failure.
 */
#ifndef IVL_OP_CASES_H
#define IVL_OP_CASES_H

#include "backend.h"

typedef struct {
  guint32 seed;
  /* added to every case's NMSE bound, for a backend whose activations are not f32 (bf16
   * activations: ~1e-5); 0 for f32 against f32 */
  double extra_nmse;
  /* added to the bound of products with quantized weights, for a backend that quantizes the
   * activations too (the CPU's integer dot products, cpu-int-dot.c); 0 otherwise */
  double quant_act_nmse;
  /* added to the bound of products with bf16 weights, for a backend that rounds the
   * activations to bf16 there (the CPU's bf16 dot products, cpu-gemm-bf16dot.c); 0 otherwise */
  double bf16_act_nmse;
  /* added to attention's bound, for a backend whose attention products round Q, K,
   * exp(S - max) and V to bf16 (the CPU's, cpu-gemm-bf16dot.c, for many query rows) */
  double bf16_attention_nmse;
  const char *filter; /* only cases whose name contains this; NULL: all */
  gboolean verbose;   /* print one line per case */
} ivl_op_cases_params;

/* Runs every case and returns the number that failed (details on stderr). */
int ivl_op_cases_run(ivl_backend *tested, ivl_backend *oracle, const ivl_op_cases_params *params);

#endif /* IVL_OP_CASES_H */
