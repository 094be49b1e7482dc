// See mask_kernels.h. The AVX-512 and AVX2 functions carry their own target attributes, so the
// rest of the binary keeps the baseline instruction set, and they run only where the CPU says it
// has AVX-512F or AVX2.
#include "model/mask_kernels.h"

#include <algorithm>
#include <atomic>
#include <bit>
#include <climits>
#include <cstring>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define SAMCACHE_MASK_X86 1
// GCC 12's AVX-512 intrinsics start some results from an "undefined" vector, which
// -Wuninitialized (or, in other builds, -Wmaybe-uninitialized) flags where they are inlined
// (GCC bug 105593).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#if !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>
#pragma GCC diagnostic pop
#endif
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace samcache::mask_internal {
namespace {

std::atomic<int> g_cap{static_cast<int>(MaskKernels::kAvx512)};

// ---- Portable: SSE2 where the baseline has it, else scalar. ----

void HorizontalStripPortable(const float* src, size_t stride, int rows, const StripTaps& t, float* out) {
  for (int r = 0; r < rows; ++r) {
    const float* row = src + static_cast<size_t>(r) * stride;
    float* d = out + static_cast<size_t>(r) * StripTaps::kMaxColumns;
    for (int x = 0; x < t.columns; ++x) d[x] = row[t.i0[x]] * t.w0[x] + row[t.i1[x]] * t.w1[x];
  }
}

void BlendRowPortable(const float* a, const float* b, float b0, float b1, int n, float* out) {
  int x = 0;
#if defined(__SSE2__)
  const __m128 w0 = _mm_set1_ps(b0), w1 = _mm_set1_ps(b1);
  for (; x + 4 <= n; x += 4) {
    _mm_storeu_ps(out + x,
                  _mm_add_ps(_mm_mul_ps(_mm_loadu_ps(a + x), w0), _mm_mul_ps(_mm_loadu_ps(b + x), w1)));
  }
#endif
  for (; x < n; ++x) out[x] = a[x] * b0 + b[x] * b1;
}

uint64_t PositiveBitsPortable(const float* a, const float* b, float b0, float b1, int n) {
  uint64_t bits = 0;
  int x = 0;
#if defined(__SSE2__)
  const __m128 w0 = _mm_set1_ps(b0), w1 = _mm_set1_ps(b1), zero = _mm_setzero_ps();
  for (; x + 4 <= n; x += 4) {
    const __m128 v = _mm_add_ps(_mm_mul_ps(_mm_loadu_ps(a + x), w0), _mm_mul_ps(_mm_loadu_ps(b + x), w1));
    bits |= static_cast<uint64_t>(_mm_movemask_ps(_mm_cmpgt_ps(v, zero))) << x;
  }
#endif
  for (; x < n; ++x) bits |= static_cast<uint64_t>((a[x] * b0 + b[x] * b1) > 0.0f) << x;
  return bits;
}

void PositiveRowsPortable(const float* strip, const Tap* yt, int y0, int y1, int columns, uint64_t* out) {
  for (int y = y0; y < y1; ++y) {
    const Tap& t = yt[y];
    out[y - y0] =
        PositiveBitsPortable(strip + static_cast<size_t>(t.i0) * StripTaps::kMaxColumns,
                             strip + static_cast<size_t>(t.i1) * StripTaps::kMaxColumns, t.w0, t.w1, columns);
  }
}

// Swaps the off-diagonal halves of ever smaller blocks (Hacker's Delight, 7-3, with bit 0
// first): at step j, rows k and k + j (bit j of k clear) exchange the bits under m << j and m.
void TransposeBits64Portable(uint64_t a[64]) {
  uint64_t m = 0x00000000FFFFFFFFull;
  for (int j = 32; j != 0; j >>= 1, m ^= m << j) {
    for (int k = 0; k < 64; k = (k + j + 1) & ~j) {
      const uint64_t t = ((a[k] >> j) ^ a[k + j]) & m;
      a[k + j] ^= t;
      a[k] ^= t << j;
    }
  }
}

// ---- Runs from bits ----

uint32_t* WordRunsPortable(const uint64_t* words, size_t rows, RunCursor& cursor, uint32_t* out) {
  uint64_t before = cursor.before;
  size_t at = cursor.at, start = cursor.start;
  for (size_t left = rows; left > 0; words++) {
    const size_t n = left < 64 ? left : 64;
    const uint64_t w = *words;
    uint64_t changes = w ^ ((w << 1) | before);  // bit i: pixel i differs from the one before
    if (n < 64) changes &= (uint64_t{1} << n) - 1;
    while (changes != 0) {
      const size_t boundary = at + static_cast<size_t>(std::countr_zero(changes));
      *out++ = static_cast<uint32_t>(boundary - start);
      start = boundary;
      changes &= changes - 1;
    }
    before = (w >> (n - 1)) & 1;
    at += n;
    left -= n;
  }
  cursor = {before, at, start};
  return out;
}

// ---- The RLE text ----
// rleToString writes a count's difference x from the count two places before it as 5-bit
// groups, least significant first, 48 added, 32 added on all but the last ("more follows"):
// the fewest groups that hold x as a signed number. Both versions put group g in byte g of a
// word and store the word whole; the next count's word overwrites the bytes past its groups.

static_assert(std::endian::native == std::endian::little, "the RLE text is stored a word at a time");

// Groups 0..6 of x (two's complement) in bytes 0..6, in three steps that each shift half of
// what is left: groups 4..6 by 12 bits, then the upper pair of each four by 6, then every odd one by 3.
constexpr uint64_t kSpreadLow1 = 0x00000000000FFFFFull, kSpreadHigh1 = 0x00007FFF00000000ull;
constexpr uint64_t kSpreadLow2 = 0x000003FF000003FFull, kSpreadHigh2 = 0x03FF000003FF0000ull;
constexpr uint64_t kSpreadLow3 = 0x001F001F001F001Full, kSpreadHigh3 = 0x1F001F001F001F00ull;
constexpr uint64_t kMoreFollows = 0x2020202020202020ull, kDigitZero = 0x3030303030303030ull;

inline uint64_t SpreadGroups(uint64_t x) {
  x = (x & kSpreadLow1) | ((x << 12) & kSpreadHigh1);
  x = (x & kSpreadLow2) | ((x << 6) & kSpreadHigh2);
  return (x & kSpreadLow3) | ((x << 3) & kSpreadHigh3);
}

inline int64_t RleDelta(const uint32_t* counts, size_t i) {
  return static_cast<int64_t>(counts[i]) - (i > 2 ? static_cast<int64_t>(counts[i - 2]) : 0);
}

// One count's characters at p; returns the end of them.
inline char* WriteRleCount(int64_t x, char* p) {
  const uint64_t magnitude = static_cast<uint64_t>(x ^ (x >> 63));  // |x| - 1 for negatives
  // Value bits and a sign bit, five a group; | 1: widths 0 and 1 both take one group.
  const int groups = (std::bit_width(magnitude | 1) + 5) / 5;
  const uint64_t more = ((uint64_t{1} << (8 * (groups - 1))) - 1) & kMoreFollows;
  const uint64_t word =
      (SpreadGroups(static_cast<uint64_t>(x)) | more) + kDigitZero;  // bytes <= 111: no carry
  std::memcpy(p, &word, sizeof word);
  return p + groups;
}

char* WriteRleTextPortable(const uint32_t* counts, size_t from, size_t to, char* p) {
  for (size_t i = from; i < to; ++i) p = WriteRleCount(RleDelta(counts, i), p);
  return p;
}

#if defined(SAMCACHE_MASK_X86)

#define SAMCACHE_AVX512 __attribute__((target("avx512f")))

// Lanes [0, n) of a 16-lane vector, for n in 0..16 (anything larger counts as 16).
SAMCACHE_AVX512 inline __mmask16 FirstLanes(int n) {
  return n >= 16 ? static_cast<__mmask16>(0xFFFF) : n <= 0 ? 0 : static_cast<__mmask16>((1u << n) - 1);
}

// Each output lane picks its two taps from the source row with permutes: from two registers
// when the strip reads at most 32 source columns (an upsample, or a mild shrink), from four
// (and a blend on the index's bit 5) up to 64. Wider (a strong shrink) gathers them.
SAMCACHE_AVX512 void HorizontalStripAvx512(const float* src, size_t stride, int rows, const StripTaps& t,
                                           float* out) {
  const int vectors = (t.columns + 15) / 16;
  const int registers = t.source_cols <= 32 ? 2 : t.source_cols <= 64 ? 4 : 0;
  __m512i i0[4], i1[4];
  __m512 w0[4], w1[4];
  __mmask16 keep[4], upper0[4], upper1[4];
  const __m512i bit5 = _mm512_set1_epi32(32);
  for (int v = 0; v < vectors; ++v) {
    i0[v] = _mm512_loadu_si512(t.i0 + 16 * v);
    i1[v] = _mm512_loadu_si512(t.i1 + 16 * v);
    w0[v] = _mm512_loadu_ps(t.w0 + 16 * v);
    w1[v] = _mm512_loadu_ps(t.w1 + 16 * v);
    keep[v] = FirstLanes(t.columns - 16 * v);
    upper0[v] = _mm512_test_epi32_mask(i0[v], bit5);
    upper1[v] = _mm512_test_epi32_mask(i1[v], bit5);
  }
  __mmask16 load[4];
  for (int k = 0; k < 4; ++k) load[k] = FirstLanes(t.source_cols - 16 * k);
  for (int r = 0; r < rows; ++r) {
    const float* row = src + static_cast<size_t>(r) * stride;
    float* d = out + static_cast<size_t>(r) * StripTaps::kMaxColumns;
    if (registers == 0) {
      for (int v = 0; v < vectors; ++v) {
        const __m512 a = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), keep[v], i0[v], row, 4);
        const __m512 b = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), keep[v], i1[v], row, 4);
        _mm512_mask_storeu_ps(d + 16 * v, keep[v],
                              _mm512_add_ps(_mm512_mul_ps(a, w0[v]), _mm512_mul_ps(b, w1[v])));
      }
      continue;
    }
    const __m512 r0 = _mm512_maskz_loadu_ps(load[0], row);
    const __m512 r1 = _mm512_maskz_loadu_ps(load[1], row + 16);
    if (registers == 2) {
      for (int v = 0; v < vectors; ++v) {
        const __m512 a = _mm512_permutex2var_ps(r0, i0[v], r1);
        const __m512 b = _mm512_permutex2var_ps(r0, i1[v], r1);
        _mm512_mask_storeu_ps(d + 16 * v, keep[v],
                              _mm512_add_ps(_mm512_mul_ps(a, w0[v]), _mm512_mul_ps(b, w1[v])));
      }
      continue;
    }
    const __m512 r2 = _mm512_maskz_loadu_ps(load[2], row + 32);
    const __m512 r3 = _mm512_maskz_loadu_ps(load[3], row + 48);
    for (int v = 0; v < vectors; ++v) {
      const __m512 a = _mm512_mask_blend_ps(upper0[v], _mm512_permutex2var_ps(r0, i0[v], r1),
                                            _mm512_permutex2var_ps(r2, i0[v], r3));
      const __m512 b = _mm512_mask_blend_ps(upper1[v], _mm512_permutex2var_ps(r0, i1[v], r1),
                                            _mm512_permutex2var_ps(r2, i1[v], r3));
      _mm512_mask_storeu_ps(d + 16 * v, keep[v],
                            _mm512_add_ps(_mm512_mul_ps(a, w0[v]), _mm512_mul_ps(b, w1[v])));
    }
  }
}

SAMCACHE_AVX512 void BlendRowAvx512(const float* a, const float* b, float b0, float b1, int n, float* out) {
  const __m512 w0 = _mm512_set1_ps(b0), w1 = _mm512_set1_ps(b1);
  for (int x = 0; x < n; x += 16) {
    const __mmask16 m = FirstLanes(n - x);
    const __m512 v = _mm512_add_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, a + x), w0),
                                   _mm512_mul_ps(_mm512_maskz_loadu_ps(m, b + x), w1));
    _mm512_mask_storeu_ps(out + x, m, v);
  }
}

SAMCACHE_AVX512 void PositiveRowsAvx512(const float* strip, const Tap* yt, int y0, int y1, int columns,
                                        uint64_t* out) {
  const __m512 zero = _mm512_setzero_ps();
  const __mmask16 m[4] = {FirstLanes(columns), FirstLanes(columns - 16), FirstLanes(columns - 32),
                          FirstLanes(columns - 48)};
  for (int y = y0; y < y1; ++y) {
    const Tap& t = yt[y];
    const float* a = strip + static_cast<size_t>(t.i0) * StripTaps::kMaxColumns;
    const float* b = strip + static_cast<size_t>(t.i1) * StripTaps::kMaxColumns;
    const __m512 w0 = _mm512_set1_ps(t.w0), w1 = _mm512_set1_ps(t.w1);
    uint64_t bits = 0;
    for (int v = 0; v < 4; ++v) {
      const __m512 sum = _mm512_add_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(m[v], a + 16 * v), w0),
                                       _mm512_mul_ps(_mm512_maskz_loadu_ps(m[v], b + 16 * v), w1));
      bits |= static_cast<uint64_t>(_mm512_mask_cmp_ps_mask(m[v], sum, zero, _CMP_GT_OQ)) << (16 * v);
    }
    out[y - y0] = bits;
  }
}

// One step of the portable transpose for rows in two registers, lane by lane: lo holds rows k,
// hi rows k + j.
SAMCACHE_AVX512 inline void TransposeAcross(__m512i& lo, __m512i& hi, unsigned j, uint64_t m) {
  const __m512i t = _mm512_and_si512(_mm512_xor_si512(_mm512_srli_epi64(lo, j), hi),
                                     _mm512_set1_epi64(static_cast<long long>(m)));
  hi = _mm512_xor_si512(hi, t);
  lo = _mm512_xor_si512(lo, _mm512_slli_epi64(t, j));
}

// The same for rows k and k + j in one register (j < 8): `high` marks the lanes of rows k + j.
SAMCACHE_AVX512 inline void TransposeWithin(__m512i& x, unsigned j, __mmask8 high, uint64_t m) {
  const __m512i lanes = _mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0);
  const __m512i partner =
      _mm512_permutexvar_epi64(_mm512_xor_si512(lanes, _mm512_set1_epi64(static_cast<long long>(j))), x);
  const __m512i lo = _mm512_mask_blend_epi64(high, x, partner);  // row k of each pair
  const __m512i hi = _mm512_mask_blend_epi64(high, partner, x);  // row k + j
  const __m512i t = _mm512_and_si512(_mm512_xor_si512(_mm512_srli_epi64(lo, j), hi),
                                     _mm512_set1_epi64(static_cast<long long>(m)));
  x = _mm512_xor_si512(x, _mm512_mask_blend_epi64(high, _mm512_slli_epi64(t, j), t));
}

// The portable transpose's steps on eight rows a register: steps 32, 16 and 8 pair whole
// registers, steps 4, 2 and 1 pair lanes of one register.
SAMCACHE_AVX512 void TransposeBits64Avx512(uint64_t a[64]) {
  __m512i v[8];
  for (int i = 0; i < 8; ++i) v[i] = _mm512_loadu_si512(a + 8 * i);
  for (int i = 0; i < 4; ++i) TransposeAcross(v[i], v[i + 4], 32, 0x00000000FFFFFFFFull);
  for (int i : {0, 1, 4, 5}) TransposeAcross(v[i], v[i + 2], 16, 0x0000FFFF0000FFFFull);
  for (int i : {0, 2, 4, 6}) TransposeAcross(v[i], v[i + 1], 8, 0x00FF00FF00FF00FFull);
  for (int i = 0; i < 8; ++i) {
    TransposeWithin(v[i], 4, 0xF0, 0x0F0F0F0F0F0F0F0Full);
    TransposeWithin(v[i], 2, 0xCC, 0x3333333333333333ull);
    TransposeWithin(v[i], 1, 0xAA, 0x5555555555555555ull);
  }
  for (int i = 0; i < 8; ++i) _mm512_storeu_si512(a + 8 * i, v[i]);
}

// ---- AVX2: eight lanes, the taps picked with in-register permutes. ----

#define SAMCACHE_AVX2 __attribute__((target("avx2")))

// Lanes [0, n) of an eight-lane mask, for n in 0..8 (anything larger counts as 8).
SAMCACHE_AVX2 inline __m256i FirstLanes8(int n) {
  const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(std::clamp(n, 0, 8)), lanes);
}

// Lane x of the result is source column idx[x] of the row in `r` (eight columns a register):
// a permute per register, then blends on the index's bit 3 (sign of bit3) and bit 4.
template <int kRegisters>
SAMCACHE_AVX2 inline __m256 PickTaps(const __m256 r[4], __m256i idx, __m256 bit3, __m256 bit4) {
  const __m256 low = _mm256_permutevar8x32_ps(r[0], idx);
  if constexpr (kRegisters == 1) return low;
  const __m256 first = _mm256_blendv_ps(low, _mm256_permutevar8x32_ps(r[1], idx), bit3);
  if constexpr (kRegisters == 2) return first;
  const __m256 second =
      _mm256_blendv_ps(_mm256_permutevar8x32_ps(r[2], idx), _mm256_permutevar8x32_ps(r[3], idx), bit3);
  return _mm256_blendv_ps(first, second, bit4);
}

// The first source column (relative to the strip's) that output columns [x, x + 8) read, and
// how many from there on.
int FirstTap(const StripTaps& t, int x) {
  int first = INT_MAX;
  for (int c = x; c < std::min(x + 8, t.columns); ++c) first = std::min({first, t.i0[c], t.i1[c]});
  return first;
}
int TapWindow(const StripTaps& t, int x) {
  int last = 0;
  for (int c = x; c < std::min(x + 8, t.columns); ++c) last = std::max({last, t.i0[c], t.i1[c]});
  return last + 1 - FirstTap(t, x);
}

// Source columns [0, 8 * kRegisters) from `row` into r, plain or under `mask` (past the strip).
template <int kRegisters>
SAMCACHE_AVX2 inline void LoadRegisters(const float* row, bool plain, const __m256i mask[kRegisters],
                                        __m256 r[4]) {
  for (int k = 0; k < kRegisters; ++k)
    r[k] = plain ? _mm256_loadu_ps(row + 8 * k) : _mm256_maskload_ps(row + 8 * k, mask[k]);
}

// The strip's taps, eight output columns a vector, read from kRegisters registers of eight
// source columns: the same registers for every vector (the strip's first 8 * kRegisters
// columns), or, kWindowed, each vector's own from its first tap on (wide strips whose vectors
// each read a few columns: an upsample's, or a shrink's up to 4x). Loads and stores that would
// cross the strip's edge are masked; the rest are plain, as masked stores are slow on some CPUs.
template <int kRegisters, bool kWindowed>
SAMCACHE_AVX2 void HorizontalStripAvx2(const float* src, size_t stride, int rows, const StripTaps& t,
                                       float* out) {
  constexpr int kVectors = StripTaps::kMaxColumns / 8;
  const int vectors = (t.columns + 7) / 8;
  const int full_vectors = t.columns / 8;
  int base[kVectors] = {};
  bool plain_loads[kVectors] = {};
  __m256i i0[kVectors], i1[kVectors], keep[kVectors], load[kVectors][kRegisters];
  __m256 w0[kVectors], w1[kVectors], i0_bit3[kVectors], i0_bit4[kVectors], i1_bit3[kVectors],
      i1_bit4[kVectors];
  for (int v = 0; v < vectors; ++v) {
    base[v] = kWindowed ? FirstTap(t, 8 * v) : 0;
    const __m256i first = _mm256_set1_epi32(base[v]);
    i0[v] = _mm256_sub_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(t.i0 + 8 * v)), first);
    i1[v] = _mm256_sub_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(t.i1 + 8 * v)), first);
    w0[v] = _mm256_loadu_ps(t.w0 + 8 * v);
    w1[v] = _mm256_loadu_ps(t.w1 + 8 * v);
    keep[v] = FirstLanes8(t.columns - 8 * v);
    i0_bit3[v] = _mm256_castsi256_ps(_mm256_slli_epi32(i0[v], 28));
    i0_bit4[v] = _mm256_castsi256_ps(_mm256_slli_epi32(i0[v], 27));
    i1_bit3[v] = _mm256_castsi256_ps(_mm256_slli_epi32(i1[v], 28));
    i1_bit4[v] = _mm256_castsi256_ps(_mm256_slli_epi32(i1[v], 27));
    for (int k = 0; k < kRegisters; ++k) load[v][k] = FirstLanes8(t.source_cols - base[v] - 8 * k);
    plain_loads[v] = base[v] + 8 * kRegisters <= t.source_cols;
  }
  __m256 r[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  for (int y = 0; y < rows; ++y) {
    const float* row = src + static_cast<size_t>(y) * stride;
    float* d = out + static_cast<size_t>(y) * StripTaps::kMaxColumns;
    for (int v = 0; v < vectors; ++v) {
      if (kWindowed || v == 0) LoadRegisters<kRegisters>(row + base[v], plain_loads[v], load[v], r);
      const __m256 a = PickTaps<kRegisters>(r, i0[v], i0_bit3[v], i0_bit4[v]);
      const __m256 b = PickTaps<kRegisters>(r, i1[v], i1_bit3[v], i1_bit4[v]);
      const __m256 sum = _mm256_add_ps(_mm256_mul_ps(a, w0[v]), _mm256_mul_ps(b, w1[v]));
      if (v < full_vectors) {
        _mm256_storeu_ps(d + 8 * v, sum);
      } else {
        _mm256_maskstore_ps(d + 8 * v, keep[v], sum);
      }
    }
  }
}

// The fewest registers a vector's taps need: the whole strip's columns when they fit in one or
// two, else each vector's own window; the portable loop for a strong shrink.
SAMCACHE_AVX2 void HorizontalStripAvx2(const float* src, size_t stride, int rows, const StripTaps& t,
                                       float* out) {
  int window = 0;  // the most source columns one vector of eight outputs reads
  for (int x = 0; x < t.columns; x += 8) window = std::max(window, TapWindow(t, x));
  if (t.source_cols <= 8) return HorizontalStripAvx2<1, false>(src, stride, rows, t, out);
  if (window <= 8) return HorizontalStripAvx2<1, true>(src, stride, rows, t, out);
  if (t.source_cols <= 16) return HorizontalStripAvx2<2, false>(src, stride, rows, t, out);
  if (window <= 16) return HorizontalStripAvx2<2, true>(src, stride, rows, t, out);
  if (t.source_cols <= 32) return HorizontalStripAvx2<4, false>(src, stride, rows, t, out);
  if (window <= 32) return HorizontalStripAvx2<4, true>(src, stride, rows, t, out);
  HorizontalStripPortable(src, stride, rows, t, out);
}

SAMCACHE_AVX2 void BlendRowAvx2(const float* a, const float* b, float b0, float b1, int n, float* out) {
  const __m256 w0 = _mm256_set1_ps(b0), w1 = _mm256_set1_ps(b1);
  int x = 0;
  for (; x + 8 <= n; x += 8) {
    _mm256_storeu_ps(out + x, _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(a + x), w0),
                                            _mm256_mul_ps(_mm256_loadu_ps(b + x), w1)));
  }
  for (; x < n; ++x) out[x] = a[x] * b0 + b[x] * b1;
}

SAMCACHE_AVX2 void PositiveRowsAvx2(const float* strip, const Tap* yt, int y0, int y1, int columns,
                                    uint64_t* out) {
  const __m256 zero = _mm256_setzero_ps();
  for (int y = y0; y < y1; ++y) {
    const Tap& t = yt[y];
    const float* a = strip + static_cast<size_t>(t.i0) * StripTaps::kMaxColumns;
    const float* b = strip + static_cast<size_t>(t.i1) * StripTaps::kMaxColumns;
    const __m256 w0 = _mm256_set1_ps(t.w0), w1 = _mm256_set1_ps(t.w1);
    uint64_t bits = 0;
    int x = 0;
    for (; x + 8 <= columns; x += 8) {
      const __m256 sum =
          _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(a + x), w0), _mm256_mul_ps(_mm256_loadu_ps(b + x), w1));
      bits |= static_cast<uint64_t>(_mm256_movemask_ps(_mm256_cmp_ps(sum, zero, _CMP_GT_OQ))) << x;
    }
    for (; x < columns; ++x) bits |= static_cast<uint64_t>((a[x] * t.w0 + b[x] * t.w1) > 0.0f) << x;
    out[y - y0] = bits;
  }
}

// The portable transpose's steps on four rows a register: steps 32 to 4 pair whole registers,
// steps 2 and 1 pair lanes of one register.
template <int kShift>
SAMCACHE_AVX2 inline void TransposeAcross4(__m256i& lo, __m256i& hi, uint64_t m) {
  const __m256i t = _mm256_and_si256(_mm256_xor_si256(_mm256_srli_epi64(lo, kShift), hi),
                                     _mm256_set1_epi64x(static_cast<long long>(m)));
  hi = _mm256_xor_si256(hi, t);
  lo = _mm256_xor_si256(lo, _mm256_slli_epi64(t, kShift));
}

// kPartner: the lane permute pairing rows k and k + kShift; kHigh: the 32-bit elements of rows
// k + kShift.
template <int kShift, int kPartner, int kHigh>
SAMCACHE_AVX2 inline void TransposeWithin4(__m256i& x, uint64_t m) {
  const __m256i partner = _mm256_permute4x64_epi64(x, kPartner);
  const __m256i lo = _mm256_blend_epi32(x, partner, kHigh);  // row k of each pair
  const __m256i hi = _mm256_blend_epi32(partner, x, kHigh);  // row k + kShift
  const __m256i t = _mm256_and_si256(_mm256_xor_si256(_mm256_srli_epi64(lo, kShift), hi),
                                     _mm256_set1_epi64x(static_cast<long long>(m)));
  x = _mm256_xor_si256(x, _mm256_blend_epi32(_mm256_slli_epi64(t, kShift), t, kHigh));
}

SAMCACHE_AVX2 void TransposeBits64Avx2(uint64_t a[64]) {
  __m256i v[16];
  for (int i = 0; i < 16; ++i) v[i] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + 4 * i));
  for (int i = 0; i < 8; ++i) TransposeAcross4<32>(v[i], v[i + 8], 0x00000000FFFFFFFFull);
  for (int i : {0, 1, 2, 3, 8, 9, 10, 11}) TransposeAcross4<16>(v[i], v[i + 4], 0x0000FFFF0000FFFFull);
  for (int i : {0, 1, 4, 5, 8, 9, 12, 13}) TransposeAcross4<8>(v[i], v[i + 2], 0x00FF00FF00FF00FFull);
  for (int i = 0; i < 16; i += 2) TransposeAcross4<4>(v[i], v[i + 1], 0x0F0F0F0F0F0F0F0Full);
  for (int i = 0; i < 16; ++i) {
    TransposeWithin4<2, 0x4E, 0xF0>(v[i], 0x3333333333333333ull);  // lanes 2, 3, 0, 1
    TransposeWithin4<1, 0xB1, 0xCC>(v[i], 0x5555555555555555ull);  // lanes 1, 0, 3, 2
  }
  for (int i = 0; i < 16; ++i) _mm256_storeu_si256(reinterpret_cast<__m256i*>(a + 4 * i), v[i]);
}

// The AVX2 kernels' CPUs (Haswell, Excavator and later) have these too.
#define SAMCACHE_BITS __attribute__((target("popcnt,bmi")))

// The next boundary of `rest` (bit i: a run ends before pixel at + i) as a run length after the
// one at `previous`; past the last, a length nobody reads.
SAMCACHE_BITS inline void NextRun(uint64_t& rest, size_t at, size_t& previous, uint32_t* out) {
  // tzcnt itself, not std::countr_zero: the latter's test for 0 lets the compiler branch on it.
  const size_t boundary = at + static_cast<size_t>(_tzcnt_u64(rest));
  *out = static_cast<uint32_t>(boundary - previous);
  previous = boundary;
  rest = _blsr_u64(rest);
}

// The same runs with few branches: the first four boundaries of a word that has any are written
// whether it has them or not (a speckled mask's words mostly have fewer), the output moves on by
// their number, and the run start comes from the word's last boundary.
SAMCACHE_BITS uint32_t* WordRunsBits(const uint64_t* words, size_t rows, RunCursor& cursor, uint32_t* out) {
  uint64_t before = cursor.before;
  size_t at = cursor.at, start = cursor.start;
  for (size_t left = rows; left > 0; words++) {
    const size_t n = left < 64 ? left : 64;
    const uint64_t w = *words;
    uint64_t changes = w ^ ((w << 1) | before);
    if (n < 64) changes &= (uint64_t{1} << n) - 1;
    before = (w >> (n - 1)) & 1;
    const size_t word_at = at;
    at += n;
    left -= n;
    if (changes == 0) continue;  // most words of a smooth mask
    const int boundaries = static_cast<int>(_mm_popcnt_u64(changes));
    uint64_t rest = changes;
    size_t previous = start;
    NextRun(rest, word_at, previous, out);
    NextRun(rest, word_at, previous, out + 1);
    NextRun(rest, word_at, previous, out + 2);
    NextRun(rest, word_at, previous, out + 3);
    for (int k = 4; k < boundaries; ++k) NextRun(rest, word_at, previous, out + k);
    out += boundaries;
    start = word_at + static_cast<size_t>(std::bit_width(changes)) - 1;
  }
  cursor = {before, at, start};
  return out;
}

SAMCACHE_AVX2 inline __m256i Set64(uint64_t v) { return _mm256_set1_epi64x(static_cast<long long>(v)); }

// Four counts' words and group counts at once; the stores one after another.
SAMCACHE_AVX2 char* WriteRleTextAvx2(const uint32_t* counts, size_t from, size_t to, char* p) {
  size_t i = from;
  for (; i < to && i < 3; ++i) p = WriteRleCount(RleDelta(counts, i), p);  // no count two before
  const __m256i zero = _mm256_setzero_si256(), one = Set64(1);
  alignas(32) uint64_t words[4], groups[4];
  for (; i + 4 <= to; i += 4) {
    const __m256i x = _mm256_sub_epi64(
        _mm256_cvtepu32_epi64(_mm_loadu_si128(reinterpret_cast<const __m128i*>(counts + i))),
        _mm256_cvtepu32_epi64(_mm_loadu_si128(reinterpret_cast<const __m128i*>(counts + i - 2))));
    const __m256i magnitude = _mm256_xor_si256(x, _mm256_cmpgt_epi64(zero, x));
    // Groups after the first: how many of the widths 5, 10, .. 30 the magnitude reaches.
    __m256i extra = zero;
    for (int width = 5; width <= 30; width += 5) {
      extra = _mm256_sub_epi64(extra, _mm256_cmpgt_epi64(magnitude, Set64((uint64_t{1} << (width - 1)) - 1)));
    }
    __m256i spread = _mm256_or_si256(_mm256_and_si256(x, Set64(kSpreadLow1)),
                                     _mm256_and_si256(_mm256_slli_epi64(x, 12), Set64(kSpreadHigh1)));
    spread = _mm256_or_si256(_mm256_and_si256(spread, Set64(kSpreadLow2)),
                             _mm256_and_si256(_mm256_slli_epi64(spread, 6), Set64(kSpreadHigh2)));
    spread = _mm256_or_si256(_mm256_and_si256(spread, Set64(kSpreadLow3)),
                             _mm256_and_si256(_mm256_slli_epi64(spread, 3), Set64(kSpreadHigh3)));
    const __m256i more = _mm256_and_si256(
        _mm256_sub_epi64(_mm256_sllv_epi64(one, _mm256_slli_epi64(extra, 3)), one), Set64(kMoreFollows));
    _mm256_store_si256(reinterpret_cast<__m256i*>(words),
                       _mm256_add_epi64(_mm256_or_si256(spread, more), Set64(kDigitZero)));
    _mm256_store_si256(reinterpret_cast<__m256i*>(groups), _mm256_add_epi64(extra, one));
    for (int k = 0; k < 4; ++k) {
      std::memcpy(p, &words[k], sizeof words[k]);
      p += groups[k];
    }
  }
  return WriteRleTextPortable(counts, i, to, p);
}

MaskKernels CpuMaskKernels() {
  static const MaskKernels best = [] {
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("popcnt") ||
        !__builtin_cpu_supports("bmi")) {
      return MaskKernels::kPortable;
    }
    return __builtin_cpu_supports("avx512f") ? MaskKernels::kAvx512 : MaskKernels::kAvx2;
  }();
  return best;
}

#else

MaskKernels CpuMaskKernels() { return MaskKernels::kPortable; }

#endif

MaskKernels Kernels() {
  return static_cast<MaskKernels>(
      std::min(static_cast<int>(CpuMaskKernels()), g_cap.load(std::memory_order_relaxed)));
}

}  // namespace

void HorizontalStrip(const float* src, size_t stride, int rows, const StripTaps& taps, float* out) {
#if defined(SAMCACHE_MASK_X86)
  switch (Kernels()) {
    case MaskKernels::kAvx512:
      return HorizontalStripAvx512(src, stride, rows, taps, out);
    case MaskKernels::kAvx2:
      return HorizontalStripAvx2(src, stride, rows, taps, out);
    case MaskKernels::kPortable:
      break;
  }
#endif
  HorizontalStripPortable(src, stride, rows, taps, out);
}

void BlendRow(const float* a, const float* b, float b0, float b1, int n, float* out) {
#if defined(SAMCACHE_MASK_X86)
  switch (Kernels()) {
    case MaskKernels::kAvx512:
      return BlendRowAvx512(a, b, b0, b1, n, out);
    case MaskKernels::kAvx2:
      return BlendRowAvx2(a, b, b0, b1, n, out);
    case MaskKernels::kPortable:
      break;
  }
#endif
  BlendRowPortable(a, b, b0, b1, n, out);
}

void PositiveRows(const float* strip, const Tap* yt, int y0, int y1, int columns, uint64_t* out) {
#if defined(SAMCACHE_MASK_X86)
  switch (Kernels()) {
    case MaskKernels::kAvx512:
      return PositiveRowsAvx512(strip, yt, y0, y1, columns, out);
    case MaskKernels::kAvx2:
      return PositiveRowsAvx2(strip, yt, y0, y1, columns, out);
    case MaskKernels::kPortable:
      break;
  }
#endif
  PositiveRowsPortable(strip, yt, y0, y1, columns, out);
}

void TransposeBits64(uint64_t a[64]) {
#if defined(SAMCACHE_MASK_X86)
  switch (Kernels()) {
    case MaskKernels::kAvx512:
      return TransposeBits64Avx512(a);
    case MaskKernels::kAvx2:
      return TransposeBits64Avx2(a);
    case MaskKernels::kPortable:
      break;
  }
#endif
  TransposeBits64Portable(a);
}

// These two have no AVX-512 version: AVX-512 CPUs run the AVX2 one.
uint32_t* WordRuns(const uint64_t* words, size_t rows, RunCursor& cursor, uint32_t* out) {
#if defined(SAMCACHE_MASK_X86)
  if (Kernels() >= MaskKernels::kAvx2) return WordRunsBits(words, rows, cursor, out);
#endif
  return WordRunsPortable(words, rows, cursor, out);
}

char* WriteRleText(const uint32_t* counts, size_t from, size_t to, char* out) {
#if defined(SAMCACHE_MASK_X86)
  if (Kernels() >= MaskKernels::kAvx2) return WriteRleTextAvx2(counts, from, to, out);
#endif
  return WriteRleTextPortable(counts, from, to, out);
}

MaskKernels BestMaskKernels() { return CpuMaskKernels(); }

void CapMaskKernels(MaskKernels cap) { g_cap.store(static_cast<int>(cap), std::memory_order_relaxed); }

}  // namespace samcache::mask_internal
