/* quantize.h — the int8 and 4-bit weight layouts, and the conversion into them.
 *
 * Weight-only quantization of Linear matrices [rows = out, cols = in], symmetric (no zero
 * point), rounding half away from zero:
 *   Q8: q = round(w / s) in [-127, 127] with s = max|row| / 127, one f32 s per row
 *       (per-channel int8, the usual weight-only scheme: one row is one output feature).
 *       Bytes: rows × cols int8, then, from the next multiple of 64, rows f32 scales.
 *   Q4: q = round(w / s) clamped to [-8, 7] with s = f16(max|group| / 7) for each group of
 *       IVL_Q4_GROUP values of a row (cols must be a multiple of it). Bytes: rows × cols / 2,
 *       value c of a row in the low nibble of byte c / 2 when c is even and the high nibble
 *       when odd, stored as q + 8; then, from the next multiple of 64, rows × cols / 32 f16
 *       scales, row-major. The quantized value is computed against the f16-rounded scale, so
 *       q * s is exactly what dequantization gives.
 *   w ≈ q * s in both. Scales are 0 for an all-zero row or group (q then 0).
 * tests/reference/quantize_ref.py is the same arithmetic in numpy, for the goldens.
 */
#ifndef IVL_QUANTIZE_H
#define IVL_QUANTIZE_H

#include "backend.h"

#define IVL_Q4_GROUP 32

/* Whether a [rows, cols] matrix can be stored in dtype (Q4 needs whole groups). */
gboolean ivl_quant_fits(ivl_dtype dtype, int64_t rows, int64_t cols);
size_t ivl_quant_nbytes(ivl_dtype dtype, int64_t rows, int64_t cols);
/* Bytes a [rows, cols] tensor of any dtype takes, quantized layouts included. */
size_t ivl_tensor_nbytes(ivl_dtype dtype, int64_t rows, int64_t cols);
/* Offset of the scales from the start of the data. */
size_t ivl_quant_scales_offset(ivl_dtype dtype, int64_t rows, int64_t cols);

/* Quantizes src [rows, cols] (f32, f16 or bf16) into dst (ivl_quant_nbytes bytes). */
void ivl_quantize(ivl_dtype dtype, void *dst, const void *src, ivl_dtype src_dtype, int64_t rows,
                  int64_t cols);
/* dst[i] = w[row][col0 + i] for i < n, dequantized; w is a whole [rows, cols] quantized
 * matrix. For Q4, col0 and n are multiples of 2. */
void ivl_dequantize_row(ivl_dtype dtype, float *dst, const void *w, int64_t rows, int64_t cols,
                        int64_t row, int64_t col0, int64_t n);

static inline const float *ivl_q8_scales(const void *w, int64_t rows, int64_t cols)
{
  return (const float *)((const char *)w + ivl_quant_scales_offset(IVL_DTYPE_Q8, rows, cols));
}
static inline const uint16_t *ivl_q4_scales(const void *w, int64_t rows, int64_t cols)
{
  return (const uint16_t *)((const char *)w + ivl_quant_scales_offset(IVL_DTYPE_Q4, rows, cols));
}

#endif /* IVL_QUANTIZE_H */
