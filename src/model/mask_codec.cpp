#include "model/mask_codec.h"

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <array>
#include <cassert>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <limits>
#include <utility>

#include "model/bilinear_resize.h"
#include "model/mask_kernels.h"
#include "model/rle_runs.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace samcache {
namespace {

using namespace mask_internal;

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
  const RunCounts counts = runs.Finish(n);
  return {counts.begin(), counts.end()};
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

namespace mask_internal {

// Appends the compressed form of counts [from, to) to `out`: each count stands alone given
// the one two places before it, so ranges can be compressed apart and joined.
void CompressRleRange(std::span<const uint32_t> counts, size_t from, size_t to, std::string& out) {
  const size_t start = out.size();
  out.resize(start + (to - from) * 7 + 8);  // at most seven characters a count, plus the slack
  char* const end = WriteRleText(counts.data(), from, to, out.data() + start);
  out.resize(static_cast<size_t>(end - out.data()));
}

}  // namespace mask_internal

std::string CompressRleCounts(const std::vector<uint32_t>& counts) {
  std::string s;
  mask_internal::CompressRleRange(counts, 0, counts.size(), s);
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
