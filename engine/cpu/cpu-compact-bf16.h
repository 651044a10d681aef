/* cpu-compact-bf16.h — the CPU backend's layout of bf16 weight matrices: the same values, bit
 * for bit, in about 12.2 bits each instead of 16, made once at load where the AVX-512 kernels
 * run (cpu_compact_bf16_enabled). Decode streams every weight once per token and is bound by
 * the memory's bandwidth, so fewer bytes per weight is a faster token.
 *
 * A bf16 value is a high byte (the sign and the exponent's top 7 bits, "e7") and a low byte
 * (the exponent's last bit and the 7 mantissa bits). The low bytes are kept as they are. In a
 * block of 64 values of a row the exponents are close to each other, so each high byte is
 * coded in 4 bits against the block's base = max(0, largest e7 - 7):
 *   code = sign << 3 | o,  o = 0 for e7 = 0 (zeros and the smallest binades), else
 *   e7 = base + o with 1 <= o <= 7.
 * A block with a value outside that window (0 < e7 <= base: below 2^-14 of the block's largest)
 * is stored raw instead; random N(0, 0.02) weights leave ~0.5% of the blocks so.
 *
 * Per row, n_blocks = ceil(cols / 64) blocks of 96 bytes, back to back (values past cols are 0):
 *   bytes 0-63:  the low bytes, position s holding value (s / 8 % 2) * 32 + s / 16 * 8 + s % 8,
 *                the order in which AVX-512's byte unpacks (per 128-bit lane) give the values
 *                in their natural order;
 *   bytes 64-95: the codes of positions 2i (low nibble) and 2i + 1 (high nibble) in byte 64 + i.
 * bases[row][block] holds the base, or CPU_COMPACT_BF16_RAW for a raw block, whose first 4
 * bytes then hold (host order) its index in raw, 64 values each. */
#ifndef IVL_CPU_COMPACT_BF16_H
#define IVL_CPU_COMPACT_BF16_H

#include "cpu-simd.h"

#include <glib.h>
#include <stdint.h>
#include <string.h>

#define CPU_COMPACT_BF16_BLOCK 64
#define CPU_COMPACT_BF16_BLOCK_BYTES 96
#define CPU_COMPACT_BF16_RAW 0x80
/* bases are at most 127 - 7 */
#define CPU_COMPACT_BF16_N_BASES 121

typedef struct {
  int64_t rows, cols, n_blocks; /* n_blocks per row */
  uint8_t *blocks;              /* [rows][n_blocks][96], 64-byte aligned */
  uint8_t *bases;               /* [rows][n_blocks] */
  uint16_t *raw;                /* [n_raw][64] */
  int64_t n_raw;
} cpu_compact_bf16;

/* TRUE unless IVL_CPU_COMPACT_BF16 is "0" (plain bf16 rows, as in the file). The backend makes
 * the layout only where its AVX-512 kernels run: they decode it in registers at about twice
 * the rate a core reads memory, while an AVX2 decode (a row into L1, then the plain kernel)
 * ran at half the plain kernel's rate (Zen 4, IVL_CPU_NO_AVX512=1: 20 against 30 GB/s of
 * values with 2 threads), a loss. */
gboolean cpu_compact_bf16_enabled(void);

/* The 16 high bytes each code stands for, per base: [CPU_COMPACT_BF16_N_BASES][16]. */
const uint8_t (*cpu_compact_bf16_tables(void))[16];

/* An empty layout for a [rows, cols] matrix (rows, cols >= 1), or NULL when out of memory. */
cpu_compact_bf16 *cpu_compact_bf16_new(int64_t rows, int64_t cols);
#if HAVE_X86_SIMD
/* Codes rows [r0, r1) of src ([rows, cols] bf16) into z, by AVX-512 (needs avx512f/bw); ranges
 * may run in parallel. A block that does not fit is marked raw, to be filled by
 * cpu_compact_bf16_finish. */
void cpu_compact_bf16_code_rows(cpu_compact_bf16 *z, const uint16_t *src, int64_t r0, int64_t r1);
#endif
/* After every row is coded: copies the raw blocks out of src. FALSE when out of memory. */
gboolean cpu_compact_bf16_finish(cpu_compact_bf16 *z, const uint16_t *src);
void cpu_compact_bf16_free(cpu_compact_bf16 *z);
/* Rows [row0, row0 + n) of z as a layout of their own, borrowing z's memory. */
cpu_compact_bf16 cpu_compact_bf16_rows(const cpu_compact_bf16 *z, int64_t row0, int64_t n);
/* Bytes the layout holds. */
size_t cpu_compact_bf16_bytes(const cpu_compact_bf16 *z);

/* dst[i] = the bf16 value (row, k0 + i) for i < n. */
void cpu_compact_bf16_values(const cpu_compact_bf16 *z, int64_t row, int64_t k0, int64_t n,
                             uint16_t *dst);

#if HAVE_X86_SIMD
/* Block b of row `row` as values [0, 32) in v[0] and [32, 64) in v[1], 32 bf16 each. */
__attribute__((target("avx512f,avx512bw"), always_inline)) static inline void
cpu_compact_bf16_block(const cpu_compact_bf16 *z, const uint8_t (*tables)[16], int64_t row,
                       int64_t b, __m512i v[2])
{
  const int64_t at = row * z->n_blocks + b;
  const uint8_t *blk = z->blocks + at * CPU_COMPACT_BF16_BLOCK_BYTES;
  const unsigned base = z->bases[at];
  if (__builtin_expect(base == CPU_COMPACT_BF16_RAW, 0)) {
    uint32_t index;
    memcpy(&index, blk, sizeof(index));
    const uint16_t *raw = z->raw + (int64_t)index * CPU_COMPACT_BF16_BLOCK;
    v[0] = _mm512_loadu_si512(raw);
    v[1] = _mm512_loadu_si512(raw + 32);
    return;
  }
  const __m512i low = _mm512_loadu_si512(blk);
  /* nibble byte i = hi << 4 | lo -> word i = hi << 8 | lo: bytes 2i, 2i + 1 the codes */
  const __m512i n = _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *)(blk + 64)));
  const __m512i codes =
      _mm512_and_si512(_mm512_or_si512(n, _mm512_slli_epi16(n, 4)), _mm512_set1_epi16(0x0f0f));
  const __m512i table = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)tables[base]));
  const __m512i high = _mm512_shuffle_epi8(table, codes);
  v[0] = _mm512_unpacklo_epi8(low, high);
  v[1] = _mm512_unpackhi_epi8(low, high);
}

/* Asks for the bytes `ahead` past block b of row `row` in the rows' stream, into L2: an L1
 * prefetch holds one of L1's few miss buffers (one thread over a 151674 x 896 weight: ~19 GB/s
 * of values with L1 prefetches or none, 23-31 with these). */
__attribute__((always_inline)) static inline void
cpu_compact_bf16_prefetch(const cpu_compact_bf16 *z, int64_t row, int64_t b, int64_t ahead)
{
  const char *p =
      (const char *)z->blocks + (row * z->n_blocks + b) * CPU_COMPACT_BF16_BLOCK_BYTES + ahead;
  _mm_prefetch(p, _MM_HINT_T1);
  _mm_prefetch(p + 64, _MM_HINT_T1); /* a block spans 1.5 lines: both of the next two */
}
#endif

#endif /* IVL_CPU_COMPACT_BF16_H */
