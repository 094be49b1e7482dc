#include "model/mask_codec.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

// OpenCV 4.6 headers trip C++20's enum-arithmetic deprecation when included with -I.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-enum-enum-conversion"
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#pragma GCC diagnostic pop

#include "model/preprocess.h"

namespace samcache {
namespace {

// A mask from rows of '0'/'1' characters.
BinaryMask FromRows(const std::vector<std::string>& rows) {
  BinaryMask mask;
  mask.height = static_cast<int>(rows.size());
  mask.width = rows.empty() ? 0 : static_cast<int>(rows[0].size());
  for (const std::string& row : rows) {
    for (char c : row) mask.data.push_back(c == '1');
  }
  return mask;
}

BinaryMask RandomMask(int height, int width, double p_one, uint32_t seed) {
  std::mt19937 rng(seed);
  std::bernoulli_distribution one(p_one);
  BinaryMask mask{height, width, std::vector<uint8_t>(static_cast<size_t>(height) * width)};
  // Blocky runs as well as single pixels: keep the previous value with probability 0.7.
  uint8_t previous = 0;
  std::bernoulli_distribution keep(0.7);
  for (uint8_t& v : mask.data) v = previous = keep(rng) ? previous : one(rng);
  return mask;
}

// pycocotools rleEncode, written the obvious way.
std::vector<uint32_t> NaiveCounts(const BinaryMask& mask) {
  std::vector<uint32_t> counts;
  uint8_t previous = 0;
  uint32_t run = 0;
  for (int x = 0; x < mask.width; ++x) {
    for (int y = 0; y < mask.height; ++y) {
      const uint8_t v = mask.data[static_cast<size_t>(y) * mask.width + x];
      if (v != previous) {
        counts.push_back(run);
        run = 0;
        previous = v;
      }
      ++run;
    }
  }
  counts.push_back(run);
  return counts;
}

cv::Mat ToMat(const BinaryMask& mask) {
  return cv::Mat(mask.height, mask.width, CV_8UC1, const_cast<uint8_t*>(mask.data.data())).clone();
}

// --- RLE --------------------------------------------------------------------------------------

TEST(RleTest, HandCheckedSmallMask) {
  // Columns top to bottom: 001 | 111 | 100 | 001, so the Fortran-order pixels are
  // 00 11111 0000 1: counts [2, 5, 4, 1]. String: '2' '5' '4', then the fourth count is sent
  // as 1 - 5 = -4: low 5 bits 11100 = 28, sign bit set and nothing but sign above, so one
  // char 48 + 28 = 'L'.
  const BinaryMask mask = FromRows({
      "0110",
      "0100",
      "1101",
  });
  EXPECT_EQ(RleCounts(mask), (std::vector<uint32_t>{2, 5, 4, 1}));
  const Rle rle = EncodeRle(mask);
  EXPECT_EQ(rle.height, 3);
  EXPECT_EQ(rle.width, 4);
  EXPECT_EQ(rle.counts, "254L");
  Result<BinaryMask> back = DecodeRle(rle);
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->data, mask.data);
}

TEST(RleTest, MaskStartingWithForegroundHasZeroFirstRun) {
  // Fortran order 1 1 0 1: counts [0, 2, 1, 1]; 1 - 2 = -1 is 11111 = 31, char 'O'.
  const BinaryMask mask = FromRows({"10", "11"});
  EXPECT_EQ(RleCounts(mask), (std::vector<uint32_t>{0, 2, 1, 1}));
  EXPECT_EQ(EncodeRle(mask).counts, "021O");
}

TEST(RleTest, MultiCharacterAndNegativeCounts) {
  // 3 -> '3'.
  // 100 = 3 * 32 + 4: group 4 with "more" (4 | 0x20 = 36, 'T'), then 3 ('3').
  // 16 = 10000: the 0x10 bit would read as a sign, so a second group 0 follows: '`' '0'.
  // 90 - 100 = -10: low bits 10110 = 22, rest all sign: 'F'.
  // 13 - 16 = -3: 11101 = 29: 'M'.
  // 1000000 - 90 = 999910: 5-bit groups from the bottom 6, 15, 16, 30, each with "more"
  // (+32): 'V' '_' '`' 'n'; 30 has the 0x10 bit, so a final 0 group: '0'.
  const std::vector<uint32_t> counts = {3, 100, 16, 90, 13, 1000000};
  const std::string s = CompressRleCounts(counts);
  EXPECT_EQ(s, "3T3`0FMV_`n0");
  Result<std::vector<uint32_t>> back = DecompressRleCounts(s);
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(*back, counts);
}

TEST(RleTest, AllZeroAllOneAndEmpty) {
  BinaryMask zeros{3, 5, std::vector<uint8_t>(15, 0)};
  BinaryMask ones{3, 5, std::vector<uint8_t>(15, 1)};
  EXPECT_EQ(RleCounts(zeros), (std::vector<uint32_t>{15}));
  EXPECT_EQ(RleCounts(ones), (std::vector<uint32_t>{0, 15}));
  EXPECT_EQ(EncodeRle(zeros).counts, "?");  // 15 = 01111: 48 + 15
  EXPECT_EQ(EncodeRle(ones).counts, "0?");
  BinaryMask empty;
  EXPECT_EQ(RleCounts(empty), (std::vector<uint32_t>{0}));  // as pycocotools
  Result<BinaryMask> back = DecodeRle(EncodeRle(empty));
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_TRUE(back->data.empty());
}

TEST(RleTest, RoundTripsRandomMasksOfOddSizes) {
  struct Size {
    int h, w;
  };
  uint32_t seed = 1;
  for (const Size& size : std::vector<Size>{{1, 1},
                                            {1, 37},
                                            {41, 1},
                                            {13, 29},
                                            {64, 65},
                                            {127, 3},
                                            {301, 199},
                                            {1000, 3},
                                            {17, 640},
                                            {300, 128}}) {
    for (double p : {0.0, 0.05, 0.5, 0.95, 1.0}) {
      BinaryMask mask = RandomMask(size.h, size.w, p, seed++);
      for (int first : {0, 1}) {
        mask.data[0] = static_cast<uint8_t>(first);
        const std::vector<uint32_t> counts = RleCounts(mask);
        ASSERT_EQ(counts, NaiveCounts(mask)) << size.h << "x" << size.w << " p=" << p;
        const Rle rle = EncodeRle(mask);
        Result<BinaryMask> back = DecodeRle(rle);
        ASSERT_TRUE(back.ok()) << back.status().message();
        EXPECT_EQ(back->height, size.h);
        EXPECT_EQ(back->width, size.w);
        EXPECT_EQ(back->data, mask.data) << size.h << "x" << size.w << " p=" << p;
      }
    }
  }
}

TEST(RleTest, NonBinaryBytesCountAsForeground) {
  const BinaryMask mask{1, 3, {0, 255, 7}};
  EXPECT_EQ(RleCounts(mask), (std::vector<uint32_t>{1, 2}));
}

TEST(RleTest, RejectsMalformedStrings) {
  auto decode = [](const std::string& counts, int h, int w) { return DecodeRle(Rle{h, w, counts}); };
  EXPECT_TRUE(decode("254L", 3, 4).ok());
  for (const auto& [counts, h, w] : std::vector<std::tuple<std::string, int, int>>{
           {"254L", 4, 4},       // sums to 12, not 16
           {"254L", 2, 5},       // sums to 12, not 10
           {"2", 3, 1},          // too short
           {"25!L", 3, 4},       // '!' is below '0'
           {"254p", 3, 4},       // 'p' is above 'o'
           {"25\x80L", 3, 4},    // not ASCII
           {"25T", 3, 4},        // 'T' says more follows, nothing does
           {"oooooooo0", 3, 4},  // too many groups for a 32-bit count
           {"531L", 3, 3},       // fourth count 3 + (-4) = -1
           {"254L", -3, -4},     // negative size
       }) {
    Result<BinaryMask> mask = decode(counts, h, w);
    ASSERT_FALSE(mask.ok()) << counts << " " << h << "x" << w;
    EXPECT_EQ(mask.status().code(), StatusCode::kInvalidArgument) << counts;
  }
  Result<BinaryMask> huge = decode("0", 100000, 100000);
  ASSERT_FALSE(huge.ok());
  EXPECT_EQ(huge.status().code(), StatusCode::kInvalidArgument);
}

// --- Bbox, area, polygons, PNG ---------------------------------------------------------------

TEST(MaskShapeTest, BboxAndArea) {
  EXPECT_EQ(MaskBbox(BinaryMask{4, 4, std::vector<uint8_t>(16, 0)}), (std::array<int, 4>{0, 0, 0, 0}));
  EXPECT_EQ(MaskArea(BinaryMask{4, 4, std::vector<uint8_t>(16, 0)}), 0u);
  EXPECT_EQ(MaskBbox(BinaryMask{}), (std::array<int, 4>{0, 0, 0, 0}));

  const BinaryMask single = FromRows({"0000", "0000", "0010"});
  EXPECT_EQ(MaskBbox(single), (std::array<int, 4>{2, 2, 1, 1}));
  EXPECT_EQ(MaskArea(single), 1u);

  const BinaryMask mask = FromRows({
      "000000",
      "001000",
      "000001",
      "010000",
      "000000",
  });
  EXPECT_EQ(MaskBbox(mask), (std::array<int, 4>{1, 1, 5, 3}));
  EXPECT_EQ(MaskArea(mask), 3u);

  for (uint32_t seed = 1; seed < 20; ++seed) {
    const BinaryMask random = RandomMask(37 + seed, 300 - seed, 0.002 * seed, seed);
    int x0 = random.width, y0 = random.height, x1 = -1, y1 = -1;
    uint64_t area = 0;
    for (int y = 0; y < random.height; ++y) {
      for (int x = 0; x < random.width; ++x) {
        if (random.data[static_cast<size_t>(y) * random.width + x] == 0) continue;
        ++area;
        x0 = std::min(x0, x), x1 = std::max(x1, x), y0 = std::min(y0, y), y1 = std::max(y1, y);
      }
    }
    EXPECT_EQ(MaskArea(random), area);
    if (area > 0) {
      EXPECT_EQ(MaskBbox(random), (std::array<int, 4>{x0, y0, x1 - x0 + 1, y1 - y0 + 1}));
    }
  }
}

// The polygon's vertices as (x, y) pairs.
std::vector<cv::Point> Vertices(const std::vector<float>& polygon) {
  std::vector<cv::Point> points;
  for (size_t i = 0; i + 1 < polygon.size(); i += 2) {
    points.emplace_back(static_cast<int>(polygon[i]), static_cast<int>(polygon[i + 1]));
  }
  return points;
}

TEST(MaskShapeTest, PolygonOfRectangle) {
  BinaryMask mask{20, 30, std::vector<uint8_t>(600, 0)};
  for (int y = 3; y <= 9; ++y) {
    for (int x = 5; x <= 14; ++x) mask.data[y * 30 + x] = 1;
  }
  const std::vector<std::vector<float>> polygons = MaskPolygons(mask);
  ASSERT_EQ(polygons.size(), 1u);
  std::vector<cv::Point> vertices = Vertices(polygons[0]);
  auto less = [](const cv::Point& a, const cv::Point& b) { return a.x != b.x ? a.x < b.x : a.y < b.y; };
  std::sort(vertices.begin(), vertices.end(), less);
  EXPECT_EQ(vertices, (std::vector<cv::Point>{{5, 3}, {5, 9}, {14, 3}, {14, 9}}));

  // A rectangle filling the whole mask still has its four corners.
  const std::vector<std::vector<float>> full = MaskPolygons(BinaryMask{4, 6, std::vector<uint8_t>(24, 1)});
  ASSERT_EQ(full.size(), 1u);
  vertices = Vertices(full[0]);
  std::sort(vertices.begin(), vertices.end(), less);
  EXPECT_EQ(vertices, (std::vector<cv::Point>{{0, 0}, {0, 3}, {5, 0}, {5, 3}}));
}

TEST(MaskShapeTest, PolygonOfCircleAndSpecks) {
  cv::Mat image = cv::Mat::zeros(120, 100, CV_8UC1);
  cv::circle(image, cv::Point(50, 60), 30, cv::Scalar(1), cv::FILLED);
  cv::circle(image, cv::Point(50, 60), 10, cv::Scalar(0), cv::FILLED);  // a hole: not represented
  image.at<uint8_t>(5, 5) = 1;                                          // a speck: dropped
  for (int x = 80; x < 90; ++x) image.at<uint8_t>(110, x) = 1;          // a 1-pixel line: dropped
  BinaryMask mask{120, 100, std::vector<uint8_t>(image.data, image.data + image.total())};

  const std::vector<std::vector<float>> polygons = MaskPolygons(mask, 1.0);
  ASSERT_EQ(polygons.size(), 1u);
  const std::vector<float>& polygon = polygons[0];
  ASSERT_GE(polygon.size(), 2u * 12);
  double area = 0;  // shoelace
  const size_t n = polygon.size() / 2;
  for (size_t i = 0; i < n; ++i) {
    const size_t j = (i + 1) % n;
    area += polygon[2 * i] * polygon[2 * j + 1] - polygon[2 * j] * polygon[2 * i + 1];
    const double r = std::hypot(polygon[2 * i] - 50.0, polygon[2 * i + 1] - 60.0);
    EXPECT_NEAR(r, 30.0, 1.5) << "vertex " << i;
  }
  // Vertices are boundary pixel centres, so the polygon is about half a pixel inside the disc.
  EXPECT_NEAR(std::abs(area) / 2, M_PI * 29.5 * 29.5, 0.05 * M_PI * 30 * 30);

  // A coarser epsilon gives fewer vertices.
  EXPECT_LT(MaskPolygons(mask, 4.0)[0].size(), polygon.size());
  EXPECT_TRUE(MaskPolygons(BinaryMask{3, 3, std::vector<uint8_t>(9, 0)}).empty());
}

TEST(MaskShapeTest, PolygonsTraceOnlyTheBoxYetMatchAFullTrace) {
  cv::Mat image = cv::Mat::zeros(300, 400, CV_8UC1);
  cv::circle(image, cv::Point(250, 180), 40, cv::Scalar(1), cv::FILLED);
  cv::rectangle(image, cv::Rect(300, 40, 30, 20), cv::Scalar(1), cv::FILLED);
  const BinaryMask mask{300, 400, std::vector<uint8_t>(image.data, image.data + image.total())};
  std::vector<std::vector<cv::Point>> contours;
  cv::findContours(image, contours, cv::RETR_EXTERNAL, cv::CHAIN_APPROX_SIMPLE);
  std::vector<std::vector<float>> want;
  for (const auto& contour : contours) {
    std::vector<cv::Point> simplified;
    cv::approxPolyDP(contour, simplified, 1.0, true);
    std::vector<float>& polygon = want.emplace_back();
    for (const cv::Point& p : simplified) {
      polygon.push_back(static_cast<float>(p.x));
      polygon.push_back(static_cast<float>(p.y));
    }
  }
  EXPECT_EQ(MaskPolygons(mask), want);
}

TEST(MaskShapeTest, PolygonCountAndVerticesAreBounded) {
  // 60 squares of growing size: only the largest are kept, in their usual order.
  cv::Mat image = cv::Mat::zeros(400, 600, CV_8UC1);
  for (int i = 0; i < 60; ++i) {
    const int side = 3 + i / 4;
    cv::rectangle(image, cv::Rect(10 + (i % 10) * 55, 10 + (i / 10) * 60, side, side), cv::Scalar(1),
                  cv::FILLED);
  }
  const BinaryMask squares{400, 600, std::vector<uint8_t>(image.data, image.data + image.total())};
  EXPECT_EQ(MaskPolygons(squares).size(), 60u);
  PolygonOptions options;
  options.max_polygons = 8;
  const std::vector<std::vector<float>> kept = MaskPolygons(squares, options);
  ASSERT_EQ(kept.size(), 8u);
  for (const std::vector<float>& polygon : kept) {
    // The 8 largest squares are the last 8 drawn (sides 16 and 17): their top row is y >= 310.
    float min_y = polygon[1];
    for (size_t k = 1; k < polygon.size(); k += 2) min_y = std::min(min_y, polygon[k]);
    EXPECT_GE(min_y, 310.0f);
  }

  // A ragged outline with thousands of vertices is simplified until the budget holds.
  cv::Mat ragged = cv::Mat::zeros(1000, 1000, CV_8UC1);
  std::vector<cv::Point> star;
  for (int k = 0; k < 600; ++k) {
    const double a = 2 * M_PI * k / 600;
    const double r = k % 2 == 0 ? 450 : 380;
    star.emplace_back(500 + static_cast<int>(r * std::cos(a)), 500 + static_cast<int>(r * std::sin(a)));
  }
  cv::fillPoly(ragged, std::vector<std::vector<cv::Point>>{star}, cv::Scalar(1));
  const BinaryMask star_mask{1000, 1000, std::vector<uint8_t>(ragged.data, ragged.data + ragged.total())};
  ASSERT_GT(MaskPolygons(star_mask)[0].size() / 2, 500u);
  options = PolygonOptions{};
  options.max_vertices = 100;
  const std::vector<std::vector<float>> bounded = MaskPolygons(star_mask, options);
  ASSERT_EQ(bounded.size(), 1u);
  EXPECT_LE(bounded[0].size() / 2, 100u);
  EXPECT_GE(bounded[0].size() / 2, 3u);
  options.max_polygons = 0;
  EXPECT_TRUE(MaskPolygons(star_mask, options).empty());
}

TEST(MaskShapeTest, PngIsOneBitEvenForNonBinaryBytes) {
  BinaryMask mask = RandomMask(64, 200, 0.5, 4);
  for (size_t i = 0; i < mask.data.size(); i += 3) mask.data[i] *= 200;  // 0 or 200: still foreground
  Result<std::string> png = MaskPng(mask);
  ASSERT_TRUE(png.ok()) << png.status().message();
  EXPECT_EQ(static_cast<int>((*png)[24]), 1);  // IHDR bit depth
  EXPECT_EQ(static_cast<int>((*png)[25]), 0);  // colour type: greyscale
  const cv::Mat decoded =
      cv::imdecode(cv::Mat(1, static_cast<int>(png->size()), CV_8UC1, png->data()), cv::IMREAD_UNCHANGED);
  ASSERT_EQ(decoded.type(), CV_8UC1);
  cv::Mat want;
  cv::compare(ToMat(mask), 0, want, cv::CMP_NE);
  EXPECT_EQ(cv::countNonZero(decoded != want), 0);
}

TEST(MaskShapeTest, PngDecodesToTheMask) {
  const BinaryMask mask = RandomMask(37, 53, 0.4, 9);
  Result<std::string> png = MaskPng(mask);
  ASSERT_TRUE(png.ok()) << png.status().message();
  ASSERT_EQ(png->substr(1, 3), "PNG");
  const cv::Mat decoded =
      cv::imdecode(cv::Mat(1, static_cast<int>(png->size()), CV_8UC1, png->data()), cv::IMREAD_UNCHANGED);
  ASSERT_EQ(decoded.type(), CV_8UC1);
  ASSERT_EQ(decoded.rows, 37);
  ASSERT_EQ(decoded.cols, 53);
  cv::Mat want = ToMat(mask) * 255;
  EXPECT_EQ(cv::countNonZero(decoded != want), 0);

  Result<std::string> empty = MaskPng(BinaryMask{});
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.status().code(), StatusCode::kInvalidArgument);
}

// --- Upsampling -------------------------------------------------------------------------------

// The reference: PyTorch-style bilinear (align_corners=False) in double precision, written
// plainly. src = (dst + 0.5) * in / out - 0.5, clamped to [0, in - 1].
std::vector<double> NaiveBilinear(const std::vector<double>& src, int in_h, int in_w, int out_h, int out_w) {
  auto coord = [](int d, int in, int out, int* i0, int* i1, double* frac) {
    double s = (d + 0.5) * in / out - 0.5;
    s = std::clamp(s, 0.0, static_cast<double>(in - 1));
    *i0 = static_cast<int>(std::floor(s));
    *i1 = std::min(*i0 + 1, in - 1);
    *frac = s - *i0;
  };
  std::vector<double> out(static_cast<size_t>(out_h) * out_w);
  for (int y = 0; y < out_h; ++y) {
    int y0, y1;
    double fy;
    coord(y, in_h, out_h, &y0, &y1, &fy);
    for (int x = 0; x < out_w; ++x) {
      int x0, x1;
      double fx;
      coord(x, in_w, out_w, &x0, &x1, &fx);
      auto at = [&](int yy, int xx) { return src[static_cast<size_t>(yy) * in_w + xx]; };
      const double top = at(y0, x0) * (1 - fx) + at(y0, x1) * fx;
      const double bottom = at(y1, x0) * (1 - fx) + at(y1, x1) * fx;
      out[static_cast<size_t>(y) * out_w + x] = top * (1 - fy) + bottom * fy;
    }
  }
  return out;
}

// The whole postprocess, naively: 256 -> 1024 x 1024, crop, -> original size.
std::vector<double> NaivePostprocess(const std::vector<float>& low, int input_h, int input_w, int orig_h,
                                     int orig_w) {
  const std::vector<double> up =
      NaiveBilinear(std::vector<double>(low.begin(), low.end()), 256, 256, 1024, 1024);
  std::vector<double> cropped(static_cast<size_t>(input_h) * input_w);
  for (int y = 0; y < input_h; ++y) {
    for (int x = 0; x < input_w; ++x) cropped[static_cast<size_t>(y) * input_w + x] = up[y * 1024 + x];
  }
  return NaiveBilinear(cropped, input_h, input_w, orig_h, orig_w);
}

// Logits shaped like a decoder's: smooth blobs crossing zero, plus a little noise.
std::vector<float> LowResLogits(uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> noise(-0.3f, 0.3f);
  std::vector<float> low(256 * 256);
  for (int y = 0; y < 256; ++y) {
    for (int x = 0; x < 256; ++x) {
      low[y * 256 + x] = 4.0f * std::sin(x * 0.05f + seed) * std::cos(y * 0.07f) - 1.0f + noise(rng);
    }
  }
  return low;
}

struct UpsampleCase {
  int orig_h, orig_w;
};

class UpsampleTest : public ::testing::TestWithParam<UpsampleCase> {};

TEST_P(UpsampleTest, MatchesNaiveBilinearAndCvResize) {
  const int orig_h = GetParam().orig_h, orig_w = GetParam().orig_w;
  const ResizedSize input = LongestSideSize(orig_h, orig_w);
  const std::vector<float> low = LowResLogits(static_cast<uint32_t>(orig_h + orig_w));

  const std::vector<float> logits =
      UpsampleLowResLogitsToLogits(low.data(), 256, 256, input.height, input.width, orig_h, orig_w);
  const BinaryMask mask =
      UpsampleLowResLogits(low.data(), 256, 256, input.height, input.width, orig_h, orig_w);
  ASSERT_EQ(mask.height, orig_h);
  ASSERT_EQ(mask.width, orig_w);
  ASSERT_EQ(logits.size(), static_cast<size_t>(orig_h) * orig_w);

  // Against the double-precision reference: logits within float rounding (inputs are at most
  // about 5 in magnitude), and the mask identical except where the reference logit is within
  // that rounding of 0. In practice no pixel differs; allow a handful.
  const std::vector<double> want = NaivePostprocess(low, input.height, input.width, orig_h, orig_w);
  double max_error = 0;
  size_t mask_differences = 0, threshold_differences = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    max_error = std::max(max_error, std::abs(logits[i] - want[i]));
    if (mask.data[i] != (want[i] > 0)) {
      ++mask_differences;
      EXPECT_LT(std::abs(want[i]), 1e-4) << "pixel " << i << " differs far from the boundary";
    }
    threshold_differences += mask.data[i] != (logits[i] > 0.0f);
  }
  EXPECT_LT(max_error, 1e-4);
  EXPECT_LE(mask_differences, 5u);
  // The mask is exactly the thresholded float output.
  EXPECT_EQ(threshold_differences, 0u);

  // Against the literal definition with OpenCV (what the export computes with PyTorch).
  cv::Mat low_mat(256, 256, CV_32F, const_cast<float*>(low.data()));
  cv::Mat up, out;
  cv::resize(low_mat, up, cv::Size(1024, 1024), 0, 0, cv::INTER_LINEAR);
  cv::resize(up(cv::Rect(0, 0, input.width, input.height)), out, cv::Size(orig_w, orig_h), 0, 0,
             cv::INTER_LINEAR);
  double max_cv_error = 0;
  for (int y = 0; y < orig_h; ++y) {
    for (int x = 0; x < orig_w; ++x) {
      max_cv_error = std::max(
          max_cv_error,
          static_cast<double>(std::abs(out.at<float>(y, x) - logits[static_cast<size_t>(y) * orig_w + x])));
    }
  }
  EXPECT_LT(max_cv_error, 1e-5);
}

INSTANTIATE_TEST_SUITE_P(Sizes, UpsampleTest,
                         ::testing::Values(UpsampleCase{900, 1600},   // input 576 x 1024
                                           UpsampleCase{700, 1200},   // input 597 x 1024
                                           UpsampleCase{1200, 700},   // input 1024 x 597
                                           UpsampleCase{300, 500},    // smaller than 1024: shrinks
                                           UpsampleCase{1024, 1024},  // no crop, no second resize
                                           UpsampleCase{3000, 4000}),
                         [](const ::testing::TestParamInfo<UpsampleCase>& info) {
                           return std::to_string(info.param.orig_h) + "x" + std::to_string(info.param.orig_w);
                         });

TEST(UpsampleTest, UniformLogitsGiveUniformMask) {
  std::vector<float> low(256 * 256, 2.5f);
  const BinaryMask ones = UpsampleLowResLogits(low.data(), 256, 256, 768, 1024, 3000, 4000);
  EXPECT_EQ(MaskArea(ones), 3000u * 4000);
  EXPECT_EQ(EncodeRle(ones).counts, CompressRleCounts({0, 3000 * 4000}));
  std::fill(low.begin(), low.end(), -2.5f);
  EXPECT_EQ(MaskArea(UpsampleLowResLogits(low.data(), 256, 256, 768, 1024, 3000, 4000)), 0u);
}

}  // namespace
}  // namespace samcache
