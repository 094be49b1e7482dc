#include "image/image_format.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

// OpenCV 4.6 headers trip C++20's enum-arithmetic deprecation when included with -I (as
// pkg-config does) rather than as system headers.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-enum-enum-conversion"
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#pragma GCC diagnostic pop

namespace samcache {
namespace {

using namespace std::string_literals;

// A deterministic image with gradients and noise so that encoders emit real entropy data.
cv::Mat MakeImage(int width, int height, int channels = 3) {
  cv::Mat img(height, width, CV_8UC(channels));
  std::mt19937 rng(7);
  for (int y = 0; y < height; ++y) {
    uint8_t* row = img.ptr<uint8_t>(y);
    for (int x = 0; x < width * channels; ++x) {
      row[x] = static_cast<uint8_t>(x * 3 + y * 5 + static_cast<int>(rng() % 16));
    }
  }
  return img;
}

std::string Encode(const cv::Mat& img, const std::string& ext, const std::vector<int>& params = {}) {
  std::vector<uchar> buf;
  EXPECT_TRUE(cv::imencode(ext, img, buf, params)) << ext;
  return std::string(buf.begin(), buf.end());
}

std::string Be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
          static_cast<char>(v)};
}
std::string Be16(uint32_t v) { return {static_cast<char>(v >> 8), static_cast<char>(v)}; }
std::string Le32(uint32_t v) {
  return {static_cast<char>(v), static_cast<char>(v >> 8), static_cast<char>(v >> 16),
          static_cast<char>(v >> 24)};
}
std::string Le16(uint32_t v) { return {static_cast<char>(v), static_cast<char>(v >> 8)}; }

// A PNG chunk with a dummy CRC (ReadImageHeader does not verify CRCs).
std::string PngChunk(const std::string& type, const std::string& data) {
  return Be32(static_cast<uint32_t>(data.size())) + type + data + "\0\0\0\0"s;
}

std::string CraftPng(uint32_t width, uint32_t height) {
  const std::string ihdr = Be32(width) + Be32(height) + "\x08\x02\0\0\0"s;
  return "\x89PNG\r\n\x1A\n"s + PngChunk("IHDR", ihdr) + PngChunk("IDAT", "xx") + PngChunk("IEND", "");
}

// A big-endian TIFF: 5x3, one strip of 15 bytes at offset 8, directory after it.
std::string CraftTiffBigEndian(uint32_t strip_offset = 8) {
  std::string t = "MM\0*"s + Be32(8 + 15) + std::string(15, '\x80');
  auto entry = [](uint32_t tag, uint32_t type, uint32_t count, const std::string& value) {
    return Be16(tag) + Be16(type) + Be32(count) + value;
  };
  t += Be16(4);
  t += entry(256, 3, 1, Be16(5) + Be16(0));  // ImageWidth SHORT: left-justified in the field
  t += entry(257, 4, 1, Be32(3));            // ImageLength LONG
  t += entry(273, 4, 1, Be32(strip_offset));
  t += entry(279, 4, 1, Be32(15));
  t += Be32(0);  // no next directory
  return t;
}

Result<ImageHeader> ReadExact(std::string_view bytes) {
  // Copy into an exactly-sized heap block so ASan flags any read past the end.
  std::unique_ptr<char[]> copy(new char[bytes.size() + 1]);
  std::copy(bytes.begin(), bytes.end(), copy.get());
  return ReadImageHeader(std::string_view(copy.get(), bytes.size()));
}

struct EncodeCase {
  const char* ext;
  ImageFormat format;
  int width;
  int height;
  int channels;
  std::vector<int> params;
  std::string Name() const {
    return std::string(ext + 1) + "_" + std::to_string(width) + "x" + std::to_string(height) + "_c" +
           std::to_string(channels) + (params.empty() ? "" : "_q");
  }
};

std::vector<EncodeCase> AllCases() {
  std::vector<EncodeCase> cases;
  for (auto [w, h] : {std::pair{37, 23}, std::pair{1600, 900}}) {
    cases.push_back({".jpg", ImageFormat::kJpeg, w, h, 3, {}});
    cases.push_back({".png", ImageFormat::kPng, w, h, 3, {}});
    cases.push_back({".webp", ImageFormat::kWebp, w, h, 3, {}});  // lossless: VP8L
    cases.push_back({".webp", ImageFormat::kWebp, w, h, 3, {cv::IMWRITE_WEBP_QUALITY, 80}});
    cases.push_back({".bmp", ImageFormat::kBmp, w, h, 3, {}});
    cases.push_back({".tiff", ImageFormat::kTiff, w, h, 3, {}});
  }
  cases.push_back({".jpg", ImageFormat::kJpeg, 23, 37, 1, {}});
  cases.push_back({".png", ImageFormat::kPng, 23, 37, 4, {}});
  cases.push_back({".webp", ImageFormat::kWebp, 23, 37, 4, {cv::IMWRITE_WEBP_QUALITY, 80}});
  cases.push_back({".bmp", ImageFormat::kBmp, 23, 37, 1, {}});
  cases.push_back({".bmp", ImageFormat::kBmp, 23, 37, 4, {}});
  cases.push_back({".tiff", ImageFormat::kTiff, 23, 37, 1, {}});
  return cases;
}

class EncodedImageTest : public testing::TestWithParam<EncodeCase> {
 protected:
  std::string Bytes() const {
    const EncodeCase& c = GetParam();
    return Encode(MakeImage(c.width, c.height, c.channels), c.ext, c.params);
  }
};

TEST_P(EncodedImageTest, SniffsAndReadsDeclaredSize) {
  const EncodeCase& c = GetParam();
  const std::string bytes = Bytes();
  EXPECT_EQ(SniffFormat(bytes), c.format);
  EXPECT_EQ(SniffFormat(bytes.substr(0, 16)), c.format);
  const Result<ImageHeader> header = ReadExact(bytes);
  ASSERT_TRUE(header.ok()) << header.status().message();
  EXPECT_EQ(header->format, c.format);
  EXPECT_EQ(header->width, static_cast<uint32_t>(c.width));
  EXPECT_EQ(header->height, static_cast<uint32_t>(c.height));
}

TEST_P(EncodedImageTest, TruncationIsCorrupt) {
  const EncodeCase& c = GetParam();
  const std::string bytes = Bytes();
  for (size_t len : {bytes.size() - 1, bytes.size() * 3 / 4, bytes.size() / 2, size_t{40}}) {
    const Result<ImageHeader> header = ReadExact(bytes.substr(0, len));
    ASSERT_FALSE(header.ok()) << "length " << len << " of " << bytes.size();
    EXPECT_EQ(header.status().code(), StatusCode::kCorrupt) << header.status().message();
    EXPECT_NE(header.status().message().find("truncated"), std::string::npos) << header.status().message();
  }
  // Ten bytes is too short to recognise a WebP ("RIFF" size "WE"); every other format is.
  const Result<ImageHeader> ten = ReadExact(bytes.substr(0, 10));
  ASSERT_FALSE(ten.ok());
  if (c.format == ImageFormat::kWebp) {
    EXPECT_EQ(ten.status().code(), StatusCode::kUnsupported) << ten.status().message();
  } else {
    EXPECT_EQ(ten.status().code(), StatusCode::kCorrupt) << ten.status().message();
    EXPECT_NE(ten.status().message().find("truncated"), std::string::npos);
  }
}

INSTANTIATE_TEST_SUITE_P(OpenCv, EncodedImageTest, testing::ValuesIn(AllCases()),
                         [](const testing::TestParamInfo<EncodeCase>& info) { return info.param.Name(); });

// Fuzzing uses only the small images: header bytes are then a larger share of each file, and
// copying multi-megabyte files 2000 times under ASan would dominate the test run.
std::vector<EncodeCase> SmallCases() {
  std::vector<EncodeCase> small;
  for (const EncodeCase& c : AllCases()) {
    if (c.width < 100) small.push_back(c);
  }
  return small;
}

class MutatedImageTest : public EncodedImageTest {};

TEST_P(MutatedImageTest, RandomByteFlipsNeverCrash) {
  const std::string original = Bytes();
  std::mt19937 rng(12345);
  int ok_count = 0;
  for (int i = 0; i < 2000; ++i) {
    std::string bytes = original;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) {
      // Half the flips land in the first 128 bytes, where most of the parsing happens.
      const size_t span = rng() % 2 == 0 ? std::min<size_t>(bytes.size(), 128) : bytes.size();
      bytes[rng() % span] = static_cast<char>(rng());
    }
    if (rng() % 8 == 0) bytes.resize(rng() % bytes.size());
    const Result<ImageHeader> header = ReadExact(bytes);
    if (header.ok()) {
      ++ok_count;
      EXPECT_GT(header->width, 0u);
      EXPECT_GT(header->height, 0u);
    } else {
      EXPECT_FALSE(header.status().message().empty());
    }
  }
  // Flips in pixel data are invisible to a header reader, so some mutants must still parse.
  EXPECT_GT(ok_count, 0);
}

INSTANTIATE_TEST_SUITE_P(OpenCv, MutatedImageTest, testing::ValuesIn(SmallCases()),
                         [](const testing::TestParamInfo<EncodeCase>& info) { return info.param.Name(); });

TEST(ImageFormatTest, OpenCvWebpCoversAllThreeBitstreamKinds) {
  const cv::Mat rgb = MakeImage(37, 23, 3);
  const cv::Mat rgba = MakeImage(37, 23, 4);
  EXPECT_EQ(Encode(rgb, ".webp").substr(12, 4), "VP8L");
  EXPECT_EQ(Encode(rgb, ".webp", {cv::IMWRITE_WEBP_QUALITY, 80}).substr(12, 4), "VP8 ");
  EXPECT_EQ(Encode(rgba, ".webp", {cv::IMWRITE_WEBP_QUALITY, 80}).substr(12, 4), "VP8X");
}

TEST(ImageFormatTest, WebpLossyScaleBitsAreNotPartOfTheSize) {
  std::string webp = Encode(MakeImage(37, 23, 3), ".webp", {cv::IMWRITE_WEBP_QUALITY, 80});
  ASSERT_EQ(webp.substr(12, 4), "VP8 ");
  // Bytes 26-29 hold the 14-bit width and height; the top two bits of each are upscale hints.
  webp[27] = static_cast<char>(webp[27] | 0xC0);
  webp[29] = static_cast<char>(webp[29] | 0x40);
  const Result<ImageHeader> header = ReadExact(webp);
  ASSERT_TRUE(header.ok()) << header.status().message();
  EXPECT_EQ(header->width, 37u);
  EXPECT_EQ(header->height, 23u);
}

TEST(ImageFormatTest, SniffNeedsOnlyTheSignature) {
  EXPECT_EQ(SniffFormat("\xFF\xD8\xFF"), ImageFormat::kJpeg);
  EXPECT_EQ(SniffFormat("\xFF\xD8"), ImageFormat::kUnknown);
  EXPECT_EQ(SniffFormat("\x89PNG\r\n\x1A\n"), ImageFormat::kPng);
  EXPECT_EQ(SniffFormat("\x89PNG\r\n\x1A"), ImageFormat::kUnknown);
  EXPECT_EQ(SniffFormat("RIFF\0\0\0\0WEBP"s), ImageFormat::kWebp);
  EXPECT_EQ(SniffFormat("RIFF\0\0\0\0WAVE"s), ImageFormat::kUnknown);
  EXPECT_EQ(SniffFormat("II*\0"s), ImageFormat::kTiff);
  EXPECT_EQ(SniffFormat("MM\0*"s), ImageFormat::kTiff);
  EXPECT_EQ(SniffFormat("GIF89a"), ImageFormat::kGif);
  EXPECT_EQ(SniffFormat("GIF87a"), ImageFormat::kGif);
  EXPECT_EQ(SniffFormat("BM"), ImageFormat::kBmp);
  EXPECT_EQ(SniffFormat("BM\x10\0\0\0\0\0\0\0"s), ImageFormat::kBmp);
  EXPECT_EQ(SniffFormat("BMW is a car maker"), ImageFormat::kUnknown);  // reserved bytes != 0
  EXPECT_EQ(SniffFormat(""), ImageFormat::kUnknown);
  EXPECT_EQ(SniffFormat("<html>"), ImageFormat::kUnknown);
}

TEST(ImageFormatTest, NamesAndMimeTypes) {
  const std::vector<std::tuple<ImageFormat, std::string_view, std::string_view>> expected = {
      {ImageFormat::kJpeg, "jpeg", "image/jpeg"},
      {ImageFormat::kPng, "png", "image/png"},
      {ImageFormat::kWebp, "webp", "image/webp"},
      {ImageFormat::kBmp, "bmp", "image/bmp"},
      {ImageFormat::kTiff, "tiff", "image/tiff"},
      {ImageFormat::kGif, "gif", "image/gif"},
      {ImageFormat::kUnknown, "unknown", "application/octet-stream"},
  };
  for (const auto& [format, name, mime] : expected) {
    EXPECT_EQ(FormatName(format), name);
    EXPECT_EQ(MimeType(format), mime);
  }
}

TEST(ImageFormatTest, EmptyInputIsUnsupported) {
  const Result<ImageHeader> header = ReadImageHeader("");
  ASSERT_FALSE(header.ok());
  EXPECT_EQ(header.status().code(), StatusCode::kUnsupported);
  EXPECT_EQ(header.status().message(),
            "not a supported image format (JPEG, PNG, WebP, BMP, TIFF): the file is empty");
  EXPECT_EQ(DescribeUnknownContent(""), "empty file");
}

TEST(ImageFormatTest, HtmlAndTextAreUnsupportedWithADescription) {
  const Result<ImageHeader> html =
      ReadImageHeader("\xEF\xBB\xBF\n  <!DOCTYPE html>\n<html><body>Not Found</body></html>");
  ASSERT_FALSE(html.ok());
  EXPECT_EQ(html.status().code(), StatusCode::kUnsupported);
  EXPECT_EQ(html.status().message(),
            "not a supported image format (JPEG, PNG, WebP, BMP, TIFF): "
            "the content looks like HTML");

  const Result<ImageHeader> text = ReadImageHeader("just some notes, café ☕\nsecond line\n");
  ASSERT_FALSE(text.ok());
  EXPECT_EQ(text.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(text.status().message().find("looks like text"), std::string::npos) << text.status().message();
}

TEST(ImageFormatTest, DescribesCommonNonImageContent) {
  EXPECT_EQ(DescribeUnknownContent("<html lang=en>"), "HTML");
  EXPECT_EQ(DescribeUnknownContent("<?xml version=\"1.0\"?>\n<svg xmlns=\"x\"/>"), "SVG image");
  EXPECT_EQ(DescribeUnknownContent("<?xml version=\"1.0\"?>\n<feed/>"), "XML");
  EXPECT_EQ(DescribeUnknownContent("{\"error\": \"nope\"}"), "JSON");
  EXPECT_EQ(DescribeUnknownContent("%PDF-1.7\n%\xE2\xE3\xCF\xD3"), "PDF");
  EXPECT_EQ(DescribeUnknownContent("PK\x03\x04\x14\0\0\0"s), "ZIP archive");
  EXPECT_EQ(DescribeUnknownContent("\0\0\0\x18"
                                   "ftypheic\0\0\0\0"s),
            "HEIC image");
  EXPECT_EQ(DescribeUnknownContent("GIF89a\x01\0\x01\0"s), "GIF image");
  EXPECT_EQ(DescribeUnknownContent("RIFF\x24\0\0\0WAVEfmt "s), "WAV audio");
  EXPECT_EQ(DescribeUnknownContent("hello\tworld\r\n"), "text");
  EXPECT_EQ(DescribeUnknownContent("\x01\x02\x03\xFE\xFF\0"s), "unrecognised binary data");
  EXPECT_EQ(DescribeUnknownContent("abc\xC3(def"), "unrecognised binary data");  // bad UTF-8
}

TEST(ImageFormatTest, GifIsUnsupported) {
  const std::string gif =
      "GIF89a\x01\0\x01\0\x80\0\0\xFF\xFF\xFF\0\0\0!\xF9\x04\0\0\0\0\0"
      ",\0\0\0\0\x01\0\x01\0\0\x02\x02\x44\x01\0;"s;
  EXPECT_EQ(SniffFormat(gif), ImageFormat::kGif);
  const Result<ImageHeader> header = ReadImageHeader(gif);
  ASSERT_FALSE(header.ok());
  EXPECT_EQ(header.status().code(), StatusCode::kUnsupported);
  EXPECT_EQ(header.status().message(), "GIF images are not supported; convert to PNG");
}

TEST(ImageFormatTest, HugeDeclaredPngSizeIsReportedNotRefused) {
  const Result<ImageHeader> header = ReadExact(CraftPng(100000, 100000));
  ASSERT_TRUE(header.ok()) << header.status().message();
  EXPECT_EQ(header->format, ImageFormat::kPng);
  EXPECT_EQ(header->width, 100000u);
  EXPECT_EQ(header->height, 100000u);
}

TEST(ImageFormatTest, ImpossiblePngHeadersAreCorrupt) {
  for (const std::string& png : {
           CraftPng(0, 10),                                                     // zero width
           CraftPng(10, 0x80000000u),                                           // beyond PNG's 2^31-1 limit
           "\x89PNG\r\n\x1A\n"s + PngChunk("IDAT", std::string(13, 'x')),       // IHDR not first
           "\x89PNG\r\n\x1A\n"s + Be32(12) + "IHDR" + std::string(17, '\x01'),  // bad length
       }) {
    const Result<ImageHeader> header = ReadExact(png);
    ASSERT_FALSE(header.ok());
    EXPECT_EQ(header.status().code(), StatusCode::kCorrupt) << header.status().message();
  }
  // A chunk declaring more data than the file holds.
  std::string runaway = CraftPng(4, 4);
  runaway.replace(33, 4, Be32(0x10000));  // the IDAT length
  const Result<ImageHeader> header = ReadExact(runaway);
  ASSERT_FALSE(header.ok());
  EXPECT_EQ(header.status().message(), "truncated PNG: a chunk runs past the end of the file");
  // No IEND at all.
  std::string no_iend = CraftPng(4, 4);
  no_iend.resize(no_iend.size() - 12);
  EXPECT_EQ(ReadExact(no_iend).status().message(), "truncated PNG: the file ends before the IEND chunk");
}

TEST(ImageFormatTest, JpegToleratesFillBytesStandaloneMarkersAndTrailingData) {
  const std::string jpeg = Encode(MakeImage(37, 23), ".jpg");
  // FF D8 | FF FF FF 01 | FF E0 ...: fill bytes, a TEM marker, then the original segments.
  const std::string odd = jpeg.substr(0, 2) + "\xFF\xFF\xFF\x01" + jpeg.substr(2) + "TRAILER!";
  const Result<ImageHeader> header = ReadExact(odd);
  ASSERT_TRUE(header.ok()) << header.status().message();
  EXPECT_EQ(header->width, 37u);
  EXPECT_EQ(header->height, 23u);

  const Result<ImageHeader> truncated = ReadExact(jpeg.substr(0, jpeg.size() - 2));
  ASSERT_FALSE(truncated.ok());
  EXPECT_EQ(truncated.status().message(), "truncated JPEG: the file ends before the end-of-image marker");
}

TEST(ImageFormatTest, JpegThumbnailEoiDoesNotHideTruncation) {
  // An APP1 segment holding a complete tiny JPEG (with its own FF D9), as EXIF thumbnails do.
  const std::string thumb = Encode(MakeImage(8, 8), ".jpg");
  const std::string app1 = "\xFF\xE1"s + Be16(static_cast<uint32_t>(thumb.size() + 8)) + "Exif\0\0"s + thumb;
  const std::string jpeg = Encode(MakeImage(1600, 900), ".jpg");
  const std::string with_thumb = jpeg.substr(0, 2) + app1 + jpeg.substr(2);
  const Result<ImageHeader> full = ReadExact(with_thumb);
  ASSERT_TRUE(full.ok()) << full.status().message();
  EXPECT_EQ(full->width, 1600u);
  const Result<ImageHeader> cut = ReadExact(with_thumb.substr(0, with_thumb.size() / 2));
  ASSERT_FALSE(cut.ok());
  EXPECT_EQ(cut.status().code(), StatusCode::kCorrupt);
}

TEST(ImageFormatTest, JpegImpossibleHeadersAreCorrupt) {
  const std::string jpeg = Encode(MakeImage(37, 23), ".jpg");
  const size_t sof = jpeg.find("\xFF\xC0");
  ASSERT_NE(sof, std::string::npos);
  std::string zero_height = jpeg;
  zero_height.replace(sof + 5, 2, Be16(0));  // FF C0 len(2) precision(1) height(2)
  EXPECT_EQ(ReadExact(zero_height).status().code(), StatusCode::kCorrupt);
  std::string bad_length = jpeg;
  bad_length.replace(4, 2, Be16(1));  // the APP0 segment length
  EXPECT_EQ(ReadExact(bad_length).status().code(), StatusCode::kCorrupt);
}

TEST(ImageFormatTest, BmpCoreHeaderAndTopDown) {
  // BITMAPCOREHEADER, 3x2 at 24 bpp: rows padded to 12 bytes, pixel data at offset 26.
  const std::string core = "BM"s + Le32(26 + 24) + Le32(0) + Le32(26) + Le32(12) + Le16(3) + Le16(2) +
                           Le16(1) + Le16(24) + std::string(24, '\x40');
  Result<ImageHeader> header = ReadExact(core);
  ASSERT_TRUE(header.ok()) << header.status().message();
  EXPECT_EQ(header->width, 3u);
  EXPECT_EQ(header->height, 2u);
  EXPECT_EQ(ReadExact(core.substr(0, core.size() - 1)).status().message(),
            "truncated BMP: the file is shorter than its pixel data");

  std::string top_down = Encode(MakeImage(37, 23), ".bmp");
  top_down.replace(22, 4, Le32(static_cast<uint32_t>(-23)));
  header = ReadExact(top_down);
  ASSERT_TRUE(header.ok()) << header.status().message();
  EXPECT_EQ(header->height, 23u);

  std::string huge = Encode(MakeImage(37, 23), ".bmp");  // 2^31-1 wide: must not overflow
  huge.replace(18, 4, Le32(0x7FFFFFFF));
  huge.replace(22, 4, Le32(0x80000000u));
  EXPECT_EQ(ReadExact(huge).status().code(), StatusCode::kCorrupt);
}

TEST(ImageFormatTest, BigEndianTiffByHand) {
  const Result<ImageHeader> header = ReadExact(CraftTiffBigEndian());
  ASSERT_TRUE(header.ok()) << header.status().message();
  EXPECT_EQ(header->format, ImageFormat::kTiff);
  EXPECT_EQ(header->width, 5u);
  EXPECT_EQ(header->height, 3u);
  const Result<ImageHeader> beyond = ReadExact(CraftTiffBigEndian(100));
  ASSERT_FALSE(beyond.ok());
  EXPECT_EQ(beyond.status().message(), "truncated TIFF: image data lies beyond the end of the file");
}

}  // namespace
}  // namespace samcache
