// Two embedding services sharing one real redis-server, as two samcache instances would:
// many callers on both sides for the same images run the encoder once per image in total,
// the side that waited gets the other's result as cached; a lease left by a dead instance
// expires and is taken over; with Redis gone, each side computes on its own.
#include <gtest/gtest.h>

#include <thread>

#include "common/crypto.h"
#include "model/embedding_service.h"
#include "store/blob_store.h"
#include "store/memory_tier.h"
#include "store/redis_lease.h"
#include "store/redis_tier.h"
#include "store/tiered_store.h"
#include "support/redis_server.h"
#include "support/scenes.h"
#include "support/test_support.h"

namespace samcache {
namespace {

// One samcache instance's embedding side: its own memory tier, connection, lease and
// service; the blobs and the model are shared to keep the test small.
struct Instance {
  Instance(const SamModel& model, BlobStore& blobs, const RedisEndpoint& endpoint,
           RedisKeyLease::Options lease_options = {})
      : client(endpoint, {}),
        redis(client),
        store({&memory, &redis}),
        lease(client, lease_options),
        service(model, store, blobs, Options(&lease)) {}

  static EmbeddingService::Options Options(KeyLease* lease) {
    EmbeddingService::Options options;
    options.lease = lease;
    return options;
  }

  RedisClient client;
  MemoryTier memory{uint64_t{1} << 30};
  RedisTier redis;
  TieredStore store;
  RedisKeyLease lease;
  EmbeddingService service;
};

class RedisLeaseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(blobs_.Init().ok());
    Result<std::unique_ptr<SamModel>> model = SamModel::OpenDemo(ModelOptions{});
    ASSERT_TRUE(model.ok()) << model.status().message();
    model_ = std::move(model).value();
    Result<RedisEndpoint> endpoint = ParseRedisUrl(redis_.url());
    ASSERT_TRUE(endpoint.ok());
    endpoint_ = *endpoint;
  }

  ImageSource StoreImage(int seed) {
    testing::Scene scene = testing::MakeShapesScene(320 + seed, 240, seed);
    Result<std::string> png = EncodeImage(scene.image, ".png");
    EXPECT_TRUE(png.ok());
    const std::string hash = Sha256Hex(*png);
    EXPECT_TRUE(blobs_.Put(hash, *png).ok());
    return ImageSource{hash, PixelHash(scene.image)};
  }

  testing::RedisServer redis_;
  testing::TempDir dir_;
  BlobStore blobs_{dir_.path()};
  std::unique_ptr<SamModel> model_;
  RedisEndpoint endpoint_;
};

TEST_F(RedisLeaseTest, TwoInstancesRunTheEncoderOncePerKeyInTotal) {
  Instance a(*model_, blobs_, endpoint_);
  Instance b(*model_, blobs_, endpoint_);
  const std::vector<ImageSource> images = {StoreImage(1), StoreImage(2), StoreImage(3)};

  // 8 threads on each instance, each asking for every image, all starting together.
  std::vector<std::thread> threads;
  std::atomic<int> ok{0}, failed{0};
  std::atomic<int> cached_on[2] = {0, 0};
  std::atomic<bool> go{false};
  for (int side = 0; side < 2; ++side) {
    EmbeddingService& service = side == 0 ? a.service : b.service;
    for (int t = 0; t < 8; ++t) {
      threads.emplace_back([&, side, t] {
        while (!go) std::this_thread::yield();
        for (size_t i = 0; i < images.size(); ++i) {
          const ImageSource& image = images[(i + t) % images.size()];
          Result<EmbeddingLookup> lookup = service.Get(image);
          if (lookup.ok() && lookup->embedding && lookup->embedding->bytes() == 256u * 64 * 64 * 4) {
            ++ok;
            if (lookup->cached) ++cached_on[side];
          } else {
            ++failed;
          }
        }
      });
    }
  }
  go = true;
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(ok, 48);
  EXPECT_EQ(failed, 0);

  const EncoderStats sa = a.service.Stats(), sb = b.service.Stats();
  EXPECT_EQ(sa.runs + sb.runs, images.size()) << "a: " << sa.runs << ", b: " << sb.runs;
  EXPECT_EQ(sa.failures + sb.failures, 0u);
  // Every image is in Redis, and no lease is left behind.
  for (const ImageSource& image : images) {
    const EmbeddingKey key = a.service.KeyFor(image.pixel_hash);
    EXPECT_EQ(redis_.Cli({"EXISTS", RedisEmbeddingKey(key)}), "1");
    EXPECT_EQ(redis_.Cli({"EXISTS", RedisLeaseKey(key)}), "0");
  }
  EXPECT_EQ(a.lease.Stats().held + b.lease.Stats().held, 0u);
  // Each image was computed on one side; all 8 callers of the other side got it as cached
  // (from Redis directly, or after waiting on the computing side's lease).
  EXPECT_GE(cached_on[0].load(), static_cast<int>(8 * sb.runs));
  EXPECT_GE(cached_on[1].load(), static_cast<int>(8 * sa.runs));

  // Afterwards both sides answer from their stores.
  for (const ImageSource& image : images) {
    Result<EmbeddingLookup> again = b.service.Get(image);
    ASSERT_TRUE(again.ok());
    EXPECT_TRUE(again->cached);
  }
  EXPECT_EQ(a.service.Stats().runs + b.service.Stats().runs, images.size());
}

TEST_F(RedisLeaseTest, TheWaitingInstanceGetsTheOthersResultAsCached) {
  Instance a(*model_, blobs_, endpoint_);
  Instance b(*model_, blobs_, endpoint_);
  const ImageSource image = StoreImage(4);
  const EmbeddingKey key = a.service.KeyFor(image.pixel_hash);
  // A holds the lease (as if its encoder were running): B must wait, not compute.
  const std::vector<LeaseAttempt> held = a.lease.TryAcquire({key});
  ASSERT_EQ(held[0].state, LeaseAttempt::State::kAcquired);
  Result<PendingEmbedding> pending = b.service.Request(image);
  ASSERT_TRUE(pending.ok());
  // Meanwhile B's pipeline still serves other keys.
  const ImageSource other = StoreImage(5);
  Result<EmbeddingLookup> other_lookup = b.service.Get(other);
  ASSERT_TRUE(other_lookup.ok());
  EXPECT_FALSE(other_lookup->cached);
  EXPECT_EQ(b.service.Stats().runs, 1u);

  // A's encoder finishes: the embedding goes through A's tiers (so into Redis), then A gives
  // the lease up. (Computed here by a service without a lease, standing in for A's run.)
  MemoryTier scratch(uint64_t{1} << 30);
  EmbeddingService encoder(*model_, scratch, blobs_, {});
  Result<EmbeddingLookup> computed = encoder.Get(image);
  ASSERT_TRUE(computed.ok()) << computed.status().message();
  ASSERT_TRUE(a.store.Put(key, computed->embedding).ok());
  a.lease.Release(key, held[0].token);
  Result<EmbeddingLookup> waited = pending->Wait();
  ASSERT_TRUE(waited.ok()) << waited.status().message();
  EXPECT_TRUE(waited->cached);
  EXPECT_EQ(b.service.Stats().runs, 1u);  // only `other`
  EXPECT_TRUE(waited->remote);
  EXPECT_EQ(b.service.Stats().remote_joined, 1u);
  EXPECT_EQ(waited->embedding->tensors[0].values, computed->embedding->tensors[0].values);
  EXPECT_TRUE(b.memory.Contains(key));  // promoted into B's local tier
}

TEST_F(RedisLeaseTest, ALeaseLeftByADeadInstanceExpiresAndIsTakenOver) {
  Instance b(*model_, blobs_, endpoint_);
  const ImageSource image = StoreImage(6);
  const EmbeddingKey key = b.service.KeyFor(image.pixel_hash);
  // An instance that took the lease and died: nobody renews or releases it.
  redis_.Cli({"SET", RedisLeaseKey(key), "dead-host:1:abc:1", "PX", "1000"});
  Result<EmbeddingLookup> lookup = b.service.Get(image);
  ASSERT_TRUE(lookup.ok()) << lookup.status().message();
  EXPECT_FALSE(lookup->cached);
  EXPECT_EQ(b.service.Stats().runs, 1u);
  EXPECT_GE(b.lease.Stats().held_elsewhere, 1u);
  EXPECT_EQ(b.lease.Stats().acquired, 1u);
  EXPECT_EQ(redis_.Cli({"EXISTS", RedisEmbeddingKey(key)}), "1");
  EXPECT_EQ(redis_.Cli({"EXISTS", RedisLeaseKey(key)}), "0");
}

TEST_F(RedisLeaseTest, WithoutRedisEachInstanceComputesOnItsOwn) {
  Instance a(*model_, blobs_, endpoint_);
  Instance b(*model_, blobs_, endpoint_);
  redis_.Stop();
  const ImageSource image = StoreImage(7);
  Result<EmbeddingLookup> on_a = a.service.Get(image);
  Result<EmbeddingLookup> on_b = b.service.Get(image);
  ASSERT_TRUE(on_a.ok()) << on_a.status().message();
  ASSERT_TRUE(on_b.ok()) << on_b.status().message();
  EXPECT_FALSE(on_a->cached);
  EXPECT_FALSE(on_b->cached);
  EXPECT_EQ(a.service.Stats().runs, 1u);
  EXPECT_EQ(b.service.Stats().runs, 1u);
  EXPECT_GE(a.lease.Stats().unavailable, 1u);
  EXPECT_GT(a.redis.Details().errors, 0u);
}

}  // namespace
}  // namespace samcache
