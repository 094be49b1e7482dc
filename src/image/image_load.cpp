#include "image/image_load.h"

#include <cstdio>

namespace samcache {

std::string FormatPixels(uint64_t pixels) {
  char buf[48];
  if (pixels >= 100'000) {
    std::snprintf(buf, sizeof buf, "%.1f megapixels", static_cast<double>(pixels) / 1e6);
  } else {
    std::snprintf(buf, sizeof buf, "%llu pixels", static_cast<unsigned long long>(pixels));
  }
  return buf;
}

Result<LoadedImage> LoadCheckedImage(std::string_view bytes, uint64_t max_pixels) {
  SAMCACHE_ASSIGN_OR_RETURN(const ImageHeader header, ReadImageHeader(bytes));
  const uint64_t pixels = uint64_t{header.width} * header.height;
  if (pixels > max_pixels) {
    return Status::TooLarge("image is " + std::to_string(header.width) + "x" + std::to_string(header.height) +
                            " (" + FormatPixels(pixels) + "), above the limit of " +
                            FormatPixels(max_pixels));
  }
  LoadedImage out;
  out.format = header.format;
  SAMCACHE_ASSIGN_OR_RETURN(out.pixels, DecodeImage(bytes, header.format));
  return out;
}

}  // namespace samcache
