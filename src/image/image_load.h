// One way from untrusted bytes to pixels: the header is read, the declared size checked
// against a pixel limit, and only then the pixels decoded. Upload, backfill and `samcache embed`
// all go through here, so a decompression bomb is refused the same way everywhere.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"
#include "image/image_decoder.h"
#include "image/image_format.h"

namespace samcache {

struct LoadedImage {
  ImageFormat format = ImageFormat::kUnknown;
  DecodedImage pixels;  // EXIF orientation applied, so width and height may be swapped
};

// ReadImageHeader, then the limit, then DecodeImage. Errors:
//  - those of ReadImageHeader (Unsupported, Corrupt) and of DecodeImage (Corrupt);
//  - TooLarge when the header declares more than `max_pixels` pixels, e.g. "image is
//    20000x20000 (400.0 megapixels), above the limit of 100.0 megapixels". Nothing else
//    returns TooLarge, so a caller may reword the limit by the code alone.
Result<LoadedImage> LoadCheckedImage(std::string_view bytes, uint64_t max_pixels);

// "1600 pixels" below 100,000 pixels, "12.3 megapixels" from there on (a small limit in
// megapixels with one decimal would read 0.0).
std::string FormatPixels(uint64_t pixels);

}  // namespace samcache
