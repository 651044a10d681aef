/* gemv.cuh — one bf16 weight row dotted with x by a warp, as gemv.cu's vector kernel sums it;
 * the decode fusions (fused-decode.cu) reuse it so their results stay bitwise gemv's. */
#pragma once

#include "common.cuh"

#define ROWS_PER_BLOCK 8 /* one warp per row */

__device__ __forceinline__ float dot8(uint4 w, uint4 x)
{
  const __nv_bfloat162 *wp = (const __nv_bfloat162 *)&w, *xp = (const __nv_bfloat162 *)&x;
  float s = 0.0f;
#pragma unroll
  for (int k = 0; k < 4; k++) {
    const float2 a = __bfloat1622float2(wp[k]), b = __bfloat1622float2(xp[k]);
    s = fmaf(a.x, b.x, s);
    s = fmaf(a.y, b.y, s);
  }
  return s;
}

/* The row wr (in8 groups of 8) dotted with x: 16-byte loads, two in flight per lane, the
 * warp's sum in every lane. */
__device__ __forceinline__ float row_dot(const uint4 *wr, const uint4 *x, int64_t in8, int lane)
{
  float s0 = 0.0f, s1 = 0.0f;
  int64_t i = lane;
  for (; i + 32 < in8; i += 64) {
    const uint4 w0 = __ldg(wr + i), w1 = __ldg(wr + i + 32);
    const uint4 x0 = __ldg(x + i), x1 = __ldg(x + i + 32);
    s0 += dot8(w0, x0);
    s1 += dot8(w1, x1);
  }
  if (i < in8)
    s0 += dot8(__ldg(wr + i), __ldg(x + i));
  return ivl_warp_sum(s0 + s1);
}
