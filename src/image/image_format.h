// Image format sniffing and header-only size extraction for untrusted uploads.
//
// Everything here works on raw bytes and never decodes pixels, so callers can refuse
// decompression bombs and truncated uploads before handing data to a decoder. All parsing is
// bounds-checked; any byte string (including empty or adversarial input) is safe to pass.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace samcache {

enum class ImageFormat { kUnknown, kJpeg, kPng, kWebp, kBmp, kTiff, kGif };

// Format from magic bytes only (never filenames). Looks at no more than the first 16 bytes;
// input shorter than a format's signature is simply not that format. A BMP additionally needs
// its reserved header bytes (6..9) to be zero when present, because "BM" alone also starts
// ordinary text.
ImageFormat SniffFormat(std::string_view bytes);

// "jpeg", "png", "webp", "bmp", "tiff", "gif", "unknown".
std::string_view FormatName(ImageFormat f);

// "image/jpeg", "image/png", "image/webp", "image/bmp", "image/tiff", "image/gif",
// "application/octet-stream" for kUnknown.
std::string_view MimeType(ImageFormat f);

// A short human description of what (non-image) content looks like, for error messages:
// "empty file", "HTML", "XML", "SVG image", "JSON", "text", "PDF", "ZIP archive",
// "gzip archive", "HEIC image", "AVIF image", "GIF image", ... or "unrecognised binary data".
std::string DescribeUnknownContent(std::string_view bytes);

struct ImageHeader {
  ImageFormat format = ImageFormat::kUnknown;
  uint32_t width = 0;  // as stored in the file, before any EXIF orientation
  uint32_t height = 0;
  uint32_t jpeg_scans = 0;  // JPEG only: the number of scans (SOS segments) up to the EOI
};

// A baseline JPEG has 1 to 4 scans and libjpeg's progressive script 10; encoders that
// optimise their scripts stay well below 100. Each scan costs a pass over the whole image, so
// large images get fewer: at most kMaxJpegScanPixels / pixels scans (20 at 100 megapixels),
// never fewer than kMinJpegScanLimit, never more than kMaxJpegScans.
inline constexpr uint32_t kMaxJpegScans = 100;
inline constexpr uint32_t kMinJpegScanLimit = 16;
inline constexpr uint64_t kMaxJpegScanPixels = 2'000'000'000;

// The number of scans accepted in a JPEG of width x height pixels.
uint32_t JpegScanLimit(uint32_t width, uint32_t height);

// Reads only the container/header structures to get the declared size, and checks that the
// file is structurally complete. On success width and height are both non-zero; they are the
// declared values and may be huge (refusing them is the caller's job).
// Errors, worded for the person who uploaded the file:
//  - Unsupported: unrecognised content ("not a supported image format (JPEG, PNG, WebP, BMP,
//    TIFF): the content looks like HTML"), GIF, and valid-but-unhandled variants (e.g. OS/2 BMP).
//  - Corrupt: truncated files ("truncated JPEG: the file ends before the end-of-image marker")
//    and impossible headers (zero width/height, bad chunk lengths, missing size fields, ...).
//  - InvalidArgument: a JPEG with more scans than JpegScanLimit allows ("the JPEG has 6001
//    scans; at most 100 are accepted", "... at most 20 are accepted at 10000x10000"), refused
//    because decoding it would take minutes.
// Trailing bytes after a complete image (JPEG EOI, PNG IEND, RIFF end) are accepted. The JPEG
// walk visits each byte at most once: every segment and scan up to the EOI.
Result<ImageHeader> ReadImageHeader(std::string_view bytes);

}  // namespace samcache
