/* Attention for the CPU backend: for one (sequence, head, block of query rows), scores
 * S = scale · Q Kᵀ and output O = softmax(S) V = (exp(S - max) V) / sum are two products
 * through cpu-gemm.c, so the vision tiles (1025 x 1025 per head) run on the packed GEMM and a
 * decode step (one query row) on the streaming path. The score block is a per-task buffer of
 * rows x keys f32. */
#include "cpu-kernels.h"

#include <string.h>

gboolean cpu_attention_block(const cpu_attention_args *a, int64_t seq, int head, int64_t i0,
                             int64_t i1, gboolean simd)
{
  int hd = a->head_dim;
  int kv_head = head / (a->n_heads / a->n_kv_heads);
  int64_t ldq = (int64_t)a->n_heads * hd, ldk = (int64_t)a->n_kv_heads * hd;
  int64_t m = i1 - i0;
  /* causal: row i0 + r sees keys 0 .. q_pos0 + i0 + r, so the block needs up to q_pos0 + i1 */
  int64_t n_keys = a->causal ? MIN(a->tk, a->q_pos0 + i1) : a->tk;
  /* score rows a line past a multiple of 16 floats apart: 1025 keys apart, twelve rows would
   * share one set of the L1 cache, and the values product would copy them tile by tile */
  int64_t lds = (n_keys + 15) / 16 * 16 + 16;
  float *s = g_try_malloc((size_t)(m * lds + m) * sizeof(float));
  float *sums = s + m * lds;
  if (s == NULL)
    return FALSE;

  const float *k = a->k + seq * a->tk * ldk + (int64_t)kv_head * hd;
  const float *v = a->v + seq * a->tk * ldk + (int64_t)kv_head * hd;
  cpu_gemm_args scores = {
      .m = m,
      .n = n_keys,
      .k = hd,
      .a = a->q + (seq * a->tq + i0) * ldq + (int64_t)head * hd,
      .lda = ldq,
      .b = k,
      .b_dtype = IVL_DTYPE_F32,
      .ldb = ldk,
      .b_rows_are_n = TRUE,
      .alpha = a->scale,
      .c = s,
      .ldc = lds,
      .avx512 = a->avx512,
      .bf16_dot = a->bf16_dot,
      .bf16_dot_f32 = a->bf16_dot,
  };
  cpu_gemm_tile(&scores, 0, m, 0, n_keys, simd);

  for (int64_t r = 0; r < m; r++) {
    float *row = s + r * lds;
    int64_t visible = a->causal ? a->q_pos0 + i0 + r + 1 : n_keys;
    sums[r] = cpu_exp_row(row, visible, simd);
    memset(row + visible, 0, (size_t)(n_keys - visible) * sizeof(float));
  }

  cpu_gemm_args values = {
      .m = m,
      .n = hd,
      .k = n_keys,
      .a = s,
      .lda = lds,
      .b = v,
      .b_dtype = IVL_DTYPE_F32,
      .ldb = ldk,
      .b_rows_are_n = FALSE,
      .alpha = 1.0f,
      .c = a->out + (seq * a->tq + i0) * ldq + (int64_t)head * hd,
      .ldc = ldq,
      .avx512 = a->avx512,
      .bf16_dot = a->bf16_dot,
      .bf16_dot_f32 = a->bf16_dot,
  };
  cpu_gemm_tile(&values, 0, m, 0, hd, simd);
  for (int64_t r = 0; r < m; r++) { /* softmax's division, on head_dim values, not n_keys */
    float *o = values.c + r * ldq, inv = 1.0f / sums[r];
    for (int d = 0; d < hd; d++)
      o[d] *= inv;
  }
  g_free(s);
  return TRUE;
}
