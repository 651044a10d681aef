/* epilogue.cu — what follows a cuBLAS product in one pass over its output, instead of a
 * launch per step (issue 16, item 5): the bias and GELU of the vision MLP's fc1, the bias,
 * layer scale and residual add after proj and fc2, and the biases of q, k and v. Bitwise the
 * separate kernels of add.cu, gelu.cu and the norms': each step is rounded to the activation
 * type as those store it, with the same element-wise functions (common.cuh) and row
 * functions (norm.cuh). */
#include "norm.cuh"

static unsigned grid_for(int64_t n)
{
  return ivl_blocks(n, 256) < 65535u ? ivl_blocks(n, 256) : 65535u;
}

template <typename T>
static __global__ void bias_gelu_kernel(T *y, const uint16_t *bias, int64_t n, int64_t cols)
{
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
       i += (int64_t)gridDim.x * blockDim.x) {
    float v = ivl_load(y, i);
    if (bias)
      v = ivl_round<T>(v + ivl_wload(bias, i % cols));
    ivl_store(y, i, ivl_gelu(v));
  }
}

template <typename T>
static __global__ void bias_scaled_add_kernel(T *x, const T *y, const uint16_t *bias,
                                              const uint16_t *scale, int64_t n, int64_t cols)
{
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
       i += (int64_t)gridDim.x * blockDim.x) {
    const int64_t c = i % cols;
    float v = ivl_load(y, i);
    if (bias)
      v = ivl_round<T>(v + ivl_wload(bias, c));
    ivl_store(x, i, ivl_scaled_add(ivl_load(x, i), v, ivl_wload(scale, c)));
  }
}

/* bias_scaled_add_kernel on one row per block, then xn = the norm of that row of x: layer norm
 * with norm_b, RMS norm without; 256 threads as the norm kernels. */
template <typename T>
static __global__ void
bias_scaled_add_norm_kernel(T *x, const T *y, const uint16_t *bias, const uint16_t *scale, T *xn,
                            const uint16_t *norm_w, const uint16_t *norm_b, int64_t cols, float eps)
{
  __shared__ float scratch[32];
  T *xr = x + blockIdx.x * cols;
  const T *yr = y + blockIdx.x * cols;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
    float v = ivl_load(yr, c);
    if (bias)
      v = ivl_round<T>(v + ivl_wload(bias, c));
    ivl_store(xr, c, ivl_scaled_add(ivl_load(xr, c), v, ivl_wload(scale, c)));
  }
  if (norm_b)
    ivl_layer_norm_row(xn + blockIdx.x * cols, (const T *)xr, norm_w, norm_b, cols, eps, scratch);
  else
    ivl_rms_norm_row(xn + blockIdx.x * cols, (const T *)xr, norm_w, cols, eps, scratch);
}

/* Output m of the three is blockIdx.y; a NULL bias leaves its output alone. */
typedef struct {
  void *y[3];
  const uint16_t *bias[3];
  int64_t cols[3];
} bias3_args;

template <typename T> static __global__ void add_bias3_kernel(bias3_args a, int64_t rows)
{
  const int m = blockIdx.y;
  T *y = (T *)a.y[m];
  const uint16_t *bias = a.bias[m];
  const int64_t cols = a.cols[m], n = rows * cols;
  if (bias == NULL)
    return;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
       i += (int64_t)gridDim.x * blockDim.x)
    ivl_store(y, i, ivl_load(y, i) + ivl_wload(bias, i % cols));
}

extern "C" cudaError_t ivl_cuda_bias_gelu(void *y, ivl_cuda_dtype t, const uint16_t *bias,
                                          int64_t rows, int64_t cols, cudaStream_t stream)
{
  const int64_t n = rows * cols;
  if (n <= 0)
    return cudaSuccess;
  IVL_DISPATCH_ACT(
      t, T, IVL_LAUNCH(bias_gelu_kernel<T>, grid_for(n), 256, 0, stream, (T *)y, bias, n, cols));
  return cudaGetLastError();
}

extern "C" cudaError_t ivl_cuda_bias_scaled_add(void *x, const void *y, ivl_cuda_dtype t,
                                                const uint16_t *bias, const uint16_t *scale,
                                                int64_t rows, int64_t cols, void *xn,
                                                const uint16_t *norm_w, const uint16_t *norm_b,
                                                float eps, cudaStream_t stream)
{
  const int64_t n = rows * cols;
  if (n <= 0)
    return cudaSuccess;
  if (xn != NULL) {
    IVL_DISPATCH_ACT(t, T,
                     IVL_LAUNCH(bias_scaled_add_norm_kernel<T>, (unsigned)rows, 256, 0, stream,
                                (T *)x, (const T *)y, bias, scale, (T *)xn, norm_w, norm_b, cols,
                                eps));
    return cudaGetLastError();
  }
  IVL_DISPATCH_ACT(t, T,
                   IVL_LAUNCH(bias_scaled_add_kernel<T>, grid_for(n), 256, 0, stream, (T *)x,
                              (const T *)y, bias, scale, n, cols));
  return cudaGetLastError();
}

extern "C" cudaError_t ivl_cuda_add_bias3(void *const y[3], ivl_cuda_dtype t,
                                          const uint16_t *const bias[3], const int64_t cols[3],
                                          int64_t rows, cudaStream_t stream)
{
  bias3_args a;
  int64_t most = 0;
  for (int m = 0; m < 3; m++) {
    a.y[m] = y[m], a.bias[m] = bias[m], a.cols[m] = cols[m];
    most = cols[m] > most ? cols[m] : most;
  }
  if (rows <= 0 || most <= 0)
    return cudaSuccess;
  IVL_DISPATCH_ACT(
      t, T,
      IVL_LAUNCH(add_bias3_kernel<T>, dim3(grid_for(rows * most), 3), 256, 0, stream, a, rows));
  return cudaGetLastError();
}
