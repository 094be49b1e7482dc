#include "image/perceptual_hash.h"

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <array>

#include "image/cv_image.h"

namespace samcache {
namespace {

constexpr int kDctSize = 32;  // the picture is averaged down to 32x32 before the DCT
constexpr int kBits = 8;      // 8x8 coefficients, 64 bits
// Above this many pixels per side, sample down to it first: averaging a 12-megapixel picture
// straight to 32x32 costs more than decoding it, and 8x8-pixel averages of a 256x256 sample
// give the same low frequencies.
constexpr int kSampleSide = kDctSize * 8;

// Bits of `coeffs` (8x8, row-major) above their median.
uint64_t BitsAboveMedian(const std::array<float, kBits * kBits>& coeffs) {
  std::array<float, kBits* kBits> sorted = coeffs;
  std::nth_element(sorted.begin(), sorted.begin() + 32, sorted.end());
  const float upper = sorted[32];
  const float lower = *std::max_element(sorted.begin(), sorted.begin() + 32);
  const float median = (lower + upper) / 2;
  uint64_t bits = 0;
  for (int i = 0; i < kBits * kBits; ++i) {
    if (coeffs[static_cast<size_t>(i)] > median) bits |= uint64_t{1} << (63 - i);
  }
  return bits;
}

}  // namespace

PerceptualHash ComputePerceptualHash(const DecodedImage& image) {
  if (image.width == 0 || image.height == 0) return {};
  cv::Mat rgb = RgbView(image);
  if (rgb.cols > kSampleSide || rgb.rows > kSampleSide) {
    cv::Mat sampled;
    cv::resize(rgb, sampled, cv::Size(std::min(rgb.cols, kSampleSide), std::min(rgb.rows, kSampleSide)), 0, 0,
               cv::INTER_NEAREST);
    rgb = sampled;
  }
  cv::Mat small;
  cv::resize(rgb, small, cv::Size(kDctSize, kDctSize), 0, 0,
             rgb.cols >= kDctSize && rgb.rows >= kDctSize ? cv::INTER_AREA : cv::INTER_LINEAR);
  cv::Mat grey;
  cv::cvtColor(small, grey, cv::COLOR_RGB2GRAY);
  cv::Mat pixels;
  grey.convertTo(pixels, CV_32F);
  cv::Mat dct;
  cv::dct(pixels, dct);

  std::array<float, kBits * kBits> coeffs{};
  std::array<float, kBits * kBits> mirrored{};
  for (int row = 0; row < kBits; ++row) {
    const float* line = dct.ptr<float>(row);
    for (int col = 0; col < kBits; ++col) {
      const float c = line[col];
      const auto i = static_cast<size_t>(row * kBits + col);
      coeffs[i] = c;
      // Flipping left to right negates the coefficients of odd horizontal frequency.
      mirrored[i] = col % 2 == 1 ? -c : c;
    }
  }
  return PerceptualHash{BitsAboveMedian(coeffs), BitsAboveMedian(mirrored)};
}

std::string PerceptualHashHex(uint64_t hash) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i, hash >>= 4) out[static_cast<size_t>(i)] = kDigits[hash & 0xF];
  return out;
}

}  // namespace samcache
