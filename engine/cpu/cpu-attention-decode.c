/* Attention for few query rows (decode: one row per sequence). The query heads that share a
 * kv head are one block of rows, so each K and V row is read once per kv head instead of once
 * per query head; the keys are split into fixed chunks (flash-decoding), one task each, so a
 * model with 2 kv heads still keeps every thread busy. A task leaves its chunk's row maxima,
 * exp sums and unnormalised outputs; the merge combines the chunks in key order. The chunk
 * size does not depend on the thread count, so neither do the bytes of the result. */
#include "cpu-kernels.h"

#include <math.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define HAVE_X86_SIMD 1
#else
#define HAVE_X86_SIMD 0
#endif

/* Keys per task: 128 keys of K and V at head_dim 64 are 64 KiB, read from L2 by every row
 * block; 512 cached keys give 4 tasks per kv head. */
#define KEY_CHUNK 128

/* the first query row of a group; row r = i · group + h is query row i of the sequence, head
 * kv_head · group + h, at i · n_heads · head_dim + h · head_dim from it */
static const float *group_queries(const cpu_attention_decode *d, int64_t seq, int kv_head)
{
  const cpu_attention_args *a = &d->a;
  int64_t ldq = (int64_t)a->n_heads * a->head_dim;
  return a->q + seq * a->tq * ldq + (int64_t)kv_head * d->group * a->head_dim;
}

static const float *query_row(const cpu_attention_decode *d, const float *q0, int64_t r)
{
  return q0 + r / d->group * d->a.n_heads * d->a.head_dim + r % d->group * d->a.head_dim;
}

/* keys of the chunk that query row r sees */
static int64_t visible_keys(const cpu_attention_decode *d, int64_t r, int64_t k0, int64_t nk)
{
  if (!d->a.causal)
    return nk;
  int64_t v = d->a.q_pos0 + r / d->group + 1 - k0;
  return v < 0 ? 0 : MIN(v, nk);
}

static void scores_portable(const cpu_attention_decode *d, int64_t seq, int kv_head, const float *k,
                            int64_t nk, float *s)
{
  int hd = d->a.head_dim;
  int64_t ldk = (int64_t)d->a.n_kv_heads * hd;
  const float *q0 = group_queries(d, seq, kv_head);
  for (int64_t r = 0; r < d->rows; r++) {
    const float *q = query_row(d, q0, r);
    for (int64_t j = 0; j < nk; j++) {
      const float *kj = k + j * ldk;
      float p[8] = {0};
      int i = 0;
      for (; i + 8 <= hd; i += 8)
        for (int l = 0; l < 8; l++)
          p[l] += q[i + l] * kj[i + l];
      float sum = ((p[0] + p[1]) + (p[2] + p[3])) + ((p[4] + p[5]) + (p[6] + p[7]));
      for (; i < hd; i++)
        sum += q[i] * kj[i];
      s[r * d->lds + j] = sum * d->a.scale;
    }
  }
}

static void values_portable(const cpu_attention_decode *d, const float *v, int64_t nk,
                            const float *s, float *o)
{
  int hd = d->a.head_dim;
  int64_t ldk = (int64_t)d->a.n_kv_heads * hd;
  for (int64_t r = 0; r < d->rows; r++) {
    float *orow = o + r * hd;
    memset(orow, 0, (size_t)hd * sizeof(float));
    for (int64_t j = 0; j < nk; j++) {
      float p = s[r * d->lds + j];
      for (int i = 0; i < hd; i++)
        orow[i] += p * v[j * ldk + i];
    }
  }
}

#if HAVE_X86_SIMD
/* [Σ a0, Σ a1, ..., Σ a7]: the eight horizontal sums in one register */
__attribute__((target("avx2,fma"), always_inline)) static inline __m256
sum8_avx2(__m256 a0, __m256 a1, __m256 a2, __m256 a3, __m256 a4, __m256 a5, __m256 a6, __m256 a7)
{
  __m256 u0 = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
  __m256 u1 = _mm256_hadd_ps(_mm256_hadd_ps(a4, a5), _mm256_hadd_ps(a6, a7));
  return _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20), _mm256_permute2f128_ps(u0, u1, 0x31));
}

/* Scores of 8 keys at a time: one accumulator per key over head_dim (8 independent FMA chains),
 * reduced in registers; the 8 K rows stay in L1 across the group's query rows. Past the last
 * key the last one is repeated, its scores landing in the padding of the score row. The K rows
 * KEYS_AHEAD keys on are asked for into L1 and the V rows of these keys into L2: a block's
 * work is too long for the core to reach the next block's loads by itself (one thread over
 * 24 layers of 2048 cached keys: 8.2-8.9 ms without, 6.7-6.8 with). */
#define KEYS_AHEAD 16
__attribute__((target("avx2,fma"))) static void scores_avx2(const cpu_attention_decode *d,
                                                            int64_t seq, int kv_head,
                                                            const float *k, int64_t nk, float *s)
{
  int hd = d->a.head_dim;
  int64_t ldk = (int64_t)d->a.n_kv_heads * hd;
  __m256 scale = _mm256_set1_ps(d->a.scale);
  const float *q0 = group_queries(d, seq, kv_head);
  const float *qr[d->rows]; /* no division per row and key block */
  for (int64_t r = 0; r < d->rows; r++)
    qr[r] = query_row(d, q0, r);
  const float *v = d->a.v + (k - d->a.k); /* the same rows of V */
  for (int64_t j0 = 0; j0 < nk; j0 += 8) {
    const float *kp[8];
    for (int t = 0; t < 8; t++)
      kp[t] = k + MIN(j0 + t, nk - 1) * ldk;
    for (int64_t j = j0; j < MIN(nk, j0 + 8); j++)
      for (int i = 0; i < hd; i += 16) {
        if (j + KEYS_AHEAD < nk)
          _mm_prefetch((const char *)(k + (j + KEYS_AHEAD) * ldk + i), _MM_HINT_T0);
        _mm_prefetch((const char *)(v + j * ldk + i), _MM_HINT_T1);
      }
    for (int64_t r = 0; r < d->rows; r++) {
      const float *q = qr[r];
      __m256 c0 = _mm256_setzero_ps(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0,
             c7 = c0;
      for (int i = 0; i < hd; i += 8) {
        __m256 qv = _mm256_loadu_ps(q + i);
        c0 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(kp[0] + i), c0);
        c1 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(kp[1] + i), c1);
        c2 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(kp[2] + i), c2);
        c3 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(kp[3] + i), c3);
        c4 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(kp[4] + i), c4);
        c5 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(kp[5] + i), c5);
        c6 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(kp[6] + i), c6);
        c7 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(kp[7] + i), c7);
      }
      _mm256_storeu_ps(s + r * d->lds + j0,
                       _mm256_mul_ps(sum8_avx2(c0, c1, c2, c3, c4, c5, c6, c7), scale));
    }
  }
}

/* O[r0 .. r0 + nr) = P V over the chunk's keys, nv vectors of head_dim at a time: nr · nv <= 8
 * accumulators, each V load shared by nr rows. */
__attribute__((target("avx2,fma"), always_inline)) static inline void
values_rows_avx2(const cpu_attention_decode *d, const float *v, int64_t nk, const float *s,
                 float *o, int64_t r0, const int nr, const int nv)
{
  int hd = d->a.head_dim;
  int64_t ldk = (int64_t)d->a.n_kv_heads * hd;
  for (int i0 = 0; i0 < hd; i0 += 8 * nv) {
    __m256 acc[4][8];
#pragma GCC unroll 4
    for (int r = 0; r < nr; r++)
#pragma GCC unroll 8
      for (int u = 0; u < nv; u++)
        acc[r][u] = _mm256_setzero_ps();
    for (int64_t j = 0; j < nk; j++) {
      __m256 vv[8];
#pragma GCC unroll 8
      for (int u = 0; u < nv; u++)
        vv[u] = _mm256_loadu_ps(v + j * ldk + i0 + 8 * u);
#pragma GCC unroll 4
      for (int r = 0; r < nr; r++) {
        __m256 p = _mm256_broadcast_ss(s + (r0 + r) * d->lds + j);
#pragma GCC unroll 8
        for (int u = 0; u < nv; u++)
          acc[r][u] = _mm256_fmadd_ps(p, vv[u], acc[r][u]);
      }
    }
#pragma GCC unroll 4
    for (int r = 0; r < nr; r++)
#pragma GCC unroll 8
      for (int u = 0; u < nv; u++)
        _mm256_storeu_ps(o + (r0 + r) * hd + i0 + 8 * u, acc[r][u]);
  }
}

/* O[r0 .. r0 + nr) = P V by AVX-512 for head_dim = 16 · nv: all of the rows' outputs in
 * registers (nr · nv <= 24 of the 32), so each V row is loaded once per block of rows, not once
 * per 16 or 32 of its values. Each output value is the same FMA chain over the keys, in order,
 * as values_rows_avx2's: the bits are the same. */
__attribute__((target("avx512f"), always_inline)) static inline void
values_rows_avx512(const cpu_attention_decode *d, const float *v, int64_t nk, const float *s,
                   float *o, int64_t r0, const int nr, const int nv)
{
  const int64_t ldk = (int64_t)d->a.n_kv_heads * d->a.head_dim;
  __m512 acc[4][8];
#pragma GCC unroll 4
  for (int r = 0; r < nr; r++)
#pragma GCC unroll 8
    for (int u = 0; u < nv; u++)
      acc[r][u] = _mm512_setzero_ps();
  for (int64_t j = 0; j < nk; j++) {
    __m512 vv[8];
#pragma GCC unroll 8
    for (int u = 0; u < nv; u++)
      vv[u] = _mm512_loadu_ps(v + j * ldk + 16 * u);
#pragma GCC unroll 4
    for (int r = 0; r < nr; r++) {
      __m512 p = _mm512_set1_ps(s[(r0 + r) * d->lds + j]);
#pragma GCC unroll 8
      for (int u = 0; u < nv; u++)
        acc[r][u] = _mm512_fmadd_ps(p, vv[u], acc[r][u]);
    }
  }
#pragma GCC unroll 4
  for (int r = 0; r < nr; r++)
#pragma GCC unroll 8
    for (int u = 0; u < nv; u++)
      _mm512_storeu_ps(o + (r0 + r) * d->a.head_dim + 16 * u, acc[r][u]);
}

/* head_dim 64 or 128: rows in blocks of 4 (64) or 3 (128), as even as they go (7 rows: 4 + 3) */
__attribute__((target("avx512f"))) static void
values_avx512(const cpu_attention_decode *d, const float *v, int64_t nk, const float *s, float *o)
{
  const int nv = d->a.head_dim / 16, block = nv == 4 ? 4 : 3;
  const int64_t n_blocks = (d->rows + block - 1) / block;
  for (int64_t b = 0; b < n_blocks; b++) {
    const int64_t r0 = d->rows * b / n_blocks, nr = d->rows * (b + 1) / n_blocks - r0;
#define VALUES_CASE(NR, NV)                                                                          if (nr == NR && nv == NV)                                                                          values_rows_avx512(d, v, nk, s, o, r0, NR, NV)
    VALUES_CASE(4, 4);
    else VALUES_CASE(3, 4);
    else VALUES_CASE(2, 4);
    else VALUES_CASE(1, 4);
    else VALUES_CASE(3, 8);
    else VALUES_CASE(2, 8);
    else VALUES_CASE(1, 8);
#undef VALUES_CASE
  }
}

/* head_dim a multiple of 16 (checked by the caller) */
__attribute__((target("avx2,fma"))) static void
values_avx2(const cpu_attention_decode *d, const float *v, int64_t nk, const float *s, float *o)
{
  int hd = d->a.head_dim;
  int64_t r0 = 0;
  for (; r0 + 4 <= d->rows; r0 += 4)
    values_rows_avx2(d, v, nk, s, o, r0, 4, 2);
  switch (d->rows - r0) {
  case 3:
    values_rows_avx2(d, v, nk, s, o, r0, 3, 2);
    break;
  case 2:
    if (hd % 32 == 0)
      values_rows_avx2(d, v, nk, s, o, r0, 2, 4);
    else
      values_rows_avx2(d, v, nk, s, o, r0, 2, 2);
    break;
  case 1:
    if (hd % 64 == 0)
      values_rows_avx2(d, v, nk, s, o, r0, 1, 8);
    else
      values_rows_avx2(d, v, nk, s, o, r0, 1, 2);
    break;
  default:
    break;
  }
}
#endif

gboolean cpu_attention_decode_init(cpu_attention_decode *d, const cpu_attention_args *a,
                                   int64_t n_seq, int n_threads, gboolean simd)
{
  *d = (cpu_attention_decode){.a = *a, .n_seq = n_seq};
  d->group = a->n_heads / a->n_kv_heads;
  d->rows = a->tq * d->group;
  /* causal: the last query row sees keys 0 .. q_pos0 + tq - 1 */
  d->n_keys = a->causal ? MIN(a->tk, a->q_pos0 + a->tq) : a->tk;
  d->n_chunks = (d->n_keys + KEY_CHUNK - 1) / KEY_CHUNK;
  d->lds = KEY_CHUNK + 8; /* rows a line past 512 bytes apart: not all in one L1 set */
  d->part_size = d->rows * (2 + (int64_t)a->head_dim);
  d->simd = simd && HAVE_X86_SIMD && a->head_dim % 16 == 0;
  int64_t n_parts = n_seq * a->n_kv_heads * d->n_chunks;
  d->part = g_try_malloc(((size_t)(n_parts * d->part_size) + (size_t)n_threads * d->rows * d->lds) *
                         sizeof(float));
  if (d->part == NULL)
    return FALSE;
  d->scores = d->part + n_parts * d->part_size;
  return TRUE;
}

void cpu_attention_decode_clear(cpu_attention_decode *d)
{
  g_clear_pointer(&d->part, g_free);
}

int64_t cpu_attention_decode_n_tasks(const cpu_attention_decode *d)
{
  return d->n_seq * d->a.n_kv_heads * d->n_chunks;
}

void cpu_attention_decode_task(const cpu_attention_decode *d, int64_t task, int thread)
{
  const cpu_attention_args *a = &d->a;
  int hd = a->head_dim;
  /* the kv heads of a chunk one after another: their K and V rows interleave in memory, so the
   * tasks in flight together read one stream */
  int kv_head = (int)(task % a->n_kv_heads);
  int64_t c = task / a->n_kv_heads % d->n_chunks;
  int64_t seq = task / a->n_kv_heads / d->n_chunks;
  int64_t k0 = c * KEY_CHUNK, nk = MIN(KEY_CHUNK, d->n_keys - k0);
  int64_t ldk = (int64_t)a->n_kv_heads * hd;
  const float *k = a->k + (seq * a->tk + k0) * ldk + (int64_t)kv_head * hd;
  const float *v = a->v + (seq * a->tk + k0) * ldk + (int64_t)kv_head * hd;
  float *s = d->scores + (int64_t)thread * d->rows * d->lds;
  float *max = d->part + ((seq * a->n_kv_heads + kv_head) * d->n_chunks + c) * d->part_size,
        *sum = max + d->rows, *o = sum + d->rows;

#if HAVE_X86_SIMD
  if (d->simd)
    scores_avx2(d, seq, kv_head, k, nk, s);
  else
#endif
    scores_portable(d, seq, kv_head, k, nk, s);

  for (int64_t r = 0; r < d->rows; r++) {
    float *row = s + r * d->lds;
    int64_t vis = visible_keys(d, r, k0, nk);
    max[r] = -INFINITY;
    sum[r] = 0.0f;
    for (int64_t j = 0; j < vis; j++) /* not fmaxf: a libm call where it is not inlined */
      max[r] = max[r] > row[j] ? max[r] : row[j];
    if (vis > 0) /* cpu_exp_row subtracts the same maximum */
      sum[r] = cpu_exp_row(row, vis, d->simd);
    memset(row + vis, 0, (size_t)(nk - vis) * sizeof(float));
  }

#if HAVE_X86_SIMD
  if (d->simd && a->avx512 && (hd == 64 || hd == 128))
    values_avx512(d, v, nk, s, o);
  else if (d->simd)
    values_avx2(d, v, nk, s, o);
  else
#endif
    values_portable(d, v, nk, s, o);
}

/* out = Σ_c e^(m_c - M) O_c / Σ_c e^(m_c - M) l_c over the chunks c in key order, M the largest
 * m_c: one query row of the group; a chunk the row cannot see has m_c = -inf, weight 0. */
static void merge_row(const cpu_attention_decode *d, const float *part, int64_t r, float *out)
{
  int hd = d->a.head_dim;
  float m = -INFINITY, l = 0.0f;
  for (int64_t c = 0; c < d->n_chunks; c++)
    m = m > part[c * d->part_size + r] ? m : part[c * d->part_size + r];
  for (int64_t c = 0; c < d->n_chunks; c++)
    l += expf(part[c * d->part_size + r] - m) * part[c * d->part_size + d->rows + r];
  for (int i = 0; i < hd; i++)
    out[i] = 0.0f;
  for (int64_t c = 0; c < d->n_chunks; c++) {
    const float *pc = part + c * d->part_size;
    float w = expf(pc[r] - m) / l;
    const float *o = pc + 2 * d->rows + r * hd;
    for (int i = 0; i < hd; i++)
      out[i] += w * o[i];
  }
}

void cpu_attention_decode_merge(const cpu_attention_decode *d)
{
  const cpu_attention_args *a = &d->a;
  int64_t ldq = (int64_t)a->n_heads * a->head_dim;
  for (int64_t seq = 0; seq < d->n_seq; seq++)
    for (int g = 0; g < a->n_kv_heads; g++) {
      const float *part = d->part + (seq * a->n_kv_heads + g) * d->n_chunks * d->part_size;
      for (int64_t r = 0; r < d->rows; r++) {
        int64_t head = (int64_t)g * d->group + r % d->group;
        merge_row(d, part, r, a->out + (seq * a->tq + r / d->group) * ldq + head * a->head_dim);
      }
    }
}
