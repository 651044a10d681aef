/* fused-decode.cu — two fusions of the decode step that keep its numbers: the residual add
 * folded into the next RMSNorm, and the MLP's gate and up GEMVs with SiLU x up as one
 * launch. Each rounds where the separate kernels store (add_kernel, gemv_vec_kernel,
 * silu_mul_kernel) and sums in their order, so the results are bitwise those of the three
 * or two launches they replace. */
#include "gemv.cuh"
#include "rope.cuh"

/* x += r; y = rms_norm(x) * w; one block per row, as rms_norm_kernel. */
template <typename T>
static __global__ void add_rms_norm_kernel(T *y, T *x, const T *r, const uint16_t *w, int64_t cols,
                                           float eps)
{
  __shared__ float scratch[32];
  T *xr = x + blockIdx.x * cols;
  const T *rr = r + blockIdx.x * cols;
  T *yr = y + blockIdx.x * cols;
  float ss = 0.0f;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
    ivl_store(xr, c, ivl_load(xr, c) + ivl_load(rr, c));
    const float v = ivl_load(xr, c);
    ss += v * v;
  }
  const float inv = rsqrtf(ivl_block_sum(ss, scratch) / (float)cols + eps);
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x)
    ivl_store(yr, c, ivl_load(xr, c) * inv * ivl_wload(w, c));
}

extern "C" cudaError_t ivl_cuda_add_rms_norm(void *y, void *x, const void *r, ivl_cuda_dtype t,
                                             const uint16_t *w, int64_t rows, int64_t cols,
                                             float eps, cudaStream_t stream)
{
  if (rows <= 0)
    return cudaSuccess;
  IVL_DISPATCH_ACT(t, T,
                   IVL_LAUNCH(add_rms_norm_kernel<T>, (unsigned)rows, 256, 0, stream, (T *)y,
                              (T *)x, (const T *)r, w, cols, eps));
  return cudaGetLastError();
}

/* h[row] = silu(gate . x) * (up . x), each product rounded to T first as stored. */
template <typename T>
static __global__ void gate_up_silu_kernel(T *h, const uint4 *x, const uint4 *wg, const uint4 *wu,
                                           int64_t out, int64_t in8)
{
  const int64_t row = (int64_t)blockIdx.x * ROWS_PER_BLOCK + (threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  if (row >= out)
    return;
  const float g = row_dot(wg + row * in8, x, in8, lane);
  const float u = row_dot(wu + row * in8, x, in8, lane);
  if (lane == 0) {
    T gt, ut;
    ivl_store(&gt, 0, g);
    ivl_store(&ut, 0, u);
    const float gf = ivl_load(&gt, 0);
    ivl_store(h, row, gf / (1.0f + expf(-gf)) * ivl_load(&ut, 0));
  }
}

extern "C" cudaError_t ivl_cuda_gate_up_silu(void *h, ivl_cuda_dtype t, const void *x,
                                             const uint16_t *w_gate, const uint16_t *w_up,
                                             int64_t out, int64_t in, cudaStream_t stream)
{
  if (out <= 0)
    return cudaSuccess;
  if (in % 8 != 0 || ((uintptr_t)x | (uintptr_t)w_gate | (uintptr_t)w_up) % 16 != 0)
    return cudaErrorInvalidValue;
  IVL_DISPATCH_ACT(t, T,
                   IVL_LAUNCH(gate_up_silu_kernel<T>, ivl_blocks(out, ROWS_PER_BLOCK),
                              32 * ROWS_PER_BLOCK, 0, stream, (T *)h, (const uint4 *)x,
                              (const uint4 *)w_gate, (const uint4 *)w_up, out, in / 8));
  return cudaGetLastError();
}

/* q, k, v = x Wq^T + bq, x Wk^T + bk, x Wv^T + bv for one row x, in one launch: a warp per
 * output row of the three, summed and rounded as gemv_vec_kernel with its bias. */
struct qkv_args {
  const uint4 *w[3];
  const uint16_t *bias[3];
  void *y[3];
  int64_t rows[3];
};

template <typename Y> static __global__ void qkv_kernel(qkv_args a, const uint4 *x, int64_t in8)
{
  int64_t row = (int64_t)blockIdx.x * ROWS_PER_BLOCK + (threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  int m = 0;
  while (m < 3 && row >= a.rows[m])
    row -= a.rows[m++];
  if (m == 3)
    return;
  const float s = row_dot(a.w[m] + row * in8, x, in8, lane);
  if (lane == 0)
    ivl_store((Y *)a.y[m], row, s + (a.bias[m] ? ivl_wload(a.bias[m], row) : 0.0f));
}

extern "C" cudaError_t ivl_cuda_gemv_qkv(void *const y[3], ivl_cuda_dtype y_t, const void *x,
                                         const uint16_t *const w[3], const uint16_t *const bias[3],
                                         const int64_t rows[3], int64_t in, cudaStream_t stream)
{
  qkv_args a;
  int64_t total = 0;
  uintptr_t align = (uintptr_t)x;
  for (int m = 0; m < 3; m++) {
    a.w[m] = (const uint4 *)w[m], a.bias[m] = bias[m], a.y[m] = y[m], a.rows[m] = rows[m];
    total += rows[m];
    align |= (uintptr_t)w[m];
  }
  if (in % 8 != 0 || align % 16 != 0)
    return cudaErrorInvalidValue;
  if (total <= 0)
    return cudaSuccess;
  IVL_DISPATCH_ACT(y_t, Y,
                   IVL_LAUNCH(qkv_kernel<Y>, ivl_blocks(total, ROWS_PER_BLOCK), 32 * ROWS_PER_BLOCK,
                              0, stream, a, (const uint4 *)x, in / 8));
  return cudaGetLastError();
}

/* RoPE on q and k (as rope_kernel), and the rotated k and v stored at the cache rows of their
 * positions (as copy_rows_kernel): one thread per rotated pair, then per v element. */
template <typename T>
static __global__ void
rope_store_kv_kernel(T *q, T *k, const T *v, T *k_cache, T *v_cache, int64_t cache_rows,
                     int64_t rows, int n_heads, int n_kv_heads, int head_dim, int64_t pos0,
                     const int32_t *pos_base, float theta, const float *theta_dev)
{
  if (theta_dev)
    theta = *theta_dev;
  const int half = head_dim / 2;
  const int64_t kvd = (int64_t)n_kv_heads * head_dim;
  const int64_t n_q = rows * n_heads * half, n_k = rows * n_kv_heads * half;
  const int64_t n = n_q + n_k + rows * kvd;
  const int64_t base = pos0 + (pos_base ? *pos_base : 0);
  for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < n;
       e += (int64_t)gridDim.x * blockDim.x) {
    if (e >= n_q + n_k) {
      const int64_t f = e - n_q - n_k, row = f / kvd;
      if (base + row >= 0 && base + row < cache_rows)
        v_cache[(base + row) * kvd + f % kvd] = v[f];
      continue;
    }
    const bool is_q = e < n_q;
    const int64_t f = is_q ? e : e - n_q;
    const int heads = is_q ? n_heads : n_kv_heads;
    const int i = (int)(f % half);
    const int64_t rh = f / half; /* row * heads + head */
    T *h = (is_q ? q : k) + rh * head_dim;
    const int64_t row = rh / heads;
    rope_pair(h, i, head_dim, base + row, theta);
    if (!is_q && base + row >= 0 && base + row < cache_rows) {
      T *d = k_cache + (base + row) * kvd + (rh % heads) * head_dim;
      d[i] = h[i];
      d[i + half] = h[i + half];
    }
  }
}

extern "C" cudaError_t ivl_cuda_rope_store_kv(void *q, void *k, const void *v, void *k_cache,
                                              void *v_cache, int64_t cache_rows, ivl_cuda_dtype t,
                                              int64_t rows, int n_heads, int n_kv_heads,
                                              int head_dim, int64_t pos0, const int32_t *pos_base,
                                              float theta, const float *theta_dev,
                                              cudaStream_t stream)
{
  const int64_t n =
      rows * ((int64_t)(n_heads + n_kv_heads) * (head_dim / 2) + (int64_t)n_kv_heads * head_dim);
  if (n <= 0)
    return cudaSuccess;
  const unsigned blocks = ivl_blocks(n, 256) < 65535u ? ivl_blocks(n, 256) : 65535u;
  IVL_DISPATCH_ACT(t, T,
                   IVL_LAUNCH(rope_store_kv_kernel<T>, blocks, 256, 0, stream, (T *)q, (T *)k,
                              (const T *)v, (T *)k_cache, (T *)v_cache, cache_rows, rows, n_heads,
                              n_kv_heads, head_dim, pos0, pos_base, theta, theta_dev));
  return cudaGetLastError();
}
