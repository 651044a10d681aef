/* attention.cu — picks the attention kernel: the split-key decode kernel for one query row
 * of one sequence when the GQA group fits it, the flash kernel otherwise. */
#include "attention.cuh"

static int use_decode(int n_seq, int64_t tq, int n_heads, int n_kv_heads)
{
  return n_seq == 1 && tq == 1 && n_heads / n_kv_heads <= 16;
}

extern "C" size_t ivl_cuda_attention_workspace_size(int n_seq, int64_t tq, int64_t tk, int n_heads,
                                                    int n_kv_heads, int head_dim)
{
  if (!use_decode(n_seq, tq, n_heads, n_kv_heads))
    return 0;
  return ivl_cuda_attention_decode_workspace(tk, n_heads, n_kv_heads, head_dim);
}

extern "C" cudaError_t ivl_cuda_attention(void *out, const void *q, const void *k, const void *v,
                                          int n_seq, int64_t tq, int64_t tk, int n_heads,
                                          int n_kv_heads, int head_dim, int causal, int64_t q_pos0,
                                          const int32_t *pos_base, float scale, void *workspace,
                                          cudaStream_t stream)
{
  if (n_seq <= 0 || tq <= 0)
    return cudaSuccess;
  if (n_kv_heads <= 0 || n_heads % n_kv_heads != 0 || (head_dim != 64 && head_dim != 128))
    return cudaErrorInvalidValue;
  /* The decode kernel loads 16 bytes at a time. */
  const bool aligned = ((uintptr_t)q | (uintptr_t)k | (uintptr_t)v) % 16 == 0;
  if (use_decode(n_seq, tq, n_heads, n_kv_heads) && aligned)
    return ivl_cuda_attention_decode((bf16 *)out, (const bf16 *)q, (const bf16 *)k, (const bf16 *)v,
                                     tk, n_heads, n_kv_heads, head_dim, causal, q_pos0, pos_base,
                                     scale, (float *)workspace, stream);
  return ivl_cuda_attention_flash((bf16 *)out, (const bf16 *)q, (const bf16 *)k, (const bf16 *)v,
                                  n_seq, tq, tk, n_heads, n_kv_heads, head_dim, causal, q_pos0,
                                  pos_base, scale, stream);
}
