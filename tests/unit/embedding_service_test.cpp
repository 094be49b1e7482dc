// The embedding cache's first tier and the service in front of the encoder: LRU order under
// a byte budget, one encoder run for many concurrent callers, refusing corrupt blobs, and
// the bounded queue.
#include "model/embedding_service.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <thread>

#include "common/crypto.h"
#include "store/blob_store.h"
#include "store/memory_tier.h"
#include "support/scenes.h"
#include "support/test_support.h"

namespace samcache {
namespace {

std::shared_ptr<const Embedding> FakeEmbedding(size_t floats, float value) {
  auto embedding = std::make_shared<Embedding>();
  embedding->model_id = "m";
  embedding->tensors.push_back({"t", {static_cast<int64_t>(floats)}, std::vector<float>(floats, value)});
  return embedding;
}

TEST(MemoryTierTest, EvictsLeastRecentlyUsedWithinTheBudget) {
  MemoryTier tier(3000);  // three embeddings of 250 floats (1000 bytes) each
  auto key = [](const std::string& name) { return EmbeddingKey{"m", name}; };
  ASSERT_TRUE(tier.Put(key("a"), FakeEmbedding(250, 1)).ok());
  ASSERT_TRUE(tier.Put(key("b"), FakeEmbedding(250, 2)).ok());
  ASSERT_TRUE(tier.Put(key("c"), FakeEmbedding(250, 3)).ok());
  ASSERT_NE(tier.Get(key("a")), nullptr);  // a is now the most recent; b the least
  ASSERT_TRUE(tier.Put(key("d"), FakeEmbedding(250, 4)).ok());
  EXPECT_FALSE(tier.Contains(key("b")));
  EXPECT_TRUE(tier.Contains(key("a")));
  EXPECT_TRUE(tier.Contains(key("c")));
  EXPECT_TRUE(tier.Contains(key("d")));
  EXPECT_EQ(tier.ContainsMany({key("a"), key("b"), key("d")}), (std::vector<bool>{true, false, true}));
  TierStats stats = tier.Stats();
  EXPECT_EQ(stats.entries, 3u);
  EXPECT_EQ(stats.bytes, 3000u);
  EXPECT_EQ(stats.evictions, 1u);
  EXPECT_EQ(stats.hits, 1u);
  EXPECT_EQ(tier.Get(key("b")), nullptr);
  EXPECT_EQ(tier.Stats().misses, 1u);
  // Larger than the whole budget: not kept, nothing else evicted.
  ASSERT_TRUE(tier.Put(key("huge"), FakeEmbedding(1000, 5)).ok());
  EXPECT_FALSE(tier.Contains(key("huge")));
  EXPECT_EQ(tier.Stats().entries, 3u);
  // The same key twice replaces, without counting twice.
  ASSERT_TRUE(tier.Put(key("a"), FakeEmbedding(250, 6)).ok());
  EXPECT_EQ(tier.Stats().bytes, 3000u);
  EXPECT_EQ(tier.Get(key("a"))->tensors[0].values[0], 6.0f);
}

class EmbeddingServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(blobs_.Init().ok());
    Result<std::unique_ptr<SamModel>> model = SamModel::OpenDemo(ModelOptions{});
    ASSERT_TRUE(model.ok()) << model.status().message();
    model_ = std::move(model).value();
  }

  // Stores a generated picture as a blob; returns where its pixels come from.
  ImageSource StoreImage(int seed) {
    testing::Scene scene = testing::MakeShapesScene(320 + seed, 240, seed);
    Result<std::string> png = EncodeImage(scene.image, ".png");
    EXPECT_TRUE(png.ok());
    const std::string hash = Sha256Hex(*png);
    EXPECT_TRUE(blobs_.Put(hash, *png).ok());
    return ImageSource{hash, PixelHash(scene.image)};
  }

  testing::TempDir dir_;
  BlobStore blobs_{dir_.path()};
  std::unique_ptr<SamModel> model_;
  MemoryTier tier_{uint64_t{1} << 30};
};

TEST_F(EmbeddingServiceTest, ManyCallersForOneKeyRunTheEncoderOnce) {
  EmbeddingService service(*model_, tier_, blobs_, {});
  const ImageSource image = StoreImage(1);
  std::vector<std::thread> threads;
  std::vector<int> ok(8, 0);
  std::vector<int> cached(8, 0);
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      Result<EmbeddingLookup> lookup = service.Get(image);
      ok[i] = lookup.ok() && lookup->embedding && lookup->embedding->bytes() == 256u * 64 * 64 * 4;
      cached[i] = lookup.ok() && lookup->cached;
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(std::count(ok.begin(), ok.end(), 1), 8);
  EncoderStats stats = service.Stats();
  EXPECT_EQ(stats.runs, 1u);
  EXPECT_EQ(stats.joined + static_cast<uint64_t>(std::count(cached.begin(), cached.end(), 1)), 7u);
  EXPECT_EQ(service.AreCached({image.pixel_hash, "unknown"}), (std::vector<bool>{true, false}));
  Result<EmbeddingLookup> again = service.Get(image);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->cached);
  EXPECT_EQ(service.Stats().runs, 1u);
}

TEST_F(EmbeddingServiceTest, CorruptOrMissingBlobsAreRefusedAndNotCached) {
  EmbeddingService service(*model_, tier_, blobs_, {});
  ImageSource image = StoreImage(2);
  // A stored file whose bytes changed on disk (here: another file's bytes under its name).
  const std::string changed_hash = Sha256Hex("the bytes this file had at upload");
  ASSERT_TRUE(blobs_.Put(changed_hash, blobs_.Read(image.content_hash).value()).ok());
  ImageSource changed{changed_hash, std::string(64, 'a')};
  Result<EmbeddingLookup> lookup = service.Get(changed);
  ASSERT_FALSE(lookup.ok());
  EXPECT_EQ(lookup.status().code(), StatusCode::kCorrupt);
  EXPECT_NE(lookup.status().message().find("no longer matches its hash"), std::string::npos)
      << lookup.status().message();
  EXPECT_FALSE(service.AreCached({changed.pixel_hash}).front());

  ImageSource missing{std::string(64, 'b'), std::string(64, 'c')};
  lookup = service.Get(missing);
  ASSERT_FALSE(lookup.ok());
  EXPECT_EQ(lookup.status().code(), StatusCode::kCorrupt);
  EXPECT_EQ(service.Stats().runs, 0u);
  // The service keeps working after failures.
  EXPECT_TRUE(service.Get(image).ok());
}

// Mean |a - b| over the mean |b|: how far one embedding is from another.
double RelativeDifference(const Embedding& a, const Embedding& b) {
  double diff = 0, scale = 0;
  const std::vector<float>& x = a.tensors.at(0).values;
  const std::vector<float>& y = b.tensors.at(0).values;
  EXPECT_EQ(x.size(), y.size());
  for (size_t i = 0; i < std::min(x.size(), y.size()); ++i) {
    diff += std::abs(x[i] - y[i]);
    scale += std::abs(y[i]);
  }
  return diff / scale;
}

// A large JPEG is decoded at a reduced DCT scale when the model's input comes out the same
// size; its embedding stays the full decode's (to resize noise), in either EXIF orientation.
TEST_F(EmbeddingServiceTest, LargeJpegsAreDecodedAtAReducedScale) {
  EmbeddingService service(*model_, tier_, blobs_, {});
  const testing::Scene scene = testing::MakeShapesScene(4100, 3000, 7);
  struct Case {
    std::string name;
    std::string jpeg;
    int scale;
  };
  std::vector<Case> cases{{"4100x3000", EncodeImage(scene.image, ".jpg", 95).value(), 4},
                          {"rotated", testing::JpegWithOrientation6(scene.image), 4}};
  const testing::Scene medium = testing::MakeShapesScene(1920, 1080, 8);
  cases.push_back({"1920x1080", EncodeImage(medium.image, ".jpg", 95).value(), 1});  // 960 < 1024
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    Result<DecodedImage> full = DecodeImage(c.jpeg, ImageFormat::kJpeg);
    ASSERT_TRUE(full.ok());
    const std::string hash = Sha256Hex(c.jpeg);
    ASSERT_TRUE(blobs_.Put(hash, c.jpeg).ok());
    Result<EmbeddingLookup> lookup = service.Get(ImageSource{hash, PixelHash(*full)});
    ASSERT_TRUE(lookup.ok()) << lookup.status().message();
    EXPECT_EQ(lookup->timings.decode_scale, c.scale);
    Result<Embedding> reference = model_->Encode(model_->Prepare(*full));
    ASSERT_TRUE(reference.ok());
    const double difference = RelativeDifference(*lookup->embedding, *reference);
    std::printf("%s: relative difference %.5f\n", c.name.c_str(), difference);
    if (c.scale == 1) {
      EXPECT_EQ(difference, 0.0);
    } else {
      EXPECT_LT(difference, 0.02);
    }
  }
  // The reduced path checks the bytes against their content hash (it cannot check pixels).
  const std::string& jpeg = cases.front().jpeg;
  const std::string wrong_hash = Sha256Hex("other bytes");
  ASSERT_TRUE(blobs_.Put(wrong_hash, jpeg).ok());
  Result<EmbeddingLookup> lookup = service.Get(ImageSource{wrong_hash, std::string(64, 'd')});
  ASSERT_FALSE(lookup.ok());
  EXPECT_EQ(lookup.status().code(), StatusCode::kCorrupt);
  EXPECT_NE(lookup.status().message().find("no longer matches its hash"), std::string::npos)
      << lookup.status().message();
}

TEST_F(EmbeddingServiceTest, AFullQueueAnswersUnavailableAtOnce) {
  EmbeddingService service(*model_, tier_, blobs_, {/*max_waiting=*/0, /*max_prepared=*/1});
  Result<EmbeddingLookup> lookup = service.Get(StoreImage(3));
  ASSERT_FALSE(lookup.ok());
  EXPECT_EQ(lookup.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(service.Stats().rejected, 1u);
}

}  // namespace
}  // namespace samcache
