#include "image/image_format.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string>
#include <string_view>

namespace samcache {
namespace {

using namespace std::string_view_literals;

constexpr std::string_view kSupportedList = "JPEG, PNG, WebP, BMP, TIFF";

// Indexed by ImageFormat's underlying value.
constexpr std::string_view kNames[] = {"unknown", "jpeg", "png", "webp", "bmp", "tiff", "gif"};
constexpr std::string_view kMimeTypes[] = {"application/octet-stream",
                                           "image/jpeg",
                                           "image/png",
                                           "image/webp",
                                           "image/bmp",
                                           "image/tiff",
                                           "image/gif"};

// Byte access. Every caller checks Has() first; the readers assemble integers with explicit
// shifts so that alignment and host byte order never matter.
bool Has(std::string_view b, uint64_t pos, uint64_t n) { return pos <= b.size() && n <= b.size() - pos; }
uint32_t U8(std::string_view b, size_t p) { return static_cast<uint8_t>(b[p]); }
uint32_t U16Be(std::string_view b, size_t p) { return U8(b, p) << 8 | U8(b, p + 1); }
uint32_t U16Le(std::string_view b, size_t p) { return U8(b, p) | U8(b, p + 1) << 8; }
uint32_t U24Le(std::string_view b, size_t p) { return U16Le(b, p) | U8(b, p + 2) << 16; }
uint32_t U32Be(std::string_view b, size_t p) { return U16Be(b, p) << 16 | U16Be(b, p + 2); }
uint32_t U32Le(std::string_view b, size_t p) { return U16Le(b, p) | U16Le(b, p + 2) << 16; }

Status Truncated(std::string_view format, std::string_view what) {
  return Status::Corrupt("truncated " + std::string(format) + ": " + std::string(what));
}

Status Bad(std::string_view format, std::string_view what) {
  return Status::Corrupt(std::string(format) + " " + std::string(what));
}

Result<ImageHeader> MakeHeader(ImageFormat format, std::string_view name, uint64_t width, uint64_t height) {
  if (width == 0 || height == 0) return Bad(name, "header declares a zero width or height");
  if (width > UINT32_MAX || height > UINT32_MAX) {
    return Bad(name, "header declares an impossible size");
  }
  return ImageHeader{format, static_cast<uint32_t>(width), static_cast<uint32_t>(height)};
}

// ---- JPEG ----------------------------------------------------------------------------------

bool IsSof(uint32_t marker) {
  return marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
}

// After an SOS header: the entropy-coded data runs to the next marker. Inside it 0xFF is
// always followed by a stuffed 0x00 or is an RSTn marker, and runs of 0xFF are fill, exactly
// as libjpeg reads them, so a scan cannot hide in the data. Returns the position of the
// marker's first 0xFF, or npos when the file ends first. Linear in the bytes skipped.
size_t SkipEntropyCodedData(std::string_view b, size_t pos) {
  for (;;) {
    const size_t ff = b.find('\xFF', pos);
    if (ff == std::string_view::npos) return ff;
    size_t code = ff + 1;
    while (code < b.size() && U8(b, code) == 0xFF) ++code;
    if (code >= b.size()) return std::string_view::npos;
    const uint32_t marker = U8(b, code);
    if (marker != 0x00 && !(marker >= 0xD0 && marker <= 0xD7)) return ff;
    pos = code + 1;
  }
}

Result<ImageHeader> ReadJpeg(std::string_view b) {
  size_t pos = 2;  // after SOI
  bool have_sof = false;
  uint32_t width = 0;
  uint32_t height = 0;
  uint32_t scans = 0;
  // Walk every segment and skip every scan's data to the EOI, counting the scans (SOS) as
  // libjpeg will decode them. Each step moves forward, so the walk is linear in the file size.
  // Walking segments rather than searching for FF D9 matters: an EXIF thumbnail (in APP1)
  // carries its own EOI marker.
  for (;;) {
    // Truncation before the first scan is "inside the headers"; after it, the EOI is missing.
    auto truncated = [&] {
      return Truncated("JPEG", scans == 0 ? "the file ends inside the headers"
                                          : "the file ends before the end-of-image marker");
    };
    // libjpeg skips stray bytes between segments with only a warning, so we do too; any run of
    // 0xFF is fill before the marker code.
    while (pos < b.size() && U8(b, pos) != 0xFF) ++pos;
    while (pos < b.size() && U8(b, pos) == 0xFF) ++pos;
    if (pos >= b.size()) return truncated();
    const uint32_t marker = U8(b, pos++);
    // Markers without a length field: TEM, RSTn, a repeated SOI, and a stuffed 0x00.
    if (marker == 0x00 || marker == 0x01 || (marker >= 0xD0 && marker <= 0xD8)) continue;
    if (marker == 0xD9) {
      if (scans == 0) return Bad("JPEG", "ends before any image data");
      break;  // EOI: anything after it (some cameras append data) is not part of the image
    }
    if (!Has(b, pos, 2)) return truncated();
    const uint32_t length = U16Be(b, pos);  // includes the two length bytes
    if (length < 2) return Bad("JPEG", "has a header segment with an invalid length");
    if (!Has(b, pos, length)) return truncated();
    if (IsSof(marker) && !have_sof) {
      // Segment: length(2) precision(1) height(2) width(2) components(1) ...
      if (length < 8) return Bad("JPEG", "has a frame header that is too short");
      height = U16Be(b, pos + 3);
      width = U16Be(b, pos + 5);
      have_sof = true;
    }
    pos += length;
    if (marker == 0xDA) {  // SOS: entropy-coded data follows
      if (!have_sof) return Bad("JPEG", "has image data before its frame header");
      ++scans;
      pos = SkipEntropyCodedData(b, pos);
      if (pos == std::string_view::npos) return truncated();
    }
  }
  // Each scan is a pass over every block of the image: thousands of them make a small file
  // take minutes to decode (a "scan bomb"), so the count is refused here, before decoding.
  const uint32_t limit = JpegScanLimit(width, height);
  if (scans > limit) {
    return Status::InvalidArgument(
        "the JPEG has " + std::to_string(scans) + " scans; at most " + std::to_string(limit) +
        " are accepted" +
        (limit < kMaxJpegScans ? " at " + std::to_string(width) + "x" + std::to_string(height) : ""));
  }
  // Height 0 means "defined later by a DNL marker", which we do not support.
  SAMCACHE_ASSIGN_OR_RETURN(ImageHeader header, MakeHeader(ImageFormat::kJpeg, "JPEG", width, height));
  header.jpeg_scans = scans;
  return header;
}

// ---- PNG -----------------------------------------------------------------------------------

bool IsAsciiLetter(uint32_t c) { return (c | 0x20) >= 'a' && (c | 0x20) <= 'z'; }

Result<ImageHeader> ReadPng(std::string_view b) {
  constexpr size_t kIhdr = 8;
  constexpr uint32_t kMaxPngValue = 0x7FFFFFFF;  // PNG's limit for lengths and dimensions
  if (!Has(b, kIhdr, 8 + 13 + 4)) return Truncated("PNG", "the file ends inside the header");
  if (U32Be(b, kIhdr) != 13 || b.substr(kIhdr + 4, 4) != "IHDR") {
    return Bad("PNG", "does not start with a valid IHDR header chunk");
  }
  const uint32_t width = U32Be(b, kIhdr + 8);
  const uint32_t height = U32Be(b, kIhdr + 12);
  if (width > kMaxPngValue || height > kMaxPngValue) {
    return Bad("PNG", "header declares an impossible size");
  }
  // Walk every chunk (length, type, data, CRC) to IEND. CRCs are not verified: the decoder does
  // that, and we only need to know the file is complete.
  size_t pos = kIhdr;
  for (;;) {
    if (!Has(b, pos, 12)) return Truncated("PNG", "the file ends before the IEND chunk");
    const uint32_t length = U32Be(b, pos);
    if (length > kMaxPngValue) return Bad("PNG", "has a chunk with an impossible length");
    for (size_t i = 4; i < 8; ++i) {
      if (!IsAsciiLetter(U8(b, pos + i))) return Bad("PNG", "has a chunk with an invalid type");
    }
    if (!Has(b, pos, uint64_t{12} + length)) {
      return Truncated("PNG", "a chunk runs past the end of the file");
    }
    if (b.substr(pos + 4, 4) == "IEND") break;
    pos += size_t{12} + length;
  }
  return MakeHeader(ImageFormat::kPng, "PNG", width, height);
}

// ---- WebP ----------------------------------------------------------------------------------

Result<ImageHeader> ReadWebp(std::string_view b) {
  // RIFF size counts everything after the 8-byte RIFF header; the first chunk header must fit.
  const uint64_t riff_end = uint64_t{U32Le(b, 4)} + 8;
  if (riff_end > b.size()) {
    return Truncated("WebP", "the file is shorter than its RIFF header declares");
  }
  if (riff_end < 20) return Bad("WebP", "has an invalid RIFF size");
  b = b.substr(0, riff_end);  // bytes after the RIFF container are not part of the image

  const std::string_view fourcc = b.substr(12, 4);
  const uint32_t size = U32Le(b, 16);
  constexpr size_t kData = 20;
  if (!Has(b, kData, size)) return Bad("WebP", "has a chunk that runs past its RIFF container");
  uint32_t width = 0;
  uint32_t height = 0;
  if (fourcc == "VP8 ") {
    // Lossy: 3-byte frame tag (bit 0 clear = key frame), start code, 14-bit sizes + 2-bit scale.
    if (size < 10) return Bad("WebP", "has a lossy bitstream header that is too short");
    if ((U8(b, kData) & 1) != 0) {
      return Bad("WebP", "lossy bitstream does not start with a key frame");
    }
    if (b.substr(kData + 3, 3) != "\x9D\x01\x2A") {
      return Bad("WebP", "lossy bitstream has a bad start code");
    }
    width = U16Le(b, kData + 6) & 0x3FFF;
    height = U16Le(b, kData + 8) & 0x3FFF;
  } else if (fourcc == "VP8L") {
    // Lossless: signature, then 14-bit width-1, 14-bit height-1, alpha bit, 3-bit version (0).
    if (size < 5) return Bad("WebP", "has a lossless bitstream header that is too short");
    if (U8(b, kData) != 0x2F) return Bad("WebP", "lossless bitstream has a bad signature");
    const uint32_t bits = U32Le(b, kData + 1);
    if ((bits >> 29) != 0) return Bad("WebP", "lossless bitstream has an unknown version");
    width = (bits & 0x3FFF) + 1;
    height = ((bits >> 14) & 0x3FFF) + 1;
  } else if (fourcc == "VP8X") {
    // Extended: flags(1) reserved(3) canvas width-1 (24 bits) canvas height-1 (24 bits).
    if (size < 10) return Bad("WebP", "has an extended header that is too short");
    width = U24Le(b, kData + 4) + 1;
    height = U24Le(b, kData + 7) + 1;
    // The canvas size alone says nothing about completeness, so require that the chunks are
    // consistent and that some image data (a still bitstream or animation frame) exists.
    bool have_image = false;
    for (uint64_t pos = 12; Has(b, pos, 8);) {
      const uint32_t chunk_size = U32Le(b, pos + 4);
      if (!Has(b, pos + 8, chunk_size)) {
        return Bad("WebP", "has a chunk that runs past its RIFF container");
      }
      const std::string_view type = b.substr(pos, 4);
      have_image = have_image || type == "VP8 " || type == "VP8L" || type == "ANMF";
      pos += uint64_t{8} + chunk_size + (chunk_size & 1);  // chunks are padded to even sizes
    }
    if (!have_image) return Bad("WebP", "has no image data");
  } else {
    return Bad("WebP", "does not start with a VP8, VP8L or VP8X chunk");
  }
  return MakeHeader(ImageFormat::kWebp, "WebP", width, height);
}

// ---- BMP -----------------------------------------------------------------------------------

Result<ImageHeader> ReadBmp(std::string_view b) {
  // File header: "BM" size(4) reserved(4) pixel-data offset(4); then the DIB header's size.
  if (!Has(b, 0, 18)) return Truncated("BMP", "the file ends inside the header");
  const uint32_t off_bits = U32Le(b, 10);
  const uint32_t dib_size = U32Le(b, 14);
  int64_t width = 0;
  int64_t height = 0;
  uint32_t bpp = 0;
  uint32_t compression = 0;
  if (dib_size == 12) {  // BITMAPCOREHEADER: uint16 width, height, planes, bit count
    if (!Has(b, 14, 12)) return Truncated("BMP", "the file ends inside the header");
    width = U16Le(b, 18);
    height = U16Le(b, 20);
    bpp = U16Le(b, 24);
  } else if (dib_size >= 40) {  // BITMAPINFOHEADER and its extensions (V4, V5, OS/2 v2)
    if (!Has(b, 14, 40)) return Truncated("BMP", "the file ends inside the header");
    width = static_cast<int32_t>(U32Le(b, 18));  // well-defined modular conversion in C++20
    height = static_cast<int32_t>(U32Le(b, 22));
    bpp = U16Le(b, 28);
    compression = U32Le(b, 30);
  } else {
    return Status::Unsupported("this BMP variant (header size " + std::to_string(dib_size) +
                               ") is not supported; convert to PNG");
  }
  if (width < 0) return Bad("BMP", "header declares a negative width");
  if (height < 0) height = -height;  // negative height marks a top-down bitmap
  if (off_bits > b.size()) return Truncated("BMP", "the file ends before its pixel data");
  // BI_RGB, BI_BITFIELDS and BI_ALPHABITFIELDS store raw rows, so their size is known exactly.
  if (compression == 0 || compression == 3 || compression == 6) {
    if (bpp != 1 && bpp != 4 && bpp != 8 && bpp != 16 && bpp != 24 && bpp != 32) {
      return Bad("BMP", "header declares an invalid bit depth");
    }
    const uint64_t stride = (static_cast<uint64_t>(width) * bpp + 31) / 32 * 4;
    // Divide rather than multiply: stride * height can overflow 64 bits for hostile headers.
    const uint64_t available = b.size() - off_bits;
    if (stride != 0 && available / stride < static_cast<uint64_t>(height)) {
      return Truncated("BMP", "the file is shorter than its pixel data");
    }
  } else if (off_bits >= b.size()) {
    return Truncated("BMP", "the file ends before its pixel data");
  }
  return MakeHeader(ImageFormat::kBmp, "BMP", static_cast<uint64_t>(width), static_cast<uint64_t>(height));
}

// ---- TIFF ----------------------------------------------------------------------------------

struct Tiff {
  std::string_view b;
  bool big_endian;
  uint32_t U16(size_t p) const { return big_endian ? U16Be(b, p) : U16Le(b, p); }
  uint32_t U32(size_t p) const { return big_endian ? U32Be(b, p) : U32Le(b, p); }
};

struct TiffEntry {
  bool present = false;
  uint32_t type = 0;
  uint32_t count = 0;
  size_t value_pos = 0;  // the 4-byte value-or-offset field
};

// Bytes per element for the TIFF 6.0 field types; 0 for unknown types (which readers skip).
uint64_t TiffTypeSize(uint32_t type) {
  static constexpr uint8_t kSizes[] = {0, 1, 1, 2, 4, 8, 1, 1, 2, 4, 8, 4, 8, 4};
  return type < sizeof(kSizes) ? kSizes[type] : 0;
}

// Where an entry's values live: inside the entry when they fit in 4 bytes, else at an offset.
// Callers have already checked (for every entry) that out-of-line values lie within the file.
size_t TiffValuesPos(const Tiff& t, const TiffEntry& e) {
  return TiffTypeSize(e.type) * e.count <= 4 ? e.value_pos : t.U32(e.value_pos);
}

// Element i of a SHORT or LONG entry; the caller checked the type and i < count.
uint32_t TiffElement(const Tiff& t, const TiffEntry& e, uint32_t i) {
  const size_t pos = TiffValuesPos(t, e);
  return e.type == 3 ? t.U16(pos + size_t{2} * i) : t.U32(pos + size_t{4} * i);
}

bool IsShortOrLong(const TiffEntry& e) { return e.present && (e.type == 3 || e.type == 4); }

Result<ImageHeader> ReadTiff(std::string_view b) {
  if (!Has(b, 0, 8)) return Truncated("TIFF", "the file ends inside the header");
  const Tiff t{b, b[0] == 'M'};
  const uint64_t ifd = t.U32(4);
  if (ifd < 8) return Bad("TIFF", "has an invalid image directory offset");
  if (!Has(b, ifd, 2)) {
    return Truncated("TIFF", "the image directory lies beyond the end of the file");
  }
  const uint32_t entries = t.U16(ifd);
  if (entries == 0) return Bad("TIFF", "has an empty image directory");
  // 12 bytes per entry, then the 4-byte offset of the next directory.
  if (!Has(b, ifd + 2, uint64_t{12} * entries + 4)) {
    return Truncated("TIFF", "the image directory lies beyond the end of the file");
  }
  TiffEntry width, height, strip_offsets, strip_counts, tile_offsets, tile_counts;
  for (uint32_t i = 0; i < entries; ++i) {
    const size_t p = ifd + 2 + size_t{12} * i;
    const TiffEntry e{true, t.U16(p + 2), t.U32(p + 4), p + 8};
    const uint64_t bytes = TiffTypeSize(e.type) * e.count;
    if (bytes > 4 && !Has(b, t.U32(e.value_pos), bytes)) {
      return Truncated("TIFF", "header data lies beyond the end of the file");
    }
    TiffEntry* field = nullptr;
    switch (t.U16(p)) {
      case 256:
        field = &width;
        break;
      case 257:
        field = &height;
        break;
      case 273:
        field = &strip_offsets;
        break;
      case 279:
        field = &strip_counts;
        break;
      case 324:
        field = &tile_offsets;
        break;
      case 325:
        field = &tile_counts;
        break;
      default:
        break;
    }
    // libtiff decodes with the first of two equal tags: a small second width would hide a
    // bomb's real size from the pixel limit (found by fuzz/image_header_fuzz.cpp).
    if (field != nullptr && field->present) return Bad("TIFF", "repeats a tag of its image directory");
    if (field != nullptr) *field = e;
  }
  if (!IsShortOrLong(width) || !IsShortOrLong(height) || width.count == 0 || height.count == 0) {
    return Bad("TIFF", "has no valid image width or height");
  }
  const bool tiled = tile_offsets.present;
  const TiffEntry& offsets = tiled ? tile_offsets : strip_offsets;
  const TiffEntry& counts = tiled ? tile_counts : strip_counts;
  if (!IsShortOrLong(offsets) || offsets.count == 0) {
    return Bad("TIFF", "has no valid strip or tile offsets");
  }
  if (counts.present && (!IsShortOrLong(counts) || counts.count != offsets.count)) {
    return Bad("TIFF", "has strip or tile byte counts that do not match the offsets");
  }
  // Each strip/tile must lie inside the file. Without byte counts (libtiff can estimate them)
  // just require that each one starts inside the file. The loop is bounded by the file size
  // because the offsets array itself was checked to lie within the file.
  for (uint32_t i = 0; i < offsets.count; ++i) {
    const uint64_t end =
        uint64_t{TiffElement(t, offsets, i)} + (counts.present ? TiffElement(t, counts, i) : 1);
    if (end > b.size()) return Truncated("TIFF", "image data lies beyond the end of the file");
  }
  return MakeHeader(ImageFormat::kTiff, "TIFF", TiffElement(t, width, 0), TiffElement(t, height, 0));
}

// ---- Unknown content -----------------------------------------------------------------------

// True if the bytes are UTF-8 text without control characters other than whitespace/escape.
// A multi-byte sequence cut off by the end of `s` is accepted: `s` is usually a prefix.
bool LooksLikeText(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const uint32_t c = U8(s, i);
    if (c < 0x80) {
      const bool control =
          (c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f' && c != 0x1B) || c == 0x7F;
      if (control) return false;
      ++i;
      continue;
    }
    const size_t extra = c >= 0xF0 && c <= 0xF4 ? 3 : c >= 0xE0 ? 2 : c >= 0xC2 ? 1 : 0;
    if (extra == 0 || c > 0xF4) return false;
    for (size_t k = 1; k <= extra && i + k < s.size(); ++k) {
      if ((U8(s, i + k) & 0xC0) != 0x80) return false;
    }
    i += extra + 1;
  }
  return true;
}

std::string AsciiLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

}  // namespace

uint32_t JpegScanLimit(uint32_t width, uint32_t height) {
  const uint64_t pixels = std::max<uint64_t>(1, uint64_t{width} * height);
  return static_cast<uint32_t>(
      std::clamp<uint64_t>(kMaxJpegScanPixels / pixels, kMinJpegScanLimit, kMaxJpegScans));
}

ImageFormat SniffFormat(std::string_view b) {
  if (b.starts_with("\xFF\xD8\xFF")) return ImageFormat::kJpeg;
  if (b.starts_with("\x89PNG\r\n\x1A\n")) return ImageFormat::kPng;
  if (b.size() >= 12 && b.starts_with("RIFF") && b.substr(8, 4) == "WEBP") {
    return ImageFormat::kWebp;
  }
  if (b.starts_with("GIF87a") || b.starts_with("GIF89a")) return ImageFormat::kGif;
  if (b.starts_with("II*\0"sv) || b.starts_with("MM\0*"sv)) return ImageFormat::kTiff;
  if (b.starts_with("BM") && (b.size() < 10 || U32Le(b, 6) == 0)) return ImageFormat::kBmp;
  return ImageFormat::kUnknown;
}

std::string_view FormatName(ImageFormat f) {
  const auto i = static_cast<size_t>(f);
  return i < std::size(kNames) ? kNames[i] : kNames[0];
}

std::string_view MimeType(ImageFormat f) {
  const auto i = static_cast<size_t>(f);
  return i < std::size(kMimeTypes) ? kMimeTypes[i] : kMimeTypes[0];
}

std::string DescribeUnknownContent(std::string_view bytes) {
  if (bytes.empty()) return "empty file";
  struct Signature {
    size_t offset;
    std::string_view magic;
    const char* description;
  };
  static constexpr Signature kSignatures[] = {
      {0, "%PDF-", "PDF"},
      {0, "PK\x03\x04", "ZIP archive"},
      {0, "PK\x05\x06", "ZIP archive"},
      {0, "\x1F\x8B", "gzip archive"},
      {0, "Rar!\x1A\x07", "RAR archive"},
      {0, "7z\xBC\xAF\x27\x1C", "7-Zip archive"},
      {0,
       "\x7F"
       "ELF",
       "executable program"},
      {0, "GIF8", "GIF image"},
      {0, "II+\0"sv, "BigTIFF image"},
      {0, "MM\0+"sv, "BigTIFF image"},
      {0, "8BPS", "Photoshop document"},
      {4, "ftypheic", "HEIC image"},
      {4, "ftypheix", "HEIC image"},
      {4, "ftypmif1", "HEIF image"},
      {4, "ftypavif", "AVIF image"},
      {4, "ftypisom", "MP4 video"},
      {4, "ftypqt  ", "QuickTime video"},
  };
  for (const Signature& sig : kSignatures) {
    if (bytes.size() >= sig.offset && bytes.substr(sig.offset).starts_with(sig.magic)) {
      return sig.description;
    }
  }
  if (bytes.starts_with("RIFF")) {
    const std::string_view kind = bytes.size() >= 12 ? bytes.substr(8, 4) : "";
    return kind == "WAVE" ? "WAV audio" : kind == "AVI " ? "AVI video" : "RIFF container";
  }
  // Text formats: look at a prefix, after a UTF-8 byte order mark and leading whitespace.
  std::string_view head = bytes.substr(0, 1024);
  if (head.starts_with("\xEF\xBB\xBF")) head.remove_prefix(3);
  if (!LooksLikeText(head)) return "unrecognised binary data";
  const size_t start = head.find_first_not_of(" \t\r\n\f");
  if (start == std::string_view::npos) return "text";  // whitespace only
  const std::string lower = AsciiLower(head.substr(start));
  if (lower.starts_with('<')) {
    for (std::string_view tag : {"<!doctype html", "<html", "<head", "<body", "<script"}) {
      if (lower.find(tag) != std::string::npos) return "HTML";
    }
    if (lower.find("<svg") != std::string::npos) return "SVG image";
    if (lower.starts_with("<?xml")) return "XML";
  }
  if (lower.starts_with('{') || lower.starts_with('[')) {
    const size_t next = lower.find_first_not_of(" \t\r\n\f", 1);
    if (next != std::string::npos &&
        (lower[next] == '"' || lower[next] == '}' || lower[next] == '{' || lower[next] == ']')) {
      return "JSON";
    }
  }
  return "text";
}

Result<ImageHeader> ReadImageHeader(std::string_view bytes) {
  switch (SniffFormat(bytes)) {
    case ImageFormat::kJpeg:
      return ReadJpeg(bytes);
    case ImageFormat::kPng:
      return ReadPng(bytes);
    case ImageFormat::kWebp:
      return ReadWebp(bytes);
    case ImageFormat::kBmp:
      return ReadBmp(bytes);
    case ImageFormat::kTiff:
      return ReadTiff(bytes);
    case ImageFormat::kGif:
      return Status::Unsupported("GIF images are not supported; convert to PNG");
    case ImageFormat::kUnknown:
      break;
  }
  std::string message = "not a supported image format (" + std::string(kSupportedList) + "): ";
  if (bytes.empty()) return Status::Unsupported(message + "the file is empty");
  return Status::Unsupported(message + "the content looks like " + DescribeUnknownContent(bytes));
}

}  // namespace samcache
