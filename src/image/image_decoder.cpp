#include "image/image_decoder.h"

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>

#include "common/crypto.h"
#include "image/cv_image.h"

namespace samcache {

namespace {

// imdecode with `flags` (8-bit, 3 channels, EXIF orientation applied), into RGB.
Result<DecodedImage> Imdecode(std::string_view bytes, ImageFormat format, int flags) {
  // OpenCV picks a decoder by signature, not by our format: bytes that pass our header walk
  // but not its own decoder's check (a WebP whose VP8 sizes libwebp finds inconsistent) go on
  // to the DICOM decoder when "DICM" is at offset 128, and GDCM aborts the process on a bad
  // DICOM file (found by fuzz/image_header_fuzz.cpp). No upload of ours is DICOM.
  if (bytes.size() >= 132 && bytes.substr(128, 4) == "DICM") {
    return Status::Corrupt("cannot decode " + std::string(FormatName(format)) +
                           " data: the file also carries a DICOM signature");
  }
  cv::Mat bgr;
  try {
    const cv::Mat buffer(1, static_cast<int>(bytes.size()), CV_8UC1, const_cast<char*>(bytes.data()));
    bgr = cv::imdecode(buffer, flags);
  } catch (const cv::Exception& e) {
    return Status::Corrupt("cannot decode " + std::string(FormatName(format)) + ": " + e.what());
  }
  if (bgr.empty()) {
    return Status::Corrupt("cannot decode " + std::string(FormatName(format)) +
                           " data: the file is damaged or uses an unsupported variant");
  }
  DecodedImage out;
  out.width = static_cast<uint32_t>(bgr.cols);
  out.height = static_cast<uint32_t>(bgr.rows);
  out.rgb.resize(static_cast<size_t>(bgr.cols) * bgr.rows * 3);
  cv::Mat rgb = RgbView(out);
  cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
  return out;
}

// Files stored before the scan limit existed reach the decoder from the embedding service too.
// The walk is linear and cheap next to any decode; only its scan verdict is used, so other
// damage is still reported by the decoder as before.
Status CheckJpegScans(std::string_view bytes) {
  Result<ImageHeader> header = ReadImageHeader(bytes);
  if (!header.ok() && header.status().code() == StatusCode::kInvalidArgument) return header.status();
  return Status::Ok();
}

}  // namespace

Result<DecodedImage> DecodeJpegReduced(std::string_view bytes, int denominator) {
  int flags = 0;
  switch (denominator) {
    case 2:
      flags = cv::IMREAD_REDUCED_COLOR_2;
      break;
    case 4:
      flags = cv::IMREAD_REDUCED_COLOR_4;
      break;
    case 8:
      flags = cv::IMREAD_REDUCED_COLOR_8;
      break;
    default:
      return Status::InvalidArgument("a JPEG is decoded at 1/2, 1/4 or 1/8 of its size");
  }
  if (SniffFormat(bytes) != ImageFormat::kJpeg) return Status::InvalidArgument("not a JPEG");
  SAMCACHE_RETURN_IF_ERROR(CheckJpegScans(bytes));
  return Imdecode(bytes, ImageFormat::kJpeg, flags);
}

Result<DecodedImage> DecodeImage(std::string_view bytes, ImageFormat format) {
  if (format == ImageFormat::kJpeg) SAMCACHE_RETURN_IF_ERROR(CheckJpegScans(bytes));
  return Imdecode(bytes, format, cv::IMREAD_COLOR);
}

std::string PixelHash(const DecodedImage& image) {
  Sha256 hasher;
  unsigned char header[16] = {'s', 'c', 'p', 'x', 'r', 'g', 'b', '8'};
  for (int i = 0; i < 4; ++i) {
    header[8 + i] = static_cast<unsigned char>(image.width >> (8 * i));
    header[12 + i] = static_cast<unsigned char>(image.height >> (8 * i));
  }
  hasher.Update(header, sizeof header);
  hasher.Update(image.rgb);
  return hasher.FinishHex();
}

void KeepImageWorkOnCallingThreads() { cv::setNumThreads(1); }

Result<std::string> MakeThumbnailJpeg(const DecodedImage& image, int max_side) {
  const double scale = std::min(1.0, static_cast<double>(max_side) / std::max(image.width, image.height));
  const int w = std::max(1, static_cast<int>(std::lround(image.width * scale)));
  const int h = std::max(1, static_cast<int>(std::lround(image.height * scale)));
  cv::Mat source = RgbView(image);
  cv::Mat small;
  // Area averaging over a 12-megapixel picture costs tens of milliseconds; sampling it down
  // to 4x the thumbnail first and averaging 4x4 blocks of that looks the same at 256 px.
  if (w * 4 < source.cols && h * 4 < source.rows) {
    cv::resize(source, source, cv::Size(w * 4, h * 4), 0, 0, cv::INTER_NEAREST);
  }
  cv::resize(source, small, cv::Size(w, h), 0, 0, cv::INTER_AREA);
  cv::cvtColor(small, small, cv::COLOR_RGB2BGR);
  std::vector<uchar> jpeg;
  if (!cv::imencode(".jpg", small, jpeg, {cv::IMWRITE_JPEG_QUALITY, 80})) {
    return Status::Internal("cannot encode thumbnail");
  }
  return std::string(jpeg.begin(), jpeg.end());
}

Result<std::string> EncodeImage(const DecodedImage& image, const std::string& extension, int jpeg_quality) {
  cv::Mat bgr;
  cv::cvtColor(RgbView(image), bgr, cv::COLOR_RGB2BGR);
  std::vector<uchar> out;
  try {
    if (!cv::imencode(extension, bgr, out, {cv::IMWRITE_JPEG_QUALITY, jpeg_quality})) {
      return Status::Internal("cannot encode " + extension);
    }
  } catch (const cv::Exception& e) {
    return Status::Internal("cannot encode " + extension + ": " + e.what());
  }
  return std::string(out.begin(), out.end());
}

}  // namespace samcache
