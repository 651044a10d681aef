/* The panel layout of quantized weights (cpu-qpanel.h). */
#include "cpu-qpanel.h"

#include "cpu-kernels.h"
#include "quantize.h"

#include <string.h>

#define QB CPU_QACT_BLOCK
#define PR CPU_QPANEL_ROWS

size_t cpu_qpanel_bytes(ivl_dtype dtype, int64_t cols)
{
  size_t n_blocks = (size_t)((cols + QB - 1) / QB);
  return dtype == IVL_DTYPE_Q4 ? n_blocks * (QB / 2 * PR + PR * sizeof(float))
                               : n_blocks * QB * PR + PR * sizeof(float);
}

size_t cpu_qpanel_nbytes(ivl_dtype dtype, int64_t rows, int64_t cols)
{
  return (size_t)((rows + PR - 1) / PR) * cpu_qpanel_bytes(dtype, cols);
}

static void pack_q8_panel(uint8_t *dst, const int8_t *w, const float *scales, int64_t rows,
                          int64_t cols)
{
  const int64_t n_blocks = (cols + QB - 1) / QB;
  for (int64_t b = 0; b < n_blocks; b++)
    for (int g = 0; g < QB / 4; g++)
      for (int r = 0; r < PR; r++)
        for (int t = 0; t < 4; t++) {
          int64_t c = b * QB + 4 * g + t;
          *dst++ = r < rows && c < cols ? (uint8_t)w[r * cols + c] : 0;
        }
  float s[PR] = {0};
  memcpy(s, scales, (size_t)rows * sizeof(float));
  memcpy(dst, s, sizeof(s));
}

/* The stored nibble (q + 8) of value c of a Q4 row. */
static uint8_t q4_nibble(const uint8_t *row, int64_t c)
{
  return c % 2 == 0 ? row[c / 2] & 15 : row[c / 2] >> 4;
}

static void pack_q4_panel(uint8_t *dst, const uint8_t *w, const uint16_t *scales, int64_t rows,
                          int64_t cols)
{
  for (int64_t b = 0; b < cols / QB; b++) {
    for (int h = 0; h < QB / 8; h++)
      for (int r = 0; r < PR; r++)
        for (int t = 0; t < 4; t++) {
          /* a padding row is q + 8 = 8 (q = 0) under a zero scale, as an all-zero group */
          const uint8_t *row = w + r * cols / 2;
          int64_t c = b * QB + 8 * h + t;
          *dst++ = r < rows ? (uint8_t)(q4_nibble(row, c) | q4_nibble(row, c + 4) << 4) : 0x88;
        }
    float s[PR] = {0};
    for (int r = 0; r < rows; r++)
      s[r] = cpu_f16_to_f32(scales[r * (cols / QB) + b]);
    memcpy(dst, s, sizeof(s));
    dst += sizeof(s);
  }
}

void cpu_qpanel_pack(ivl_dtype dtype, void *dst, const void *src, int64_t rows, int64_t cols)
{
  const size_t panel = cpu_qpanel_bytes(dtype, cols);
  for (int64_t p = 0; p * PR < rows; p++) {
    uint8_t *out = (uint8_t *)dst + p * panel;
    int64_t r0 = p * PR, nr = MIN(PR, rows - r0);
    if (dtype == IVL_DTYPE_Q4)
      pack_q4_panel(out, (const uint8_t *)src + r0 * cols / 2,
                    ivl_q4_scales(src, rows, cols) + r0 * (cols / QB), nr, cols);
    else
      pack_q8_panel(out, (const int8_t *)src + r0 * cols, ivl_q8_scales(src, rows, cols) + r0, nr,
                    cols);
  }
}
