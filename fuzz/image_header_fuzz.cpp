// Upload bytes as the ingestor sees them: sniffing, the header walk that refuses bombs and
// truncated files before decoding, and the whole checked load for images small enough to
// decode quickly, also at half scale for JPEGs (OpenCV's decoders are not instrumented, but our
// use of them is).
#include <opencv2/core.hpp>

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_check.h"
#include "image/image_decoder.h"
#include "image/image_format.h"
#include "image/image_load.h"

namespace {

// Small enough that every decode stays well below libFuzzer's per-input timeout.
constexpr uint64_t kMaxDecodePixels = 256 * 256;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool single_threaded = [] {
    cv::setNumThreads(0);  // one input, one thread: reproducible and no pool per process
    return true;
  }();
  (void)single_threaded;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);

  const samcache::ImageFormat sniffed = samcache::SniffFormat(bytes);
  FUZZ_CHECK(!samcache::FormatName(sniffed).empty());
  FUZZ_CHECK(!samcache::MimeType(sniffed).empty());
  if (sniffed == samcache::ImageFormat::kUnknown)
    FUZZ_CHECK(!samcache::DescribeUnknownContent(bytes).empty());

  const samcache::Result<samcache::ImageHeader> header = samcache::ReadImageHeader(bytes);
  if (!header.ok()) return 0;
  FUZZ_CHECK(header->format == sniffed);
  FUZZ_CHECK(header->width > 0 && header->height > 0);

  const samcache::Result<samcache::LoadedImage> loaded = samcache::LoadCheckedImage(bytes, kMaxDecodePixels);
  if (!loaded.ok()) return 0;
  const samcache::DecodedImage& pixels = loaded->pixels;
  FUZZ_CHECK(pixels.rgb.size() == uint64_t{pixels.width} * pixels.height * 3);
  // The limit was checked on the header's size; the decoder must not find more pixels than
  // that, or a bomb could pass with a small header (EXIF orientation only swaps the sides).
  FUZZ_CHECK(uint64_t{pixels.width} * pixels.height <= kMaxDecodePixels);

  // The embedding service decodes large JPEGs at a reduced DCT scale: sides rounded up.
  if (header->format != samcache::ImageFormat::kJpeg) return 0;
  const samcache::Result<samcache::DecodedImage> half = samcache::DecodeJpegReduced(bytes, 2);
  if (!half.ok()) return 0;
  FUZZ_CHECK(half->rgb.size() == uint64_t{half->width} * half->height * 3);
  FUZZ_CHECK((half->width == (pixels.width + 1) / 2 && half->height == (pixels.height + 1) / 2) ||
             (half->width == (pixels.height + 1) / 2 && half->height == (pixels.width + 1) / 2));
  return 0;
}
