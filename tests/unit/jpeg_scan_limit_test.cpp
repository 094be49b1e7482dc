// Progressive-JPEG scan bombs (issue 14, M2): the header walk counts every scan up to the
// EOI, cannot be fooled by bytes that only look like markers, and refuses too many scans
// before any pixel is decoded.
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

// OpenCV 4.6 headers trip C++20's enum-arithmetic deprecation when included with -I.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-enum-enum-conversion"
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#pragma GCC diagnostic pop

#include "image/image_decoder.h"
#include "image/image_format.h"
#include "image/image_load.h"

namespace samcache {
namespace {

using namespace std::string_literals;

constexpr uint64_t kNoLimit = 100'000'000;

cv::Mat MakeImage(int width, int height, int channels) {
  cv::Mat img(height, width, CV_8UC(channels));
  std::mt19937 rng(3);
  for (int y = 0; y < height; ++y) {
    uint8_t* row = img.ptr<uint8_t>(y);
    for (int x = 0; x < width * channels; ++x) row[x] = static_cast<uint8_t>(x + 2 * y + rng() % 32);
  }
  return img;
}

std::string EncodeJpeg(const cv::Mat& img, std::vector<int> params = {}) {
  std::vector<uchar> buf;
  EXPECT_TRUE(cv::imencode(".jpg", img, buf, params));
  return std::string(buf.begin(), buf.end());
}

std::string Progressive(int width, int height, int channels) {
  return EncodeJpeg(MakeImage(width, height, channels), {cv::IMWRITE_JPEG_PROGRESSIVE, 1});
}

std::string Be16(uint32_t v) { return {static_cast<char>(v >> 8), static_cast<char>(v)}; }

// A clean encoder's JPEG in three parts: everything before the first SOS, each scan (its SOS
// segment and entropy-coded data), and everything from the marker after the last scan.
struct SplitJpeg {
  std::string head;
  std::vector<std::string> scans;
  std::string tail;
  std::string Join(const std::vector<std::string>& scan_list) const {
    std::string out = head;
    for (const std::string& s : scan_list) out += s;
    return out + tail;
  }
};

SplitJpeg Split(const std::string& jpeg) {
  SplitJpeg out;
  size_t pos = 2;
  // Segments up to the first SOS (a clean encoder writes no fill bytes or stray data).
  while (static_cast<uint8_t>(jpeg[pos + 1]) != 0xDA) {
    pos += 2 + (static_cast<uint8_t>(jpeg[pos + 2]) << 8 | static_cast<uint8_t>(jpeg[pos + 3]));
  }
  out.head = jpeg.substr(0, pos);
  for (;;) {
    const uint8_t marker = static_cast<uint8_t>(jpeg[pos + 1]);
    if (marker == 0xD9) break;
    size_t end = pos + 2 + (static_cast<uint8_t>(jpeg[pos + 2]) << 8 | static_cast<uint8_t>(jpeg[pos + 3]));
    if (marker == 0xDA) {  // entropy-coded data to the next real marker
      while (
          !(jpeg[end] == '\xFF' && jpeg[end + 1] != '\0' &&
            !(static_cast<uint8_t>(jpeg[end + 1]) >= 0xD0 && static_cast<uint8_t>(jpeg[end + 1]) <= 0xD7))) {
        ++end;
      }
      out.scans.push_back(jpeg.substr(pos, end - pos));
    } else {
      // A table segment between scans (DHT): keep it with the scan after it.
      out.scans.push_back(jpeg.substr(pos, end - pos));
    }
    pos = end;
  }
  out.tail = jpeg.substr(pos);
  return out;
}

size_t CountSos(const std::vector<std::string>& parts) {
  size_t n = 0;
  for (const std::string& p : parts) {
    const size_t code = p.find_first_not_of('\xFF');  // after any fill bytes
    n += code != std::string::npos && p[code] == '\xDA';
  }
  return n;
}

// `total` scans: the real ones, then copies of the last scan, as the bomb in the issue did
// (libjpeg decodes a repeated refinement scan with a warning, again over the whole image).
std::string Bomb(const SplitJpeg& split, size_t total) {
  std::vector<std::string> parts = split.scans;
  const std::string last = parts.back();
  while (CountSos(parts) < total) parts.push_back(last);
  return split.Join(parts);
}

TEST(JpegScanLimitTest, BaselineAndProgressiveCountTheirScans) {
  const Result<ImageHeader> baseline = ReadImageHeader(EncodeJpeg(MakeImage(64, 48, 3)));
  ASSERT_TRUE(baseline.ok()) << baseline.status().message();
  EXPECT_EQ(baseline->jpeg_scans, 1u);
  // libjpeg's standard progressive scripts: 10 scans for colour, 6 for grey.
  const Result<ImageHeader> colour = ReadImageHeader(Progressive(64, 48, 3));
  ASSERT_TRUE(colour.ok()) << colour.status().message();
  EXPECT_EQ(colour->jpeg_scans, 10u);
  const Result<ImageHeader> grey = ReadImageHeader(Progressive(64, 48, 1));
  ASSERT_TRUE(grey.ok()) << grey.status().message();
  EXPECT_EQ(grey->jpeg_scans, 6u);
}

TEST(JpegScanLimitTest, NormalProgressiveJpegLoads) {
  const Result<LoadedImage> loaded = LoadCheckedImage(Progressive(320, 200, 3), kNoLimit);
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  EXPECT_EQ(loaded->pixels.width, 320u);
  EXPECT_EQ(loaded->pixels.height, 200u);
}

TEST(JpegScanLimitTest, ExactlyTheLimitIsAcceptedAndDecodes) {
  const std::string at_limit = Bomb(Split(Progressive(96, 64, 1)), kMaxJpegScans);
  const Result<ImageHeader> header = ReadImageHeader(at_limit);
  ASSERT_TRUE(header.ok()) << header.status().message();
  EXPECT_EQ(header->jpeg_scans, kMaxJpegScans);
  // libjpeg really decodes the repeated scans: the bomb is a valid file, not just garbage.
  const Result<LoadedImage> loaded = LoadCheckedImage(at_limit, kNoLimit);
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  EXPECT_EQ(loaded->pixels.width, 96u);
}

TEST(JpegScanLimitTest, ScanBombIsRefusedBeforeDecoding) {
  const SplitJpeg split = Split(Progressive(96, 64, 1));
  const std::string bomb = Bomb(split, 6000);
  const Result<ImageHeader> header = ReadImageHeader(bomb);
  ASSERT_FALSE(header.ok());
  EXPECT_EQ(header.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(header.status().message(), "the JPEG has 6000 scans; at most 100 are accepted");
  // The same answer through the one path every upload takes.
  const Result<LoadedImage> loaded = LoadCheckedImage(bomb, kNoLimit);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), StatusCode::kInvalidArgument);
  // And by the decoder itself, which the embedding service calls on files stored earlier.
  const Result<DecodedImage> decoded = DecodeImage(bomb, ImageFormat::kJpeg);
  ASSERT_FALSE(decoded.ok());
  EXPECT_EQ(decoded.status().message(), "the JPEG has 6000 scans; at most 100 are accepted");
  const Result<ImageHeader> one_over = ReadImageHeader(Bomb(split, kMaxJpegScans + 1));
  ASSERT_FALSE(one_over.ok());
  EXPECT_EQ(one_over.status().message(), "the JPEG has 101 scans; at most 100 are accepted");
}

TEST(JpegScanLimitTest, LargerImagesGetFewerScans) {
  EXPECT_EQ(JpegScanLimit(4000, 3000), kMaxJpegScans);
  EXPECT_EQ(JpegScanLimit(10000, 10000), 20u);
  EXPECT_EQ(JpegScanLimit(65535, 65535), kMinJpegScanLimit);
  EXPECT_EQ(JpegScanLimit(0, 0), kMaxJpegScans);
  // The header walk applies it to the declared size: patch a small file's frame header.
  SplitJpeg split = Split(Progressive(96, 64, 1));
  const size_t sof = split.head.find("\xFF\xC2");
  ASSERT_NE(sof, std::string::npos);
  split.head.replace(sof + 5, 4, Be16(10000) + Be16(10000));  // FF C2 len(2) precision(1) h w
  const Result<ImageHeader> at_limit = ReadImageHeader(Bomb(split, 20));
  ASSERT_TRUE(at_limit.ok()) << at_limit.status().message();
  EXPECT_EQ(at_limit->width, 10000u);
  const Result<ImageHeader> over = ReadImageHeader(Bomb(split, 21));
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(over.status().message(), "the JPEG has 21 scans; at most 20 are accepted at 10000x10000");
}

TEST(JpegScanLimitTest, FillBytesAndRestartMarkersDoNotHideScans) {
  // Restart markers inside the data, fill bytes before every marker between scans.
  const std::string with_rst =
      EncodeJpeg(MakeImage(96, 64, 1), {cv::IMWRITE_JPEG_PROGRESSIVE, 1, cv::IMWRITE_JPEG_RST_INTERVAL, 1});
  ASSERT_NE(with_rst.find("\xFF\xD0"), std::string::npos);
  SplitJpeg split = Split(with_rst);
  std::vector<std::string> parts = split.scans;
  const std::string last = parts.back();
  while (CountSos(parts) <= kMaxJpegScans) parts.push_back("\xFF\xFF\xFF"s + last);
  const Result<ImageHeader> header = ReadImageHeader(split.Join(parts));
  ASSERT_FALSE(header.ok());
  EXPECT_EQ(header.status().message(), "the JPEG has 101 scans; at most 100 are accepted");
  // The same file without the extra scans is fine, fill bytes and all.
  const Result<ImageHeader> plain = ReadImageHeader(with_rst);
  ASSERT_TRUE(plain.ok()) << plain.status().message();
  EXPECT_EQ(plain->jpeg_scans, 6u);
}

TEST(JpegScanLimitTest, MarkerLookalikesAreNotScans) {
  const SplitJpeg split = Split(EncodeJpeg(MakeImage(64, 48, 3)));
  ASSERT_EQ(split.scans.size(), 1u);
  // An SOS inside a comment segment, and stuffed FF 00 followed by DA inside the scan data:
  // neither is a marker to libjpeg, so neither counts.
  std::string fake_sos;
  for (int i = 0; i < 200; ++i) fake_sos += "\xFF\xDA\x00\x08\x01\x01\x00\x00\x3F\x00"s;
  const std::string comment = "\xFF\xFE"s + Be16(static_cast<uint32_t>(fake_sos.size() + 2)) + fake_sos;
  std::string stuffed_scan = split.scans[0];
  for (int i = 0; i < 200; ++i) stuffed_scan += "\xFF\x00\xDA"s;
  const std::string crafted = split.head + comment + stuffed_scan + split.tail;
  const Result<ImageHeader> header = ReadImageHeader(crafted);
  ASSERT_TRUE(header.ok()) << header.status().message();
  EXPECT_EQ(header->jpeg_scans, 1u);
}

TEST(JpegScanLimitTest, ScansAfterTheEndOfImageAreNotPartOfIt) {
  // Data appended after the EOI (cameras append previews) is not decoded, so not counted.
  const SplitJpeg split = Split(Progressive(64, 48, 1));
  const std::string jpeg = split.Join(split.scans);
  const std::string appended = jpeg + Bomb(split, 500);
  const Result<ImageHeader> header = ReadImageHeader(appended);
  ASSERT_TRUE(header.ok()) << header.status().message();
  EXPECT_EQ(header->jpeg_scans, 6u);
}

TEST(JpegScanLimitTest, TruncatedSegmentsBetweenScansAreCorrupt) {
  const SplitJpeg split = Split(Progressive(64, 48, 1));
  // A segment after the first scan whose length runs past the end of the file.
  const std::string cut = split.head + split.scans[0] + "\xFF\xC4\x40\x00"s + "short";
  const Result<ImageHeader> header = ReadImageHeader(cut);
  ASSERT_FALSE(header.ok());
  EXPECT_EQ(header.status().code(), StatusCode::kCorrupt);
  EXPECT_EQ(header.status().message(), "truncated JPEG: the file ends before the end-of-image marker");
  // A file that stops in the data of its second scan.
  const std::string in_data =
      split.head + split.scans[0] + split.scans[1].substr(0, split.scans[1].size() / 2);
  EXPECT_EQ(ReadImageHeader(in_data).status().message(),
            "truncated JPEG: the file ends before the end-of-image marker");
  // Only fill bytes after the last scan.
  EXPECT_EQ(ReadImageHeader(split.Join(split.scans) + "\xFF\xFF").ok(), true);
  EXPECT_EQ(ReadImageHeader(split.head + split.scans[0] + "\xFF\xFF\xFF").status().message(),
            "truncated JPEG: the file ends before the end-of-image marker");
}

}  // namespace
}  // namespace samcache
