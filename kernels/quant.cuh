/* quant.cuh — the device's reads of the int8 and 4-bit weight layouts (engine/quantize.h,
 * passed in with the byte offset of their scales): value by value, eight at a time, or a
 * 16-byte load at a time for the GEMV. Integers become floats by the magic-number trick
 * (the float with bits 0x4B0000uu is 2^23 + uu, so subtracting 2^23 + the offset is exact):
 * a byte permute and an add, where an I2F conversion (16 per SM per cycle) would cap a 4-bit
 * GEMV below the memory bandwidth it exists to reach. */
#pragma once

#include "common.cuh"

#define IVL_MAGIC_2P23 0x4B000000u

/* Byte k of w into the low mantissa bits of 2^23. */
__device__ __forceinline__ float ivl_magic_byte(uint32_t w, int k)
{
  return __uint_as_float(__byte_perm(w, IVL_MAGIC_2P23, 0x7650 + k));
}

/* Four int8 (a little-endian word) as floats. */
__device__ __forceinline__ void ivl_q8_word(uint32_t w, float *v)
{
  w ^= 0x80808080u; /* int8 b -> unsigned b + 128 */
#pragma unroll
  for (int k = 0; k < 4; k++)
    v[k] = ivl_magic_byte(w, k) - 8388736.0f; /* 2^23 + 128 */
}

/* Eight 4-bit values (columns 0..7 of a word: the low nibble of a byte is the even column)
 * as q = stored - 8. */
__device__ __forceinline__ void ivl_q4_word(uint32_t w, float *v)
{
  const uint32_t lo = w & 0x0F0F0F0Fu, hi = (w >> 4) & 0x0F0F0F0Fu;
#pragma unroll
  for (int k = 0; k < 4; k++) {
    v[2 * k] = ivl_magic_byte(lo, k) - 8388616.0f; /* 2^23 + 8 */
    v[2 * k + 1] = ivl_magic_byte(hi, k) - 8388616.0f;
  }
}

/* A quantized [rows, cols] matrix: values of type Q, then scales of type S. Passed to the
 * kernels by value. */
template <typename Q, typename S> struct ivl_quant_matrix {
  const Q *q;
  const S *scale;
  int64_t cols;

  ivl_quant_matrix(const void *w, size_t scales_offset, int64_t cols_)
      : q((const Q *)w), scale((const S *)((const char *)w + scales_offset)), cols(cols_)
  {
  }
};

/* Q8: int8 [rows, cols], then one f32 scale per row. A 16-byte chunk holds 16 values of a
 * row; the scale is applied per row. */
struct ivl_q8_weights : ivl_quant_matrix<int8_t, float> {
  static constexpr int CHUNK = 16;
  using ivl_quant_matrix::ivl_quant_matrix;

  __device__ float at(int64_t r, int64_t c) const
  {
    return (float)q[r * cols + c] * __ldg(scale + r);
  }
  /* v[0..8) = row r, columns c0..c0+8; c0 and cols multiples of 8. */
  __device__ void at8(int64_t r, int64_t c0, float *v) const
  {
    const uint2 b = __ldg((const uint2 *)(q + r * cols + c0));
    ivl_q8_word(b.x, v);
    ivl_q8_word(b.y, v + 4);
    const float s = __ldg(scale + r);
#pragma unroll
    for (int k = 0; k < 8; k++)
      v[k] *= s;
  }
  /* Row r as 16-byte chunks (cols a multiple of 16). */
  __device__ const uint4 *row(int64_t r) const
  {
    return (const uint4 *)(q + r * cols);
  }
  __device__ void chunk(uint4 b, float *v) const
  {
    ivl_q8_word(b.x, v);
    ivl_q8_word(b.y, v + 4);
    ivl_q8_word(b.z, v + 8);
    ivl_q8_word(b.w, v + 12);
  }
  __device__ float chunk_scale(int64_t, int64_t) const
  {
    return 1.0f;
  }
  __device__ float row_scale(int64_t r) const
  {
    return __ldg(scale + r);
  }
};

/* Q4: nibbles [rows, cols / 2], then f16 scales [rows, cols / 32]. A 16-byte chunk is one
 * whole group of 32 values, so its scale is applied per chunk. */
struct ivl_q4_weights : ivl_quant_matrix<uint8_t, __half> {
  static constexpr int CHUNK = 32;
  using ivl_quant_matrix::ivl_quant_matrix;

  __device__ float group_scale(int64_t r, int64_t g) const
  {
    return __half2float(scale[r * (cols / CHUNK) + g]);
  }
  __device__ float at(int64_t r, int64_t c) const
  {
    const int b = q[(r * cols + c) / 2];
    return (float)(((c & 1) ? b >> 4 : b & 15) - 8) * group_scale(r, c / CHUNK);
  }
  __device__ void at8(int64_t r, int64_t c0, float *v) const
  {
    ivl_q4_word(__ldg((const uint32_t *)(q + (r * cols + c0) / 2)), v);
    const float s = group_scale(r, c0 / CHUNK);
#pragma unroll
    for (int k = 0; k < 8; k++)
      v[k] *= s;
  }
  __device__ const uint4 *row(int64_t r) const
  {
    return (const uint4 *)(q + r * cols / 2);
  }
  __device__ void chunk(uint4 b, float *v) const
  {
    ivl_q4_word(b.x, v);
    ivl_q4_word(b.y, v + 8);
    ivl_q4_word(b.z, v + 16);
    ivl_q4_word(b.w, v + 24);
  }
  __device__ float chunk_scale(int64_t r, int64_t i) const
  {
    return group_scale(r, i);
  }
  __device__ float row_scale(int64_t) const
  {
    return 1.0f;
  }
};
