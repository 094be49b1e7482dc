// Clicks straight to RLE: a mask's COCO RLE, box and area from the decoder's low-res logits,
// without the full-size mask. Only the box a positive logit can reach is upsampled, 64 output
// columns at a time as bits, and a large box on two threads. The result is identical to the
// full-mask path's (mask_encode_test).
#include <algorithm>
#include <bit>
#include <cstring>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "model/bilinear_resize.h"
#include "model/mask_codec.h"
#include "model/rle_runs.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace samcache {
namespace {

using namespace mask_internal;

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

}  // namespace

EncodedMask EncodeLowResLogits(const float* low_res, int low_h, int low_w, int input_h, int input_w,
                               int orig_h, int orig_w, int side) {
  CheckUpsampleArgs(low_res, low_h, low_w, input_h, input_w, orig_h, orig_w, side);
  return EncodeResized(CroppedUpsampleSource{low_res, low_h, low_w, side, input_h, input_w}, orig_h, orig_w);
}

EncodedMask EncodeStretchedLogits(const float* low_res, int low_h, int low_w, int orig_h, int orig_w) {
  assert(low_res != nullptr && low_h > 0 && low_w > 0 && orig_h > 0 && orig_w > 0);
  return EncodeResized(MatrixSource{low_res, low_h, low_w}, orig_h, orig_w);
}

}  // namespace samcache
