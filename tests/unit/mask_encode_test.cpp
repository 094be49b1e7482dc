// The RLE-only path of a click (EncodeLowResLogits / EncodeStretchedLogits: only the box a
// positive logit can reach is upsampled) against the reference (the full-size mask, then
// EncodeRle, MaskBbox and MaskArea): identical on random logits and image sizes, in both frames.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "model/mask_codec.h"
#include "model/mask_kernels.h"
#include "model/preprocess.h"
#include "model/segmenter.h"

namespace samcache {
namespace {

constexpr int kLow = 256;

enum class Pattern {
  kBlob,
  kSparseNoise,
  kDenseNoise,
  kAllNegative,
  kAllPositive,
  kOnePixel,
  kCorners,
  kEdges,      // positives along the four borders only
  kEdgePixel,  // one positive somewhere on a border
};

// Logits of one kind, as a decoder might give them (a blob, speckle, nothing, everything).
std::vector<float> Logits(Pattern pattern, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> unit(0.0f, 1.0f);
  std::vector<float> low(kLow * kLow);
  switch (pattern) {
    case Pattern::kBlob: {
      const float cx = unit(rng) * kLow, cy = unit(rng) * kLow, r = 2 + unit(rng) * 60;
      for (int y = 0; y < kLow; ++y) {
        for (int x = 0; x < kLow; ++x) {
          const float d = std::hypot(static_cast<float>(x) - cx, static_cast<float>(y) - cy);
          low[y * kLow + x] = (r - d) / 4 + (unit(rng) - 0.5f);
        }
      }
      break;
    }
    case Pattern::kSparseNoise:
      for (float& v : low) v = unit(rng) < 0.002f ? unit(rng) * 8 : -unit(rng) * 8;
      break;
    case Pattern::kDenseNoise:
      for (float& v : low) v = (unit(rng) - 0.5f) * 20;
      break;
    case Pattern::kAllNegative:
      for (float& v : low) v = -0.5f - unit(rng);
      break;
    case Pattern::kAllPositive:
      for (float& v : low) v = 0.5f + unit(rng);
      break;
    case Pattern::kOnePixel:
      std::fill(low.begin(), low.end(), -4.0f);
      low[static_cast<size_t>(rng() % (kLow * kLow))] = 30.0f;
      break;
    case Pattern::kCorners:
      std::fill(low.begin(), low.end(), -1.0f);
      low.front() = low[kLow - 1] = low[(kLow - 1) * kLow] = low.back() = 5.0f;
      break;
    case Pattern::kEdges:
      std::fill(low.begin(), low.end(), -2.0f);
      for (int i = 0; i < kLow; ++i) {
        if (unit(rng) < 0.3f) low[i] = 1.0f;                      // top row
        if (unit(rng) < 0.3f) low[(kLow - 1) * kLow + i] = 1.0f;  // bottom row
        if (unit(rng) < 0.3f) low[i * kLow] = 1.0f;               // left column
        if (unit(rng) < 0.3f) low[i * kLow + kLow - 1] = 1.0f;    // right column
      }
      break;
    case Pattern::kEdgePixel: {
      std::fill(low.begin(), low.end(), -3.0f);
      const int i = static_cast<int>(rng() % kLow);
      const int at[] = {i, (kLow - 1) * kLow + i, i * kLow, i * kLow + kLow - 1};
      low[static_cast<size_t>(at[rng() % 4])] = 9.0f;
      break;
    }
  }
  return low;
}

void ExpectSame(const EncodedMask& fast, const BinaryMask& reference) {
  EXPECT_EQ(fast.rle.height, reference.height);
  EXPECT_EQ(fast.rle.width, reference.width);
  EXPECT_EQ(fast.rle.counts, EncodeRle(reference).counts);
  EXPECT_EQ(fast.bbox, MaskBbox(reference));
  EXPECT_EQ(fast.area, MaskArea(reference));
}

const Pattern kPatterns[] = {Pattern::kBlob,        Pattern::kSparseNoise, Pattern::kDenseNoise,
                             Pattern::kAllNegative, Pattern::kAllPositive, Pattern::kOnePixel,
                             Pattern::kCorners,     Pattern::kEdges,       Pattern::kEdgePixel};

struct Size {
  int height;
  int width;
};
const Size kSizes[] = {{480, 640}, {1080, 1920}, {3000, 4000}, {1200, 700}, {300, 500}, {1024, 1024}, {1, 1},
                       {5, 2000},  {2000, 3},    {257, 255},   {1, 4000},   {4000, 1},  {128, 128},   {2, 2}};

TEST(MaskEncodeTest, LongestSideFrameMatchesTheFullMask) {
  uint32_t seed = 1;
  for (const Size& size : kSizes) {
    const ResizedSize input = LongestSideSize(size.height, size.width, 1024);
    for (Pattern pattern : kPatterns) {
      SCOPED_TRACE(std::to_string(size.height) + "x" + std::to_string(size.width) + " pattern " +
                   std::to_string(static_cast<int>(pattern)));
      const std::vector<float> low = Logits(pattern, seed++);
      const BinaryMask reference =
          UpsampleLowResLogits(low.data(), kLow, kLow, input.height, input.width, size.height, size.width);
      ExpectSame(
          EncodeLowResLogits(low.data(), kLow, kLow, input.height, input.width, size.height, size.width),
          reference);
    }
  }
}

TEST(MaskEncodeTest, StretchedFrameMatchesTheFullMask) {
  uint32_t seed = 1000;
  for (const Size& size : kSizes) {
    for (Pattern pattern : kPatterns) {
      SCOPED_TRACE(std::to_string(size.height) + "x" + std::to_string(size.width) + " pattern " +
                   std::to_string(static_cast<int>(pattern)));
      const std::vector<float> low = Logits(pattern, seed++);
      ExpectSame(EncodeStretchedLogits(low.data(), kLow, kLow, size.height, size.width),
                 UpsampleStretchedLogits(low.data(), kLow, kLow, size.height, size.width));
    }
  }
}

TEST(MaskEncodeTest, ManyRandomBlobsAndSizes) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> side(1, 3000);
  for (int i = 0; i < 40; ++i) {
    const int h = side(rng), w = side(rng);
    SCOPED_TRACE(std::to_string(h) + "x" + std::to_string(w));
    const std::vector<float> low = Logits(i % 2 ? Pattern::kBlob : Pattern::kSparseNoise, 5000 + i);
    const ResizedSize input = LongestSideSize(h, w, 1024);
    ExpectSame(EncodeLowResLogits(low.data(), kLow, kLow, input.height, input.width, h, w),
               UpsampleLowResLogits(low.data(), kLow, kLow, input.height, input.width, h, w));
    ExpectSame(EncodeStretchedLogits(low.data(), kLow, kLow, h, w),
               UpsampleStretchedLogits(low.data(), kLow, kLow, h, w));
  }
}

// What the segmenter calls: the model's frame decides the upsampling, for any frame side.
TEST(MaskEncodeTest, EncodeForModelMatchesUpsampleForModel) {
  std::mt19937 rng(11);
  uint32_t seed = 9000;
  for (FrameFit fit : {FrameFit::kLongestSide, FrameFit::kStretch}) {
    for (int side : {1024, 512}) {
      ModelInfo info;
      info.frame_fit = fit;
      info.input_side = side;
      for (const Size& size : kSizes) {
        const Pattern pattern = kPatterns[rng() % std::size(kPatterns)];
        SCOPED_TRACE(std::to_string(size.height) + "x" + std::to_string(size.width) + " side " +
                     std::to_string(side) + " pattern " + std::to_string(static_cast<int>(pattern)));
        const std::vector<float> low = Logits(pattern, seed++);
        ExpectSame(EncodeForModel(info, low.data(), kLow, kLow, size.height, size.width),
                   UpsampleForModel(info, low.data(), kLow, kLow, size.height, size.width));
      }
    }
  }
}

// A large box on one thread (a click beside others) gives what two give.
TEST(MaskEncodeTest, OneThreadMatchesTwo) {
  uint32_t seed = 30000;
  for (const Size& size : {Size{3000, 4000}, Size{2000, 1500}, Size{1080, 1920}}) {
    const ResizedSize input = LongestSideSize(size.height, size.width, 1024);
    for (Pattern pattern : {Pattern::kBlob, Pattern::kDenseNoise, Pattern::kAllPositive}) {
      SCOPED_TRACE(std::to_string(size.height) + "x" + std::to_string(size.width) + " pattern " +
                   std::to_string(static_cast<int>(pattern)));
      const std::vector<float> low = Logits(pattern, seed++);
      const EncodedMask two =
          EncodeLowResLogits(low.data(), kLow, kLow, input.height, input.width, size.height, size.width);
      const EncodedMask one = EncodeLowResLogits(low.data(), kLow, kLow, input.height, input.width,
                                                 size.height, size.width, 1024, EncodeThreads::kOne);
      EXPECT_EQ(one.rle.counts, two.rle.counts);
      EXPECT_EQ(one.bbox, two.bbox);
      EXPECT_EQ(one.area, two.area);
      const EncodedMask stretched_one =
          EncodeStretchedLogits(low.data(), kLow, kLow, size.height, size.width, EncodeThreads::kOne);
      EXPECT_EQ(stretched_one.rle.counts,
                EncodeStretchedLogits(low.data(), kLow, kLow, size.height, size.width).rle.counts);
    }
  }
}

// The other kernel versions (what a CPU without AVX-512, or without AVX2, runs) give the same
// masks as the reference too; the tests above ran the best one.
TEST(MaskEncodeTest, EveryKernelVersionMatchesTheFullMask) {
  for (mask_internal::MaskKernels version :
       {mask_internal::MaskKernels::kAvx2, mask_internal::MaskKernels::kPortable}) {
    if (version >= mask_internal::BestMaskKernels()) continue;
    SCOPED_TRACE("kernels " + std::to_string(static_cast<int>(version)));
    mask_internal::CapMaskKernels(version);
    uint32_t seed = 20000;
    for (const Size& size : kSizes) {
      const ResizedSize input = LongestSideSize(size.height, size.width, 1024);
      for (Pattern pattern : {Pattern::kBlob, Pattern::kDenseNoise, Pattern::kEdges}) {
        SCOPED_TRACE(std::to_string(size.height) + "x" + std::to_string(size.width) + " pattern " +
                     std::to_string(static_cast<int>(pattern)));
        const std::vector<float> low = Logits(pattern, seed++);
        ExpectSame(
            EncodeLowResLogits(low.data(), kLow, kLow, input.height, input.width, size.height, size.width),
            UpsampleLowResLogits(low.data(), kLow, kLow, input.height, input.width, size.height, size.width));
        ExpectSame(EncodeStretchedLogits(low.data(), kLow, kLow, size.height, size.width),
                   UpsampleStretchedLogits(low.data(), kLow, kLow, size.height, size.width));
      }
    }
  }
  mask_internal::CapMaskKernels(mask_internal::MaskKernels::kAvx512);
}

}  // namespace
}  // namespace samcache
