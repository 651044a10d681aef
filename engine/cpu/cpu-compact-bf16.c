/* The compact layout of bf16 weights (cpu-compact-bf16.h). */
#include "cpu-compact-bf16.h"

#include <stdlib.h>
#include <string.h>

#define BLOCK CPU_COMPACT_BF16_BLOCK
#define BLOCK_BYTES CPU_COMPACT_BF16_BLOCK_BYTES

gboolean cpu_compact_bf16_enabled(void)
{
  const char *v = g_getenv("IVL_CPU_COMPACT_BF16");
  return v == NULL || strcmp(v, "0") != 0;
}

static uint8_t tables[CPU_COMPACT_BF16_N_BASES][16];

const uint8_t (*cpu_compact_bf16_tables(void))[16]
{
  static gsize done = 0;
  if (g_once_init_enter(&done)) {
    for (int base = 0; base < CPU_COMPACT_BF16_N_BASES; base++)
      for (int code = 0; code < 16; code++) {
        int o = code & 7;
        tables[base][code] = (uint8_t)((code >> 3) << 7 | (o == 0 ? 0 : base + o));
      }
    g_once_init_leave(&done, 1);
  }
  return (const uint8_t(*)[16])tables;
}

cpu_compact_bf16 *cpu_compact_bf16_new(int64_t rows, int64_t cols)
{
  cpu_compact_bf16 *z = g_new0(cpu_compact_bf16, 1);
  z->rows = rows;
  z->cols = cols;
  z->n_blocks = (cols + BLOCK - 1) / BLOCK;
  size_t n = (size_t)(rows * z->n_blocks);
  void *blocks = NULL;
  if (posix_memalign(&blocks, 64, n * BLOCK_BYTES) != 0 || !(z->bases = g_try_malloc(n))) {
    free(blocks);
    g_free(z);
    return NULL;
  }
  z->blocks = blocks;
  return z;
}

#if HAVE_X86_SIMD
/* Codes the block of 64 values v; FALSE when it does not fit. The low bytes and the codes go
 * to their positions by the inverse of the decoder's unpacks, a pack of words to bytes. */
__attribute__((target("avx512f,avx512bw"))) static gboolean code_block(uint8_t *blk,
                                                                       uint8_t *base_out,
                                                                       const uint16_t *v)
{
  const __m512i v0 = _mm512_loadu_si512(v), v1 = _mm512_loadu_si512(v + 32);
  const __m512i e7_mask = _mm512_set1_epi16(0x7f), byte = _mm512_set1_epi16(0xff);
  const __m512i e0 = _mm512_and_si512(_mm512_srli_epi16(v0, 8), e7_mask);
  const __m512i e1 = _mm512_and_si512(_mm512_srli_epi16(v1, 8), e7_mask);
  const __m512i m = _mm512_max_epu16(e0, e1);
  const int max_e7 = _mm512_reduce_max_epi32(
      _mm512_max_epi32(_mm512_and_si512(m, _mm512_set1_epi32(0xffff)), _mm512_srli_epi32(m, 16)));
  const int base = MAX(0, max_e7 - 7);
  const __m512i vb = _mm512_set1_epi16((short)base);
  const __mmask32 nz0 = _mm512_test_epi16_mask(e0, e0), nz1 = _mm512_test_epi16_mask(e1, e1);
  if (_mm512_mask_cmple_epu16_mask(nz0, e0, vb) | _mm512_mask_cmple_epu16_mask(nz1, e1, vb))
    return FALSE;
  const __m512i sign = _mm512_set1_epi16(8);
  const __m512i c0 = _mm512_or_si512(_mm512_maskz_sub_epi16(nz0, e0, vb),
                                     _mm512_and_si512(_mm512_srli_epi16(v0, 12), sign));
  const __m512i c1 = _mm512_or_si512(_mm512_maskz_sub_epi16(nz1, e1, vb),
                                     _mm512_and_si512(_mm512_srli_epi16(v1, 12), sign));
  const __m512i low =
      _mm512_packus_epi16(_mm512_and_si512(v0, byte), _mm512_and_si512(v1, byte));
  /* word i of the codes' bytes = code 2i | code 2i + 1 << 8 -> byte code 2i | code 2i + 1 << 4 */
  const __m512i codes = _mm512_packus_epi16(c0, c1);
  const __m256i nibbles = _mm512_cvtepi16_epi8(
      _mm512_and_si512(_mm512_or_si512(codes, _mm512_srli_epi16(codes, 4)), byte));
  _mm512_storeu_si512(blk, low);
  _mm256_storeu_si256((__m256i *)(blk + BLOCK), nibbles);
  *base_out = (uint8_t)base;
  return TRUE;
}

void cpu_compact_bf16_code_rows(cpu_compact_bf16 *z, const uint16_t *src, int64_t r0, int64_t r1)
{
  uint16_t last[BLOCK]; /* a row's last block, zero-padded */
  for (int64_t r = r0; r < r1; r++)
    for (int64_t b = 0; b < z->n_blocks; b++) {
      int64_t at = r * z->n_blocks + b;
      int n = (int)MIN(BLOCK, z->cols - b * BLOCK);
      const uint16_t *v = src + r * z->cols + b * BLOCK;
      if (n < BLOCK) {
        memset(last, 0, sizeof(last));
        memcpy(last, v, (size_t)n * sizeof(uint16_t));
        v = last;
      }
      if (!code_block(z->blocks + at * BLOCK_BYTES, z->bases + at, v))
        z->bases[at] = CPU_COMPACT_BF16_RAW;
    }
}
#endif

gboolean cpu_compact_bf16_finish(cpu_compact_bf16 *z, const uint16_t *src)
{
  const int64_t n = z->rows * z->n_blocks;
  int64_t n_raw = 0;
  for (int64_t at = 0; at < n; at++)
    n_raw += z->bases[at] == CPU_COMPACT_BF16_RAW;
  if (n_raw > 0 && !(z->raw = g_try_new0(uint16_t, n_raw * BLOCK)))
    return FALSE;
  z->n_raw = n_raw;
  uint32_t index = 0;
  for (int64_t at = 0; at < n && index < n_raw; at++) {
    if (z->bases[at] != CPU_COMPACT_BF16_RAW)
      continue;
    int64_t r = at / z->n_blocks, b = at % z->n_blocks;
    int64_t count = MIN(BLOCK, z->cols - b * BLOCK);
    memcpy(z->raw + (int64_t)index * BLOCK, src + r * z->cols + b * BLOCK,
           (size_t)count * sizeof(uint16_t));
    memcpy(z->blocks + at * BLOCK_BYTES, &index, sizeof(index));
    index++;
  }
  return TRUE;
}

void cpu_compact_bf16_free(cpu_compact_bf16 *z)
{
  if (!z)
    return;
  free(z->blocks);
  g_free(z->bases);
  g_free(z->raw);
  g_free(z);
}

cpu_compact_bf16 cpu_compact_bf16_rows(const cpu_compact_bf16 *z, int64_t row0, int64_t n)
{
  cpu_compact_bf16 v = *z; /* raw blocks are found by index: raw stays whole */
  v.rows = n;
  v.blocks += row0 * z->n_blocks * BLOCK_BYTES;
  v.bases += row0 * z->n_blocks;
  return v;
}

size_t cpu_compact_bf16_bytes(const cpu_compact_bf16 *z)
{
  size_t n = (size_t)(z->rows * z->n_blocks);
  return n * (BLOCK_BYTES + 1) + (size_t)z->n_raw * BLOCK * sizeof(uint16_t);
}

#if HAVE_X86_SIMD
/* Values [k0, k0 + n) of the row, decoded a block at a time (a partial block through tmp). */
__attribute__((target("avx512f,avx512bw"))) static void values_avx512(const cpu_compact_bf16 *z,
                                                                      const uint8_t (*t)[16],
                                                                      int64_t row, int64_t k0,
                                                                      int64_t n, uint16_t *dst)
{
  for (int64_t i = 0; i < n;) {
    const int64_t b = (k0 + i) / BLOCK, off = (k0 + i) % BLOCK, count = MIN(BLOCK - off, n - i);
    __m512i v[2];
    cpu_compact_bf16_block(z, t, row, b, v);
    if (count == BLOCK) {
      _mm512_storeu_si512(dst + i, v[0]);
      _mm512_storeu_si512(dst + i + 32, v[1]);
    } else {
      uint16_t tmp[BLOCK];
      _mm512_storeu_si512(tmp, v[0]);
      _mm512_storeu_si512(tmp + 32, v[1]);
      memcpy(dst + i, tmp + off, (size_t)count * sizeof(uint16_t));
    }
    i += count;
  }
}
#endif

void cpu_compact_bf16_values(const cpu_compact_bf16 *z, int64_t row, int64_t k0, int64_t n,
                             uint16_t *dst)
{
#if HAVE_X86_SIMD
  values_avx512(z, cpu_compact_bf16_tables(), row, k0, n, dst);
#else
  /* the layout exists only where the AVX-512 kernels run (cpu-compact-bf16.h) */
  (void)z, (void)row, (void)k0, (void)n, (void)dst;
  g_assert_not_reached();
#endif
}
