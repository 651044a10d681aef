/* cpu-kernels.h — the CPU backend's compute kernels (internal to backend-cpu*.c).
 *
 * Kernels work on plain host pointers; backend-cpu.c checks shapes and splits the work over
 * threads. Every kernel has a portable C path and, where it pays, an AVX2/FMA path chosen at
 * run time (cpu_simd_init); `simd` selects between them so tests can exercise both. The packed
 * GEMM also has an AVX-512 path (cpu_gemm_args.avx512), tested with and without it.
 */
#ifndef IVL_CPU_KERNELS_H
#define IVL_CPU_KERNELS_H

#include "backend.h"
#include "cpu-compact-bf16.h"

/* TRUE when the CPU has AVX2, FMA and F16C and IVL_CPU_NO_SIMD is unset or "0". */
gboolean cpu_simd_available(void);
/* TRUE when SIMD is available and the CPU also has AVX-512 F/BW/VL, unless IVL_CPU_NO_AVX512
 * is set (not "0"): kernels with an AVX-512 variant keep their AVX2 one for other machines,
 * and the tests run both here. */
gboolean cpu_avx512_available(void);
/* TRUE when AVX-512 is available, the CPU also has AVX512_BF16 and IVL_CPU_BF16_DOT is not "0":
 * products with bf16 weights then round A to bf16 and multiply in bf16 dot products
 * (cpu-gemm-bf16dot.c); "0" keeps the f32 products (the goldens compare against them). */
gboolean cpu_bf16_dot_available(void);

/* -- dtype conversion (cpu-convert.c) -- */
static inline float cpu_bf16_to_f32(uint16_t h)
{
  union {
    uint32_t u;
    float f;
  } v = {(uint32_t)h << 16}; /* bf16 is the top half of an f32 */
  return v.f;
}
uint16_t cpu_f32_to_bf16(float f); /* round to nearest even; NaN stays NaN */
float cpu_f16_to_f32(uint16_t h);
uint16_t cpu_f32_to_f16(float f); /* round to nearest even; overflow to inf */
/* dst[i] = src[i] for i < n, src in dtype (f32, f16, bf16). */
void cpu_row_to_f32(float *dst, const void *src, ivl_dtype dtype, int64_t n);
void cpu_row_from_f32(void *dst, ivl_dtype dtype, const float *src, int64_t n);

/* -- matrix products (cpu-gemm.c) -- */

typedef struct cpu_qact cpu_qact;

/* C[m, n] = alpha * A[m, k] · B (+ bias[n]), all strides in elements. B is read as
 * B[j][kk] = b[j * ldb + kk] when b_rows_are_n (weights [out, in], keys) and as
 * b[kk * ldb + j] otherwise (values). A and C are f32. */
typedef struct {
  int64_t m, n, k;
  const float *a;
  int64_t lda;
  /* NULL, or A copied out by k block for the packed path (cpu_gemm_pack_a), read instead of a */
  const float *a_blocks;
  const void *b;
  /* NULL, or B a bf16 weight in the compact layout (cpu-compact-bf16.h) instead of b; only
   * with avx512 */
  const cpu_compact_bf16 *bc;
  /* Q8/Q4: b is the whole [b_rows, k] matrix, ldb = k, in quantize.h's layout, or in
   * cpu-qpanel.h's when aq is set */
  ivl_dtype b_dtype;
  int64_t b_rows;
  int64_t ldb;
  gboolean b_rows_are_n;
  const void *bias; /* NULL or [n] in bias_dtype */
  ivl_dtype bias_dtype;
  float alpha;
  float *c;
  int64_t ldc;
  /* NULL, or A quantized (cpu-int-dot.c) for a quantized B: the product is then taken in
   * integers per block of CPU_QACT_BLOCK values */
  const cpu_qact *aq;
  /* the AVX-512 kernels (cpu_avx512_available(), taken once per op); only with simd */
  gboolean avx512;
  /* with avx512: a bf16 B stored [n, k] is multiplied by bf16 dot products, A rounded to bf16
   * (cpu_bf16_dot_available()); with bf16_dot_f32 an f32 B (either layout) too, rounded to
   * bf16 as well (attention's keys and values) */
  gboolean bf16_dot, bf16_dot_f32;
} cpu_gemm_args;

/* How far ahead of its reads (bytes) a GEMV asks for the weights: the hardware prefetcher
 * alone left one core's stream at ~80% of the read bandwidth; 2-4 KiB ahead reaches ~90%
 * (bf16 decode of a 0.9B model, 2 threads: 35 -> 40 tok/s at 44 GB/s measured). */
#define CPU_GEMV_PREFETCH 2048

/* Columns are packed in panels of 16 (AVX2) or 32 (AVX-512) columns: a tile should start at a
 * multiple of this. */
#define CPU_GEMM_PANEL 32
/* Rows of A per tile for the packed path. A panel of B is packed once per row block, so a
 * vision tile (1025 rows) is one block (but where matmul_run copies A out and would cut B into
 * narrow chunks); its 2048 x 256 f32 slice of A (2 MiB) is re-read from L2/L3 by every panel,
 * at a few GB/s, far below what the caches give. */
#define CPU_GEMM_ROW_BLOCK 2048

/* Computes C[i0:i1, j0:j1]. The path (packed or streaming) depends on g->m only, so tiles of
 * one product agree bit for bit with a single call over the whole matrix. */
void cpu_gemm_tile(const cpu_gemm_args *g, int64_t i0, int64_t i1, int64_t j0, int64_t j1,
                   gboolean simd);

/* Floats of the copy of A that cpu_gemm_tile reads instead of g->a, or 0 where it reads A in
 * place. The AVX-512 kernel copies each tile of A's rows whose stride would crowd one set of
 * the L1 cache (vision's k = 1024 and 4096) once per column chunk, and the bf16 dot products
 * round every tile of A to bf16 into a copy; a product split into many column chunks
 * (matmul_run) copies A once instead, with cpu_gemm_pack_a. */
size_t cpu_gemm_a_blocks_size(const cpu_gemm_args *g, gboolean simd);
/* Copies rows [r0, r1) of g->a into dst (cpu_gemm_a_blocks_size floats), for g->a_blocks: f32,
 * or rounded to bf16 for the bf16 dot products (g->bf16_dot with bf16 B). */
void cpu_gemm_pack_a(const cpu_gemm_args *g, float *dst, int64_t r0, int64_t r1, gboolean simd);

/* The block depth (KC) of the AVX-512 and bf16 dot-product GEMMs for a product of depth k:
 * blocks of equal size up to CPU_GEMM_KC_MAX, a multiple of 16 (the packing's step). Each
 * output sums k in blocks of this many from zero, C = alpha * sum + bias after the first block
 * and C += alpha * sum after the others (one fused multiply-add each); a function of k alone,
 * so every tile sums in the same order. */
#define CPU_GEMM_KC_MAX 512
int cpu_gemm_block_depth(int64_t k);

/* -- quantized B, stored [n, k] (cpu-gemm-quant.c) -- */
static inline gboolean cpu_dtype_is_quant(ivl_dtype dtype)
{
  return dtype == IVL_DTYPE_Q8 || dtype == IVL_DTYPE_Q4;
}
/* f32, f16 or bf16: what the element-wise ops and cpu_row_to_f32 read. */
static inline gboolean cpu_dtype_is_float(ivl_dtype dtype)
{
  return dtype == IVL_DTYPE_F32 || dtype == IVL_DTYPE_F16 || dtype == IVL_DTYPE_BF16;
}
/* dst[i] = B[j][k0 + i] for i < n as f32. */
void cpu_quant_row_to_f32(float *dst, const cpu_gemm_args *g, int64_t j, int64_t k0, int64_t n,
                          gboolean simd);
/* sums[g] = the sum of a's group g of IVL_Q4_GROUP values, g < k / IVL_Q4_GROUP. */
void cpu_q4_group_sums(float *sums, const float *a, int64_t k);
/* a · B[j] over all k; a_split is a split per 16 into even and odd values, for Q4 followed by
 * cpu_q4_group_sums (needed by the Q4 vector path, NULL otherwise). */
float cpu_quant_dot(const float *a, const float *a_split, const cpu_gemm_args *g, int64_t j,
                    gboolean simd);

/* -- integer dot products for quantized B (cpu-int-dot.c) --
 *
 * A is quantized per block of CPU_QACT_BLOCK values of a row, as llama.cpp's Q8 activations:
 * d = max|block| / 127, q = x / d rounded to nearest even (an all-zero block has d = 0, q = 0).
 * A product is then Σ over blocks of the int32 dot of q with the weights' integer values times
 * d (Q8; the row scale once at the end) or d · the weights' block scale (Q4), one float
 * multiply-add per block. B is in the panel layout of cpu-qpanel.h, which the CPU backend
 * makes at load when the integer products are on. */
#define CPU_QACT_BLOCK 32

struct cpu_qact {
  int64_t m, k, n_blocks; /* n_blocks = ceil(k / CPU_QACT_BLOCK) */
  int8_t *q;              /* [m][n_blocks * CPU_QACT_BLOCK], zero past k */
  float *d;               /* [m][n_blocks] */
  /* Σq of each block, [m][n_blocks]: the kernels that multiply unsigned weights (4-bit q + 8,
   * VNNI's int8 w + 128) start each block's int32 sum from minus that offset */
  int32_t *sum;
};

/* TRUE unless IVL_CPU_INT_DOT is "0": the float path (quantized weights converted to f32)
 * stays selectable, and the goldens compare against it. */
gboolean cpu_int_dot_enabled(void);
/* Whether the CPU has AVX-512 VNNI and VL: the integer dot products take it where the AVX-512
 * kernels are on (cpu_avx512_available()), else AVX2 or portable C. */
gboolean cpu_int_dot_vnni_available(void);
/* An A of m rows and k columns, its values unset. */
cpu_qact *cpu_qact_new(int64_t m, int64_t k);
void cpu_qact_free(cpu_qact *qa);
/* Quantizes rows [r0, r1) of a (f32, row stride lda) into qa. */
void cpu_qact_rows(cpu_qact *qa, const float *a, int64_t lda, int64_t r0, int64_t r1,
                   gboolean simd);
/* cpu_gemm_tile for g->aq != NULL and B Q8 or Q4 in cpu-qpanel.h's layout: every path
 * (portable, AVX2, AVX-512 VNNI; streamed or tiled) gives the same bits. */
void cpu_int_dot_tile(const cpu_gemm_args *g, int64_t i0, int64_t i1, int64_t j0, int64_t j1,
                      gboolean simd);

/* -- attention (cpu-attention.c) -- */
typedef struct {
  float *out;
  const float *q, *k, *v;
  int64_t tq, tk; /* rows per sequence */
  int n_heads, n_kv_heads, head_dim;
  gboolean causal;
  int64_t q_pos0;
  float scale;
  gboolean avx512; /* as in cpu_gemm_args */
  /* the vision tower's and prefill's products (many query rows) by bf16 dot products, Q, K,
   * exp(S - max) and V rounded to bf16 (cpu_bf16_dot_available()) */
  gboolean bf16_dot;
} cpu_attention_args;

/* Query rows are processed in blocks of this many per task. */
#define CPU_ATTENTION_QBLOCK 256

/* One sequence `seq`, one head, query rows [i0, i1) of that sequence. */
gboolean cpu_attention_block(const cpu_attention_args *a, int64_t seq, int head, int64_t i0,
                             int64_t i1, gboolean simd);

/* -- attention for few query rows (cpu-attention-decode.c) -- */
/* Up to this many query rows per sequence take the decode path. */
#define CPU_ATTENTION_DECODE_ROWS 4

typedef struct {
  cpu_attention_args a;
  int64_t n_seq;
  int group;        /* query heads per kv head */
  int64_t rows;     /* query rows of one kv head's group: tq · group */
  int64_t n_keys;   /* keys seen by some row */
  int64_t n_chunks; /* of the keys, one task each per (sequence, kv head) */
  int64_t lds;      /* stride of a score row */
  int64_t part_size;
  float *part;   /* per task: row maxima, exp sums, unnormalised outputs [rows, head_dim] */
  float *scores; /* per thread: [rows, lds] */
  gboolean simd;
} cpu_attention_decode;

/* FALSE when out of memory. n_threads: thread indices the tasks will be given. */
gboolean cpu_attention_decode_init(cpu_attention_decode *d, const cpu_attention_args *a,
                                   int64_t n_seq, int n_threads, gboolean simd);
void cpu_attention_decode_clear(cpu_attention_decode *d);
int64_t cpu_attention_decode_n_tasks(const cpu_attention_decode *d);
/* Tasks are independent; thread names the score scratch. */
void cpu_attention_decode_task(const cpu_attention_decode *d, int64_t task, int thread);
/* After every task: writes a.out. */
void cpu_attention_decode_merge(const cpu_attention_decode *d);

/* -- row-wise ops (cpu-rowops.c); w, b already in f32 -- */
void cpu_layer_norm_row(float *y, const float *x, const float *w, const float *b, int64_t n,
                        float eps);
void cpu_rms_norm_row(float *y, const float *x, const float *w, int64_t n, float eps);
void cpu_gelu(float *x, int64_t n, gboolean simd);
/* y[i] += x[i] * scale[i] (layer scale) */
void cpu_add_scaled_row(float *y, const float *x, const float *scale, int64_t n);
void cpu_silu_mul(float *gate, const float *up, int64_t n, gboolean simd);
/* x[i] = exp(x[i] - max(x)) in place, n >= 1; returns the sum (the softmax denominator, which
 * attention applies to its few output columns instead of to every score). */
float cpu_exp_row(float *x, int64_t n, gboolean simd);
void cpu_rope_row(float *x, int n_heads, int head_dim, int64_t pos, const float *inv_freq);

#endif /* IVL_CPU_KERNELS_H */
