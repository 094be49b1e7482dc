// Bridges between DecodedImage and OpenCV, for .cpp files that use OpenCV (it stays out of
// the public headers).
#pragma once

#include <opencv2/core.hpp>

#include "image/image_decoder.h"

namespace samcache {

// A cv::Mat header over the image's RGB buffer: no copy; writes go into the image.
inline cv::Mat RgbView(const DecodedImage& image) {
  return cv::Mat(static_cast<int>(image.height), static_cast<int>(image.width), CV_8UC3,
                 const_cast<char*>(image.rgb.data()));
}

// A copy of an 8-bit, 3-channel RGB matrix (continuous or not).
inline DecodedImage FromRgbMat(const cv::Mat& rgb) {
  DecodedImage out;
  out.width = static_cast<uint32_t>(rgb.cols);
  out.height = static_cast<uint32_t>(rgb.rows);
  out.rgb.resize(static_cast<size_t>(rgb.cols) * rgb.rows * 3);
  rgb.copyTo(RgbView(out));
  return out;
}

}  // namespace samcache
