#include "model/mask_codec.h"

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <bit>
#include <cassert>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <limits>
#include <system_error>
#include <thread>
#include <utility>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace samcache {
namespace {

void CompressRleRange(const std::vector<uint32_t>& counts, size_t from, size_t to, std::string& out);

// --- Bilinear resize ------------------------------------------------------------------------

// One output coordinate of a bilinear resize: value = src[i0] * w0 + src[i1] * w1.
struct Tap {
  int i0;
  int i1;
  float w0;
  float w1;
};

// Taps for output coordinates 0..count-1 of a resize from `in` to `out` samples, computed as
// cv::resize INTER_LINEAR does (so float results match it to the last bit in most pixels):
// src = (dst + 0.5) * in / out - 0.5 rounded to float, clamped to the first and last sample.
// PyTorch's align_corners=False bilinear maps the same way.
std::vector<Tap> BilinearTaps(int in, int out, int count) {
  const double scale = 1.0 / (static_cast<double>(out) / in);
  std::vector<Tap> taps(static_cast<size_t>(count));
  for (int d = 0; d < count; ++d) {
    float f = static_cast<float>((d + 0.5) * scale - 0.5);
    int s = static_cast<int>(std::floor(f));
    f -= static_cast<float>(s);
    if (s < 0) s = 0, f = 0.0f;
    if (s >= in - 1) s = in - 1, f = 0.0f;
    taps[d] = Tap{s, std::min(s + 1, in - 1), 1.0f - f, f};
  }
  return taps;
}

// Resizes the row-major in_h x in_w float image `src` to out_h x out_w, but produces only the
// output rows [y0, y1) and columns [x0, x1) (a crop costs nothing). Horizontal pass first, as
// OpenCV and PyTorch do; each source row is resized horizontally once and kept while output
// rows need it. For every output row y, in order, calls emit(y, r0, r1, b0, b1): the row's
// columns x0 + i are r0[i] * b0 + r1[i] * b1 for i < x1 - x0, and `emit` decides what to store.
// A value does not depend on the window it is computed in (same taps, same operations).
// `xt` and `yt` are the taps of at least x1 columns and y1 rows.
template <typename Emit>
void ResizeBilinearWithTaps(const float* src, int in_w, const std::vector<Tap>& xt,
                            const std::vector<Tap>& yt, int y0, int y1, int x0, int x1, Emit&& emit) {
  const int cols = x1 - x0;
  // Two slots by source-row parity: an output row needs rows s and s + 1 (or s twice), which
  // never share a slot, and rows are needed in increasing order.
  std::vector<float> slots(2 * static_cast<size_t>(cols));
  int cached[2] = {-1, -1};
  auto row = [&](int sy) -> const float* {
    float* dst = slots.data() + (sy & 1) * static_cast<size_t>(cols);
    if (cached[sy & 1] != sy) {
      const float* s = src + static_cast<size_t>(sy) * in_w;
      for (int x = 0; x < cols; ++x) {
        const Tap& t = xt[x0 + x];
        dst[x] = s[t.i0] * t.w0 + s[t.i1] * t.w1;
      }
      cached[sy & 1] = sy;
    }
    return dst;
  };
  for (int y = y0; y < y1; ++y) {
    const Tap& t = yt[y];
    const float* r0 = row(t.i0);
    const float* r1 = row(t.i1);
    emit(y, r0, r1, t.w0, t.w1);
  }
}

template <typename Emit>
void ResizeBilinear(const float* src, int in_h, int in_w, int out_h, int out_w, int y0, int y1, int x0,
                    int x1, Emit&& emit) {
  ResizeBilinearWithTaps(src, in_w, BilinearTaps(in_w, out_w, x1), BilinearTaps(in_h, out_h, y1), y0, y1, x0,
                         x1, std::forward<Emit>(emit));
}

// d[x] = r0[x] * b0 + r1[x] * b1 > 0 for x < n, as 0/1 bytes. The SSE2 lanes do the same
// float multiplies and add as the scalar tail (no fused multiply-add), so every path gives the
// same mask.
void ThresholdRow(const float* r0, const float* r1, float b0, float b1, int n, uint8_t* d) {
  int x = 0;
#if defined(__SSE2__)
  const __m128 w0 = _mm_set1_ps(b0), w1 = _mm_set1_ps(b1), zero = _mm_setzero_ps();
  const __m128i one = _mm_set1_epi8(1);
  auto positive = [&](int at) {
    const __m128 v = _mm_add_ps(_mm_mul_ps(_mm_loadu_ps(r0 + at), w0), _mm_mul_ps(_mm_loadu_ps(r1 + at), w1));
    return _mm_castps_si128(_mm_cmpgt_ps(v, zero));  // all ones where > 0
  };
  for (; x + 16 <= n; x += 16) {
    const __m128i lo = _mm_packs_epi32(positive(x), positive(x + 4));
    const __m128i hi = _mm_packs_epi32(positive(x + 8), positive(x + 12));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(d + x), _mm_and_si128(_mm_packs_epi16(lo, hi), one));
  }
#endif
  for (; x < n; ++x) d[x] = (r0[x] * b0 + r1[x] * b1) > 0.0f;
}

// The top-left rows x cols of the full resize.
template <typename Emit>
void ResizeBilinear(const float* src, int in_h, int in_w, int out_h, int out_w, int rows, int cols,
                    Emit&& emit) {
  ResizeBilinear(src, in_h, in_w, out_h, out_w, 0, rows, 0, cols, std::forward<Emit>(emit));
}

void CheckUpsampleArgs([[maybe_unused]] const float* low_res, [[maybe_unused]] int low_h,
                       [[maybe_unused]] int low_w, [[maybe_unused]] int input_h, [[maybe_unused]] int input_w,
                       [[maybe_unused]] int orig_h, [[maybe_unused]] int orig_w, [[maybe_unused]] int side) {
  // Programmer errors: the sizes come from the model's outputs and the catalog's image record.
  assert(low_res != nullptr && low_h > 0 && low_w > 0 && orig_h > 0 && orig_w > 0);
  assert(input_h > 0 && input_w > 0 && input_h <= side && input_w <= side);
}

// Steps 1 and 2 of the postprocess: the input_h x input_w crop of the side x side upsample.
std::vector<float> UpsampleAndCrop(const float* low_res, int low_h, int low_w, int input_h, int input_w,
                                   int side) {
  std::vector<float> cropped(static_cast<size_t>(input_h) * input_w);
  ResizeBilinear(low_res, low_h, low_w, side, side, input_h, input_w,
                 [&](int y, const float* r0, const float* r1, float b0, float b1) {
                   float* d = cropped.data() + static_cast<size_t>(y) * input_w;
                   for (int x = 0; x < input_w; ++x) d[x] = r0[x] * b0 + r1[x] * b1;
                 });
  return cropped;
}

// --- Byte masks -----------------------------------------------------------------------------

#if defined(__SSE2__)
// One 16 x 16 block of TransposeToBinary: four rounds of interleaving rows i and i + 8 (bytes,
// then 16-, 32- and 64-bit units) transpose the block when the rows go in bit-reversed order.
void Transpose16x16ToBinary(const uint8_t* src, size_t src_stride, uint8_t* dst, size_t dst_stride) {
  static constexpr int kBitReversed[16] = {0, 8, 4, 12, 2, 10, 6, 14, 1, 9, 5, 13, 3, 11, 7, 15};
  const __m128i zero = _mm_setzero_si128();
  const __m128i one = _mm_set1_epi8(1);
  __m128i a[16], b[16];
  for (int i = 0; i < 16; ++i) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + kBitReversed[i] * src_stride));
    a[i] = _mm_andnot_si128(_mm_cmpeq_epi8(v, zero), one);
  }
  for (int i = 0; i < 8; ++i) {
    b[2 * i] = _mm_unpacklo_epi8(a[i], a[i + 8]);
    b[2 * i + 1] = _mm_unpackhi_epi8(a[i], a[i + 8]);
  }
  for (int i = 0; i < 8; ++i) {
    a[2 * i] = _mm_unpacklo_epi16(b[i], b[i + 8]);
    a[2 * i + 1] = _mm_unpackhi_epi16(b[i], b[i + 8]);
  }
  for (int i = 0; i < 8; ++i) {
    b[2 * i] = _mm_unpacklo_epi32(a[i], a[i + 8]);
    b[2 * i + 1] = _mm_unpackhi_epi32(a[i], a[i + 8]);
  }
  for (int i = 0; i < 8; ++i) {
    a[2 * i] = _mm_unpacklo_epi64(b[i], b[i + 8]);
    a[2 * i + 1] = _mm_unpackhi_epi64(b[i], b[i + 8]);
  }
  for (int i = 0; i < 16; ++i) _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i * dst_stride), a[i]);
}
#endif

// dst (cols x rows) = transpose of the rows x cols block at src (rows `stride` bytes apart),
// with any non-zero byte written as 1. Column-major order is what COCO RLE counts in; this is
// most of EncodeRle's time, hence SSE2 blocks where available and a scalar loop for the edges.
void TransposeToBinary(const uint8_t* src, size_t stride, int rows, int cols, uint8_t* dst) {
  int full_rows = 0, full_cols = 0;
#if defined(__SSE2__)
  full_rows = rows / 16 * 16;
  full_cols = cols / 16 * 16;
  for (int r = 0; r < full_rows; r += 16) {
    for (int c = 0; c < full_cols; c += 16) {
      Transpose16x16ToBinary(src + static_cast<size_t>(r) * stride + c, stride,
                             dst + static_cast<size_t>(c) * rows + r, static_cast<size_t>(rows));
    }
  }
#endif
  auto scalar = [&](int r0, int r1, int c0, int c1) {
    for (int c = c0; c < c1; ++c) {
      uint8_t* d = dst + static_cast<size_t>(c) * rows;
      for (int r = r0; r < r1; ++r) d[r] = src[static_cast<size_t>(r) * stride + c] != 0;
    }
  };
  scalar(0, full_rows, full_cols, cols);  // right edge
  scalar(full_rows, rows, 0, cols);       // bottom edge
}

// Run lengths in the making, COCO style: runs alternate background and foreground and start
// with background.
struct RunCounter {
  std::vector<uint32_t> counts;
  uint8_t value = 0;
  size_t run = 0;

  // n foreground pixels.
  void Foreground(size_t n) {
    if (n == 0) return;
    if (value == 0) {
      counts.push_back(static_cast<uint32_t>(run));
      run = 0;
      value = 1;
    }
    run += n;
  }
  // The pixels `other` counted, after these.
  void Append(const RunCounter& other) {
    for (size_t i = 0; i < other.counts.size(); ++i) {
      if (i % 2 == 0) {
        Background(other.counts[i]);
      } else {
        Foreground(other.counts[i]);
      }
    }
    if (other.value == 0) {
      Background(other.run);
    } else {
      Foreground(other.run);
    }
  }
  // n background pixels.
  void Background(size_t n) {
    if (n == 0) return;
    if (value == 1) {
      counts.push_back(static_cast<uint32_t>(run));
      run = 0;
      value = 0;
    }
    run += n;
  }
  // The first n (1..64) pixels of `bits`, bit 0 first.
  void Bits(uint64_t bits, int n) {
    int at = 0;
    while (at < n) {
      // Ones where a pixel differs from the run's value.
      const uint64_t other = (value != 0 ? ~bits : bits) >> at;
      const int same = other == 0 ? 64 : std::countr_zero(other);
      if (at + same >= n) {
        run += static_cast<size_t>(n - at);
        return;
      }
      run += static_cast<size_t>(same);
      counts.push_back(static_cast<uint32_t>(run));
      run = 0;
      value ^= 1;
      at += same;
    }
  }
  // Pixels given as 0/1 bytes.
  void Bytes(const uint8_t* p, const uint8_t* const end) {
    while (p < end) {
      const void* next = std::memchr(p, value ^ 1, static_cast<size_t>(end - p));
      if (next == nullptr) {
        run += static_cast<size_t>(end - p);
        return;
      }
      run += static_cast<size_t>(static_cast<const uint8_t*>(next) - p);
      counts.push_back(static_cast<uint32_t>(run));
      run = 0;
      p = static_cast<const uint8_t*>(next);
      value ^= 1;
    }
  }
  // The last run (never empty unless the mask is: pycocotools gives [0] for an empty mask).
  std::vector<uint32_t> Finish(size_t pixels) {
    if (run > 0 || pixels == 0) counts.push_back(static_cast<uint32_t>(run));
    return std::move(counts);
  }
};

// Output indices [first, last) of a resize from `in` to `out` samples whose taps read one of
// the source samples s0..s1. Every other output reads only values <= 0 with weights >= 0, and
// such a sum is <= 0 in float as in the reals: it is background.
std::pair<int, int> ReachedRange(int in, int out, int s0, int s1) {
  const std::vector<Tap> taps = BilinearTaps(in, out, out);
  int first = out, last = 0;
  for (int d = 0; d < out; ++d) {
    const Tap& t = taps[d];
    if ((t.i0 >= s0 && t.i0 <= s1) || (t.i1 >= s0 && t.i1 <= s1)) {
      first = std::min(first, d);
      last = d + 1;
    }
  }
  return {first, last};
}

// MaskBbox and MaskArea from column-major run lengths: a run within one column spans its
// rows; one that crosses into the next column spans every row.
void BboxAndArea(const std::vector<uint32_t>& counts, int height, EncodedMask& out) {
  const uint64_t h = static_cast<uint64_t>(height);
  uint64_t at = 0, area = 0;
  uint64_t min_x = UINT64_MAX, max_x = 0, min_y = UINT64_MAX, max_y = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    const uint64_t n = counts[i];
    if (i % 2 == 1 && n > 0) {
      const uint64_t first = at, last = at + n - 1;
      const uint64_t c0 = first / h, c1 = last / h;
      min_x = std::min(min_x, c0);
      max_x = std::max(max_x, c1);
      min_y = std::min(min_y, c0 == c1 ? first % h : 0);
      max_y = std::max(max_y, c0 == c1 ? last % h : h - 1);
      area += n;
    }
    at += n;
  }
  out.area = area;
  if (area == 0) return;
  out.bbox = {static_cast<int>(min_x), static_cast<int>(min_y), static_cast<int>(max_x - min_x + 1),
              static_cast<int>(max_y - min_y + 1)};
}

// Bit x of the result: r0[x] * b0 + r1[x] * b1 > 0, for x < n <= 64. The same float operations
// as ThresholdRow, so the same mask.
uint64_t PositiveBits(const float* r0, const float* r1, float b0, float b1, int n) {
  uint64_t bits = 0;
  int x = 0;
#if defined(__SSE2__)
  const __m128 w0 = _mm_set1_ps(b0), w1 = _mm_set1_ps(b1), zero = _mm_setzero_ps();
  for (; x + 4 <= n; x += 4) {
    const __m128 v = _mm_add_ps(_mm_mul_ps(_mm_loadu_ps(r0 + x), w0), _mm_mul_ps(_mm_loadu_ps(r1 + x), w1));
    bits |= static_cast<uint64_t>(_mm_movemask_ps(_mm_cmpgt_ps(v, zero))) << x;
  }
#endif
  for (; x < n; ++x) bits |= static_cast<uint64_t>((r0[x] * b0 + r1[x] * b1) > 0.0f) << x;
  return bits;
}

// Transposes a 64 x 64 bit matrix in place: bit c of a[r] becomes bit r of a[c]. Swaps the
// off-diagonal halves of ever smaller blocks (Hacker's Delight, 7-3, with bit 0 first).
void TransposeBits64(uint64_t a[64]) {
  uint64_t m = 0x00000000FFFFFFFFull;
  for (int j = 32; j != 0; j >>= 1, m ^= m << j) {
    for (int k = 0; k < 64; k = (k + j + 1) & ~j) {
      const uint64_t t = ((a[k] >> j) ^ a[k + j]) & m;
      a[k + j] ^= t;
      a[k] ^= t << j;
    }
  }
}

// Boxes of at least this many pixels are encoded on two threads, and so is the text of at
// least this many runs.
constexpr uint64_t kSplitPixels = 2'000'000;
constexpr size_t kSplitCounts = 20'000;

// Inclusive bounds of the positive values of a source; sy1 < 0 when there are none.
struct PositiveBox {
  int sy0, sy1, sx0, sx1;
};

// A row-major in_h x in_w matrix EncodeResized reads from.
struct MatrixSource {
  const float* data;
  int height;
  int width;

  PositiveBox Positives() const {
    PositiveBox box{height, -1, width, -1};
    for (int y = 0; y < height; ++y) {
      const float* row = data + static_cast<size_t>(y) * width;
      int x = 0;
      while (x < width && !(row[x] > 0.0f)) ++x;
      if (x == width) continue;
      int right = width - 1;
      while (!(row[right] > 0.0f)) --right;
      box = {std::min(box.sy0, y), y, std::min(box.sx0, x), std::max(box.sx1, right)};
    }
    return box;
  }
  // Rows [r0, r1) x columns [c0, c1) into `out`, row-major.
  void Block(int r0, int r1, int c0, int c1, float* out) const {
    for (int y = r0; y < r1; ++y) {
      std::memcpy(out, data + static_cast<size_t>(y) * width + c0,
                  sizeof(float) * static_cast<size_t>(c1 - c0));
      out += c1 - c0;
    }
  }
};

// SAM's side x side upsample of the low-res logits, cropped to the model's input, made block
// by block as EncodeResized needs it. Made whole, it is 3 MB at 1024 x 768, and a strip of
// output columns reads a few values from each of its rows: a cache (and TLB) miss per row and
// strip. A value does not depend on the block it is made in, so the result is UpsampleAndCrop's.
struct CroppedUpsampleSource {
  const float* low_res;
  int low_h;
  int low_w;
  int side;
  int height;  // the input's, at most side
  int width;
  std::vector<Tap> xt = BilinearTaps(low_w, side, width);
  std::vector<Tap> yt = BilinearTaps(low_h, side, height);

  // A box around the positives, from the low-res logits' own: a value of the upsample can be
  // positive only where a tap reads a positive logit.
  PositiveBox Positives() const {
    const PositiveBox low = MatrixSource{low_res, low_h, low_w}.Positives();
    if (low.sy1 < 0) return low;
    const std::pair<int, int> rows = ReachedRange(low_h, side, low.sy0, low.sy1);
    const std::pair<int, int> cols = ReachedRange(low_w, side, low.sx0, low.sx1);
    const int sy0 = rows.first, sy1 = std::min(rows.second, height) - 1;
    const int sx0 = cols.first, sx1 = std::min(cols.second, width) - 1;
    if (sy0 > sy1 || sx0 > sx1) return {height, -1, width, -1};
    return {sy0, sy1, sx0, sx1};
  }
  void Block(int r0, int r1, int c0, int c1, float* out) const {
    const size_t stride = static_cast<size_t>(c1 - c0);
    ResizeBilinearWithTaps(low_res, low_w, xt, yt, r0, r1, c0, c1,
                           [&](int y, const float* a, const float* b, float b0, float b1) {
                             float* d = out + static_cast<size_t>(y - r0) * stride;
                             for (size_t x = 0; x < stride; ++x) d[x] = a[x] * b0 + b[x] * b1;
                           });
  }
};

// The RLE, bbox and area of the mask "resize of the source to out_h x out_w, > 0", computed on
// the part of the output that can be positive only (the rest is known to be background).
template <typename Source>
EncodedMask EncodeResized(const Source& src, int out_h, int out_w) {
  const int in_h = src.height, in_w = src.width;
  EncodedMask out;
  out.rle.height = out_h;
  out.rle.width = out_w;
  const size_t pixels = static_cast<size_t>(out_h) * out_w;
  const PositiveBox positives = src.Positives();
  RunCounter runs;
  // When shrinking, taps skip some source samples: positives there reach no output.
  // Plain ints, not structured bindings: the lambdas below capture them (clang 14 refuses).
  const std::pair<int, int> rows =
      positives.sy1 < 0 ? std::pair{0, 0} : ReachedRange(in_h, out_h, positives.sy0, positives.sy1);
  const std::pair<int, int> cols =
      positives.sy1 < 0 ? std::pair{0, 0} : ReachedRange(in_w, out_w, positives.sx0, positives.sx1);
  const int y0 = rows.first, y1 = rows.second, x0 = cols.first, x1 = cols.second;
  if (y0 >= y1 || x0 >= x1) {
    runs.Background(pixels);
    out.rle.counts = CompressRleCounts(runs.Finish(pixels));
    return out;
  }
  // The box is made a strip of 64 columns at a time: one 64-bit word of positives per row,
  // then per 64 rows a bit transpose gives each column's pixels as a word, from which the runs
  // come a run (not a pixel) at a time. Whole background columns left of the box, then per
  // box column the background above it, its pixels and the background below, then the
  // columns to the right. Each strip first copies (or makes) the block of the source its taps
  // read, so that the resize reads from a few kilobytes rather than from every row of the
  // source.
  const int box_h = y1 - y0;
  const int row_blocks = (box_h + 63) / 64;
  const std::vector<Tap> xt = BilinearTaps(in_w, out_w, x1);
  std::vector<Tap> yt = BilinearTaps(in_h, out_h, y1);
  const int source_row0 = yt[y0].i0, source_rows = yt[y1 - 1].i1 + 1 - source_row0;
  for (Tap& t : yt) t.i0 -= source_row0, t.i1 -= source_row0;  // rows of the block
  constexpr int kStripColumns = 64;
  // The runs of box columns [from, to), counted from a background run.
  auto encode_columns = [&](int from, int to, RunCounter& into) {
    std::vector<uint64_t> rows_bits(static_cast<size_t>(row_blocks) * 64);  // zero past box_h
    std::vector<uint64_t> column_bits(static_cast<size_t>(row_blocks) * 64);
    std::vector<float> source;
    std::vector<Tap> strip_taps(kStripColumns);
    for (int c0 = from; c0 < to; c0 += kStripColumns) {
      const int columns = std::min(kStripColumns, to - c0);
      const int source_col0 = xt[c0].i0, source_cols = xt[c0 + columns - 1].i1 + 1 - source_col0;
      source.resize(static_cast<size_t>(source_rows) * source_cols);
      src.Block(source_row0, source_row0 + source_rows, source_col0, source_col0 + source_cols,
                source.data());
      for (int x = 0; x < columns; ++x) {
        const Tap& t = xt[c0 + x];
        strip_taps[x] = Tap{t.i0 - source_col0, t.i1 - source_col0, t.w0, t.w1};
      }
      ResizeBilinearWithTaps(source.data(), source_cols, strip_taps, yt, y0, y1, 0, columns,
                             [&](int y, const float* r0, const float* r1, float b0, float b1) {
                               rows_bits[static_cast<size_t>(y - y0)] = PositiveBits(r0, r1, b0, b1, columns);
                             });
      // column_bits[c * row_blocks + b]: rows 64b.. of column c.
      for (int b = 0; b < row_blocks; ++b) {
        uint64_t* block = rows_bits.data() + static_cast<size_t>(b) * 64;
        TransposeBits64(block);
        for (int c = 0; c < columns; ++c) column_bits[static_cast<size_t>(c) * row_blocks + b] = block[c];
      }
      for (int c = 0; c < columns; ++c) {
        into.Background(static_cast<size_t>(y0));
        const uint64_t* column = column_bits.data() + static_cast<size_t>(c) * row_blocks;
        for (int b = 0; b < row_blocks; ++b) into.Bits(column[b], std::min(64, box_h - 64 * b));
        into.Background(static_cast<size_t>(out_h - y1));
      }
    }
  };
  runs.Background(static_cast<size_t>(x0) * out_h);
  // A large box in two halves on two threads (a lone click on a 12-megapixel image has the
  // cores to itself); the right half's runs continue the left's.
  const uint64_t box_pixels = static_cast<uint64_t>(box_h) * static_cast<uint64_t>(x1 - x0);
  const int mid = x0 + (x1 - x0) / (2 * kStripColumns) * kStripColumns;
  bool split = box_pixels >= kSplitPixels && mid > x0 && std::thread::hardware_concurrency() > 1;
  if (split) {
    RunCounter right;
    std::thread helper;
    try {
      helper = std::thread([&] { encode_columns(mid, x1, right); });
    } catch (const std::system_error&) {
      split = false;  // no thread to be had: all on this one
    }
    if (split) {
      encode_columns(x0, mid, runs);
      helper.join();
      runs.Append(right);
    }
  }
  if (!split) encode_columns(x0, x1, runs);
  runs.Background(static_cast<size_t>(out_w - x1) * out_h);
  const std::vector<uint32_t> counts = runs.Finish(pixels);
  // A speckled mask has a hundred thousand runs: the second half of their text is written on
  // another thread while this one writes the first and finds the box and area.
  std::string tail;
  std::thread writer;
  const size_t half = split && counts.size() >= kSplitCounts ? counts.size() / 2 : counts.size();
  if (half < counts.size()) {
    try {
      writer = std::thread([&] { CompressRleRange(counts, half, counts.size(), tail); });
    } catch (const std::system_error&) {
    }
  }
  const size_t first_end = writer.joinable() ? half : counts.size();
  CompressRleRange(counts, 0, first_end, out.rle.counts);
  BboxAndArea(counts, out_h, out);
  if (writer.joinable()) {
    writer.join();
    out.rle.counts += tail;
  }
  return out;
}

size_t PixelCount(const BinaryMask& mask) { return static_cast<size_t>(mask.height) * mask.width; }

cv::Mat MaskView(const BinaryMask& mask) {
  return cv::Mat(mask.height, mask.width, CV_8UC1, const_cast<uint8_t*>(mask.data.data()));
}

}  // namespace

std::vector<float> UpsampleLowResLogitsToLogits(const float* low_res, int low_h, int low_w, int input_h,
                                                int input_w, int orig_h, int orig_w, int side) {
  CheckUpsampleArgs(low_res, low_h, low_w, input_h, input_w, orig_h, orig_w, side);
  const std::vector<float> cropped = UpsampleAndCrop(low_res, low_h, low_w, input_h, input_w, side);
  std::vector<float> out(static_cast<size_t>(orig_h) * orig_w);
  ResizeBilinear(cropped.data(), input_h, input_w, orig_h, orig_w, orig_h, orig_w,
                 [&](int y, const float* r0, const float* r1, float b0, float b1) {
                   float* d = out.data() + static_cast<size_t>(y) * orig_w;
                   for (int x = 0; x < orig_w; ++x) d[x] = r0[x] * b0 + r1[x] * b1;
                 });
  return out;
}

BinaryMask UpsampleLowResLogits(const float* low_res, int low_h, int low_w, int input_h, int input_w,
                                int orig_h, int orig_w, int side) {
  CheckUpsampleArgs(low_res, low_h, low_w, input_h, input_w, orig_h, orig_w, side);
  const std::vector<float> cropped = UpsampleAndCrop(low_res, low_h, low_w, input_h, input_w, side);
  BinaryMask mask;
  mask.height = orig_h;
  mask.width = orig_w;
  mask.data.resize(PixelCount(mask));
  ResizeBilinear(cropped.data(), input_h, input_w, orig_h, orig_w, orig_h, orig_w,
                 [&](int y, const float* r0, const float* r1, float b0, float b1) {
                   uint8_t* d = mask.data.data() + static_cast<size_t>(y) * orig_w;
                   ThresholdRow(r0, r1, b0, b1, orig_w, d);
                 });
  return mask;
}

std::vector<float> UpsampleStretchedLogitsToLogits(const float* low_res, int low_h, int low_w, int orig_h,
                                                   int orig_w) {
  assert(low_res != nullptr && low_h > 0 && low_w > 0 && orig_h > 0 && orig_w > 0);
  std::vector<float> out(static_cast<size_t>(orig_h) * orig_w);
  ResizeBilinear(low_res, low_h, low_w, orig_h, orig_w, orig_h, orig_w,
                 [&](int y, const float* r0, const float* r1, float b0, float b1) {
                   float* d = out.data() + static_cast<size_t>(y) * orig_w;
                   for (int x = 0; x < orig_w; ++x) d[x] = r0[x] * b0 + r1[x] * b1;
                 });
  return out;
}

BinaryMask UpsampleStretchedLogits(const float* low_res, int low_h, int low_w, int orig_h, int orig_w) {
  assert(low_res != nullptr && low_h > 0 && low_w > 0 && orig_h > 0 && orig_w > 0);
  BinaryMask mask;
  mask.height = orig_h;
  mask.width = orig_w;
  mask.data.resize(PixelCount(mask));
  ResizeBilinear(low_res, low_h, low_w, orig_h, orig_w, orig_h, orig_w,
                 [&](int y, const float* r0, const float* r1, float b0, float b1) {
                   uint8_t* d = mask.data.data() + static_cast<size_t>(y) * orig_w;
                   ThresholdRow(r0, r1, b0, b1, orig_w, d);
                 });
  return mask;
}

std::vector<uint32_t> RleCounts(const BinaryMask& mask) {
  const size_t n = PixelCount(mask);
  // pycocotools counts are 32-bit; no image the server accepts comes near 4 Gpx.
  assert(n <= std::numeric_limits<uint32_t>::max());
  if (n == 0) return {0};  // as pycocotools; and no pointer arithmetic on an empty mask's data
  // Columns are transposed a block at a time, so a 100-megapixel mask needs a few hundred
  // kilobytes here rather than a second 100 MB copy. Runs continue from block to block.
  constexpr int kBlockColumns = 64;
  std::vector<uint8_t> block(static_cast<size_t>(kBlockColumns) * mask.height);
  RunCounter runs;
  for (int c0 = 0; c0 < mask.width; c0 += kBlockColumns) {
    const int columns = std::min(kBlockColumns, mask.width - c0);
    TransposeToBinary(mask.data.data() + c0, static_cast<size_t>(mask.width), mask.height, columns,
                      block.data());
    runs.Bytes(block.data(), block.data() + static_cast<size_t>(columns) * mask.height);
  }
  return runs.Finish(n);
}

Result<BinaryMask> MaskFromRleCounts(const std::vector<uint32_t>& counts, int height, int width) {
  if (height < 0 || width < 0) return Status::InvalidArgument("negative mask size");
  const uint64_t n = static_cast<uint64_t>(height) * static_cast<uint64_t>(width);
  if (n > std::numeric_limits<uint32_t>::max()) {
    return Status::InvalidArgument("mask size " + std::to_string(height) + "x" + std::to_string(width) +
                                   " is too large for COCO RLE");
  }
  uint64_t sum = 0;
  for (uint32_t c : counts) sum += c;
  if (sum != n) {
    return Status::InvalidArgument("RLE counts sum to " + std::to_string(sum) + ", not " +
                                   std::to_string(height) + "x" + std::to_string(width));
  }
  std::vector<uint8_t> column_major(n);
  size_t pos = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    // Not for empty runs: an empty mask's data() is null, and memset(nullptr, 1, 0) is undefined.
    if (i % 2 == 1 && counts[i] != 0) std::memset(column_major.data() + pos, 1, counts[i]);
    pos += counts[i];
  }
  BinaryMask mask;
  mask.height = height;
  mask.width = width;
  mask.data.resize(n);
  TransposeToBinary(column_major.data(), static_cast<size_t>(height), width, height, mask.data.data());
  return mask;
}

namespace {

// Appends the compressed form of counts [from, to) to `out`: each count stands alone given
// the one two places before it, so ranges can be compressed apart and joined.
void CompressRleRange(const std::vector<uint32_t>& counts, size_t from, size_t to, std::string& out) {
  // At most seven characters a count (a 33-bit delta in 5-bit groups), written in place.
  const size_t start = out.size();
  out.resize(start + (to - from) * 7);
  char* p = out.data() + start;
  for (size_t i = from; i < to; ++i) {
    int64_t x = counts[i];
    if (i > 2) x -= counts[i - 2];
    bool more = true;
    while (more) {
      int c = static_cast<int>(x & 0x1f);
      x >>= 5;  // arithmetic: negative deltas end when only sign bits remain
      more = (c & 0x10) ? x != -1 : x != 0;
      if (more) c |= 0x20;
      *p++ = static_cast<char>(c + 48);
    }
  }
  out.resize(static_cast<size_t>(p - out.data()));
}

}  // namespace

std::string CompressRleCounts(const std::vector<uint32_t>& counts) {
  std::string s;
  CompressRleRange(counts, 0, counts.size(), s);
  return s;
}

Result<std::vector<uint32_t>> DecompressRleCounts(std::string_view s) {
  // Seven 5-bit groups carry any 32-bit count or delta between two of them; more is malformed.
  constexpr int kMaxGroups = 7;
  std::vector<uint32_t> counts;
  size_t p = 0;
  while (p < s.size()) {
    int64_t x = 0;
    int k = 0;
    bool more = true;
    while (more) {
      if (p >= s.size()) return Status::InvalidArgument("RLE counts string ends inside a count");
      const int c = static_cast<unsigned char>(s[p]) - 48;
      if (c < 0 || c > 63) {
        return Status::InvalidArgument("RLE counts string has an invalid character at " + std::to_string(p));
      }
      if (k == kMaxGroups) return Status::InvalidArgument("RLE count too long at " + std::to_string(p));
      x |= static_cast<int64_t>(c & 0x1f) << (5 * k);
      more = (c & 0x20) != 0;
      ++p;
      ++k;
      if (!more && (c & 0x10)) x |= ~int64_t{0} << (5 * k);  // sign-extend
    }
    if (counts.size() > 2) x += counts[counts.size() - 2];
    if (x < 0 || x > std::numeric_limits<uint32_t>::max()) {
      return Status::InvalidArgument("RLE count " + std::to_string(counts.size()) + " out of range");
    }
    counts.push_back(static_cast<uint32_t>(x));
  }
  return counts;
}

Rle EncodeRle(const BinaryMask& mask) {
  return Rle{mask.height, mask.width, CompressRleCounts(RleCounts(mask))};
}

Result<BinaryMask> DecodeRle(const Rle& rle) {
  SAMCACHE_ASSIGN_OR_RETURN(const std::vector<uint32_t> counts, DecompressRleCounts(rle.counts));
  return MaskFromRleCounts(counts, rle.height, rle.width);
}

std::array<int, 4> MaskBbox(const BinaryMask& mask) {
  int x_min = mask.width, x_max = -1, y_min = -1, y_max = -1;
  const auto nonzero = [](uint8_t v) { return v != 0; };
  for (int y = 0; y < mask.height; ++y) {
    const uint8_t* row = mask.data.data() + static_cast<size_t>(y) * mask.width;
    // Most rows of a mask are empty; an OR over the row vectorises, a search does not.
    uint8_t any = 0;
    for (int x = 0; x < mask.width; ++x) any |= row[x];
    if (any == 0) continue;
    const uint8_t* first = std::find_if(row, row + mask.width, nonzero);
    // Only the part outside the box found so far can move its edges.
    const int left = static_cast<int>(first - row);
    int right = left;
    for (int x = mask.width - 1; x > std::max(left, x_max); --x) {
      if (row[x] != 0) {
        right = x;
        break;
      }
    }
    x_min = std::min(x_min, left);
    x_max = std::max(x_max, right);
    if (y_min < 0) y_min = y;
    y_max = y;
  }
  if (y_min < 0) return {0, 0, 0, 0};
  return {x_min, y_min, x_max - x_min + 1, y_max - y_min + 1};
}

uint64_t MaskArea(const BinaryMask& mask) {
  uint64_t area = 0;
  const uint8_t* d = mask.data.data();
  const size_t n = PixelCount(mask);
  // Byte-wide sums over blocks of 255 cannot overflow and let the compiler vectorise.
  for (size_t i = 0; i < n;) {
    const size_t block_end = std::min(n, i + 255);
    uint8_t block = 0;
    for (; i < block_end; ++i) block += d[i] != 0;
    area += block;
  }
  return area;
}

std::vector<std::vector<float>> MaskPolygons(const BinaryMask& mask, double epsilon_px) {
  PolygonOptions options;
  options.epsilon_px = epsilon_px;
  return MaskPolygons(mask, options);
}

std::vector<std::vector<float>> MaskPolygons(const BinaryMask& mask, const PolygonOptions& options) {
  std::vector<std::vector<float>> polygons;
  if (mask.height == 0 || mask.width == 0) return polygons;
  // Trace only the foreground's bounding box: findContours copies its input, and a small
  // object on a 100-megapixel image should not cost a 100 MB copy. Outside the box is all
  // background, which findContours assumes beyond the edges anyway, so the contours agree.
  const std::array<int, 4> box = MaskBbox(mask);
  if (box[2] == 0) return polygons;
  std::vector<std::vector<cv::Point>> contours;
  // findContours treats non-zero as foreground and, since OpenCV 3.2, leaves its input alone.
  cv::findContours(MaskView(mask)(cv::Rect(box[0], box[1], box[2], box[3])), contours, cv::RETR_EXTERNAL,
                   cv::CHAIN_APPROX_SIMPLE, cv::Point(box[0], box[1]));
  if (contours.size() > options.max_polygons) {
    // Keep the largest outlines, in the order findContours gave them.
    std::vector<std::pair<double, size_t>> by_area;
    for (size_t i = 0; i < contours.size(); ++i) by_area.emplace_back(-cv::contourArea(contours[i]), i);
    std::stable_sort(by_area.begin(), by_area.end());
    std::vector<bool> keep(contours.size(), false);
    for (size_t i = 0; i < options.max_polygons; ++i) keep[by_area[i].second] = true;
    std::vector<std::vector<cv::Point>> kept;
    for (size_t i = 0; i < contours.size(); ++i) {
      if (keep[i]) kept.push_back(std::move(contours[i]));
    }
    contours = std::move(kept);
  }
  // Simplify; while the vertices exceed the budget, simplify twice as coarsely. The tolerance
  // reaches the mask's size within ~30 rounds, where every outline is at most a few points.
  const double largest = std::max(mask.width, mask.height);
  std::vector<cv::Point> simplified;
  for (double epsilon = std::max(options.epsilon_px, 0.0);; epsilon = std::max(2 * epsilon, 1.0)) {
    polygons.clear();
    size_t vertices = 0;
    for (const std::vector<cv::Point>& contour : contours) {
      cv::approxPolyDP(contour, simplified, epsilon, /*closed=*/true);
      if (simplified.size() < 3) continue;
      std::vector<float>& polygon = polygons.emplace_back();
      polygon.reserve(simplified.size() * 2);
      for (const cv::Point& p : simplified) {
        polygon.push_back(static_cast<float>(p.x));
        polygon.push_back(static_cast<float>(p.y));
      }
      vertices += simplified.size();
    }
    if (vertices <= options.max_vertices || epsilon > largest) break;
  }
  return polygons;
}

EncodedMask EncodeLowResLogits(const float* low_res, int low_h, int low_w, int input_h, int input_w,
                               int orig_h, int orig_w, int side) {
  CheckUpsampleArgs(low_res, low_h, low_w, input_h, input_w, orig_h, orig_w, side);
  return EncodeResized(CroppedUpsampleSource{low_res, low_h, low_w, side, input_h, input_w}, orig_h, orig_w);
}

EncodedMask EncodeStretchedLogits(const float* low_res, int low_h, int low_w, int orig_h, int orig_w) {
  assert(low_res != nullptr && low_h > 0 && low_w > 0 && orig_h > 0 && orig_w > 0);
  return EncodeResized(MatrixSource{low_res, low_h, low_w}, orig_h, orig_w);
}

Result<std::string> MaskPng(const BinaryMask& mask) {
  if (mask.height <= 0 || mask.width <= 0)
    return Status::InvalidArgument("cannot make a PNG of an empty mask");
  std::vector<uchar> png;
  try {
    // A 1-bit PNG straight from the mask (libpng packs any non-zero byte as 1): an eighth of
    // the data to deflate and no full-size copy, which matters at 100 megapixels.
    if (!cv::imencode(".png", MaskView(mask), png, {cv::IMWRITE_PNG_BILEVEL, 1})) {
      return Status::Internal("cannot encode mask PNG");
    }
  } catch (const cv::Exception& e) {
    return Status::Internal(std::string("cannot encode mask PNG: ") + e.what());
  }
  return std::string(png.begin(), png.end());
}

}  // namespace samcache
