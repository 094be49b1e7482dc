// The shared Redis tier and the Redis lease against a real redis-server (Debian's, started
// per test on a free loopback port): round trips, batched lookups, corrupt values, model
// separation, a server that goes away and comes back, another "instance" finding what one
// stored, and the lease's take / release / renew / lose cycle. Also the URL parser.
#include "store/redis_tier.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "store/disk_tier.h"
#include "store/memory_tier.h"
#include "store/redis_lease.h"
#include "store/tiered_store.h"
#include "support/embeddings.h"
#include "support/redis_server.h"
#include "support/test_support.h"

namespace samcache {
namespace {

using testing::MakeTestEmbedding;
using testing::TestKey;

RedisEndpoint EndpointOf(const testing::RedisServer& server) {
  Result<RedisEndpoint> endpoint = ParseRedisUrl(server.url());
  EXPECT_TRUE(endpoint.ok()) << endpoint.status().message();
  return *endpoint;
}

void ExpectSameValues(const Embedding& a, const Embedding& b) {
  ASSERT_EQ(a.tensors.size(), b.tensors.size());
  for (size_t i = 0; i < a.tensors.size(); ++i) {
    EXPECT_EQ(a.tensors[i].name, b.tensors[i].name);
    EXPECT_EQ(a.tensors[i].shape, b.tensors[i].shape);
    EXPECT_EQ(a.tensors[i].values, b.tensors[i].values);
  }
}

// Calls `done` until it is true; a generous deadline only guards against hanging forever.
template <typename F>
bool Eventually(F done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

TEST(RedisUrlTest, ParsesHostPortDatabaseAndCredentials) {
  Result<RedisEndpoint> plain = ParseRedisUrl("redis://cache.internal");
  ASSERT_TRUE(plain.ok()) << plain.status().message();
  EXPECT_EQ(plain->host, "cache.internal");
  EXPECT_EQ(plain->port, 6379);
  EXPECT_EQ(plain->db, 0);

  Result<RedisEndpoint> full = ParseRedisUrl("redis://alice:s3cret@10.0.0.5:6380/3");
  ASSERT_TRUE(full.ok()) << full.status().message();
  EXPECT_EQ(full->host, "10.0.0.5");
  EXPECT_EQ(full->port, 6380);
  EXPECT_EQ(full->db, 3);
  EXPECT_EQ(full->user, "alice");
  EXPECT_EQ(full->password, "s3cret");
  EXPECT_EQ(full->ToString(), "redis://alice:***@10.0.0.5:6380/3");  // never the password

  Result<RedisEndpoint> v6 = ParseRedisUrl("redis://[::1]:7000");
  ASSERT_TRUE(v6.ok()) << v6.status().message();
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 7000);

  for (const char* bad : {"localhost:6379", "http://localhost:6379", "redis://", "redis://:6379",
                          "redis://host:0", "redis://host:70000", "redis://host:port", "redis://host:6379/x",
                          "redis://host:6379/1/2", "redis://host:"}) {
    Result<RedisEndpoint> endpoint = ParseRedisUrl(bad);
    ASSERT_FALSE(endpoint.ok()) << bad;
    EXPECT_EQ(endpoint.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(endpoint.status().message().find("redis://host:port"), std::string::npos)
        << endpoint.status().message();
  }
}

class RedisTierTest : public ::testing::Test {
 protected:
  testing::RedisServer server_;
  RedisClient client_{EndpointOf(server_), {}};
  RedisTier tier_{client_};
};

TEST_F(RedisTierTest, StoresReadsAndAnswersManyKeysAtOnce) {
  const EmbeddingKey a = TestKey(1), b = TestKey(2), c = TestKey(3);
  EXPECT_EQ(tier_.Get(a), nullptr);
  ASSERT_TRUE(tier_.Put(a, MakeTestEmbedding(1, 4096)).ok());
  ASSERT_TRUE(tier_.Put(c, MakeTestEmbedding(3, 4096)).ok());

  std::shared_ptr<const Embedding> read = tier_.Get(a);
  ASSERT_NE(read, nullptr);
  ExpectSameValues(*read, *MakeTestEmbedding(1, 4096));
  EXPECT_EQ(tier_.ContainsMany({a, b, c}), (std::vector<bool>{true, false, true}));
  EXPECT_TRUE(tier_.Contains(c));
  EXPECT_FALSE(tier_.Contains(b));

  // One value per embedding, under the documented key, without a TTL.
  EXPECT_EQ(server_.Cli({"EXISTS", RedisEmbeddingKey(a)}), "1");
  EXPECT_EQ(server_.Cli({"TTL", RedisEmbeddingKey(a)}), "-1");
  EXPECT_EQ(RedisEmbeddingKey(a), "samcache:emb:" + a.model_id + ":" + a.pixel_hash);

  const TierStats stats = tier_.Stats();
  EXPECT_EQ(stats.name, "redis");
  EXPECT_EQ(stats.hits, 1u);
  EXPECT_EQ(stats.misses, 1u);
  EXPECT_EQ(stats.entries, 2u);  // the database's keys
  EXPECT_GT(stats.bytes, 2u * 4096 * 4);
  EXPECT_EQ(tier_.EntriesFor(a.model_id), 2u);  // every instance's, counted in Redis
  EXPECT_EQ(tier_.EntriesFor("another-model"), 0u);
  const RedisTierStats details = tier_.Details();
  EXPECT_EQ(details.errors, 0u);
  EXPECT_TRUE(details.connected);
}

TEST_F(RedisTierTest, ModelsAreSeparate) {
  const EmbeddingKey mine = TestKey(1, "model-a");
  const EmbeddingKey other = TestKey(1, "model-b");  // same pixels, another encoder
  ASSERT_TRUE(tier_.Put(mine, MakeTestEmbedding(1, 64, "model-a")).ok());
  EXPECT_EQ(tier_.Get(other), nullptr);
  EXPECT_EQ(tier_.ContainsMany({mine, other}), (std::vector<bool>{true, false}));
  EXPECT_EQ(tier_.EntriesFor("model-a"), 1u);
  EXPECT_EQ(tier_.EntriesFor("model-b"), 0u);
  EXPECT_EQ(tier_.EntriesFor("model"), 0u);  // a prefix of another model's id
}

TEST_F(RedisTierTest, CorruptValuesAreDeletedAndMissed) {
  const EmbeddingKey key = TestKey(7);
  ASSERT_TRUE(tier_.Put(key, MakeTestEmbedding(7, 1024)).ok());
  // Flip one byte of the stored data: the checksum no longer matches.
  std::string value;
  ASSERT_TRUE(client_
                  .Get(RedisEmbeddingKey(key),
                       [&](std::optional<std::string_view> bytes) {
                         ASSERT_TRUE(bytes.has_value());
                         value = std::string(*bytes);
                       })
                  .ok());
  value[value.size() - 5] ^= 0x40;
  ASSERT_TRUE(client_.Command({"SET", RedisEmbeddingKey(key), value}).ok());
  EXPECT_EQ(tier_.Get(key), nullptr);
  EXPECT_FALSE(tier_.Contains(key));  // deleted
  EXPECT_EQ(tier_.Details().corrupt, 1u);

  // A good value stored under another key (copied by hand) is not served either.
  const EmbeddingKey other = TestKey(8);
  ASSERT_TRUE(tier_.Put(other, MakeTestEmbedding(8, 1024)).ok());
  ASSERT_TRUE(client_.Command({"COPY", RedisEmbeddingKey(other), RedisEmbeddingKey(key)}).ok());
  EXPECT_EQ(tier_.Get(key), nullptr);
  EXPECT_EQ(tier_.Details().corrupt, 2u);
  // Garbage that is not safetensors at all.
  ASSERT_TRUE(client_.Command({"SET", RedisEmbeddingKey(key), "not an embedding"}).ok());
  EXPECT_EQ(tier_.Get(key), nullptr);
  EXPECT_EQ(tier_.Details().corrupt, 3u);
  ASSERT_NE(tier_.Get(other), nullptr);
}

TEST_F(RedisTierTest, Fp16ValuesAreHalfTheSizeAndReadByAnyTier) {
  RedisTier half(client_, StorageDtype::kF16);
  const EmbeddingKey key = TestKey(5);
  ASSERT_TRUE(half.Put(key, MakeTestEmbedding(5, 4096)).ok());
  const int64_t bytes = std::stoll(server_.Cli({"STRLEN", RedisEmbeddingKey(key)}));
  EXPECT_LT(bytes, 4096 * 2 + 1024);
  EXPECT_GT(bytes, 4096 * 2);
  std::shared_ptr<const Embedding> read = tier_.Get(key);  // an fp32 tier reads it too
  ASSERT_NE(read, nullptr);
  EXPECT_NEAR(read->tensors[0].values[100], MakeTestEmbedding(5, 4096)->tensors[0].values[100], 0.05);
}

TEST_F(RedisTierTest, ADownServerIsAMissAndANoOpPutUntilItComesBack) {
  const EmbeddingKey stored = TestKey(1), later = TestKey(2);
  ASSERT_TRUE(tier_.Put(stored, MakeTestEmbedding(1, 256)).ok());
  server_.Stop();
  EXPECT_EQ(tier_.Get(stored), nullptr);
  EXPECT_TRUE(tier_.Put(later, MakeTestEmbedding(2, 256)).ok());  // nothing stored, no error
  EXPECT_EQ(tier_.ContainsMany({stored, later}), (std::vector<bool>{false, false}));
  EXPECT_FALSE(tier_.Contains(stored));
  const TierStats stats = tier_.Stats();
  EXPECT_EQ(stats.entries, 0u);
  EXPECT_EQ(tier_.EntriesFor(stored.model_id), 0u);
  const RedisTierStats details = tier_.Details();
  EXPECT_GT(details.errors, 0u);
  EXPECT_FALSE(details.connected);

  // Restarted empty (no persistence): the tier reconnects by itself and works again.
  server_.Start();
  ASSERT_TRUE(Eventually([&] {
    EXPECT_TRUE(tier_.Put(later, MakeTestEmbedding(2, 256)).ok());
    return tier_.Contains(later);
  }));
  std::shared_ptr<const Embedding> read = tier_.Get(later);
  ASSERT_NE(read, nullptr);
  ExpectSameValues(*read, *MakeTestEmbedding(2, 256));
  EXPECT_TRUE(tier_.Details().connected);
}

TEST(RedisClientTest, ANeverReachableServerFailsEveryCallWithUnavailable) {
  testing::RedisServer server;
  RedisEndpoint endpoint = EndpointOf(server);
  server.Stop();  // the port is now closed
  RedisClient client(endpoint, {});
  Status ping = client.Ping();
  EXPECT_EQ(ping.code(), StatusCode::kUnavailable) << ping.message();
  RedisTier tier(client);
  EXPECT_EQ(tier.Get(TestKey(1)), nullptr);
  EXPECT_TRUE(tier.Put(TestKey(1), MakeTestEmbedding(1, 16)).ok());
  RedisKeyLease lease(client, {});
  const std::vector<LeaseAttempt> attempts = lease.TryAcquire({TestKey(1)});
  EXPECT_EQ(attempts[0].state, LeaseAttempt::State::kUnavailable);
  EXPECT_EQ(lease.Stats().unavailable, 1u);
}

TEST_F(RedisTierTest, AnotherInstanceFindsTheEmbeddingAndPromotesItLocally) {
  testing::TempDir dir;
  // Instance A: memory -> disk -> redis, computes and writes through.
  MemoryTier memory_a(uint64_t{1} << 26);
  DiskTier disk_a(dir / "a", 0);
  ASSERT_TRUE(disk_a.Init().ok());
  TieredStore store_a({&memory_a, &disk_a, &tier_});
  // Instance B: its own local tiers and its own connection to the same Redis.
  RedisClient client_b(EndpointOf(server_), {});
  RedisTier redis_b(client_b);
  MemoryTier memory_b(uint64_t{1} << 26);
  DiskTier disk_b(dir / "b", 0);
  ASSERT_TRUE(disk_b.Init().ok());
  TieredStore store_b({&memory_b, &disk_b, &redis_b});

  const EmbeddingKey key = TestKey(11);
  ASSERT_TRUE(store_a.Put(key, MakeTestEmbedding(11, 2048)).ok());
  EXPECT_EQ(store_b.ContainsMany({key, TestKey(12)}), (std::vector<bool>{true, false}));
  std::shared_ptr<const Embedding> read = store_b.Get(key);
  ASSERT_NE(read, nullptr);
  ExpectSameValues(*read, *MakeTestEmbedding(11, 2048));
  EXPECT_EQ(redis_b.Stats().hits, 1u);
  EXPECT_TRUE(memory_b.Contains(key));  // promoted
  EXPECT_TRUE(disk_b.Contains(key));
  ASSERT_NE(store_b.Get(key), nullptr);
  EXPECT_EQ(redis_b.Stats().hits, 1u);  // the second read stayed local
}

TEST_F(RedisTierTest, ALeaseHasOneHolderAndOnlyItsHolderReleasesIt) {
  RedisKeyLease first(client_, {});
  RedisClient other_client(EndpointOf(server_), {});
  RedisKeyLease second(other_client, {});
  const EmbeddingKey a = TestKey(1), b = TestKey(2);

  const std::vector<LeaseAttempt> mine = first.TryAcquire({a, b});
  ASSERT_EQ(mine[0].state, LeaseAttempt::State::kAcquired);
  ASSERT_EQ(mine[1].state, LeaseAttempt::State::kAcquired);
  EXPECT_NE(mine[0].token, mine[1].token);
  EXPECT_EQ(server_.Cli({"GET", RedisLeaseKey(a)}), mine[0].token);
  const int64_t ttl_ms = std::stoll(server_.Cli({"PTTL", RedisLeaseKey(a)}));
  EXPECT_GT(ttl_ms, 0);
  EXPECT_LE(ttl_ms, 30000);

  const std::vector<LeaseAttempt> theirs = second.TryAcquire({a});
  EXPECT_EQ(theirs[0].state, LeaseAttempt::State::kHeldElsewhere);
  EXPECT_TRUE(theirs[0].token.empty());
  second.Release(a, "someone-else:1");  // a wrong token deletes nothing
  EXPECT_EQ(second.TryAcquire({a})[0].state, LeaseAttempt::State::kHeldElsewhere);

  first.Release(a, mine[0].token);
  EXPECT_EQ(server_.Cli({"EXISTS", RedisLeaseKey(a)}), "0");
  const std::vector<LeaseAttempt> now_theirs = second.TryAcquire({a});
  EXPECT_EQ(now_theirs[0].state, LeaseAttempt::State::kAcquired);
  first.Release(a, mine[0].token);  // a stale holding does not delete its successor's
  EXPECT_EQ(server_.Cli({"GET", RedisLeaseKey(a)}), now_theirs[0].token);

  EXPECT_EQ(first.Stats().acquired, 2u);
  EXPECT_EQ(first.Stats().held, 1u);  // b
  EXPECT_EQ(second.Stats().held_elsewhere, 2u);
  EXPECT_EQ(second.Stats().held, 1u);
}

TEST_F(RedisTierTest, HeldLeasesAreRenewedAndALostOneIsNoticed) {
  RedisKeyLease lease(client_, {std::chrono::milliseconds(1500), std::chrono::milliseconds(100)});
  const EmbeddingKey key = TestKey(3);
  const std::vector<LeaseAttempt> attempt = lease.TryAcquire({key});
  ASSERT_EQ(attempt[0].state, LeaseAttempt::State::kAcquired);
  // Held for twice its ttl: renewal keeps it.
  std::this_thread::sleep_for(std::chrono::milliseconds(3000));
  EXPECT_EQ(server_.Cli({"GET", RedisLeaseKey(key)}), attempt[0].token);
  EXPECT_EQ(lease.Stats().lost, 0u);

  // Gone behind its back (e.g. a Redis restart): counted as lost at the next renewal.
  server_.Cli({"DEL", RedisLeaseKey(key)});
  EXPECT_TRUE(Eventually([&] { return lease.Stats().lost == 1; }));
  EXPECT_EQ(lease.Stats().held, 0u);
}

TEST_F(RedisTierTest, ALeaseOfADeadHolderExpires) {
  const EmbeddingKey key = TestKey(4);
  {
    RedisKeyLease holder(client_, {std::chrono::milliseconds(300), std::chrono::milliseconds(10000)});
    ASSERT_EQ(holder.TryAcquire({key})[0].state, LeaseAttempt::State::kAcquired);
    // A holder that dies does not release: simulated by taking its token over by hand.
    server_.Cli({"SET", RedisLeaseKey(key), "dead-process:1", "PX", "300"});
  }
  RedisKeyLease successor(client_, {});
  EXPECT_TRUE(
      Eventually([&] { return successor.TryAcquire({key})[0].state == LeaseAttempt::State::kAcquired; }));
}

}  // namespace
}  // namespace samcache
