/* attention.cuh — the two attention kernels' launchers, chosen by attention.cu. */
#pragma once

#include "common.cuh"

cudaError_t ivl_cuda_attention_flash(bf16 *out, const bf16 *q, const bf16 *k, const bf16 *v,
                                     int n_seq, int64_t tq, int64_t tk, int n_heads, int n_kv_heads,
                                     int head_dim, int causal, int64_t q_pos0,
                                     const int32_t *pos_base, float scale, cudaStream_t stream);
/* Decode: one query row; NULL-free workspace of decode_workspace_size bytes. Fails with
 * cudaErrorInvalidValue when the group size or head dim is outside what it handles. */
size_t ivl_cuda_attention_decode_workspace(int64_t tk, int n_heads, int n_kv_heads, int head_dim);
cudaError_t ivl_cuda_attention_decode(bf16 *out, const bf16 *q, const bf16 *k, const bf16 *v,
                                      int64_t tk, int n_heads, int n_kv_heads, int head_dim,
                                      int causal, int64_t q_pos0, const int32_t *pos_base,
                                      float scale, float *workspace, cudaStream_t stream);
