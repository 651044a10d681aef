/* Scalar dtype conversions for the CPU backend (bit formats: IEEE 754 binary16, bfloat16 =
 * the top half of a binary32). Hot loops convert bf16/f16 in registers (cpu-gemm.c). */
#include "cpu-kernels.h"

#include <math.h>
#include <string.h>

static uint32_t f32_bits(float f)
{
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  return u;
}

static float bits_f32(uint32_t u)
{
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

uint16_t cpu_f32_to_bf16(float f)
{
  uint32_t u = f32_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u)
    return (uint16_t)((u >> 16) | 0x40); /* keep NaN a (quiet) NaN */
  u += 0x7fffu + ((u >> 16) & 1u);
  return (uint16_t)(u >> 16);
}

float cpu_f16_to_f32(uint16_t h)
{
  uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
  int32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ffu;
  if (exp == 0x1f)
    return bits_f32(sign | 0x7f800000u | (mant << 13));
  if (exp == 0) {
    if (mant == 0)
      return bits_f32(sign);
    exp = 1; /* subnormal: normalise so the leading 1 sits at bit 10 */
    while (!(mant & 0x400u)) {
      mant <<= 1;
      exp--;
    }
    mant &= 0x3ffu;
  }
  return bits_f32(sign | ((uint32_t)(exp + 112) << 23) | (mant << 13));
}

uint16_t cpu_f32_to_f16(float f)
{
  uint32_t u = f32_bits(f);
  uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
  uint32_t x = u & 0x7fffffffu;
  if (x >= 0x7f800000u)
    return sign | 0x7c00u | (x > 0x7f800000u ? 0x200u : 0u);
  if (x >= 0x477ff000u) /* >= 65520 rounds past the largest finite half */
    return sign | 0x7c00u;
  if (x < 0x38800000u) /* below 2^-14: a subnormal; * 2^24 is exact, rintf rounds to even */
    return sign | (uint16_t)lrintf(bits_f32(x) * 16777216.0f);
  x += 0xfffu + ((x >> 13) & 1u);
  return sign | (uint16_t)((x - 0x38000000u) >> 13);
}

void cpu_row_to_f32(float *dst, const void *src, ivl_dtype dtype, int64_t n)
{
  switch (dtype) {
  case IVL_DTYPE_F32:
    memcpy(dst, src, (size_t)n * sizeof(float));
    break;
  case IVL_DTYPE_BF16:
    for (int64_t i = 0; i < n; i++)
      dst[i] = cpu_bf16_to_f32(((const uint16_t *)src)[i]);
    break;
  case IVL_DTYPE_F16:
    for (int64_t i = 0; i < n; i++)
      dst[i] = cpu_f16_to_f32(((const uint16_t *)src)[i]);
    break;
  case IVL_DTYPE_I32:
    for (int64_t i = 0; i < n; i++)
      dst[i] = (float)((const int32_t *)src)[i];
    break;
  case IVL_DTYPE_Q8: /* need their scales: cpu_quant_row_to_f32 */
  case IVL_DTYPE_Q4:
    g_return_if_reached();
  }
}

void cpu_row_from_f32(void *dst, ivl_dtype dtype, const float *src, int64_t n)
{
  switch (dtype) {
  case IVL_DTYPE_F32:
    memcpy(dst, src, (size_t)n * sizeof(float));
    break;
  case IVL_DTYPE_BF16:
    for (int64_t i = 0; i < n; i++)
      ((uint16_t *)dst)[i] = cpu_f32_to_bf16(src[i]);
    break;
  case IVL_DTYPE_F16:
    for (int64_t i = 0; i < n; i++)
      ((uint16_t *)dst)[i] = cpu_f32_to_f16(src[i]);
    break;
  case IVL_DTYPE_I32:
    for (int64_t i = 0; i < n; i++)
      ((int32_t *)dst)[i] = (int32_t)lrintf(src[i]);
    break;
  case IVL_DTYPE_Q8: /* made by ivl_quantize only */
  case IVL_DTYPE_Q4:
    g_return_if_reached();
  }
}
