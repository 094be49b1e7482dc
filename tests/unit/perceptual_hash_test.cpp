// pHash on generated pictures with known relations, at the default near-duplicate distance:
// every edit of a picture is within it, unrelated pictures and other objects on the same
// background are not.
#include "image/perceptual_hash.h"

#include <gtest/gtest.h>

#include <opencv2/core.hpp>

#include "image/cv_image.h"
#include "image/image_format.h"
#include "similar/near_duplicates.h"
#include "support/near_dup_images.h"
#include "support/test_support.h"

namespace samcache {
namespace {

using testing::ApplyEdit;
using testing::Edit;
using testing::EditName;
using testing::EncodeOrDie;
using testing::MakePhoto;

constexpr int kD = kDefaultNearDuplicateDistance;

DecodedImage Decode(const std::string& bytes) {
  Result<ImageHeader> header = ReadImageHeader(bytes);
  EXPECT_TRUE(header.ok()) << header.status().message();
  Result<DecodedImage> decoded = DecodeImage(bytes, header->format);
  EXPECT_TRUE(decoded.ok()) << decoded.status().message();
  return decoded.ok() ? std::move(decoded).value() : DecodedImage{};
}

DecodedImage Rotate90Clockwise(const DecodedImage& image) {
  cv::Mat out;
  cv::rotate(RgbView(image), out, cv::ROTATE_90_CLOCKWISE);
  return FromRgbMat(out);
}

// Photos of a few sizes and shapes, landscape and portrait.
struct Case {
  int width;
  int height;
  int seed;
};
constexpr Case kCases[] = {{640, 480, 1}, {800, 600, 2},   {480, 640, 3}, {1024, 576, 4},
                           {320, 240, 5}, {1600, 1200, 6}, {500, 500, 7}, {640, 360, 8}};

TEST(PerceptualHashTest, EveryEditIsWithinTheDefaultDistance) {
  for (const Case& c : kCases) {
    const DecodedImage original = MakePhoto(c.width, c.height, c.seed);
    const PerceptualHash h = ComputePerceptualHash(original);
    EXPECT_EQ(std::popcount(h.hash), 32) << "half of the bits are above the median";
    for (Edit edit : testing::kAllEdits) {
      const PerceptualHash e = ComputePerceptualHash(ApplyEdit(original, edit));
      if (edit == Edit::kMirrored) {
        EXPECT_LE(HammingDistance(h.mirrored, e.hash), kD) << EditName(edit) << ", seed " << c.seed;
        EXPECT_LE(HammingDistance(h.hash, e.mirrored), kD) << "symmetric, seed " << c.seed;
        EXPECT_GT(HammingDistance(h.hash, e.hash), kD) << "a flip is not found unmirrored, seed " << c.seed;
      } else {
        EXPECT_LE(HammingDistance(h.hash, e.hash), kD) << EditName(edit) << ", seed " << c.seed;
      }
    }
  }
}

TEST(PerceptualHashTest, UnrelatedPicturesAndOtherObjectsAreBeyondTheDefaultDistance) {
  std::vector<PerceptualHash> hashes;
  for (int seed = 1; seed <= 40; ++seed) hashes.push_back(ComputePerceptualHash(MakePhoto(320, 240, seed)));
  for (size_t i = 0; i < hashes.size(); ++i) {
    for (size_t j = i + 1; j < hashes.size(); ++j) {
      EXPECT_GT(HammingDistance(hashes[i].hash, hashes[j].hash), kD) << i << " vs " << j;
      EXPECT_GT(HammingDistance(hashes[i].mirrored, hashes[j].hash), kD) << i << " vs mirrored " << j;
    }
  }
  // The same background with other objects in front of it is another picture.
  for (int seed = 1; seed <= 20; ++seed) {
    const PerceptualHash a = ComputePerceptualHash(MakePhoto(640, 480, seed));
    const PerceptualHash b = ComputePerceptualHash(MakePhoto(640, 480, seed, 1000 + seed));
    EXPECT_GT(HammingDistance(a.hash, b.hash), kD) << "seed " << seed;
  }
}

TEST(PerceptualHashTest, ComesFromTheOrientedPixels) {
  // A JPEG that asks to be shown rotated (EXIF orientation 6) hashes like the upright copy.
  const DecodedImage stored = MakePhoto(640, 480, 11);
  const std::string sideways = testing::WithExifOrientation(EncodeOrDie(stored, ".jpg"), 6);
  const DecodedImage shown = Decode(sideways);
  ASSERT_EQ(shown.width, 480u);
  ASSERT_EQ(shown.height, 640u);
  const PerceptualHash upright = ComputePerceptualHash(Rotate90Clockwise(stored));
  EXPECT_LE(HammingDistance(ComputePerceptualHash(shown).hash, upright.hash), 4);
  EXPECT_GT(HammingDistance(ComputePerceptualHash(stored).hash, upright.hash), kD)
      << "ignoring the orientation would give another hash";
}

TEST(PerceptualHashTest, SameFileFormatsAgree) {
  const DecodedImage original = MakePhoto(400, 300, 12);
  const PerceptualHash h = ComputePerceptualHash(original);
  EXPECT_EQ(ComputePerceptualHash(Decode(EncodeOrDie(original, ".png"))), h)
      << "lossless: same pixels, same hash";
  EXPECT_LE(HammingDistance(ComputePerceptualHash(Decode(EncodeOrDie(original, ".webp"))).hash, h.hash), 4);
}

TEST(PerceptualHashTest, LargeAndTinyPictures) {
  // Large pictures are sampled before averaging; the result matches a resized copy.
  const DecodedImage big = MakePhoto(4000, 3000, 13);
  const PerceptualHash h = ComputePerceptualHash(big);
  EXPECT_LE(HammingDistance(h.hash, ComputePerceptualHash(ApplyEdit(big, Edit::kResized)).hash), kD);
  EXPECT_EQ(ComputePerceptualHash(big), h) << "deterministic";
  // Pictures smaller than 32x32 are enlarged; no crash, a valid hash.
  for (auto [w, h2] : {std::pair{1, 1}, {5, 3}, {31, 2}, {2, 400}}) {
    const PerceptualHash tiny = ComputePerceptualHash(MakePhoto(w, h2, 14));
    EXPECT_LE(std::popcount(tiny.hash), 64) << w << "x" << h2;
  }
  EXPECT_EQ(ComputePerceptualHash(DecodedImage{}), PerceptualHash{});
}

TEST(PerceptualHashTest, HexRoundTrip) {
  EXPECT_EQ(PerceptualHashHex(0), "0000000000000000");
  EXPECT_EQ(PerceptualHashHex(0xfc73bc19c168e328ull), "fc73bc19c168e328");
  EXPECT_EQ(PerceptualHashHex(~uint64_t{0}), "ffffffffffffffff");
  EXPECT_EQ(HammingDistance(0, ~uint64_t{0}), 64);
  EXPECT_EQ(HammingDistance(0xF0, 0x0F), 8);
}

}  // namespace
}  // namespace samcache
