/* cpu-qpanel.h — the CPU backend's own layout of quantized weights (quantize.h's Q8 and Q4),
 * made once at load when the integer dot products are on (cpu_int_dot_enabled) and read only
 * by cpu-int-dot.c.
 *
 * Rows go in panels of CPU_QPANEL_ROWS (the last one zero-padded), and each panel holds, per
 * block of CPU_QACT_BLOCK values of its rows, those values in 8 groups of 4: a group is 64
 * bytes, 4 bytes per row, row r at bytes 4r..4r+3 (one zmm, lane r = row r; one ymm per 8
 * rows). One vpdpbusd of a group against an activation's 4 bytes broadcast then adds the 4
 * products of 16 rows at once, each lane one output's own sum, so a block ends in one float
 * multiply-add per 16 outputs instead of a horizontal sum per output.
 *   Q8: per block 8 groups of signed bytes as quantized (512 bytes; values past cols are 0),
 *       then after the panel's blocks its 16 row scales, f32 (64 bytes).
 *       Panel bytes: n_blocks * 512 + 64.
 *   Q4: per block 4 chunks of 64 bytes, chunk h holding group 2h in its low nibbles and group
 *       2h + 1 in its high nibbles, stored q + 8 as in quantize.h; then the block's 16 scales
 *       (one per row) converted from f16 to f32, which is exact (64 bytes). Panel bytes:
 *       n_blocks * 320.
 * Panels follow each other; every panel starts at a multiple of 64 bytes from the start.
 */
#ifndef IVL_CPU_QPANEL_H
#define IVL_CPU_QPANEL_H

#include "backend.h"

#define CPU_QPANEL_ROWS 16

/* Bytes of one panel of a weight of cols columns. */
size_t cpu_qpanel_bytes(ivl_dtype dtype, int64_t cols);
/* Bytes of the whole [rows, cols] weight in this layout. */
size_t cpu_qpanel_nbytes(ivl_dtype dtype, int64_t rows, int64_t cols);
/* dst (cpu_qpanel_nbytes bytes) from src, a [rows, cols] matrix in quantize.h's layout. */
void cpu_qpanel_pack(ivl_dtype dtype, void *dst, const void *src, int64_t rows, int64_t cols);

#endif /* IVL_CPU_QPANEL_H */
