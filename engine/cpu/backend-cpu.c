/* The CPU backend: f32 activations in aligned host memory, weights used in place from the
 * mapped model file, ops on a thread pool (see cpu-kernels.h for the kernels). */
#include "backend-cpu-private.h"

#include "cpu-qpanel.h"
#include "ivl.h"
#include "quantize.h"

#if defined(__x86_64__)
#include <cpuid.h>
#endif
#include <stdarg.h>
#include <sys/mman.h>
#include <stdlib.h>
#include <string.h>

gboolean cpu_simd_available(void)
{
  const char *off = g_getenv("IVL_CPU_NO_SIMD");
  if (off != NULL && *off != '\0' && strcmp(off, "0") != 0)
    return FALSE;
#if defined(__x86_64__)
  unsigned eax, ebx, ecx, edx;
  /* clang's __builtin_cpu_supports has no "f16c": read its CPUID bit directly */
  gboolean f16c = __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & bit_F16C);
  __builtin_cpu_init();
  return f16c && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return FALSE;
#endif
}

gboolean cpu_avx512_available(void)
{
  const char *off = g_getenv("IVL_CPU_NO_AVX512");
  if (!cpu_simd_available() || (off != NULL && *off != '\0' && strcmp(off, "0") != 0))
    return FALSE;
#if defined(__x86_64__)
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl");
#else
  return FALSE;
#endif
}

gboolean cpu_check(ivl_backend *be, gboolean ok, const char *op, const char *fmt, ...)
{
  if (ok)
    return TRUE;
  va_list args;
  va_start(args, fmt);
  g_autofree char *msg = g_strdup_vprintf(fmt, args);
  va_end(args);
  ivl_backend_set_error(be, g_error_new(IVL_ERROR, IVL_ERROR_INVALID_ARGUMENT, "%s: %s", op, msg));
  return FALSE;
}

gboolean cpu_check_act(ivl_backend *be, const char *op, const char *what, const ivl_tensor *t,
                       int64_t rows, int64_t cols)
{
  if (!cpu_check(be, t != NULL, op, "%s is missing", what))
    return FALSE;
  if (!cpu_check(be, t->dtype == IVL_DTYPE_F32, op, "%s must be f32 (an activation)", what))
    return FALSE;
  return cpu_check(be, (rows < 0 || t->rows == rows) && (cols < 0 || t->cols == cols), op,
                   "%s is [%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT "], expected [%" G_GINT64_FORMAT
                   ", %" G_GINT64_FORMAT "]",
                   what, t->rows, t->cols, rows, cols);
}

gboolean cpu_check_vector(ivl_backend *be, const char *op, const char *what, const ivl_tensor *t,
                          int64_t n)
{
  if (!cpu_check(be, t != NULL, op, "%s is missing", what))
    return FALSE;
  if (!cpu_check(be, cpu_dtype_is_float(t->dtype) && !t->layout, op,
                 "%s must be an f32, f16 or bf16 vector", what))
    return FALSE;
  return cpu_check(be, t->rows * t->cols == n, op,
                   "%s has %" G_GINT64_FORMAT " elements, expected %" G_GINT64_FORMAT, what,
                   t->rows * t->cols, n);
}

typedef struct {
  cpu_rows_fn fn;
  void *ctx;
  int64_t n_rows, rows_per_task;
} rows_job;

static void rows_task(void *ctx, int64_t task, int thread)
{
  rows_job *job = ctx;
  int64_t r0 = task * job->rows_per_task;
  (void)thread;
  job->fn(job->ctx, r0, MIN(job->n_rows, r0 + job->rows_per_task));
}

void cpu_parallel_rows(cpu_backend *cb, int64_t n_rows, int64_t work_per_row, cpu_rows_fn fn,
                       void *ctx)
{
  const int64_t min_work = 32768; /* below this a thread wake-up costs more than it saves */
  int64_t n_threads = ivl_threadpool_n_threads(cb->pool);
  int64_t per_task = MAX(1, min_work / MAX(1, work_per_row));
  per_task = MAX(per_task, (n_rows + 4 * n_threads - 1) / (4 * n_threads));
  if (n_rows <= 0)
    return;
  if (per_task >= n_rows) {
    fn(ctx, 0, n_rows);
    return;
  }
  rows_job job = {fn, ctx, n_rows, per_task};
  ivl_threadpool_run(cb->pool, (n_rows + per_task - 1) / per_task, rows_task, &job);
}

/* -- memory -- */

static gboolean tensor_bytes(int64_t rows, int64_t cols, ivl_dtype dtype, size_t *bytes,
                             GError **error)
{
  if (rows < 0 || cols < 0 || (cols > 0 && rows > (int64_t)(SIZE_MAX / 8) / cols)) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_INVALID_ARGUMENT,
                "tensor shape [%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT "] is invalid", rows, cols);
    return FALSE;
  }
  if (cpu_dtype_is_quant(dtype) && !ivl_quant_fits(dtype, rows, cols)) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_INVALID_ARGUMENT,
                "a [%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT "] matrix cannot be stored in 4 bits",
                rows, cols);
    return FALSE;
  }
  *bytes = ivl_tensor_nbytes(dtype, rows, cols);
  return TRUE;
}

/* Tensors of at least this size are mapped rather than allocated: the pages come zeroed from
 * the kernel and are only committed when touched, so a KV cache sized for the full context
 * costs what the conversation uses. */
#define MAP_MIN_BYTES ((size_t)1 << 20)
/* Bytes before the data holding the mapping's length (0: from posix_memalign). One page for
 * mappings keeps the data page-aligned; 64 bytes (a cache line) otherwise. */
#define MAP_HEADER ((size_t)4096)
#define HEAP_HEADER ((size_t)64)

static void *host_alloc(size_t bytes)
{
  if (bytes >= MAP_MIN_BYTES) {
    size_t length = bytes + MAP_HEADER;
    char *base = mmap(NULL, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED)
      return NULL;
    *(size_t *)(base + MAP_HEADER - sizeof(size_t)) = length;
    return base + MAP_HEADER;
  }
  void *base = NULL;
  if (posix_memalign(&base, 64, bytes + HEAP_HEADER) != 0)
    return NULL;
  memset(base, 0, bytes + HEAP_HEADER);
  return (char *)base + HEAP_HEADER;
}

static void host_free(void *data)
{
  size_t length = *((size_t *)data - 1);
  if (length != 0)
    munmap((char *)data - MAP_HEADER, length);
  else
    free((char *)data - HEAP_HEADER);
}

static ivl_tensor *cpu_tensor_new(ivl_backend *be, ivl_dtype dtype, int64_t rows, int64_t cols,
                                  GError **error)
{
  size_t bytes;
  if (!tensor_bytes(rows, cols, dtype, &bytes, error))
    return NULL;
  if (cpu_dtype_is_quant(dtype)) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_UNSUPPORTED,
                "quantized tensors are weights: only weight_from_host makes them");
    return NULL;
  }
  /* zero-filled, 64-byte aligned: whole cache lines per row start */
  void *data = host_alloc(bytes);
  if (data == NULL) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_OUT_OF_MEMORY,
                "cannot allocate %zu bytes for a [%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT
                "] tensor",
                bytes, rows, cols);
    return NULL;
  }
  ivl_tensor *t = g_new(ivl_tensor, 1);
  *t = (ivl_tensor){be, dtype, rows, cols, data, TRUE, NULL, 0};
  return t;
}

#if HAVE_X86_SIMD
typedef struct {
  cpu_compact_bf16 *z;
  const uint16_t *src;
} compact_job;

static void compact_rows(void *ctx, int64_t r0, int64_t r1)
{
  compact_job *job = ctx;
  cpu_compact_bf16_code_rows(job->z, job->src, r0, r1);
}

/* A bf16 matrix in the compact layout (cpu-compact-bf16.h), coded over the thread pool; NULL
 * when there is no memory for it (the plain rows in place need none), or when it would not be
 * smaller: narrow rows (a block of 64 values holds fewer) or many raw blocks. */
static ivl_tensor *compact_weight(ivl_backend *be, int64_t rows, int64_t cols, const void *host)
{
  cpu_compact_bf16 *z = cpu_compact_bf16_new(rows, cols);
  if (!z)
    return NULL;
  compact_job job = {z, host};
  cpu_parallel_rows(cpu_of(be), rows, 4 * cols, compact_rows, &job);
  if (!cpu_compact_bf16_finish(z, host) ||
      cpu_compact_bf16_bytes(z) >= ivl_tensor_nbytes(IVL_DTYPE_BF16, rows, cols)) {
    cpu_compact_bf16_free(z);
    return NULL;
  }
  ivl_tensor *t = g_new(ivl_tensor, 1);
  *t = (ivl_tensor){be, IVL_DTYPE_BF16, rows, cols, NULL, TRUE, z, 0};
  return t;
}
#endif

static ivl_tensor *cpu_weight_from_host(ivl_backend *be, ivl_dtype dtype, int64_t rows,
                                        int64_t cols, const void *host, GError **error)
{
  size_t bytes;
  if (!tensor_bytes(rows, cols, dtype, &bytes, error))
    return NULL;
  if (dtype == IVL_DTYPE_I32) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_UNSUPPORTED, "an i32 weight is not supported");
    return NULL;
  }
#if HAVE_X86_SIMD
  ivl_tensor *compact = NULL;
  if (dtype == IVL_DTYPE_BF16 && rows > 1 && cols > 0 && cpu_of(be)->compact &&
      (compact = compact_weight(be, rows, cols, host)) != NULL)
    return compact;
#endif
  ivl_tensor *t = g_new(ivl_tensor, 1);
  /* used in place: ops only read weights, so the mapping may stay read-only */
  *t = (ivl_tensor){be, dtype, rows, cols, (void *)host, FALSE, NULL, 0};
  if (cpu_dtype_is_quant(dtype)) { /* the loader's quantized buffer is temporary */
    /* the integer products read the panels of cpu-qpanel.h, made here once */
    const gboolean panels = cpu_of(be)->int_dot;
    if (panels)
      bytes = cpu_qpanel_nbytes(dtype, rows, cols);
    if (!(t->data = host_alloc(bytes))) {
      g_free(t);
      g_set_error(error, IVL_ERROR, IVL_ERROR_OUT_OF_MEMORY,
                  "cannot allocate %zu bytes for a quantized weight", bytes);
      return NULL;
    }
    if (panels)
      cpu_qpanel_pack(dtype, t->data, host, rows, cols);
    else
      memcpy(t->data, host, bytes);
    t->owns_data = TRUE;
  }
  return t;
}

static void cpu_tensor_free(ivl_backend *be, ivl_tensor *t)
{
  (void)be;
  if (t == NULL)
    return;
  if (t->layout)
    cpu_compact_bf16_free(t->layout);
  else if (t->owns_data)
    host_free(t->data);
  g_free(t);
}

static size_t cpu_weight_nbytes(ivl_backend *be, const ivl_tensor *t)
{
  (void)be;
  return t->layout ? cpu_compact_bf16_bytes(t->layout)
                   : ivl_tensor_nbytes(t->dtype, t->rows, t->cols);
}

void cpu_tensor_rows_to_f32(const ivl_tensor *t, int64_t row0, int64_t n_rows, float *dst)
{
  if (!t->layout) {
    const char *src = (const char *)t->data + row0 * t->cols * (int64_t)ivl_dtype_size(t->dtype);
    cpu_row_to_f32(dst, src, t->dtype, n_rows * t->cols);
    return;
  }
  uint16_t buf[1024];
  for (int64_t r = row0; r < row0 + n_rows; r++)
    for (int64_t k0 = 0; k0 < t->cols; k0 += 1024) {
      int64_t n = MIN(1024, t->cols - k0);
      cpu_compact_bf16_values(t->layout, t->layout_row0 + r, k0, n, buf);
      cpu_row_to_f32(dst + (r - row0) * t->cols + k0, buf, IVL_DTYPE_BF16, n);
    }
}

static gboolean check_row_range(const ivl_tensor *t, int64_t row0, int64_t n_rows, GError **error)
{
  if (row0 >= 0 && n_rows >= 0 && row0 <= t->rows && n_rows <= t->rows - row0)
    return TRUE;
  g_set_error(error, IVL_ERROR, IVL_ERROR_INVALID_ARGUMENT,
              "rows [%" G_GINT64_FORMAT ", +%" G_GINT64_FORMAT
              ") are outside a tensor of %" G_GINT64_FORMAT " rows",
              row0, n_rows, t->rows);
  return FALSE;
}

static gboolean check_float(const ivl_tensor *t, GError **error)
{
  if (cpu_dtype_is_float(t->dtype))
    return TRUE;
  g_set_error(error, IVL_ERROR, IVL_ERROR_INVALID_ARGUMENT,
              "only f32, f16 and bf16 tensors convert to and from f32");
  return FALSE;
}

static gboolean cpu_upload_f32(ivl_backend *be, ivl_tensor *t, int64_t row0, int64_t n_rows,
                               const float *host, GError **error)
{
  (void)be;
  if (!check_row_range(t, row0, n_rows, error) || !check_float(t, error))
    return FALSE;
  if (t->layout) {
    g_set_error(error, IVL_ERROR, IVL_ERROR_INVALID_ARGUMENT, "a weight is read-only");
    return FALSE;
  }
  char *dst = (char *)t->data + row0 * t->cols * (int64_t)ivl_dtype_size(t->dtype);
  cpu_row_from_f32(dst, t->dtype, host, n_rows * t->cols);
  return TRUE;
}

static gboolean cpu_download_f32(ivl_backend *be, const ivl_tensor *t, int64_t row0, int64_t n_rows,
                                 float *host, GError **error)
{
  (void)be;
  if (!check_row_range(t, row0, n_rows, error) || !check_float(t, error))
    return FALSE;
  cpu_tensor_rows_to_f32(t, row0, n_rows, host);
  return TRUE;
}

static gboolean cpu_synchronize(ivl_backend *be, GError **error)
{
  (void)be;
  (void)error;
  return TRUE; /* ops run synchronously */
}

static void cpu_free(ivl_backend *be)
{
  if (be == NULL)
    return;
  ivl_threadpool_free(cpu_of(be)->pool);
  g_clear_error(&be->error);
  g_free(be);
}

static const ivl_backend_ops cpu_ops = {
    .name = "cpu",
    .free = cpu_free,
    .tensor_new = cpu_tensor_new,
    .weight_from_host = cpu_weight_from_host,
    .tensor_free = cpu_tensor_free,
    .weight_nbytes = cpu_weight_nbytes,
    .upload_f32 = cpu_upload_f32,
    .download_f32 = cpu_download_f32,
    .synchronize = cpu_synchronize,
    .matmul = cpu_op_matmul,
    .matmul_gelu = cpu_op_matmul_gelu,
    .matmul_qkv = cpu_op_matmul_qkv,
    .matmul_silu_mul = cpu_op_matmul_silu_mul,
    .matmul_add_scaled = cpu_op_matmul_add_scaled,
    .layer_norm = cpu_op_layer_norm,
    .rms_norm = cpu_op_rms_norm,
    .add_rms_norm = cpu_op_add_rms_norm,
    .rope = cpu_op_rope,
    .attention = cpu_op_attention,
    .gelu = cpu_op_gelu,
    .silu_mul = cpu_op_silu_mul,
    .add = cpu_op_add,
    .add_scaled = cpu_op_add_scaled,
    .get_rows = cpu_op_get_rows,
    .copy_rows = cpu_op_copy_rows,
    .patchify = cpu_op_patchify,
    .pixel_shuffle = cpu_op_pixel_shuffle,
    .argmax = cpu_op_argmax,
};

ivl_backend *ivl_backend_cpu_new(int n_threads, GError **error)
{
  ivl_threadpool *pool = ivl_threadpool_new(n_threads, error);
  if (pool == NULL)
    return NULL;
  cpu_backend *cb = g_new0(cpu_backend, 1);
  cb->base.ops = &cpu_ops;
  cb->base.act_dtype = IVL_DTYPE_F32;
  cb->pool = pool;
  cb->simd = cpu_simd_available();
  cb->avx512 = cpu_avx512_available();
  cb->int_dot = cpu_int_dot_enabled();
  cb->bf16_dot = cb->avx512 && cpu_bf16_dot_available();
  cb->compact = cb->avx512 && cpu_compact_bf16_enabled();
  return &cb->base;
}
