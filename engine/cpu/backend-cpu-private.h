/* backend-cpu-private.h — shared by the files of the CPU backend (backend-cpu*.c). */
#ifndef IVL_BACKEND_CPU_PRIVATE_H
#define IVL_BACKEND_CPU_PRIVATE_H

#include "backend.h"
#include "cpu-compact-bf16.h"
#include "cpu-kernels.h"
#include "threadpool.h"

typedef struct {
  ivl_backend base;
  ivl_threadpool *pool;
  gboolean simd;     /* AVX2/FMA/F16C kernels */
  gboolean avx512;   /* and the AVX-512 ones where there are (cpu_avx512_available) */
  gboolean int_dot;  /* quantized weights by integer dot products (cpu_int_dot_enabled) */
  gboolean bf16_dot; /* bf16 weights by bf16 dot products (cpu_bf16_dot_available) */
  /* bf16 weight matrices in the compact layout (cpu-compact-bf16.h), which only the AVX-512
   * kernels read */
  gboolean compact;
} cpu_backend;

static inline cpu_backend *cpu_of(ivl_backend *be)
{
  return (cpu_backend *)be;
}

/* Records an IVL_ERROR_INVALID_ARGUMENT "<op>: <message>" on be unless ok; returns ok. */
gboolean cpu_check(ivl_backend *be, gboolean ok, const char *op, const char *fmt, ...)
    G_GNUC_PRINTF(4, 5);
/* Checks that t is an f32 activation of rows x cols (rows or cols < 0: any). */
gboolean cpu_check_act(ivl_backend *be, const char *op, const char *what, const ivl_tensor *t,
                       int64_t rows, int64_t cols);
/* Checks that t is a floating-point vector of n elements (a norm weight, a bias, a scale). */
gboolean cpu_check_vector(ivl_backend *be, const char *op, const char *what, const ivl_tensor *t,
                          int64_t n);

/* Rows [row0, row0 + n_rows) of a float tensor (an activation, or a weight in any layout) as
 * f32. */
void cpu_tensor_rows_to_f32(const ivl_tensor *t, int64_t row0, int64_t n_rows, float *dst);

/* Runs fn over rows [0, n_rows) in contiguous ranges, over as many threads as the work is
 * worth: work_per_row is a rough element count, ranges hold at least ~32k of it. */
typedef void (*cpu_rows_fn)(void *ctx, int64_t row0, int64_t row1);
void cpu_parallel_rows(cpu_backend *cb, int64_t n_rows, int64_t work_per_row, cpu_rows_fn fn,
                       void *ctx);

/* the ops of backend-cpu-ops.c */
void cpu_op_layer_norm(ivl_backend *be, ivl_tensor *y, const ivl_tensor *x, const ivl_tensor *w,
                       const ivl_tensor *b, float eps);
void cpu_op_rms_norm(ivl_backend *be, ivl_tensor *y, const ivl_tensor *x, const ivl_tensor *w,
                     float eps);
void cpu_op_rope(ivl_backend *be, ivl_tensor *x, int n_heads, int head_dim, int64_t pos0,
                 double theta);
void cpu_op_gelu(ivl_backend *be, ivl_tensor *x);
void cpu_op_silu_mul(ivl_backend *be, ivl_tensor *gate, const ivl_tensor *up);
void cpu_op_add_rms_norm(ivl_backend *be, ivl_tensor *y, ivl_tensor *x, const ivl_tensor *r,
                         const ivl_tensor *w, float eps);
void cpu_op_add(ivl_backend *be, ivl_tensor *y, const ivl_tensor *a, const ivl_tensor *b);
void cpu_op_add_scaled(ivl_backend *be, ivl_tensor *y, const ivl_tensor *x,
                       const ivl_tensor *scale);
void cpu_op_get_rows(ivl_backend *be, ivl_tensor *y, const ivl_tensor *table, const int32_t *ids,
                     int64_t n);
void cpu_op_copy_rows(ivl_backend *be, ivl_tensor *dst, int64_t dst_row0, const ivl_tensor *src,
                      int64_t src_row0, int64_t n_rows);
void cpu_op_patchify(ivl_backend *be, ivl_tensor *y, const ivl_tensor *pixels, int n_tiles,
                     int image_size, int patch);
void cpu_op_pixel_shuffle(ivl_backend *be, ivl_tensor *y, const ivl_tensor *x, int n_tiles,
                          int grid);
int32_t cpu_op_argmax(ivl_backend *be, const ivl_tensor *logits, int64_t row);

/* the products of backend-cpu-matmul.c */
void cpu_op_matmul(ivl_backend *be, ivl_tensor *y, const ivl_tensor *x, const ivl_tensor *w,
                   const ivl_tensor *bias);
void cpu_op_matmul_gelu(ivl_backend *be, ivl_tensor *y, const ivl_tensor *x, const ivl_tensor *w,
                        const ivl_tensor *bias);
void cpu_op_matmul_qkv(ivl_backend *be, ivl_tensor *q, ivl_tensor *k, ivl_tensor *v,
                       const ivl_tensor *x, const ivl_tensor *wq, const ivl_tensor *wk,
                       const ivl_tensor *wv, const ivl_tensor *bq, const ivl_tensor *bk,
                       const ivl_tensor *bv);
void cpu_op_matmul_silu_mul(ivl_backend *be, ivl_tensor *gate, ivl_tensor *up, const ivl_tensor *x,
                            const ivl_tensor *w_gate, const ivl_tensor *w_up);
void cpu_op_matmul_add_scaled(ivl_backend *be, ivl_tensor *y, ivl_tensor *out, const ivl_tensor *x,
                              const ivl_tensor *w, const ivl_tensor *bias, const ivl_tensor *scale,
                              ivl_tensor *yn, const ivl_tensor *norm_w, const ivl_tensor *norm_b,
                              float eps);
void cpu_op_attention(ivl_backend *be, ivl_tensor *out, const ivl_tensor *q, const ivl_tensor *k,
                      const ivl_tensor *v, int n_seq, int n_heads, int n_kv_heads, int head_dim,
                      gboolean causal, int64_t q_pos0, float scale);

#endif /* IVL_BACKEND_CPU_PRIVATE_H */
