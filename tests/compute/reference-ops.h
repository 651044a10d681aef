/* reference-ops.h — a plain, slow, obviously right implementation of every backend op, as a
 * backend: the oracle of the op tests (CPU now, CUDA in tests of issue 8).
 *
 * It is the CPU backend with every op replaced by a direct transcription of its definition in
 * backend.h (double accumulation, one thread, no blocking), so tensors are host memory and
 * memory functions are shared with the CPU backend.
 */
#ifndef IVL_REFERENCE_OPS_H
#define IVL_REFERENCE_OPS_H

#include "backend.h"

ivl_backend *ivl_reference_backend_new(GError **error);

#endif /* IVL_REFERENCE_OPS_H */
