#include "support/near_dup_images.h"

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cstdint>
#include <stdexcept>

namespace samcache::testing {
namespace {

DecodedImage FromMat(const cv::Mat& rgb) {
  cv::Mat continuous = rgb.isContinuous() ? rgb : rgb.clone();
  DecodedImage out;
  out.width = static_cast<uint32_t>(continuous.cols);
  out.height = static_cast<uint32_t>(continuous.rows);
  out.rgb.assign(reinterpret_cast<const char*>(continuous.data), continuous.total() * 3);
  return out;
}

cv::Mat ToMat(const DecodedImage& image) {
  return cv::Mat(static_cast<int>(image.height), static_cast<int>(image.width), CV_8UC3,
                 const_cast<char*>(image.rgb.data()))
      .clone();
}

}  // namespace

DecodedImage MakePhoto(int width, int height, int seed, int objects_seed) {
  if (objects_seed < 0) objects_seed = seed;
  cv::RNG rng(0x9E3779B9u ^ (static_cast<uint64_t>(seed) * 2654435761u));

  // Background: a 4x3 grid of random colours, upscaled smoothly.
  cv::Mat field(3, 4, CV_8UC3);
  rng.fill(field, cv::RNG::UNIFORM, 0, 256);
  cv::Mat img;
  cv::resize(field, img, cv::Size(width, height), 0, 0, cv::INTER_CUBIC);

  // Texture: random values on a 6-pixel grid, linearly upscaled, mixed in at 15%.
  cv::Mat coarse(std::max(2, height / 6), std::max(2, width / 6), CV_8UC3);
  rng.fill(coarse, cv::RNG::UNIFORM, 0, 256);
  cv::Mat texture;
  cv::resize(coarse, texture, img.size(), 0, 0, cv::INTER_LINEAR);

  // Objects: a dozen soft-edged shapes from their own generator.
  cv::RNG objects(0x51ED270Bu ^ (static_cast<uint64_t>(objects_seed) * 40503u));
  auto colour = [&] {
    return cv::Scalar(objects.uniform(0, 256), objects.uniform(0, 256), objects.uniform(0, 256));
  };
  const int s = std::min(width, height);
  for (int i = 0; i < 12; ++i) {
    const cv::Point c(objects.uniform(0, width), objects.uniform(0, height));
    const int r = objects.uniform(s / 20 + 1, s / 4 + 2);
    switch (objects.uniform(0, 3)) {
      case 0:
        cv::circle(img, c, r, colour(), cv::FILLED, cv::LINE_AA);
        break;
      case 1:
        cv::rectangle(img, c, c + cv::Point(objects.uniform(-2 * r, 2 * r), objects.uniform(-2 * r, 2 * r)),
                      colour(), cv::FILLED);
        break;
      default:
        cv::ellipse(img, c, cv::Size(r, r / 2 + 1), objects.uniform(0, 180), 0, 360, colour(), cv::FILLED,
                    cv::LINE_AA);
    }
  }
  cv::GaussianBlur(img, img, cv::Size(0, 0), std::max(0.8, s / 600.0));
  cv::addWeighted(img, 0.85, texture, 0.15, 0, img);

  // Sensor noise.
  cv::Mat noise(img.size(), CV_16SC3);
  rng.fill(noise, cv::RNG::NORMAL, 0, 4);
  cv::Mat noisy;
  img.convertTo(noisy, CV_16SC3);
  noisy += noise;
  noisy.convertTo(img, CV_8UC3);
  return FromMat(img);
}

std::string_view EditName(Edit edit) {
  switch (edit) {
    case Edit::kResized:
      return "resized 50%";
    case Edit::kJpegQ60:
      return "JPEG quality 60";
    case Edit::kCropped:
      return "cropped 3%/2%";
    case Edit::kBrighter:
      return "brighter +30";
    case Edit::kDarker:
      return "darker x0.8";
    case Edit::kMirrored:
      return "mirrored";
    case Edit::kCroppedMore:
      return "cropped 6%/4%";
  }
  return "?";
}

std::string EncodeOrDie(const DecodedImage& image, const std::string& extension, int jpeg_quality) {
  Result<std::string> bytes = EncodeImage(image, extension, jpeg_quality);
  if (!bytes.ok()) throw std::runtime_error(bytes.status().message());
  return std::move(bytes).value();
}

DecodedImage ApplyEdit(const DecodedImage& image, Edit edit) {
  cv::Mat in = ToMat(image);
  cv::Mat out;
  switch (edit) {
    case Edit::kResized:
      cv::resize(in, out, cv::Size(std::max(1, in.cols / 2), std::max(1, in.rows / 2)), 0, 0, cv::INTER_AREA);
      break;
    case Edit::kJpegQ60: {
      const std::string jpeg = EncodeOrDie(image, ".jpg", 60);
      Result<DecodedImage> decoded = DecodeImage(jpeg, ImageFormat::kJpeg);
      if (!decoded.ok()) throw std::runtime_error(decoded.status().message());
      return std::move(decoded).value();
    }
    case Edit::kCropped:
    case Edit::kCroppedMore: {
      const bool more = edit == Edit::kCroppedMore;
      const int left = in.cols * (more ? 6 : 3) / 100;
      const int bottom = in.rows * (more ? 4 : 2) / 100;
      out = in(cv::Rect(left, 0, in.cols - left, in.rows - bottom)).clone();
      break;
    }
    case Edit::kBrighter:
      in.convertTo(out, CV_8UC3, 1.0, 30.0);
      break;
    case Edit::kDarker:
      in.convertTo(out, CV_8UC3, 0.8, 0.0);
      break;
    case Edit::kMirrored:
      cv::flip(in, out, 1);
      break;
  }
  return FromMat(out);
}

std::string EditedFile(const DecodedImage& image, Edit edit, const std::string& extension) {
  if (edit == Edit::kJpegQ60) return EncodeOrDie(image, ".jpg", 60);
  return EncodeOrDie(ApplyEdit(image, edit), extension);
}

}  // namespace samcache::testing
