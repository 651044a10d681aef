/* attention-decode.cu — one query row against the KV cache (decode), split over the keys.
 * A block serves one KV head and one chunk of keys for all G query heads that share it
 * (GQA), so each K/V row is read from memory once per step; each warp takes every 4th key,
 * each lane HD/32 dims. Partial (max, sum, unnormalised output) per split go to a f32
 * workspace and a second kernel merges them. The number of splits follows the cache
 * capacity tk, not the current length, so a captured graph stays valid as the length grows:
 * splits past the length write an empty partial. */
#include "attention.cuh"

#define CHUNK 256 /* keys per split */
#define MAX_GROUP 16
#define WARPS 4

template <int HD>
static __global__ void __launch_bounds__(WARPS * 32)
    decode_kernel(float *ws, const bf16 *q, const bf16 *k, const bf16 *v, int64_t tk, int n_heads,
                  int n_kv_heads, int causal, int64_t q_pos0, const int32_t *pos_base, float scale)
{
  constexpr int E = HD / 32;
  __shared__ float qs[MAX_GROUP][HD];
  __shared__ float wm[WARPS][MAX_GROUP], wl[WARPS][MAX_GROUP];
  __shared__ float wacc[WARPS][MAX_GROUP][HD];

  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int kv_head = blockIdx.x, split = blockIdx.y, n_splits = gridDim.y;
  const int group = n_heads / n_kv_heads;
  const int64_t kv_stride = (int64_t)n_kv_heads * HD;
  const int64_t n_keys = causal ? min(tk, q_pos0 + (pos_base ? *pos_base : 0) + 1) : tk;
  const int64_t j_end = min(n_keys, (int64_t)(split + 1) * CHUNK);

  for (int e = threadIdx.x; e < group * HD; e += blockDim.x)
    qs[e / HD][e % HD] = __bfloat162float(q[(int64_t)kv_head * group * HD + e]) * scale;
  __syncthreads();

  float m[MAX_GROUP], l[MAX_GROUP], acc[MAX_GROUP][E];
#pragma unroll
  for (int g = 0; g < MAX_GROUP; g++) {
    m[g] = -INFINITY;
    l[g] = 0.0f;
#pragma unroll
    for (int e = 0; e < E; e++)
      acc[g][e] = 0.0f;
  }

  for (int64_t j = (int64_t)split * CHUNK + warp; j < j_end; j += WARPS) {
    const bf16 *kr = k + j * kv_stride + kv_head * HD + lane * E;
    const bf16 *vr = v + j * kv_stride + kv_head * HD + lane * E;
    float kk[E], vv[E];
#pragma unroll
    for (int e = 0; e < E; e++) {
      kk[e] = __bfloat162float(kr[e]);
      vv[e] = __bfloat162float(vr[e]);
    }
#pragma unroll
    for (int g = 0; g < MAX_GROUP; g++) {
      if (g >= group)
        break;
      float s = 0.0f;
#pragma unroll
      for (int e = 0; e < E; e++)
        s = fmaf(qs[g][lane * E + e], kk[e], s);
      s = ivl_warp_sum(s);
      const float m_new = fmaxf(m[g], s);
      const float alpha = __expf(m[g] - m_new), p = __expf(s - m_new);
      m[g] = m_new;
      l[g] = l[g] * alpha + p;
#pragma unroll
      for (int e = 0; e < E; e++)
        acc[g][e] = fmaf(p, vv[e], acc[g][e] * alpha);
    }
  }

#pragma unroll
  for (int g = 0; g < MAX_GROUP; g++) {
    if (g >= group)
      break;
    if (lane == 0)
      wm[warp][g] = m[g], wl[warp][g] = l[g];
#pragma unroll
    for (int e = 0; e < E; e++)
      wacc[warp][g][lane * E + e] = acc[g][e];
  }
  __syncthreads();

  /* Merge the warps: partial = (max, sum, output) for each query head of this KV head. */
  for (int e = threadIdx.x; e < group * HD; e += blockDim.x) {
    const int g = e / HD, d = e % HD;
    float mm = -INFINITY;
    for (int w = 0; w < WARPS; w++)
      mm = fmaxf(mm, wm[w][g]);
    float ll = 0.0f, o = 0.0f;
    if (mm != -INFINITY)
      for (int w = 0; w < WARPS; w++) {
        const float f = __expf(wm[w][g] - mm);
        ll += wl[w][g] * f;
        o += wacc[w][g][d] * f;
      }
    float *p = ws + ((int64_t)(kv_head * group + g) * n_splits + split) * (HD + 2);
    if (d == 0)
      p[0] = mm, p[1] = ll;
    p[2 + d] = o;
  }
}

static __global__ void merge_kernel(bf16 *out, const float *ws, int n_splits, int hd)
{
  const int head = blockIdx.x, d = threadIdx.x;
  const float *p = ws + (int64_t)head * n_splits * (hd + 2);
  float mm = -INFINITY;
  for (int s = 0; s < n_splits; s++)
    mm = fmaxf(mm, p[s * (hd + 2)]);
  float ll = 0.0f, o = 0.0f;
  if (mm != -INFINITY)
    for (int s = 0; s < n_splits; s++) {
      const float f = __expf(p[s * (hd + 2)] - mm);
      ll += p[s * (hd + 2) + 1] * f;
      o += p[s * (hd + 2) + 2 + d] * f;
    }
  out[(int64_t)head * hd + d] = __float2bfloat16(ll > 0.0f ? o / ll : 0.0f);
}

static int n_splits_for(int64_t tk)
{
  return (int)((tk + CHUNK - 1) / CHUNK);
}

size_t ivl_cuda_attention_decode_workspace(int64_t tk, int n_heads, int head_dim)
{
  return (size_t)n_heads * n_splits_for(tk) * (head_dim + 2) * sizeof(float);
}

cudaError_t ivl_cuda_attention_decode(bf16 *out, const bf16 *q, const bf16 *k, const bf16 *v,
                                      int64_t tk, int n_heads, int n_kv_heads, int head_dim,
                                      int causal, int64_t q_pos0, const int32_t *pos_base,
                                      float scale, float *workspace, cudaStream_t stream)
{
  if (n_heads / n_kv_heads > MAX_GROUP || tk <= 0 || n_splits_for(tk) > 65535)
    return cudaErrorInvalidValue;
  const dim3 grid((unsigned)n_kv_heads, (unsigned)n_splits_for(tk));
  if (head_dim == 64)
    IVL_LAUNCH(decode_kernel<64>, grid, WARPS * 32, 0, stream, workspace, q, k, v, tk, n_heads,
               n_kv_heads, causal, q_pos0, pos_base, scale);
  else if (head_dim == 128)
    IVL_LAUNCH(decode_kernel<128>, grid, WARPS * 32, 0, stream, workspace, q, k, v, tk, n_heads,
               n_kv_heads, causal, q_pos0, pos_base, scale);
  else
    return cudaErrorInvalidValue;
  const cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess)
    return err;
  IVL_LAUNCH(merge_kernel, (unsigned)n_heads, (unsigned)head_dim, 0, stream, out, workspace,
             n_splits_for(tk), head_dim);
  return cudaGetLastError();
}
