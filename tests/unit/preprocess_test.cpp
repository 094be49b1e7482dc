#include "model/preprocess.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <vector>

// OpenCV 4.6 headers trip C++20's enum-arithmetic deprecation when included with -I.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-enum-enum-conversion"
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#pragma GCC diagnostic pop

#include "support/test_support.h"

namespace samcache {
namespace {

using testing::MakeScene;

constexpr std::array<float, 3> kMean = {123.675f, 116.28f, 103.53f};
constexpr std::array<float, 3> kStd = {58.395f, 57.12f, 57.375f};

uint8_t Pixel(const DecodedImage& image, int y, int x, int c) {
  return static_cast<uint8_t>(image.rgb[(static_cast<size_t>(y) * image.width + x) * 3 + c]);
}

TEST(LongestSideSizeTest, MatchesGetPreprocessShape) {
  // Values worked out with segment-anything's formula: int(old * 1024 / max(h, w) + 0.5).
  struct Case {
    int h, w, want_h, want_w;
  };
  for (const Case& c : std::vector<Case>{
           {3000, 4000, 768, 1024},  // landscape: height first
           {4000, 3000, 1024, 768},  // portrait
           {900, 1600, 576, 1024},
           {700, 1200, 597, 1024},  // 597.33
           {600, 1000, 614, 1024},  // enlarging: 614.4
           {333, 500, 682, 1024},   // 681.98
           {100, 100, 1024, 1024},
           {1024, 1024, 1024, 1024},
           {5, 2048, 3, 1024},  // 2.5 rounds up, not to even
           {1, 5000, 1, 1024},  // 0.2 would round to 0: kept at 1
       }) {
    const ResizedSize size = LongestSideSize(c.h, c.w);
    EXPECT_EQ(size.height, c.want_h) << c.h << "x" << c.w;
    EXPECT_EQ(size.width, c.want_w) << c.h << "x" << c.w;
  }
  const ResizedSize small = LongestSideSize(480, 640, 256);
  EXPECT_EQ(small.height, 192);
  EXPECT_EQ(small.width, 256);
}

TEST(ResizeLongestSideTest, ShrinksWithAreaAveraging) {
  const DecodedImage image = MakeScene(1500, 1000, 3);  // width, height
  const DecodedImage resized = ResizeLongestSide(image);
  ASSERT_EQ(resized.width, 1024u);
  ASSERT_EQ(resized.height, 683u);  // 682.67
  ASSERT_EQ(resized.rgb.size(), 1024u * 683 * 3);
  cv::Mat src(1000, 1500, CV_8UC3, const_cast<char*>(image.rgb.data()));
  cv::Mat want;
  cv::resize(src, want, cv::Size(1024, 683), 0, 0, cv::INTER_AREA);
  EXPECT_EQ(0, std::memcmp(want.data, resized.rgb.data(), resized.rgb.size()));
}

TEST(ResizeLongestSideTest, EnlargesBilinearAndKeepsSameSize) {
  const DecodedImage image = MakeScene(200, 300, 4);
  const DecodedImage resized = ResizeLongestSide(image);
  ASSERT_EQ(resized.width, 683u);
  ASSERT_EQ(resized.height, 1024u);
  cv::Mat src(300, 200, CV_8UC3, const_cast<char*>(image.rgb.data()));
  cv::Mat want;
  cv::resize(src, want, cv::Size(683, 1024), 0, 0, cv::INTER_LINEAR);
  EXPECT_EQ(0, std::memcmp(want.data, resized.rgb.data(), resized.rgb.size()));

  const DecodedImage same = ResizeLongestSide(MakeScene(1024, 512, 5));
  EXPECT_EQ(same.rgb, MakeScene(1024, 512, 5).rgb);
}

TEST(ResizeToTest, StretchesAreaAlongShrinkingSidesBilinearAlongGrowingOnes) {
  const DecodedImage image = MakeScene(1500, 600, 7);
  const DecodedImage stretched = ResizeTo(image, 1024, 1024);
  ASSERT_EQ(stretched.width, 1024u);
  ASSERT_EQ(stretched.height, 1024u);
  cv::Mat src(600, 1500, CV_8UC3, const_cast<char*>(image.rgb.data()));
  cv::Mat half;
  cv::Mat want;
  cv::resize(src, half, cv::Size(1024, 600), 0, 0, cv::INTER_AREA);
  cv::resize(half, want, cv::Size(1024, 1024), 0, 0, cv::INTER_LINEAR);
  EXPECT_EQ(0, std::memcmp(want.data, stretched.rgb.data(), stretched.rgb.size()));
  cv::resize(src, want, cv::Size(700, 300), 0, 0, cv::INTER_AREA);
  EXPECT_EQ(0, std::memcmp(want.data, ResizeTo(image, 300, 700).rgb.data(), want.total() * 3));
  EXPECT_EQ(ResizeTo(image, 600, 1500).rgb, image.rgb);
}

TEST(FillNchwTest, NormalisesEveryPixelWithoutPadding) {
  const DecodedImage image = MakeScene(7, 5, 6);
  std::vector<float> out(3 * 7 * 5, -1.0f);
  FillNchw(image, {0, 0, 0}, {255, 255, 255}, out.data());
  for (int c = 0; c < 3; ++c) {
    for (int y = 0; y < 5; ++y) {
      for (int x = 0; x < 7; ++x) {
        EXPECT_EQ(out[(static_cast<size_t>(c) * 5 + y) * 7 + x],
                  static_cast<float>(Pixel(image, y, x, c)) / 255.0f);
      }
    }
  }
}

TEST(FillNchwNormalizedTest, NormalisesEveryChannelAndZeroPads) {
  const DecodedImage image = MakeScene(7, 5, 6);  // 7 wide, 5 high
  constexpr int kSide = 9;
  std::vector<float> out(3 * kSide * kSide, -1.0f);
  FillNchwNormalized(image, kMean, kStd, kSide, out.data());
  for (int c = 0; c < 3; ++c) {
    for (int y = 0; y < kSide; ++y) {
      for (int x = 0; x < kSide; ++x) {
        const float got = out[(static_cast<size_t>(c) * kSide + y) * kSide + x];
        if (y < 5 && x < 7) {
          EXPECT_EQ(got, (static_cast<float>(Pixel(image, y, x, c)) - kMean[c]) / kStd[c])
              << c << "," << y << "," << x;
        } else {
          EXPECT_EQ(got, 0.0f) << "padding at " << c << "," << y << "," << x;
        }
      }
    }
  }
}

TEST(FillNchwNormalizedTest, FullSizeImageMatchesFormula) {
  const DecodedImage image = ResizeLongestSide(MakeScene(800, 1200, 7));  // 683 x 1024
  std::vector<float> out(3 * 1024 * 1024, -1.0f);
  FillNchwNormalized(image, kMean, kStd, 1024, out.data());
  size_t mismatches = 0;
  for (int c = 0; c < 3; ++c) {
    for (int y = 0; y < 1024; ++y) {
      for (int x = 0; x < 1024; ++x) {
        const float want = x < static_cast<int>(image.width)
                               ? (static_cast<float>(Pixel(image, y, x, c)) - kMean[c]) / kStd[c]
                               : 0.0f;
        mismatches += out[(static_cast<size_t>(c) * 1024 + y) * 1024 + x] != want;
      }
    }
  }
  EXPECT_EQ(mismatches, 0u);
}

TEST(FillHwcFloatTest, CopiesRgbAsFloats) {
  const DecodedImage image = MakeScene(6, 4, 8);
  std::vector<float> out(6 * 4 * 3);
  FillHwcFloat(image, out.data());
  for (size_t i = 0; i < out.size(); ++i) {
    EXPECT_EQ(out[i], static_cast<float>(static_cast<uint8_t>(image.rgb[i]))) << i;
  }
}

}  // namespace
}  // namespace samcache
