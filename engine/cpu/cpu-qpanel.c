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

/* Row by row and block by block, 4 bytes at a time: a 1B model's weights take a fraction of
 * a second more to load than a plain copy. */
static void pack_q8_panel(uint8_t *dst, const int8_t *w, const float *scales, int64_t rows,
                          int64_t cols)
{
  const int64_t n_blocks = (cols + QB - 1) / QB;
  memset(dst, 0, cpu_qpanel_bytes(IVL_DTYPE_Q8, cols));
  for (int64_t b = 0; b < n_blocks; b++) {
    uint8_t *blk = dst + b * QB * PR;
    const int64_t n = MIN(QB, cols - b * QB);
    for (int64_t r = 0; r < rows; r++) {
      const int8_t *src = w + r * cols + b * QB;
      for (int g = 0; g < n / 4; g++)
        memcpy(blk + g * 64 + 4 * r, src + 4 * g, 4);
      if (n % 4 != 0)
        memcpy(blk + n / 4 * 64 + 4 * r, src + n / 4 * 4, (size_t)(n % 4));
    }
  }
  memcpy(dst + n_blocks * QB * PR, scales, (size_t)rows * sizeof(float));
}

static void pack_q4_panel(uint8_t *dst, const uint8_t *w, const uint16_t *scales, int64_t rows,
                          int64_t cols)
{
  for (int64_t b = 0; b < cols / QB; b++) {
    uint8_t *blk = dst + b * (QB / 2 * PR + PR * sizeof(float));
    /* a padding row is q + 8 = 8 (q = 0) under a zero scale, as an all-zero group */
    memset(blk, 0x88, QB / 2 * PR);
    for (int64_t r = 0; r < rows; r++) {
      const uint8_t *src = w + r * cols / 2 + b * QB / 2;
      uint8_t v[QB]; /* the stored nibbles, in order */
      for (int t = 0; t < QB / 2; t++) {
        v[2 * t] = src[t] & 15;
        v[2 * t + 1] = src[t] >> 4;
      }
      for (int h = 0; h < QB / 8; h++)
        for (int t = 0; t < 4; t++)
          blk[h * 64 + 4 * r + t] = (uint8_t)(v[8 * h + t] | v[8 * h + 4 + t] << 4);
    }
    float s[PR] = {0};
    for (int r = 0; r < rows; r++)
      s[r] = cpu_f16_to_f32(scales[r * (cols / QB) + b]);
    memcpy(blk + QB / 2 * PR, s, sizeof(s));
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
