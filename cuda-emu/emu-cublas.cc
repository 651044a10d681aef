/* emu-cublas.cc — the cuBLAS calls ivl makes: handles with a stream and a workspace, and
 * cublasGemmEx and cublasGemmStridedBatchedEx computed in f32 from the stated input types
 * (column-major, as cuBLAS). Like
 * the real library, cublasSetStream puts the handle back on cuBLAS's default workspace pool;
 * a GEMM recorded into a graph from that pool is refused (the real cuBLAS would allocate
 * during the capture). */
#include "emu-private.h"
#include "ivl-emu.h"

#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdio.h>
#include <stdlib.h>

#include <vector>

struct cublasContext {
  int device; /* current when the handle was created */
  cudaStream_t stream;
  void *workspace; /* null: the default pool */
  size_t workspace_size;
};

extern "C" cublasStatus_t cublasCreate_v2(cublasHandle_t *h)
{
  if (h == nullptr)
    return CUBLAS_STATUS_INVALID_VALUE;
  int device = 0;
  cudaGetDevice(&device);
  *h = new cublasContext{device, nullptr, nullptr, 0};
  return CUBLAS_STATUS_SUCCESS;
}

extern "C" cublasStatus_t cublasDestroy_v2(cublasHandle_t h)
{
  if (h == nullptr)
    return CUBLAS_STATUS_NOT_INITIALIZED;
  delete h;
  return CUBLAS_STATUS_SUCCESS;
}

extern "C" cublasStatus_t cublasSetStream_v2(cublasHandle_t h, cudaStream_t s)
{
  if (h == nullptr)
    return CUBLAS_STATUS_NOT_INITIALIZED;
  h->stream = s;
  h->workspace = nullptr, h->workspace_size = 0;
  return CUBLAS_STATUS_SUCCESS;
}

extern "C" cublasStatus_t cublasGetStream_v2(cublasHandle_t h, cudaStream_t *s)
{
  if (h == nullptr)
    return CUBLAS_STATUS_NOT_INITIALIZED;
  *s = h->stream;
  return CUBLAS_STATUS_SUCCESS;
}

extern "C" cublasStatus_t cublasSetWorkspace_v2(cublasHandle_t h, void *w, size_t size)
{
  if (h == nullptr)
    return CUBLAS_STATUS_NOT_INITIALIZED;
  if (w != nullptr)
    ivl_emu_check_range(w, size, true, "cublasSetWorkspace");
  h->workspace = w, h->workspace_size = size;
  return CUBLAS_STATUS_SUCCESS;
}

extern "C" void *ivl_emu_cublas_workspace(void *h)
{
  return ((cublasHandle_t)h)->workspace;
}

#define CODE(c, text)                                                                              \
  {                                                                                                \
    c, #c, text                                                                                    \
  }
static const ivl_emu_code_text statuses[] = {
    CODE(CUBLAS_STATUS_SUCCESS, "success"),
    CODE(CUBLAS_STATUS_NOT_INITIALIZED, "the library was not initialized"),
    CODE(CUBLAS_STATUS_ALLOC_FAILED, "the resource allocation failed"),
    CODE(CUBLAS_STATUS_INVALID_VALUE, "an invalid numeric value was used as an argument"),
    CODE(CUBLAS_STATUS_ARCH_MISMATCH, "an absent device architectural feature is required"),
    CODE(CUBLAS_STATUS_MAPPING_ERROR, "an access to GPU memory space failed"),
    CODE(CUBLAS_STATUS_EXECUTION_FAILED, "the GPU program failed to execute"),
    CODE(CUBLAS_STATUS_INTERNAL_ERROR, "an internal operation failed"),
    CODE(CUBLAS_STATUS_NOT_SUPPORTED, "the functionality requested is not supported"),
    CODE(CUBLAS_STATUS_LICENSE_ERROR, "error detected trying to check the license"),
};
#undef CODE

extern "C" const char *cublasGetStatusName(cublasStatus_t s)
{
  return ivl_emu_code_string(statuses, s, true, "<unrecognized>");
}

extern "C" const char *cublasGetStatusString(cublasStatus_t s)
{
  return ivl_emu_code_string(statuses, s, false, "unknown error");
}

static float element(const void *p, cudaDataType t, size_t i)
{
  switch (t) {
  case CUDA_R_32F:
    return ((const float *)p)[i];
  case CUDA_R_16F:
    return __half2float(((const __half *)p)[i]);
  default:
    return __bfloat162float(((const __nv_bfloat16 *)p)[i]);
  }
}

static size_t type_size(cudaDataType t)
{
  return t == CUDA_R_32F ? 4 : 2;
}

/* op(M) of a column-major rows x cols operand as a row-major [rows][k] f32 copy. */
static std::vector<float> operand(const void *p, cudaDataType t, cublasOperation_t op, int rows,
                                  int k, int ld)
{
  std::vector<float> m((size_t)rows * k);
  for (int r = 0; r < rows; r++)
    for (int l = 0; l < k; l++)
      m[(size_t)r * k + l] = element(
          p, t, op == CUBLAS_OP_N ? (size_t)r + (size_t)l * ld : (size_t)l + (size_t)r * ld);
  return m;
}

/* cublasGemmEx is the batch of one; a batch's matrices lie stride_* elements apart (0: one
 * operand shared by all, as cuBLAS allows for A and B). */
static cublasStatus_t gemm(cublasHandle_t h, const char *what, cublasOperation_t ta,
                           cublasOperation_t tb, int m, int n, int k, const void *alpha,
                           const void *A, cudaDataType at, int lda, long long stride_a,
                           const void *B, cudaDataType bt, int ldb, long long stride_b,
                           const void *beta, void *C, cudaDataType ct, int ldc, long long stride_c,
                           int batch, cublasComputeType_t compute)
{
  if (h == nullptr)
    return CUBLAS_STATUS_NOT_INITIALIZED;
  const char *forced = getenv("IVL_EMU_CUBLAS_STATUS");
  if (forced != nullptr && *forced != '\0')
    return (cublasStatus_t)atoi(forced);
  const auto known = [](cudaDataType t) {
    return t == CUDA_R_32F || t == CUDA_R_16F || t == CUDA_R_16BF;
  };
  if (m < 0 || n < 0 || k < 0 || batch < 0 || stride_a < 0 || stride_b < 0 ||
      (batch > 1 && stride_c < (long long)ldc * n) || !known(at) || !known(bt) || !known(ct) ||
      (compute != CUBLAS_COMPUTE_32F && compute != CUBLAS_COMPUTE_32F_FAST_TF32) ||
      (ta != CUBLAS_OP_N && ta != CUBLAS_OP_T) || (tb != CUBLAS_OP_N && tb != CUBLAS_OP_T) ||
      lda < (ta == CUBLAS_OP_N ? m : k) || ldb < (tb == CUBLAS_OP_N ? k : n) || ldc < m)
    return CUBLAS_STATUS_INVALID_VALUE;
  if (ivl_emu_capturing(h->stream) && h->workspace == nullptr) {
    fprintf(stderr,
            "ivl-emu: %s recorded into a graph with cuBLAS's default workspace "
            "pool (cublasSetStream drops the workspace set by cublasSetWorkspace): cuBLAS "
            "would allocate during the capture\n",
            what);
    return CUBLAS_STATUS_NOT_SUPPORTED;
  }
  if (m == 0 || n == 0 || batch == 0)
    return CUBLAS_STATUS_SUCCESS;
  const float a = *(const float *)alpha, b = *(const float *)beta;
  ivl_emu_count_gemm();
  const int device = h->device;
  ivl_emu_enqueue(h->stream, [=] {
    for (int i = 0; i < batch; i++) {
      const void *Ai = (const char *)A + (size_t)(stride_a * i) * type_size(at);
      const void *Bi = (const char *)B + (size_t)(stride_b * i) * type_size(bt);
      void *Ci = (char *)C + (size_t)(stride_c * i) * type_size(ct);
      ivl_emu_check_device(device, Ai, what);
      ivl_emu_check_device(device, Bi, what);
      ivl_emu_check_device(device, Ci, what);
      const int a_cols = ta == CUBLAS_OP_N ? k : m, b_cols = tb == CUBLAS_OP_N ? n : k;
      ivl_emu_check_range(
          Ai, ((size_t)(a_cols - 1) * lda + (ta == CUBLAS_OP_N ? m : k)) * type_size(at), false,
          what);
      ivl_emu_check_range(
          Bi, ((size_t)(b_cols - 1) * ldb + (tb == CUBLAS_OP_N ? k : n)) * type_size(bt), false,
          what);
      ivl_emu_check_range(Ci, ((size_t)(n - 1) * ldc + m) * type_size(ct), b == 0.0f, what);
      const std::vector<float> am = operand(Ai, at, ta, m, k, lda);
      const std::vector<float> bm =
          operand(Bi, bt, tb == CUBLAS_OP_N ? CUBLAS_OP_T : CUBLAS_OP_N, n, k, ldb);
      for (int j = 0; j < n; j++)
        for (int r = 0; r < m; r++) {
          const float *x = &am[(size_t)r * k], *y = &bm[(size_t)j * k];
          float s = 0.0f;
          for (int l = 0; l < k; l++)
            s += x[l] * y[l];
          const size_t o = (size_t)r + (size_t)j * ldc;
          const float v = a * s + (b != 0.0f ? b * element(Ci, ct, o) : 0.0f);
          if (ct == CUDA_R_32F)
            ((float *)Ci)[o] = v;
          else if (ct == CUDA_R_16F)
            ((__half *)Ci)[o] = __float2half(v);
          else
            ((__nv_bfloat16 *)Ci)[o] = __float2bfloat16(v);
        }
      for (int j = 0; j < n; j++)
        ivl_emu_mark_written((char *)Ci + (size_t)j * ldc * type_size(ct),
                             (size_t)m * type_size(ct));
    }
    /* one launch; a shared operand (stride 0) is read from DRAM once */
    if (ivl_emu_profiling)
      ivl_emu_profile_gemm(what, m, n, k, batch, stride_a == 0, stride_b == 0, type_size(at),
                           type_size(bt), type_size(ct), b != 0.0f,
                           type_size(at) == 2 && type_size(bt) == 2);
  });
  return CUBLAS_STATUS_SUCCESS;
}

extern "C" cublasStatus_t cublasGemmEx(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb,
                                       int m, int n, int k, const void *alpha, const void *A,
                                       cudaDataType at, int lda, const void *B, cudaDataType bt,
                                       int ldb, const void *beta, void *C, cudaDataType ct, int ldc,
                                       cublasComputeType_t compute, cublasGemmAlgo_t)
{
  return gemm(h, "cublasGemmEx", ta, tb, m, n, k, alpha, A, at, lda, 0, B, bt, ldb, 0, beta, C, ct,
              ldc, 0, 1, compute);
}

extern "C" cublasStatus_t cublasGemmStridedBatchedEx(
    cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
    const void *alpha, const void *A, cudaDataType at, int lda, long long stride_a, const void *B,
    cudaDataType bt, int ldb, long long stride_b, const void *beta, void *C, cudaDataType ct,
    int ldc, long long stride_c, int batch, cublasComputeType_t compute, cublasGemmAlgo_t)
{
  return gemm(h, "cublasGemmStridedBatchedEx", ta, tb, m, n, k, alpha, A, at, lda, stride_a, B, bt,
              ldb, stride_b, beta, C, ct, ldc, stride_c, batch, compute);
}
