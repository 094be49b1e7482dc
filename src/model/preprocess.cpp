#include "model/preprocess.h"

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "image/cv_image.h"

namespace samcache {

ResizedSize LongestSideSize(int height, int width, int target) {
  // Programmer errors: sizes come from a decoded image and the model's configuration.
  assert(height > 0 && width > 0 && target > 0);
  const double scale = static_cast<double>(target) / std::max(height, width);
  ResizedSize size;
  size.height = std::max(1, static_cast<int>(std::floor(height * scale + 0.5)));
  size.width = std::max(1, static_cast<int>(std::floor(width * scale + 0.5)));
  return size;
}

DecodedImage ResizeLongestSide(const DecodedImage& image, int target) {
  // An empty image never gets this far: DecodeImage fails on it.
  assert(image.width > 0 && image.height > 0);
  const ResizedSize size =
      LongestSideSize(static_cast<int>(image.height), static_cast<int>(image.width), target);
  if (size.height == static_cast<int>(image.height) && size.width == static_cast<int>(image.width)) {
    return image;
  }
  DecodedImage out;
  out.width = static_cast<uint32_t>(size.width);
  out.height = static_cast<uint32_t>(size.height);
  out.rgb.resize(static_cast<size_t>(size.width) * size.height * 3);
  cv::Mat dst = RgbView(out);  // writes straight into out.rgb: the size and type match
  const bool shrinking = size.width < static_cast<int>(image.width);
  cv::resize(RgbView(image), dst, dst.size(), 0, 0, shrinking ? cv::INTER_AREA : cv::INTER_LINEAR);
  return out;
}

DecodedImage ResizeTo(const DecodedImage& image, int height, int width) {
  assert(image.width > 0 && image.height > 0 && height > 0 && width > 0);
  if (height == static_cast<int>(image.height) && width == static_cast<int>(image.width)) return image;
  DecodedImage out;
  out.width = static_cast<uint32_t>(width);
  out.height = static_cast<uint32_t>(height);
  out.rgb.resize(static_cast<size_t>(width) * height * 3);
  cv::Mat dst = RgbView(out);
  const bool narrower = width <= static_cast<int>(image.width);
  const bool shorter = height <= static_cast<int>(image.height);
  if (narrower == shorter) {
    cv::resize(RgbView(image), dst, dst.size(), 0, 0, narrower ? cv::INTER_AREA : cv::INTER_LINEAR);
  } else {
    // One side shrinks, the other grows: area averaging for the first, bilinear for the second.
    cv::Mat half;
    cv::resize(RgbView(image), half,
               narrower ? cv::Size(width, static_cast<int>(image.height))
                        : cv::Size(static_cast<int>(image.width), height),
               0, 0, cv::INTER_AREA);
    cv::resize(half, dst, dst.size(), 0, 0, cv::INTER_LINEAR);
  }
  return out;
}

void FillNchw(const DecodedImage& image, const std::array<float, 3>& mean, const std::array<float, 3>& stddev,
              float* out) {
  float lut[3][256];
  for (int c = 0; c < 3; ++c) {
    for (int v = 0; v < 256; ++v) lut[c][v] = (static_cast<float>(v) - mean[c]) / stddev[c];
  }
  const size_t plane = static_cast<size_t>(image.width) * image.height;
  const auto* src = reinterpret_cast<const uint8_t*>(image.rgb.data());
  for (size_t i = 0; i < plane; ++i) {
    out[i] = lut[0][src[3 * i]];
    out[plane + i] = lut[1][src[3 * i + 1]];
    out[2 * plane + i] = lut[2][src[3 * i + 2]];
  }
}

void FillNchwNormalized(const DecodedImage& resized, const std::array<float, 3>& mean,
                        const std::array<float, 3>& stddev, int side, float* out) {
  const int w = static_cast<int>(resized.width);
  const int h = static_cast<int>(resized.height);
  // The caller resized to the encoder's side first; a larger image is a bug.
  assert(w <= side && h <= side);
  // A table per channel makes each value exactly (v - mean) / std and keeps the loop to three
  // loads and three stores per pixel.
  float lut[3][256];
  for (int c = 0; c < 3; ++c) {
    for (int v = 0; v < 256; ++v) lut[c][v] = (static_cast<float>(v) - mean[c]) / stddev[c];
  }
  const size_t plane = static_cast<size_t>(side) * side;
  const auto* src = reinterpret_cast<const uint8_t*>(resized.rgb.data());
  float* r = out;
  float* g = out + plane;
  float* b = out + 2 * plane;
  for (int y = 0; y < h; ++y) {
    const uint8_t* p = src + static_cast<size_t>(y) * w * 3;
    const size_t row = static_cast<size_t>(y) * side;
    for (int x = 0; x < w; ++x) {
      r[row + x] = lut[0][p[3 * x]];
      g[row + x] = lut[1][p[3 * x + 1]];
      b[row + x] = lut[2][p[3 * x + 2]];
    }
    for (float* plane_start : {r, g, b}) {
      std::fill(plane_start + row + w, plane_start + row + side, 0.0f);
    }
  }
  for (float* plane_start : {r, g, b}) {
    std::fill(plane_start + static_cast<size_t>(h) * side, plane_start + plane, 0.0f);
  }
}

void FillHwcFloat(const DecodedImage& resized, float* out) {
  const auto* src = reinterpret_cast<const uint8_t*>(resized.rgb.data());
  const size_t n = static_cast<size_t>(resized.width) * resized.height * 3;
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<float>(src[i]);
}

}  // namespace samcache
