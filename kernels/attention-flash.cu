/* attention-flash.cu — prefill and vision attention on tensor cores, flash style (FlashAttention
 * 2): a block of 4 warps takes 64 query rows of one head (16 per warp, one mma row block), walks
 * the keys in tiles of 64 that cp.async brings into shared memory one tile ahead (two buffers),
 * computes S = Q Kᵀ and O += P V with mma.sync m16n8k16 (bf16 operands, f32 sums; mma.cuh) and
 * keeps a running max and sum per row in f32 registers (online softmax), so the T x T score
 * matrix never exists. P goes into the PV product rounded to bf16 (the operand type of the
 * instruction); the row sums that divide O are of the f32 probabilities.
 *
 * Register layout (mma.cuh): a lane holds rows g and g + 8 of its warp's 16 (g = lane / 4) and,
 * of every 8-column block of S and O, columns 2t and 2t + 1 (t = lane % 4); the four lanes of a
 * row reduce its max and sum with two shuffles. The S accumulators of two 8-key blocks are
 * exactly the A fragment of P for 16 keys, so P never leaves registers.
 *
 * Shared memory: K and V tiles row-major, rows padded by 16 bytes (HD + 8 bf16), which keeps
 * cp.async's 16-byte alignment and spreads a fragment's 8 rows over distinct banks; two buffers
 * of K and V: 36 KB at head dim 64, 68 KB at 128 (over the default 48 KB: the launch opts in).
 * The query tile passes through the second buffer before the first key tile needs it. */
#include "attention.cuh"
#include "mma.cuh"

#define BQ 64 /* query rows per block: 4 warps x 16 */
#define BK 64 /* keys per tile */
#define THREADS 128

template <int HD> struct flash_tile {
  bf16 k[BK][HD + 8];
  bf16 v[BK][HD + 8];
};

template <int HD> static size_t flash_shared_bytes(void)
{
  return 2 * sizeof(flash_tile<HD>);
}

/* Rows [row0, row0 + 64) of a [*, stride] bf16 matrix into a tile's rows, zeros past `rows`
 * (keys past the end are masked, but a 0 probability times a never-written V row, NaN, would
 * be NaN). 16 bytes per cp.async. */
template <int HD>
static __device__ inline void load_rows(bf16 (*dst)[HD + 8], const bf16 *src, int64_t row0,
                                        int64_t rows, int64_t stride)
{
  constexpr int CHUNKS = HD / 8; /* 16-byte pieces of a row */
  for (int e = threadIdx.x; e < BK * CHUNKS; e += THREADS) {
    const int r = e / CHUNKS, c = (e % CHUNKS) * 8;
    if (row0 + r < rows)
      ivl_cp_async16(&dst[r][c], src + (row0 + r) * stride + c);
    else
      *(uint4 *)&dst[r][c] = make_uint4(0, 0, 0, 0);
  }
}

static __device__ inline uint32_t pair_at(const bf16 *p)
{
  return *(const uint32_t *)p;
}

/* Two bf16 of one column of a row-major tile, rows r and r + 1: a B fragment register of V. */
static __device__ inline uint32_t column_pair(const bf16 *p, int stride)
{
  const uint32_t lo = *(const uint16_t *)p, hi = *(const uint16_t *)(p + stride);
  return lo | (hi << 16);
}

template <int HD>
static __global__ void __launch_bounds__(THREADS)
    flash_kernel(bf16 *out, const bf16 *q, const bf16 *k, const bf16 *v, int64_t tq, int64_t tk,
                 int n_heads, int n_kv_heads, int causal, int64_t q_pos0, const int32_t *pos_base,
                 float scale)
{
  constexpr int KD = HD / 16; /* k-steps over the head dim */
  constexpr int ND = HD / 8;  /* 8-column blocks of O */
  constexpr int NS = BK / 8;  /* 8-key blocks of S */
  IVL_EXTERN_SHARED(flash_tile<HD>, tiles);

  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const int64_t seq = blockIdx.z, row0 = (int64_t)blockIdx.x * BQ;
  const int head = blockIdx.y, kv_head = head / (n_heads / n_kv_heads);
  const int64_t q_stride = (int64_t)n_heads * HD, kv_stride = (int64_t)n_kv_heads * HD;
  const bf16 *qb = q + seq * tq * q_stride + head * HD;
  const bf16 *kb = k + seq * tk * kv_stride + kv_head * HD;
  const bf16 *vb = v + seq * tk * kv_stride + kv_head * HD;
  const int64_t pos0 = q_pos0 + (pos_base ? *pos_base : 0);

  int64_t n_keys = tk;
  if (causal) {
    const int64_t last = (row0 + BQ < tq ? row0 + BQ : tq) - 1;
    n_keys = min(tk, pos0 + last + 1);
  }
  const int n_tiles = (int)((n_keys + BK - 1) / BK);

  /* The query tile through buffer 1's K rows, key tile 0 into buffer 0. */
  load_rows<HD>(tiles[1].k, qb, row0, tq, q_stride);
  load_rows<HD>(tiles[0].k, kb, 0, n_keys, kv_stride);
  load_rows<HD>(tiles[0].v, vb, 0, n_keys, kv_stride);
  ivl_cp_async_commit();
  ivl_cp_async_wait<0>();
  __syncthreads();
  uint32_t qf[KD][4];
#pragma unroll
  for (int kk = 0; kk < KD; kk++)
#pragma unroll
    for (int i = 0; i < 4; i++)
      qf[kk][i] = pair_at(&tiles[1].k[warp * 16 + g + 8 * (i & 1)][kk * 16 + 2 * t + 8 * (i >> 1)]);
  __syncthreads(); /* buffer 1 is free for key tile 1 */

  /* Scores in the log2 domain: exp2 of (s - m) is exp of the scaled score's difference. */
  const float sl2 = scale * 1.4426950408889634f;
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f}, o[ND][4];
#pragma unroll
  for (int nd = 0; nd < ND; nd++)
    o[nd][0] = o[nd][1] = o[nd][2] = o[nd][3] = 0.0f;

  for (int it = 0; it < n_tiles; it++) {
    const int64_t t0 = (int64_t)it * BK;
    const flash_tile<HD> &tile = tiles[it & 1];
    if (it + 1 < n_tiles) {
      load_rows<HD>(tiles[(it + 1) & 1].k, kb, t0 + BK, n_keys, kv_stride);
      load_rows<HD>(tiles[(it + 1) & 1].v, vb, t0 + BK, n_keys, kv_stride);
      ivl_cp_async_commit();
      ivl_cp_async_wait<1>();
    } else {
      ivl_cp_async_wait<0>();
    }
    __syncthreads(); /* this tile landed for every thread */

    float s[NS][4];
#pragma unroll
    for (int nb = 0; nb < NS; nb++) {
      s[nb][0] = s[nb][1] = s[nb][2] = s[nb][3] = 0.0f;
#pragma unroll
      for (int kk = 0; kk < KD; kk++) {
        const bf16 *kr = &tile.k[nb * 8 + g][kk * 16 + 2 * t];
        const uint32_t b[2] = {pair_at(kr), pair_at(kr + 8)};
        ivl_mma_bf16_16816(s[nb], qf[kk], b);
      }
    }

    /* Masks only where a tile reaches past the keys or, causal, past the block's first row. */
    const bool edge = t0 + BK > n_keys || (causal && t0 + BK - 1 > pos0 + row0);
#pragma unroll
    for (int h = 0; h < 2; h++) {
      const int64_t pos = pos0 + row0 + warp * 16 + g + 8 * h;
      float mx = -INFINITY;
#pragma unroll
      for (int nb = 0; nb < NS; nb++)
#pragma unroll
        for (int j = 0; j < 2; j++) {
          const int64_t key = t0 + nb * 8 + 2 * t + j;
          float x = s[nb][2 * h + j] * sl2;
          if (edge && (key >= n_keys || (causal && key > pos)))
            x = -INFINITY;
          s[nb][2 * h + j] = x;
          mx = fmaxf(mx, x);
        }
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
      const float m_new = fmaxf(m[h], mx);
      /* A row with every key so far masked keeps 0 weights (exp2(-inf - 0)). */
      const float ref = m_new == -INFINITY ? 0.0f : m_new;
      const float alpha = exp2f(m[h] - ref);
      float sum = 0.0f;
#pragma unroll
      for (int nb = 0; nb < NS; nb++)
#pragma unroll
        for (int j = 0; j < 2; j++) {
          const float p = exp2f(s[nb][2 * h + j] - ref);
          s[nb][2 * h + j] = p;
          sum += p;
        }
      m[h] = m_new;
      l[h] = l[h] * alpha + sum; /* this lane's columns; the row's four lanes add up at the end */
#pragma unroll
      for (int nd = 0; nd < ND; nd++) {
        o[nd][2 * h] *= alpha;
        o[nd][2 * h + 1] *= alpha;
      }
    }
    /* Scale, mask, max, exp and sum of 32 scores, and the rescale of this lane's O. */
    IVL_FLOPS(5 * 2 * NS * 2 + 2 * ND * 2);

#pragma unroll
    for (int kk = 0; kk < BK / 16; kk++) {
      const uint32_t pa[4] = {
          ivl_pack_bf16x2(s[2 * kk][0], s[2 * kk][1]),
          ivl_pack_bf16x2(s[2 * kk][2], s[2 * kk][3]),
          ivl_pack_bf16x2(s[2 * kk + 1][0], s[2 * kk + 1][1]),
          ivl_pack_bf16x2(s[2 * kk + 1][2], s[2 * kk + 1][3]),
      };
#pragma unroll
      for (int nd = 0; nd < ND; nd++) {
        const bf16 *vr = &tile.v[kk * 16 + 2 * t][nd * 8 + g];
        const uint32_t b[2] = {column_pair(vr, HD + 8), column_pair(vr + 8 * (HD + 8), HD + 8)};
        ivl_mma_bf16_16816(o[nd], pa, b);
      }
    }
    __syncthreads(); /* every warp is done with this buffer before tile it + 2 lands in it */
  }

#pragma unroll
  for (int h = 0; h < 2; h++) {
    l[h] += __shfl_xor_sync(0xffffffffu, l[h], 1);
    l[h] += __shfl_xor_sync(0xffffffffu, l[h], 2);
    const int64_t row = row0 + warp * 16 + g + 8 * h;
    if (row >= tq)
      continue;
    const float inv = l[h] > 0.0f ? 1.0f / l[h] : 0.0f;
    bf16 *orow = out + (seq * tq + row) * q_stride + head * HD + 2 * t;
#pragma unroll
    for (int nd = 0; nd < ND; nd++)
      *(__nv_bfloat162 *)(orow + nd * 8) =
          __floats2bfloat162_rn(o[nd][2 * h] * inv, o[nd][2 * h + 1] * inv);
  }
}

template <int HD>
static cudaError_t launch(bf16 *out, const bf16 *q, const bf16 *k, const bf16 *v, int n_seq,
                          int64_t tq, int64_t tk, int n_heads, int n_kv_heads, int causal,
                          int64_t q_pos0, const int32_t *pos_base, float scale, cudaStream_t stream)
{
  const size_t shared = flash_shared_bytes<HD>();
  /* Past 48 KB a kernel must opt in, on each device it runs on; cheap to repeat. */
  cudaError_t e = cudaFuncSetAttribute((const void *)flash_kernel<HD>,
                                       cudaFuncAttributeMaxDynamicSharedMemorySize, (int)shared);
  if (e != cudaSuccess)
    return e;
  const dim3 grid((unsigned)((tq + BQ - 1) / BQ), (unsigned)n_heads, (unsigned)n_seq);
  IVL_LAUNCH(flash_kernel<HD>, grid, THREADS, shared, stream, out, q, k, v, tq, tk, n_heads,
             n_kv_heads, causal, q_pos0, pos_base, scale);
  return cudaGetLastError();
}

cudaError_t ivl_cuda_attention_flash(bf16 *out, const bf16 *q, const bf16 *k, const bf16 *v,
                                     int n_seq, int64_t tq, int64_t tk, int n_heads, int n_kv_heads,
                                     int head_dim, int causal, int64_t q_pos0,
                                     const int32_t *pos_base, float scale, cudaStream_t stream)
{
  /* cp.async moves 16 bytes: the backend's tensors (whole rows of whole heads in allocations
   * of 256-byte alignment) always are. */
  if (((uintptr_t)q | (uintptr_t)k | (uintptr_t)v | (uintptr_t)out) % 16 != 0)
    return cudaErrorMisalignedAddress;
  if (head_dim == 64)
    return launch<64>(out, q, k, v, n_seq, tq, tk, n_heads, n_kv_heads, causal, q_pos0, pos_base,
                      scale, stream);
  if (head_dim == 128)
    return launch<128>(out, q, k, v, n_seq, tq, tk, n_heads, n_kv_heads, causal, q_pos0, pos_base,
                       scale, stream);
  return cudaErrorInvalidValue;
}
