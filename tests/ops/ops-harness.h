/* ops-harness.h — shared by the op tests: the same random inputs on two backends, output
 * tensors with guard rows, and the comparison (NaN, guards, normalised MSE). */
#ifndef IVL_OPS_HARNESS_H
#define IVL_OPS_HARNESS_H

#include "ivl-config.h"

#include "backend.h"

#include <stdlib.h>

/* Rows after every output that no op may touch, and the value they hold: 12288 is exact in
 * bf16 and far from any value the ops produce on the inputs drawn here. */
#define OPS_GUARD_ROWS 2
#define OPS_SENTINEL 12288.0f

/* splitmix64: small, fast, and the same stream on every machine. */
typedef struct {
  guint64 state;
} ops_rng;
void ops_rng_seed(ops_rng *r, guint64 seed);
float ops_rng_uniform(ops_rng *r); /* [-1, 1) */
guint32 ops_rng_below(ops_rng *r, guint32 n);

/* Two backends fed alike: side 0 is the reference, side 1 the one under test. */
typedef struct {
  ivl_backend *be[2];
  ops_rng rng;
  GPtrArray *owned[2]; /* tensors freed by ops_ctx_reset */
  GPtrArray *host;     /* host buffers weights point into (the CPU uses them in place) */
  GError *error;       /* first setup failure */
} ops_ctx;

/* A tensor on both sides. view[i] is what ops see (rows without the guard). */
typedef struct {
  ivl_tensor view[2];
  int64_t rows, cols, guard;
} ops_pair;

void ops_ctx_init(ops_ctx *c, ivl_backend *reference, ivl_backend *tested, guint64 seed);
/* Frees the tensors and buffers of the last case; the backends stay. */
void ops_ctx_reset(ops_ctx *c);
void ops_ctx_clear(ops_ctx *c);

/* Activations (backend act_dtype) of uniform values in offset + [-scale, scale). */
ops_pair ops_input(ops_ctx *c, int64_t rows, int64_t cols, float scale, float offset);
/* Like ops_input, in a given dtype on both sides (f32 pixels, f32 logits). */
ops_pair ops_input_typed(ops_ctx *c, ivl_dtype dtype, int64_t rows, int64_t cols, float scale,
                         float offset);
/* Given values, in each side's act_dtype (act) or in `dtype`. */
ops_pair ops_input_values(ops_ctx *c, gboolean act, ivl_dtype dtype, int64_t rows, int64_t cols,
                          const float *values);
/* Weights from one host array in `dtype` (bf16 as checkpoints store them, f32 or f16 to
 * exercise the conversion on upload, Q8 or Q4: bf16 values quantized, so both sides read
 * the same quantized bytes; Q4 needs cols a multiple of 32). */
ops_pair ops_weight(ops_ctx *c, ivl_dtype dtype, int64_t rows, int64_t cols, float scale,
                    float offset);
/* Outputs: rows + guard rows of sentinel, in each side's act_dtype or in `dtype`. */
ops_pair ops_output(ops_ctx *c, int64_t rows, int64_t cols);
ops_pair ops_output_typed(ops_ctx *c, ivl_dtype dtype, int64_t rows, int64_t cols);
/* In-place operands: random rows followed by guard rows. */
ops_pair ops_inout(ops_ctx *c, int64_t rows, int64_t cols, float scale);

/* Downloads both sides of p (guard rows included) and checks: no NaN, guards untouched, no
 * element of the tested side left at the sentinel (unwritten), normalised MSE
 * sum((t - r)²) / sum(r²) <= tol. Fills *nmse; FALSE with a reason in *why. */
gboolean ops_compare(ops_ctx *c, const ops_pair *p, double tol, double *nmse, char **why);

/* TRUE when nothing failed so far on either side (setup or an op); else the message. */
gboolean ops_ctx_ok(ops_ctx *c, char **why);

/* The CUDA backend on device 0; without one, says why and ends the test as skipped (77). */
static inline ivl_backend *ops_cuda_backend_or_skip(void)
{
  g_autoptr(GError) error = NULL;
  ivl_backend *be = ivl_backend_cuda_new(0, &error);
  if (be == NULL) {
    g_print("no CUDA device: skipping (%s)\n", error->message);
    exit(77);
  }
  return be;
}

#endif /* IVL_OPS_HARNESS_H */
