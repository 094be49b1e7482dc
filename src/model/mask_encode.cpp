// Clicks straight to RLE: a mask's COCO RLE, box and area from the decoder's low-res logits,
// without the full-size mask. Only the box a positive logit can reach is upsampled, 64 output
// columns at a time as bits, and a large box on two threads. The result is identical to the
// full-mask path's (mask_encode_test).
#include <algorithm>
#include <array>
#include <bit>
#include <climits>
#include <cstring>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "model/bilinear_resize.h"
#include "model/mask_codec.h"
#include "model/mask_kernels.h"
#include "model/rle_runs.h"

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

// Taps [first, first + count) of `xt` (count <= 64) as a strip's, with source columns counted
// from the first one the strip reads.
StripTaps MakeStripTaps(const std::vector<Tap>& xt, int first, int count) {
  StripTaps taps;
  taps.columns = count;
  const int base = xt[static_cast<size_t>(first)].i0;
  for (int x = 0; x < count; ++x) {
    const Tap& t = xt[static_cast<size_t>(first + x)];
    taps.i0[x] = t.i0 - base;
    taps.i1[x] = t.i1 - base;
    taps.w0[x] = t.w0;
    taps.w1[x] = t.w1;
    taps.source_cols = std::max(taps.source_cols, t.i1 - base + 1);
  }
  return taps;
}

// The tight box and area of the foreground, gathered from the positive bits strip by strip.
struct BoxStats {
  int min_x = INT_MAX, max_x = -1, min_y = INT_MAX, max_y = -1;

  // Box rows y0.. of one strip whose first column is x0 (bit c of a word: column x0 + c).
  void Strip(const uint64_t* rows, int count, int x0, int y0) {
    int first = 0, last = count - 1;
    while (first < count && rows[first] == 0) ++first;
    if (first == count) return;
    while (rows[last] == 0) --last;
    uint64_t any = 0;
    for (int r = first; r <= last; ++r) any |= rows[r];
    min_y = std::min(min_y, y0 + first);
    max_y = std::max(max_y, y0 + last);
    min_x = std::min(min_x, x0 + std::countr_zero(any));
    max_x = std::max(max_x, x0 + 63 - std::countl_zero(any));
  }
  void Merge(const BoxStats& other) {
    min_x = std::min(min_x, other.min_x);
    max_x = std::max(max_x, other.max_x);
    min_y = std::min(min_y, other.min_y);
    max_y = std::max(max_y, other.max_y);
  }
  std::array<int, 4> Bbox() const {
    if (max_x < 0) return {0, 0, 0, 0};
    return {min_x, min_y, max_x - min_x + 1, max_y - min_y + 1};
  }
};

// Foreground pixels of column-major run lengths (every second run, from the second).
uint64_t ForegroundArea(const RunCounts& counts) {
  uint64_t area = 0;
  for (size_t i = 1; i < counts.size(); i += 2) area += counts[i];
  return area;
}

// Boxes of at least this many pixels are encoded on two threads, and so is the text of at
// least this many runs.
constexpr uint64_t kSplitPixels = 2'000'000;
constexpr size_t kSplitCounts = 20'000;

// Where a block of a source is: row r at data + r * stride.
struct BlockView {
  const float* data;
  size_t stride;
};

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
  // Rows [r0, r1) x columns [c0, c1): where they are, no copy.
  BlockView Block(int r0, int /*r1*/, int c0, int /*c1*/, std::vector<float>& /*scratch*/) const {
    return {data + static_cast<size_t>(r0) * width + c0, static_cast<size_t>(width)};
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
  // Rows [r0, r1) x columns [c0, c1), made in `scratch`: per 64 columns, the horizontal pass of
  // the low-res rows they read, then each row a blend of two of those.
  BlockView Block(int r0, int r1, int c0, int c1, std::vector<float>& scratch) const {
    const size_t stride = static_cast<size_t>(c1 - c0);
    scratch.resize(static_cast<size_t>(r1 - r0) * stride);
    const int low0 = yt[static_cast<size_t>(r0)].i0, low_rows = yt[static_cast<size_t>(r1 - 1)].i1 + 1 - low0;
    std::vector<float> rows(static_cast<size_t>(low_rows) * StripTaps::kMaxColumns);
    for (int cc = c0; cc < c1; cc += StripTaps::kMaxColumns) {
      const int n = std::min(StripTaps::kMaxColumns, c1 - cc);
      const StripTaps taps = MakeStripTaps(xt, cc, n);
      HorizontalStrip(low_res + static_cast<size_t>(low0) * low_w + xt[static_cast<size_t>(cc)].i0,
                      static_cast<size_t>(low_w), low_rows, taps, rows.data());
      for (int y = r0; y < r1; ++y) {
        const Tap& t = yt[static_cast<size_t>(y)];
        BlendRow(rows.data() + static_cast<size_t>(t.i0 - low0) * StripTaps::kMaxColumns,
                 rows.data() + static_cast<size_t>(t.i1 - low0) * StripTaps::kMaxColumns, t.w0, t.w1, n,
                 scratch.data() + static_cast<size_t>(y - r0) * stride + (cc - c0));
      }
    }
    return {scratch.data(), stride};
  }
};

// The RLE, bbox and area of the mask "resize of the source to out_h x out_w, > 0", computed on
// the part of the output that can be positive only (the rest is known to be background).
template <typename Source>
EncodedMask EncodeResized(const Source& src, int out_h, int out_w, EncodeThreads threads) {
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
    const RunCounts counts = runs.Finish(pixels);
    CompressRleRange(counts, 0, counts.size(), out.rle.counts);
    return out;
  }
  // The box is made a strip of 64 columns at a time: the horizontal pass of the source rows the
  // strip reads (64 floats each), then one 64-bit word of positives per output row, then per
  // 64 rows a bit transpose gives each column's pixels as a word, from which the runs come a
  // run (not a pixel) at a time. Whole background columns left of the box, then per box
  // column the background above it, its pixels and the background below, then the columns to
  // the right. The strip's source block is a few kilobytes wide, not every row of the source.
  const int box_h = y1 - y0;
  const int row_blocks = (box_h + 63) / 64;
  const std::vector<Tap> xt = BilinearTaps(in_w, out_w, x1);
  std::vector<Tap> yt = BilinearTaps(in_h, out_h, y1);
  const int source_row0 = yt[y0].i0, source_rows = yt[y1 - 1].i1 + 1 - source_row0;
  for (Tap& t : yt) t.i0 -= source_row0, t.i1 -= source_row0;  // rows of the block
  constexpr int kStripColumns = StripTaps::kMaxColumns;
  // The runs of box columns [from, to), counted from a background run, and their box.
  auto encode_columns = [&](int from, int to, RunCounter& into, BoxStats& box) {
    std::vector<uint64_t> rows_bits(static_cast<size_t>(row_blocks) * 64);  // zero past box_h
    std::vector<uint64_t> column_bits(static_cast<size_t>(row_blocks) * 64);
    std::vector<float> scratch;
    std::vector<float> strip(static_cast<size_t>(source_rows) * kStripColumns);
    for (int c0 = from; c0 < to; c0 += kStripColumns) {
      const int columns = std::min(kStripColumns, to - c0);
      const StripTaps taps = MakeStripTaps(xt, c0, columns);
      const int source_col0 = xt[c0].i0;
      const BlockView block = src.Block(source_row0, source_row0 + source_rows, source_col0,
                                        source_col0 + taps.source_cols, scratch);
      HorizontalStrip(block.data, block.stride, source_rows, taps, strip.data());
      PositiveRows(strip.data(), yt.data(), y0, y1, columns, rows_bits.data());
      box.Strip(rows_bits.data(), box_h, c0, y0);
      // column_bits[c * row_blocks + b]: rows 64b.. of column c.
      for (int b = 0; b < row_blocks; ++b) {
        uint64_t* words = rows_bits.data() + static_cast<size_t>(b) * 64;
        uint64_t any = 0;
        for (int r = 0; r < 64; ++r) any |= words[r];
        if (any != 0) TransposeBits64(words);  // all background is its own transpose
        for (int c = 0; c < columns; ++c) column_bits[static_cast<size_t>(c) * row_blocks + b] = words[c];
      }
      for (int c = 0; c < columns; ++c) {
        into.Background(static_cast<size_t>(y0));
        const uint64_t* column = column_bits.data() + static_cast<size_t>(c) * row_blocks;
        into.Words(column, static_cast<size_t>(box_h));
        into.Background(static_cast<size_t>(out_h - y1));
      }
    }
  };
  runs.Background(static_cast<size_t>(x0) * out_h);
  // A large box in two halves on two threads (a lone click on a 12-megapixel image has the
  // cores to itself); the right half's runs continue the left's.
  const uint64_t box_pixels = static_cast<uint64_t>(box_h) * static_cast<uint64_t>(x1 - x0);
  const int mid = x0 + (x1 - x0) / (2 * kStripColumns) * kStripColumns;
  bool split = threads == EncodeThreads::kTwoForLargeBoxes && box_pixels >= kSplitPixels && mid > x0 &&
               std::thread::hardware_concurrency() > 1;
  BoxStats box;
  if (split) {
    RunCounter right;
    BoxStats right_box;
    std::thread helper;
    try {
      helper = std::thread([&] { encode_columns(mid, x1, right, right_box); });
    } catch (const std::system_error&) {
      split = false;  // no thread to be had: all on this one
    }
    if (split) {
      encode_columns(x0, mid, runs, box);
      helper.join();
      runs.Append(right);
      box.Merge(right_box);
    }
  }
  if (!split) encode_columns(x0, x1, runs, box);
  runs.Background(static_cast<size_t>(out_w - x1) * out_h);
  const RunCounts counts = runs.Finish(pixels);
  // A speckled mask has a hundred thousand runs: the second half of their text is written on
  // another thread while this one writes the first and sums the area.
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
  out.area = ForegroundArea(counts);
  out.bbox = box.Bbox();
  if (writer.joinable()) {
    writer.join();
    out.rle.counts += tail;
  }
  return out;
}

}  // namespace

EncodedMask EncodeLowResLogits(const float* low_res, int low_h, int low_w, int input_h, int input_w,
                               int orig_h, int orig_w, int side, EncodeThreads threads) {
  CheckUpsampleArgs(low_res, low_h, low_w, input_h, input_w, orig_h, orig_w, side);
  return EncodeResized(CroppedUpsampleSource{low_res, low_h, low_w, side, input_h, input_w}, orig_h, orig_w,
                       threads);
}

EncodedMask EncodeStretchedLogits(const float* low_res, int low_h, int low_w, int orig_h, int orig_w,
                                  EncodeThreads threads) {
  assert(low_res != nullptr && low_h > 0 && low_w > 0 && orig_h > 0 && orig_w > 0);
  return EncodeResized(MatrixSource{low_res, low_h, low_w}, orig_h, orig_w, threads);
}

}  // namespace samcache
