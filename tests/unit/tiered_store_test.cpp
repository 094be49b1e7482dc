// The embedding cache over several tiers: hits promoted into faster tiers, write-through,
// batched lookups that only ask slower tiers about what is still missing, and counts. Also
// MemoryTier's per-model counts, which TieredStore::EntriesFor builds on.
#include "store/tiered_store.h"

#include <gtest/gtest.h>

#include "common/crypto.h"
#include "store/disk_tier.h"
#include "store/memory_tier.h"
#include "support/embeddings.h"
#include "support/test_support.h"

namespace samcache {
namespace {

const std::string& kModel = testing::kTestModel;

EmbeddingKey Key(int n, const std::string& model = kModel) { return testing::TestKey(n, model); }

std::shared_ptr<const Embedding> MakeEmbedding(int seed, size_t floats = 256,
                                               const std::string& model = kModel) {
  return testing::MakeTestEmbedding(seed, floats, model);
}

// Forwards to another tier; can refuse puts and records what ContainsMany was asked.
class ForwardingTier final : public EmbeddingTier {
 public:
  explicit ForwardingTier(EmbeddingTier& target) : target_(target) {}

  std::shared_ptr<const Embedding> Get(const EmbeddingKey& key) override { return target_.Get(key); }
  Status Put(const EmbeddingKey& key, std::shared_ptr<const Embedding> embedding) override {
    ++puts;
    if (fail_puts) return Status::IoError("injected put failure");
    return target_.Put(key, std::move(embedding));
  }
  bool Contains(const EmbeddingKey& key) override { return target_.Contains(key); }
  std::vector<bool> ContainsMany(const std::vector<EmbeddingKey>& keys) override {
    contains_many_calls.push_back(keys);
    return target_.ContainsMany(keys);
  }
  uint64_t EntriesFor(const std::string& model_id) override { return target_.EntriesFor(model_id); }
  TierStats Stats() override { return target_.Stats(); }

  bool fail_puts = false;
  int puts = 0;
  std::vector<std::vector<EmbeddingKey>> contains_many_calls;

 private:
  EmbeddingTier& target_;
};

class TieredStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(disk_.Init().ok()); }

  testing::TempDir dir_;
  MemoryTier memory_{uint64_t{1} << 30};
  DiskTier disk_{dir_ / "embeddings", 0};
};

TEST_F(TieredStoreTest, DiskHitIsPromotedIntoMemory) {
  TieredStore store({&memory_, &disk_});
  ASSERT_TRUE(disk_.Put(Key(1), MakeEmbedding(1)).ok());  // e.g. left by the previous run
  EXPECT_FALSE(memory_.Contains(Key(1)));

  std::shared_ptr<const Embedding> first = store.Get(Key(1));
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(first->tensors[0].values[0], 1.0f);
  EXPECT_TRUE(memory_.Contains(Key(1)));
  EXPECT_EQ(memory_.Stats().hits, 0u);
  EXPECT_EQ(disk_.Stats().hits, 1u);

  ASSERT_NE(store.Get(Key(1)), nullptr);
  EXPECT_EQ(memory_.Stats().hits, 1u);  // answered by memory this time
  EXPECT_EQ(disk_.Stats().hits, 1u);

  EXPECT_EQ(store.Get(Key(2)), nullptr);
  TierStats stats = store.Stats();
  EXPECT_EQ(stats.name, "tiered");
  EXPECT_EQ(stats.hits, 2u);
  EXPECT_EQ(stats.misses, 1u);
}

TEST_F(TieredStoreTest, HitInTheLastOfThreeTiersIsPromotedIntoBoth) {
  MemoryTier middle(uint64_t{1} << 30);
  TieredStore store({&memory_, &middle, &disk_});
  ASSERT_TRUE(disk_.Put(Key(1), MakeEmbedding(1)).ok());
  ASSERT_NE(store.Get(Key(1)), nullptr);
  EXPECT_TRUE(memory_.Contains(Key(1)));
  EXPECT_TRUE(middle.Contains(Key(1)));
  // A hit in the middle tier is promoted into the first one only.
  ASSERT_TRUE(middle.Put(Key(2), MakeEmbedding(2)).ok());
  ASSERT_NE(store.Get(Key(2)), nullptr);
  EXPECT_TRUE(memory_.Contains(Key(2)));
  EXPECT_FALSE(disk_.Contains(Key(2)));
  EXPECT_EQ(store.TierStatsAll().size(), 3u);
}

TEST_F(TieredStoreTest, PutWritesThroughEveryTierAndReportsTheFirstError) {
  ForwardingTier failing(memory_);
  failing.fail_puts = true;
  MemoryTier last(uint64_t{1} << 30);
  TieredStore store({&failing, &disk_, &last});
  Status status = store.Put(Key(1), MakeEmbedding(1));
  EXPECT_EQ(status.code(), StatusCode::kIoError);
  EXPECT_EQ(status.message(), "injected put failure");
  EXPECT_TRUE(disk_.Contains(Key(1)));  // still written behind the failing tier
  EXPECT_TRUE(last.Contains(Key(1)));
  EXPECT_TRUE(std::filesystem::exists(disk_.PathFor(Key(1))));

  failing.fail_puts = false;
  ASSERT_TRUE(store.Put(Key(2), MakeEmbedding(2)).ok());
  EXPECT_TRUE(memory_.Contains(Key(2)));
  EXPECT_TRUE(disk_.Contains(Key(2)));
  EXPECT_TRUE(last.Contains(Key(2)));
}

TEST_F(TieredStoreTest, ContainsManyAsksSlowerTiersOnlyAboutMissingKeys) {
  ForwardingTier disk(disk_);
  TieredStore store({&memory_, &disk});
  ASSERT_TRUE(memory_.Put(Key(1), MakeEmbedding(1)).ok());
  ASSERT_TRUE(disk_.Put(Key(2), MakeEmbedding(2)).ok());
  ASSERT_TRUE(memory_.Put(Key(4), MakeEmbedding(4)).ok());
  ASSERT_TRUE(disk_.Put(Key(4), MakeEmbedding(4)).ok());

  EXPECT_EQ(store.ContainsMany({Key(1), Key(2), Key(3), Key(4)}),
            (std::vector<bool>{true, true, false, true}));
  ASSERT_EQ(disk.contains_many_calls.size(), 1u);
  EXPECT_EQ(disk.contains_many_calls[0], (std::vector<EmbeddingKey>{Key(2), Key(3)}));
  EXPECT_TRUE(store.Contains(Key(2)));
  EXPECT_FALSE(store.Contains(Key(3)));

  // Everything answered by memory: the disk is not asked at all.
  EXPECT_EQ(store.ContainsMany({Key(1), Key(4)}), (std::vector<bool>{true, true}));
  EXPECT_EQ(disk.contains_many_calls.size(), 1u);
  EXPECT_TRUE(store.ContainsMany({}).empty());
  // Lookups neither count nor promote.
  EXPECT_FALSE(memory_.Contains(Key(2)));
  EXPECT_EQ(store.Stats().hits + store.Stats().misses, 0u);
}

TEST_F(TieredStoreTest, EntriesForIsTheLargestTierCount) {
  const uint64_t one = MakeEmbedding(0)->bytes();
  MemoryTier small(2 * one);  // keeps the two most recent only
  TieredStore store({&small, &disk_});
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(store.Put(Key(i), MakeEmbedding(i)).ok());
  ASSERT_TRUE(store.Put(Key(0, "other"), MakeEmbedding(0, 256, "other")).ok());
  EXPECT_EQ(small.EntriesFor(kModel), 1u);
  EXPECT_EQ(disk_.EntriesFor(kModel), 5u);
  EXPECT_EQ(store.EntriesFor(kModel), 5u);
  EXPECT_EQ(store.EntriesFor("other"), 1u);
  EXPECT_EQ(store.EntriesFor("none"), 0u);

  std::vector<TierStats> tiers = store.TierStatsAll();
  ASSERT_EQ(tiers.size(), 2u);
  EXPECT_EQ(tiers[0].name, "memory");
  EXPECT_EQ(tiers[1].name, "disk");
  TierStats stats = store.Stats();
  EXPECT_EQ(stats.entries, 6u);
  EXPECT_EQ(stats.bytes, tiers[0].bytes + tiers[1].bytes);
  EXPECT_EQ(stats.evictions, 4u);  // all in the small memory tier
}

TEST(MemoryTierEntriesTest, CountsFollowPutsReplacementsAndEvictions) {
  const uint64_t one = MakeEmbedding(0)->bytes();
  MemoryTier tier(3 * one);
  ASSERT_TRUE(tier.Put(Key(1, "a"), MakeEmbedding(1, 256, "a")).ok());
  ASSERT_TRUE(tier.Put(Key(2, "a"), MakeEmbedding(2, 256, "a")).ok());
  ASSERT_TRUE(tier.Put(Key(1, "b"), MakeEmbedding(1, 256, "b")).ok());
  ASSERT_TRUE(tier.Put(Key(1, "a"), MakeEmbedding(3, 256, "a")).ok());  // replaces, no double count
  EXPECT_EQ(tier.EntriesFor("a"), 2u);
  EXPECT_EQ(tier.EntriesFor("b"), 1u);
  ASSERT_TRUE(tier.Put(Key(2, "b"), MakeEmbedding(2, 256, "b")).ok());  // evicts Key(2, "a")
  EXPECT_EQ(tier.EntriesFor("a"), 1u);
  EXPECT_EQ(tier.EntriesFor("b"), 2u);
  EXPECT_EQ(tier.EntriesFor("c"), 0u);
}

}  // namespace
}  // namespace samcache
