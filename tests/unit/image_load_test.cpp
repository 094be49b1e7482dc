#include "image/image_load.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "image/image_decoder.h"
#include "image/image_format.h"
#include "support/test_support.h"

namespace samcache {
namespace {

using testing::MakeImageFile;
using testing::MakeScene;
using testing::WithExifOrientation;

constexpr uint64_t kNoLimit = 100'000'000;

std::string Be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
          static_cast<char>(v)};
}

// A PNG complete to IEND whose header declares `width` x `height` and whose pixel data is
// nonsense. ReadImageHeader does not check CRCs, so zeros do; a decoder would refuse them.
std::string PngDeclaring(uint32_t width, uint32_t height) {
  const auto chunk = [](const std::string& type, const std::string& data) {
    return Be32(static_cast<uint32_t>(data.size())) + type + data + Be32(0);
  };
  return std::string("\x89PNG\r\n\x1A\n", 8) +
         chunk("IHDR", Be32(width) + Be32(height) + std::string("\x08\x02\x00\x00\x00", 5)) +
         chunk("IDAT", "not zlib") + chunk("IEND", "");
}

TEST(LoadCheckedImageTest, GoodImageLoads) {
  const Result<LoadedImage> loaded = LoadCheckedImage(MakeImageFile(64, 48, 3, ".png"), kNoLimit);
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  EXPECT_EQ(loaded->format, ImageFormat::kPng);
  EXPECT_EQ(loaded->pixels.width, 64u);
  EXPECT_EQ(loaded->pixels.height, 48u);
  EXPECT_EQ(PixelHash(loaded->pixels), PixelHash(MakeScene(64, 48, 3))) << "PNG is lossless";
}

TEST(LoadCheckedImageTest, ExifOrientationIsApplied) {
  const std::string jpeg = WithExifOrientation(MakeImageFile(64, 48, 3, ".jpg"), 6);
  const Result<LoadedImage> loaded = LoadCheckedImage(jpeg, kNoLimit);
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  EXPECT_EQ(loaded->format, ImageFormat::kJpeg);
  EXPECT_EQ(loaded->pixels.width, 48u);
  EXPECT_EQ(loaded->pixels.height, 64u);
}

TEST(LoadCheckedImageTest, ExactlyAtTheLimitLoads) {
  EXPECT_TRUE(LoadCheckedImage(MakeImageFile(40, 40, 7, ".png"), 1600).ok());
}

TEST(LoadCheckedImageTest, OverTheLimitIsTooLargeInPixels) {
  const Result<LoadedImage> loaded = LoadCheckedImage(MakeImageFile(40, 40, 7, ".png"), 1599);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), StatusCode::kTooLarge);
  EXPECT_EQ(loaded.status().message(), "image is 40x40 (1600 pixels), above the limit of 1599 pixels");
}

// The limit is checked on the header, before decoding: this file's pixel data is nonsense,
// yet the answer is TooLarge, not Corrupt.
TEST(LoadCheckedImageTest, OverTheLimitIsRefusedBeforeDecoding) {
  const Result<LoadedImage> loaded = LoadCheckedImage(PngDeclaring(20000, 20000), kNoLimit);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), StatusCode::kTooLarge);
  EXPECT_EQ(loaded.status().message(),
            "image is 20000x20000 (400.0 megapixels), above the limit of 100.0 megapixels");
}

TEST(LoadCheckedImageTest, UndecodablePixelsAreCorrupt) {
  const Result<LoadedImage> loaded = LoadCheckedImage(PngDeclaring(40, 40), kNoLimit);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), StatusCode::kCorrupt);
  EXPECT_EQ(loaded.status().message().rfind("cannot decode png", 0), 0u) << loaded.status().message();
}

TEST(LoadCheckedImageTest, TruncatedFilesAreCorrupt) {
  const std::string png = MakeImageFile(40, 40, 7, ".png");
  const Result<LoadedImage> half_png = LoadCheckedImage(png.substr(0, png.size() / 2), kNoLimit);
  ASSERT_FALSE(half_png.ok());
  EXPECT_EQ(half_png.status().code(), StatusCode::kCorrupt);
  EXPECT_EQ(half_png.status().message(), "truncated PNG: a chunk runs past the end of the file");

  const std::string jpeg = MakeImageFile(40, 40, 7, ".jpg");
  const Result<LoadedImage> cut_jpeg = LoadCheckedImage(jpeg.substr(0, jpeg.size() - 100), kNoLimit);
  ASSERT_FALSE(cut_jpeg.ok());
  EXPECT_EQ(cut_jpeg.status().code(), StatusCode::kCorrupt);
  EXPECT_EQ(cut_jpeg.status().message(), "truncated JPEG: the file ends before the end-of-image marker");
}

TEST(LoadCheckedImageTest, NonImagesAreUnsupported) {
  const Result<LoadedImage> empty = LoadCheckedImage("", kNoLimit);
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.status().code(), StatusCode::kUnsupported);
  EXPECT_EQ(empty.status().message(),
            "not a supported image format (JPEG, PNG, WebP, BMP, TIFF): the file is empty");

  const Result<LoadedImage> gif =
      LoadCheckedImage(std::string("GIF89a\x01\x00\x01\x00\x80\x00\x00", 13), kNoLimit);
  ASSERT_FALSE(gif.ok());
  EXPECT_EQ(gif.status().code(), StatusCode::kUnsupported);
  EXPECT_EQ(gif.status().message(), "GIF images are not supported; convert to PNG");
}

TEST(FormatPixelsTest, PixelsBelowATenthOfAMegapixel) {
  EXPECT_EQ(FormatPixels(0), "0 pixels");
  EXPECT_EQ(FormatPixels(99'999), "99999 pixels");
  EXPECT_EQ(FormatPixels(100'000), "0.1 megapixels");
  EXPECT_EQ(FormatPixels(12'345'678), "12.3 megapixels");
}

}  // namespace
}  // namespace samcache
