/* attention-flash.cu — prefill and vision attention, flash style: a block takes 16 query rows
 * of one head (4 warps x 4 rows), walks the keys in tiles of 64 held in shared memory, and
 * keeps a running max and sum per row (online softmax), so the T x T score matrix never
 * exists. Scores and sums are f32; q, k, v and out bf16. Key rows are padded by one bf16 pair
 * so that lane j reading row j hits bank j (rows of 33 or 65 words). */
#include "attention.cuh"

#define BQ 16
#define BK 64
#define ROWS_PER_WARP 4

template <int HD>
static __global__ void __launch_bounds__(128)
    flash_kernel(bf16 *out, const bf16 *q, const bf16 *k, const bf16 *v, int64_t tq, int64_t tk,
                 int n_heads, int n_kv_heads, int causal, int64_t q_pos0, const int32_t *pos_base,
                 float scale)
{
  constexpr int E = HD / 32; /* output dims per lane */
  __shared__ float qs[BQ][HD];
  __shared__ __nv_bfloat162 ks[BK][HD / 2 + 1];
  __shared__ __nv_bfloat162 vs[BK][HD / 2];
  __shared__ float ps[4][ROWS_PER_WARP][BK];

  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int64_t seq = blockIdx.z, row0 = (int64_t)blockIdx.x * BQ;
  const int head = blockIdx.y, kv_head = head / (n_heads / n_kv_heads);
  const int64_t q_stride = (int64_t)n_heads * HD, kv_stride = (int64_t)n_kv_heads * HD;
  const bf16 *qb = q + seq * tq * q_stride + head * HD;
  const bf16 *kb = k + seq * tk * kv_stride + kv_head * HD;
  const bf16 *vb = v + seq * tk * kv_stride + kv_head * HD;
  const int64_t pos0 = q_pos0 + (pos_base ? *pos_base : 0);

  for (int e = threadIdx.x; e < BQ * HD; e += blockDim.x) {
    const int64_t r = row0 + e / HD;
    qs[e / HD][e % HD] = r < tq ? __bfloat162float(qb[r * q_stride + e % HD]) * scale : 0.0f;
  }

  int64_t n_keys = tk;
  if (causal) {
    const int64_t last = (row0 + BQ < tq ? row0 + BQ : tq) - 1;
    n_keys = min(tk, pos0 + last + 1);
  }

  float m[ROWS_PER_WARP], l[ROWS_PER_WARP], acc[ROWS_PER_WARP][E];
#pragma unroll
  for (int r = 0; r < ROWS_PER_WARP; r++) {
    m[r] = -INFINITY;
    l[r] = 0.0f;
#pragma unroll
    for (int e = 0; e < E; e++)
      acc[r][e] = 0.0f;
  }

  for (int64_t t0 = 0; t0 < n_keys; t0 += BK) {
    __syncthreads(); /* the previous tile is no longer read */
    for (int e = threadIdx.x; e < BK * HD / 2; e += blockDim.x) {
      const int j = e / (HD / 2), d2 = e % (HD / 2);
      /* Keys past n_keys are masked, but a masked probability (0) times a V row never written
       * (a NaN in uninitialised memory) is NaN: those rows are zeros, not loaded. */
      const bool in = t0 + j < n_keys;
      const __nv_bfloat162 zero = __floats2bfloat162_rn(0.0f, 0.0f);
      ks[j][d2] = in ? ((const __nv_bfloat162 *)(kb + (t0 + j) * kv_stride))[d2] : zero;
      vs[j][d2] = in ? ((const __nv_bfloat162 *)(vb + (t0 + j) * kv_stride))[d2] : zero;
    }
    __syncthreads();

    float s[ROWS_PER_WARP][2];
#pragma unroll
    for (int r = 0; r < ROWS_PER_WARP; r++)
      s[r][0] = s[r][1] = 0.0f;
#pragma unroll 8
    for (int d2 = 0; d2 < HD / 2; d2++) {
      const float2 k0 = __bfloat1622float2(ks[lane][d2]);
      const float2 k1 = __bfloat1622float2(ks[lane + 32][d2]);
#pragma unroll
      for (int r = 0; r < ROWS_PER_WARP; r++) {
        const float2 qv = *(const float2 *)&qs[warp * ROWS_PER_WARP + r][2 * d2];
        s[r][0] += qv.x * k0.x + qv.y * k0.y;
        s[r][1] += qv.x * k1.x + qv.y * k1.y;
      }
    }

#pragma unroll
    for (int r = 0; r < ROWS_PER_WARP; r++) {
      const int64_t pos = pos0 + row0 + warp * ROWS_PER_WARP + r;
#pragma unroll
      for (int h = 0; h < 2; h++) {
        const int64_t key = t0 + lane + 32 * h;
        if (key >= tk || (causal && key > pos))
          s[r][h] = -INFINITY;
      }
      const float m_new = fmaxf(m[r], ivl_warp_max(fmaxf(s[r][0], s[r][1])));
      float alpha = 1.0f, p0 = 0.0f, p1 = 0.0f;
      if (m_new != -INFINITY) {
        alpha = __expf(m[r] - m_new);
        p0 = __expf(s[r][0] - m_new);
        p1 = __expf(s[r][1] - m_new);
      }
      m[r] = m_new;
      l[r] = l[r] * alpha + ivl_warp_sum(p0 + p1);
#pragma unroll
      for (int e = 0; e < E; e++)
        acc[r][e] *= alpha;
      ps[warp][r][lane] = p0;
      ps[warp][r][lane + 32] = p1;
    }
    __syncwarp();

    for (int j = 0; j < BK; j++) {
      float vv[E];
#pragma unroll
      for (int e2 = 0; e2 < E / 2; e2++) {
        const float2 f = __bfloat1622float2(vs[j][lane * (E / 2) + e2]);
        vv[2 * e2] = f.x;
        vv[2 * e2 + 1] = f.y;
      }
#pragma unroll
      for (int r = 0; r < ROWS_PER_WARP; r++) {
        const float p = ps[warp][r][j];
#pragma unroll
        for (int e = 0; e < E; e++)
          acc[r][e] = fmaf(p, vv[e], acc[r][e]);
      }
    }
    /* This thread's multiply-adds of the tile: its rows' scores of two keys, and their
     * probabilities times E dims of every V row. */
    IVL_FLOPS(2 * ROWS_PER_WARP * (2 * HD + BK * E));
  }

#pragma unroll
  for (int r = 0; r < ROWS_PER_WARP; r++) {
    const int64_t row = row0 + warp * ROWS_PER_WARP + r;
    if (row >= tq)
      continue;
    const float inv = l[r] > 0.0f ? 1.0f / l[r] : 0.0f;
    bf16 *o = out + (seq * tq + row) * q_stride + head * HD + lane * E;
#pragma unroll
    for (int e = 0; e < E; e++)
      o[e] = __float2bfloat16(acc[r][e] * inv);
  }
}

cudaError_t ivl_cuda_attention_flash(bf16 *out, const bf16 *q, const bf16 *k, const bf16 *v,
                                     int n_seq, int64_t tq, int64_t tk, int n_heads, int n_kv_heads,
                                     int head_dim, int causal, int64_t q_pos0,
                                     const int32_t *pos_base, float scale, cudaStream_t stream)
{
  const dim3 grid((unsigned)((tq + BQ - 1) / BQ), (unsigned)n_heads, (unsigned)n_seq);
  if (head_dim == 64)
    IVL_LAUNCH(flash_kernel<64>, grid, 128, 0, stream, out, q, k, v, tq, tk, n_heads, n_kv_heads,
               causal, q_pos0, pos_base, scale);
  else if (head_dim == 128)
    IVL_LAUNCH(flash_kernel<128>, grid, 128, 0, stream, out, q, k, v, tq, tk, n_heads, n_kv_heads,
               causal, q_pos0, pos_base, scale);
  else
    return cudaErrorInvalidValue;
  return cudaGetLastError();
}
