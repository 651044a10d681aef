/* attention-decode.cu — one query row against the KV cache (decode), flash-decoding style.
 * A block serves one KV head and one split of the keys for all G query heads that share it
 * (GQA), so each K/V row is read once per step for the whole group. Keys are spread across
 * lanes: HD/8 lanes hold one key with a 16-byte load each (8 bf16), so a warp takes 32/(HD/8)
 * keys at once and a score needs log2(HD/8) shuffles; the next keys' loads are issued before
 * the current ones are used. Partial (max, sum, unnormalised output) per split go to a f32
 * workspace and merge_kernel combines them. The number of splits comes from the SM count and
 * the cache capacity tk (enough blocks to fill the GPU twice), not the current length, so a
 * captured graph stays valid as the length grows: each split takes its share of the length
 * read at run time, and splits past it write an empty partial. */
#include "attention.cuh"

#define WARPS 4
#define MIN_KEYS_PER_SPLIT 64
#define MAX_GROUP 16

__device__ __forceinline__ void unpack8(uint4 u, float f[8])
{
  const __nv_bfloat162 *h = (const __nv_bfloat162 *)&u;
#pragma unroll
  for (int i = 0; i < 4; i++) {
    const float2 t = __bfloat1622float2(h[i]);
    f[2 * i] = t.x, f[2 * i + 1] = t.y;
  }
}

/* Folds the online-softmax state (mo, lo, ao) into (m, l, a). */
__device__ __forceinline__ void combine(float &m, float &l, float a[8], float mo, float lo,
                                        const float ao[8])
{
  const float mm = fmaxf(m, mo);
  if (mm == -INFINITY)
    return;
  const float fa = __expf(m - mm), fb = __expf(mo - mm);
  l = l * fa + lo * fb;
#pragma unroll
  for (int e = 0; e < 8; e++)
    a[e] = a[e] * fa + ao[e] * fb;
  m = mm;
}

template <int HD, int G>
static __global__ void __launch_bounds__(WARPS * 32)
    decode_kernel(float *ws, const bf16 *q, const bf16 *k, const bf16 *v, int64_t tk, int n_heads,
                  int n_kv_heads, int causal, int64_t q_pos0, const int32_t *pos_base, float scale)
{
  constexpr int L = HD / 8;   /* lanes per key */
  constexpr int KPW = 32 / L; /* keys per warp and step */
  constexpr int STEP = WARPS * KPW;
  __shared__ float wm[WARPS][G], wl[WARPS][G];
  __shared__ float wacc[WARPS][G][HD];

  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, sub = lane / L, part = lane % L;
  const int kv_head = blockIdx.x, split = blockIdx.y, n_splits = gridDim.y;
  const int group = n_heads / n_kv_heads;
  const int64_t kv_stride = (int64_t)n_kv_heads * HD;
  const int64_t n_keys = causal ? min(tk, q_pos0 + (pos_base ? *pos_base : 0) + 1) : tk;
  const int64_t per = max((n_keys + n_splits - 1) / n_splits, (int64_t)MIN_KEYS_PER_SPLIT);
  const int64_t j0 = (int64_t)split * per, j1 = min(n_keys, j0 + per);

  float qv[G][8], m[G], l[G], acc[G][8];
#pragma unroll
  for (int g = 0; g < G; g++) {
    m[g] = -INFINITY;
    l[g] = 0.0f;
#pragma unroll
    for (int e = 0; e < 8; e++)
      qv[g][e] = acc[g][e] = 0.0f;
    if (g < group) {
      unpack8(__ldg((const uint4 *)(q + (int64_t)(kv_head * group + g) * HD) + part), qv[g]);
#pragma unroll
      for (int e = 0; e < 8; e++)
        qv[g][e] *= scale;
    }
  }

  const uint4 zero = make_uint4(0, 0, 0, 0);
  const uint4 *kb = (const uint4 *)(k + kv_head * HD) + part;
  const uint4 *vb = (const uint4 *)(v + kv_head * HD) + part;
  const int64_t row16 = kv_stride / 8; /* a cache row in uint4 */
  int64_t j = j0 + warp * KPW + sub;
  uint4 kn = j < j1 ? __ldg(kb + j * row16) : zero, vn = j < j1 ? __ldg(vb + j * row16) : zero;
  /* Every lane of the warp steps together (the shuffles need them all); a lane past the
   * split's end scores -inf. */
  for (int64_t base = j0 + warp * KPW; base < j1; base += STEP, j += STEP) {
    float kf[8], vf[8];
    unpack8(kn, kf);
    unpack8(vn, vf);
    const bool valid = j < j1;
    const int64_t jn = j + STEP;
    kn = jn < j1 ? __ldg(kb + jn * row16) : zero;
    vn = jn < j1 ? __ldg(vb + jn * row16) : zero;
#pragma unroll
    for (int g = 0; g < G; g++) {
      if (g >= group)
        break;
      float s = 0.0f;
#pragma unroll
      for (int e = 0; e < 8; e++)
        s = fmaf(qv[g][e], kf[e], s);
#pragma unroll
      for (int o = L / 2; o > 0; o >>= 1)
        s += __shfl_xor_sync(0xffffffffu, s, o);
      if (!valid)
        continue;
      const float m_new = fmaxf(m[g], s);
      const float alpha = __expf(m[g] - m_new), p = __expf(s - m_new);
      m[g] = m_new;
      l[g] = l[g] * alpha + p;
#pragma unroll
      for (int e = 0; e < 8; e++)
        acc[g][e] = fmaf(p, vf[e], acc[g][e] * alpha);
    }
    /* This thread's multiply-adds: 8 dims of each group head's score and output. */
    IVL_FLOPS(32 * group);
  }

  /* Merge the warp's KPW keys-at-a-time streams: lanes `part` of every sub hold the same
   * dims. */
#pragma unroll
  for (int g = 0; g < G; g++) {
    if (g >= group)
      break;
#pragma unroll
    for (int o = L; o < 32; o <<= 1) {
      float ao[8];
#pragma unroll
      for (int e = 0; e < 8; e++)
        ao[e] = __shfl_xor_sync(0xffffffffu, acc[g][e], o);
      const float mo = __shfl_xor_sync(0xffffffffu, m[g], o);
      const float lo = __shfl_xor_sync(0xffffffffu, l[g], o);
      combine(m[g], l[g], acc[g], mo, lo, ao);
    }
    if (sub == 0) {
      if (part == 0)
        wm[warp][g] = m[g], wl[warp][g] = l[g];
#pragma unroll
      for (int e = 0; e < 8; e++)
        wacc[warp][g][part * 8 + e] = acc[g][e];
    }
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

/* Enough blocks for two waves over the GPU's SMs, but no split shorter than
 * MIN_KEYS_PER_SPLIT keys of the capacity. */
static int n_splits_for(int64_t tk, int n_kv_heads)
{
  static int sms[64];
  int device = 0;
  if (cudaGetDevice(&device) != cudaSuccess || device < 0 || device >= 64)
    device = 0;
  if (sms[device] == 0) {
    cudaDeviceProp prop;
    sms[device] =
        cudaGetDeviceProperties(&prop, device) == cudaSuccess && prop.multiProcessorCount > 0
            ? prop.multiProcessorCount
            : 132;
  }
  const int64_t want = (2 * sms[device] + n_kv_heads - 1) / n_kv_heads;
  const int64_t most = (tk + MIN_KEYS_PER_SPLIT - 1) / MIN_KEYS_PER_SPLIT;
  return (int)max((int64_t)1, min(min(want, most), (int64_t)65535));
}

size_t ivl_cuda_attention_decode_workspace(int64_t tk, int n_heads, int n_kv_heads, int head_dim)
{
  return (size_t)n_heads * n_splits_for(tk, n_kv_heads) * (head_dim + 2) * sizeof(float);
}

template <int HD>
static void launch_decode(dim3 grid, int group, cudaStream_t stream, float *ws, const bf16 *q,
                          const bf16 *k, const bf16 *v, int64_t tk, int n_heads, int n_kv_heads,
                          int causal, int64_t q_pos0, const int32_t *pos_base, float scale)
{
  if (group <= 4)
    IVL_LAUNCH(decode_kernel<HD, 4>, grid, WARPS * 32, 0, stream, ws, q, k, v, tk, n_heads,
               n_kv_heads, causal, q_pos0, pos_base, scale);
  else if (group <= 8)
    IVL_LAUNCH(decode_kernel<HD, 8>, grid, WARPS * 32, 0, stream, ws, q, k, v, tk, n_heads,
               n_kv_heads, causal, q_pos0, pos_base, scale);
  else
    IVL_LAUNCH(decode_kernel<HD, MAX_GROUP>, grid, WARPS * 32, 0, stream, ws, q, k, v, tk, n_heads,
               n_kv_heads, causal, q_pos0, pos_base, scale);
}

cudaError_t ivl_cuda_attention_decode(bf16 *out, const bf16 *q, const bf16 *k, const bf16 *v,
                                      int64_t tk, int n_heads, int n_kv_heads, int head_dim,
                                      int causal, int64_t q_pos0, const int32_t *pos_base,
                                      float scale, float *workspace, cudaStream_t stream)
{
  const int group = n_heads / n_kv_heads;
  if (group > MAX_GROUP || tk <= 0 || (head_dim != 64 && head_dim != 128) ||
      (uintptr_t)q % 16 != 0 || (uintptr_t)k % 16 != 0 || (uintptr_t)v % 16 != 0)
    return cudaErrorInvalidValue;
  const int n_splits = n_splits_for(tk, n_kv_heads);
  const dim3 grid((unsigned)n_kv_heads, (unsigned)n_splits);
  if (head_dim == 64)
    launch_decode<64>(grid, group, stream, workspace, q, k, v, tk, n_heads, n_kv_heads, causal,
                      q_pos0, pos_base, scale);
  else
    launch_decode<128>(grid, group, stream, workspace, q, k, v, tk, n_heads, n_kv_heads, causal,
                       q_pos0, pos_base, scale);
  const cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess)
    return err;
  IVL_LAUNCH(merge_kernel, (unsigned)n_heads, (unsigned)head_dim, 0, stream, out, workspace,
             n_splits, head_dim);
  return cudaGetLastError();
}
