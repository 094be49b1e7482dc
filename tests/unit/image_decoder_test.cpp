#include "image/image_decoder.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

// OpenCV 4.6 headers trip C++20's enum-arithmetic deprecation when included with -I.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-enum-enum-conversion"
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#pragma GCC diagnostic pop

#include "common/crypto.h"
#include "image/image_format.h"
#include "support/test_support.h"

namespace samcache {
namespace {

using testing::MakeImageFile;
using testing::MakeScene;
using testing::WithExifOrientation;

std::string Encode(const DecodedImage& image, const std::string& extension) {
  Result<std::string> bytes = EncodeImage(image, extension);
  EXPECT_TRUE(bytes.ok()) << extension << ": " << bytes.status().message();
  return bytes.ok() ? *bytes : std::string();
}

// EncodeImage only passes a JPEG quality, so ask OpenCV for lossless WebP explicitly
// (IMWRITE_WEBP_QUALITY above 100).
std::string EncodeLosslessWebp(const DecodedImage& image) {
  cv::Mat rgb(static_cast<int>(image.height), static_cast<int>(image.width), CV_8UC3,
              const_cast<char*>(image.rgb.data()));
  cv::Mat bgr;
  cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
  std::vector<uchar> out;
  EXPECT_TRUE(cv::imencode(".webp", bgr, out, {cv::IMWRITE_WEBP_QUALITY, 101}));
  return std::string(out.begin(), out.end());
}

DecodedImage DecodeOrDie(const std::string& bytes) {
  Result<DecodedImage> decoded = DecodeImage(bytes, SniffFormat(bytes));
  EXPECT_TRUE(decoded.ok()) << decoded.status().message();
  return decoded.ok() ? *decoded : DecodedImage();
}

// Our RGB buffer as a Mat (no copy), for cv::rotate comparisons.
cv::Mat View(const DecodedImage& image) {
  return cv::Mat(static_cast<int>(image.height), static_cast<int>(image.width), CV_8UC3,
                 const_cast<char*>(image.rgb.data()));
}

DecodedImage Rotated(const DecodedImage& image, cv::RotateFlags how) {
  cv::Mat rotated;
  cv::rotate(View(image), rotated, how);
  DecodedImage out;
  out.width = static_cast<uint32_t>(rotated.cols);
  out.height = static_cast<uint32_t>(rotated.rows);
  out.rgb.assign(reinterpret_cast<const char*>(rotated.data), rotated.total() * 3);
  return out;
}

TEST(DecodeImageTest, LosslessFormatsGiveTheSamePixels) {
  const DecodedImage scene = MakeScene(37, 23, 4);  // odd sizes exercise row padding (BMP)
  const std::vector<std::pair<std::string, std::string>> files = {
      {"png", Encode(scene, ".png")},
      {"bmp", Encode(scene, ".bmp")},
      {"tiff", Encode(scene, ".tiff")},
      {"webp", EncodeLosslessWebp(scene)},
  };
  const std::string expected_hash = PixelHash(scene);
  for (const auto& [name, bytes] : files) {
    ASSERT_FALSE(bytes.empty()) << name;
    EXPECT_EQ(FormatName(SniffFormat(bytes)), name);
    const DecodedImage decoded = DecodeOrDie(bytes);
    EXPECT_EQ(decoded.width, 37u) << name;
    EXPECT_EQ(decoded.height, 23u) << name;
    EXPECT_EQ(decoded.rgb.size(), 37u * 23 * 3) << name;
    EXPECT_TRUE(decoded.rgb == scene.rgb) << name << ": pixels differ from the source";
    EXPECT_EQ(PixelHash(decoded), expected_hash) << name;
  }
  // The files themselves differ, so only the pixel hash can tell they are one picture.
  EXPECT_NE(Sha256Hex(files[0].second), Sha256Hex(files[1].second));
}

TEST(DecodeImageTest, GreyscalePngIsExpandedToRgb) {
  cv::Mat grey(5, 4, CV_8UC1);
  for (int i = 0; i < 20; ++i) grey.data[i] = static_cast<uchar>(i * 12);
  std::vector<uchar> png;
  ASSERT_TRUE(cv::imencode(".png", grey, png));
  const DecodedImage decoded = DecodeOrDie(std::string(png.begin(), png.end()));
  ASSERT_EQ(decoded.width, 4u);
  ASSERT_EQ(decoded.height, 5u);
  ASSERT_EQ(decoded.rgb.size(), 60u);
  for (int i = 0; i < 20; ++i) {
    const auto v = static_cast<char>(i * 12);
    EXPECT_EQ(decoded.rgb[3 * i], v);
    EXPECT_EQ(decoded.rgb[3 * i + 1], v);
    EXPECT_EQ(decoded.rgb[3 * i + 2], v);
  }
}

TEST(DecodeImageTest, AlphaIsDropped) {
  cv::Mat bgra(2, 2, CV_8UC4, cv::Scalar(10, 20, 30, 0));  // fully transparent
  std::vector<uchar> png;
  ASSERT_TRUE(cv::imencode(".png", bgra, png));
  const DecodedImage decoded = DecodeOrDie(std::string(png.begin(), png.end()));
  ASSERT_EQ(decoded.rgb.size(), 12u);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(decoded.rgb.substr(3 * i, 3), std::string({30, 20, 10}));  // RGB order
  }
}

TEST(DecodeImageTest, ExifOrientationOneIsMetadataOnly) {
  const std::string jpeg = MakeImageFile(48, 32, 2, ".jpg");
  const std::string tagged = WithExifOrientation(jpeg, 1);
  ASSERT_NE(jpeg, tagged);
  ASSERT_NE(Sha256Hex(jpeg), Sha256Hex(tagged));
  const DecodedImage plain = DecodeOrDie(jpeg);
  const DecodedImage with_exif = DecodeOrDie(tagged);
  EXPECT_EQ(with_exif.width, 48u);
  EXPECT_EQ(with_exif.height, 32u);
  EXPECT_EQ(PixelHash(plain), PixelHash(with_exif));
}

TEST(PixelHashTest, DifferentPicturesDiffer) {
  const DecodedImage a = MakeScene(32, 32, 1);
  const DecodedImage b = MakeScene(32, 32, 2);
  ASSERT_NE(a.rgb, b.rgb);
  EXPECT_NE(PixelHash(a), PixelHash(b));
  EXPECT_TRUE(IsSha256Hex(PixelHash(a)));
  EXPECT_EQ(PixelHash(a), PixelHash(MakeScene(32, 32, 1)));  // deterministic
}

TEST(PixelHashTest, OneChangedByteChangesTheHash) {
  DecodedImage a = MakeScene(16, 16, 5);
  const std::string before = PixelHash(a);
  a.rgb[a.rgb.size() / 2] ^= 1;
  EXPECT_NE(PixelHash(a), before);
}

TEST(PixelHashTest, SameBytesDifferentDimensionsDiffer) {
  const std::string bytes = "abcdefghijklmnopqr";  // 18 bytes = 6 RGB pixels
  const DecodedImage wide{3, 2, bytes};
  const DecodedImage tall{2, 3, bytes};
  EXPECT_NE(PixelHash(wide), PixelHash(tall));
  // Nor is the hash just SHA-256 of the pixels.
  EXPECT_NE(PixelHash(wide), Sha256Hex(bytes));
}

class ExifOrientationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    jpeg_ = MakeImageFile(64, 32, 3, ".jpg");
    upright_ = DecodeOrDie(WithExifOrientation(jpeg_, 1));
    ASSERT_EQ(upright_.width, 64u);
    ASSERT_EQ(upright_.height, 32u);
  }
  std::string jpeg_;
  DecodedImage upright_;
};

TEST_F(ExifOrientationTest, Six_RotatesClockwise) {
  const DecodedImage decoded = DecodeOrDie(WithExifOrientation(jpeg_, 6));
  EXPECT_EQ(decoded.width, 32u);
  EXPECT_EQ(decoded.height, 64u);
  // The same JPEG stream decodes deterministically, so the rotation must be exact.
  EXPECT_TRUE(decoded.rgb == Rotated(upright_, cv::ROTATE_90_CLOCKWISE).rgb);
  EXPECT_NE(PixelHash(decoded), PixelHash(upright_));
}

TEST_F(ExifOrientationTest, Three_Rotates180) {
  const DecodedImage decoded = DecodeOrDie(WithExifOrientation(jpeg_, 3));
  EXPECT_EQ(decoded.width, 64u);
  EXPECT_EQ(decoded.height, 32u);
  EXPECT_TRUE(decoded.rgb == Rotated(upright_, cv::ROTATE_180).rgb);
  EXPECT_NE(PixelHash(decoded), PixelHash(upright_));
}

TEST_F(ExifOrientationTest, Eight_RotatesCounterClockwise) {
  const DecodedImage decoded = DecodeOrDie(WithExifOrientation(jpeg_, 8));
  EXPECT_EQ(decoded.width, 32u);
  EXPECT_EQ(decoded.height, 64u);
  EXPECT_TRUE(decoded.rgb == Rotated(upright_, cv::ROTATE_90_COUNTERCLOCKWISE).rgb);
}

TEST(ThumbnailTest, LongestSideIsScaledDown) {
  const DecodedImage big = MakeScene(1600, 900, 6);
  Result<std::string> thumb = MakeThumbnailJpeg(big, 256);
  ASSERT_TRUE(thumb.ok()) << thumb.status().message();
  EXPECT_EQ(SniffFormat(*thumb), ImageFormat::kJpeg);
  const DecodedImage decoded = DecodeOrDie(*thumb);
  EXPECT_EQ(decoded.width, 256u);
  EXPECT_EQ(decoded.height, 144u);
}

TEST(ThumbnailTest, PortraitUsesHeightAsLongestSide) {
  Result<std::string> thumb = MakeThumbnailJpeg(MakeScene(300, 1200, 7), 256);
  ASSERT_TRUE(thumb.ok());
  const DecodedImage decoded = DecodeOrDie(*thumb);
  EXPECT_EQ(decoded.width, 64u);
  EXPECT_EQ(decoded.height, 256u);
}

TEST(ThumbnailTest, SmallImageIsNotEnlarged) {
  Result<std::string> thumb = MakeThumbnailJpeg(MakeScene(100, 50, 8), 256);
  ASSERT_TRUE(thumb.ok());
  const DecodedImage decoded = DecodeOrDie(*thumb);
  EXPECT_EQ(decoded.width, 100u);
  EXPECT_EQ(decoded.height, 50u);
}

TEST(DecodeImageTest, GarbageIsCorrupt) {
  const std::string garbage = "this is not an image at all, just some bytes \x01\x02\x03";
  Result<DecodedImage> decoded = DecodeImage(garbage, ImageFormat::kPng);
  ASSERT_FALSE(decoded.ok());
  EXPECT_EQ(decoded.status().code(), StatusCode::kCorrupt);
  EXPECT_NE(decoded.status().message().find("png"), std::string::npos) << decoded.status().message();
}

TEST(DecodeImageTest, DamagedPngIsCorrupt) {
  // A PNG whose compressed pixel data is overwritten: the header is fine, the codec is not.
  std::string png = MakeImageFile(64, 64, 9, ".png");
  for (size_t i = 60; i < png.size() - 20; ++i) png[i] = static_cast<char>(0xA5);
  Result<DecodedImage> decoded = DecodeImage(png, ImageFormat::kPng);
  ASSERT_FALSE(decoded.ok());
  EXPECT_EQ(decoded.status().code(), StatusCode::kCorrupt);
}

TEST(EncodeImageTest, RoundTripsThroughPng) {
  const DecodedImage scene = MakeScene(20, 10, 10);
  const DecodedImage decoded = DecodeOrDie(Encode(scene, ".png"));
  EXPECT_EQ(decoded.width, scene.width);
  EXPECT_EQ(decoded.height, scene.height);
  EXPECT_TRUE(decoded.rgb == scene.rgb);
}

TEST(EncodeImageTest, UnknownExtensionIsAnError) {
  Result<std::string> bytes = EncodeImage(MakeScene(8, 8, 1), ".nope");
  EXPECT_FALSE(bytes.ok());
}

}  // namespace
}  // namespace samcache
