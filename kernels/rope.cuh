/* rope.cuh — one rotate-half pair of a head, as rope.cu rotates it; the fused decode step
 * (fused-decode.cu) rotates with it so its q and k stay bitwise rope's. */
#pragma once

#include "common.cuh"

/* Rotates h[i] and h[i + head_dim/2] by position pos: inv_freq and the angle in f32 as the
 * upstream Qwen2RotaryEmbedding computes them. */
template <typename T>
__device__ __forceinline__ void rope_pair(T *h, int i, int head_dim, int64_t pos, float theta)
{
  const int half = head_dim / 2;
  const float inv_freq = 1.0f / powf(theta, (float)(2 * i) / (float)head_dim);
  const float angle = (float)pos * inv_freq;
  float s, c;
  sincosf(angle, &s, &c);
  const float a = ivl_load(h, i), b = ivl_load(h, i + half);
  ivl_store(h, i, a * c - b * s);
  ivl_store(h, i + half, b * c + a * s);
}
