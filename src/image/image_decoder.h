// Decoding uploads into one canonical pixel layout, and what is derived from it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"
#include "image/image_format.h"

namespace samcache {

// 8-bit RGB, row-major, no padding, EXIF orientation applied. Alpha is dropped and grey
// is expanded, so the same picture gives the same bytes whichever format carried it.
struct DecodedImage {
  uint32_t width = 0;
  uint32_t height = 0;
  std::string rgb;  // width * height * 3 bytes
};

// Decodes `bytes` (already sniffed as `format`). Corrupt when the codec cannot read them;
// InvalidArgument, without decoding, for a JPEG with more than kMaxJpegScans scans.
// The caller checks the declared size against its pixel limit before calling.
Result<DecodedImage> DecodeImage(std::string_view bytes, ImageFormat format);

// A JPEG decoded at 1/`denominator` of its size (2, 4 or 8), sides rounded up, EXIF
// orientation applied: libjpeg scales inside the inverse DCT, at a fraction of a full
// decode's cost. InvalidArgument for another format or denominator; Corrupt as DecodeImage.
Result<DecodedImage> DecodeJpegReduced(std::string_view bytes, int denominator);

// SHA-256 (hex) of a versioned tag, the width and height, and the RGB bytes: equal for the
// same pixels in any file, different for anything else.
std::string PixelHash(const DecodedImage& image);

// A JPEG preview whose longest side is at most `max_side` (smaller images are not enlarged).
Result<std::string> MakeThumbnailJpeg(const DecodedImage& image, int max_side);

// Makes OpenCV do its work on the calling thread only. Its own pool would run, say, the
// embedding pipeline's resize at normal priority beside the encoder, while every job here
// already has threads of its own. Called once at start; affects the whole process.
void KeepImageWorkOnCallingThreads();

// Re-encodes a decoded image (tests and benchmarks use it to make inputs). `extension` is
// ".png", ".jpg", ".bmp", ".webp" or ".tiff".
Result<std::string> EncodeImage(const DecodedImage& image, const std::string& extension,
                                int jpeg_quality = 90);

}  // namespace samcache
