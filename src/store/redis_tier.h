// The shared tier: embeddings in one Redis that several samcache instances use, placed
// after the disk tier (memory -> disk -> redis), so a hit promotes the embedding into the
// local tiers and a computed embedding is written through to every instance.
//
// Each embedding is one Redis string under `samcache:emb:<model_id>:<pixel_hash>` holding
// the same safetensors bytes as a disk file (store/safetensors.h): key, dtype, shapes and
// an XXH3 checksum are verified on every read; a value that fails is logged, deleted and
// answered as a miss, never served. Values are written without a TTL: the tier is bounded
// by Redis' own memory policy (run Redis with `maxmemory` and `maxmemory-policy
// allkeys-lru`, see docs/OPERATIONS.md), so the least recently used embeddings are evicted by Redis.
//
// Redis being down or slow is never an error for the caller: Get and Contains answer a
// miss, Put does nothing and returns Ok; the client (store/redis_client.h) logs the
// failure (rate-limited, `[REDIS]`) and counts it. Put fails only for an embedding that
// cannot be encoded.
//
// Thread-safety: all methods may be called from any number of threads.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>

#include "store/embedding_tier.h"
#include "store/redis_client.h"
#include "store/safetensors.h"

namespace samcache {

inline constexpr std::string_view kRedisEmbeddingPrefix = "samcache:emb:";

// The Redis key of an embedding.
std::string RedisEmbeddingKey(const EmbeddingKey& key);

// What the tier saw beyond TierStats.
struct RedisTierStats {
  uint64_t errors = 0;   // operations Redis did not answer (the client's count)
  uint64_t corrupt = 0;  // values that failed verification and were deleted
  bool connected = false;
};

class RedisTier final : public EmbeddingTier {
 public:
  // `client` must outlive the tier. Put stores values as `dtype`; Get reads either.
  RedisTier(RedisClient& client, StorageDtype dtype = StorageDtype::kF32);

  std::shared_ptr<const Embedding> Get(const EmbeddingKey& key) override;
  Status Put(const EmbeddingKey& key, std::shared_ptr<const Embedding> embedding) override;
  bool Contains(const EmbeddingKey& key) override;
  // One round trip (pipelined EXISTS) for all keys.
  std::vector<bool> ContainsMany(const std::vector<EmbeddingKey>& keys) override;
  // The model's embeddings in Redis right now, every instance's (SCAN with MATCH: Redis
  // keeps no per-model count, and its LRU evicts behind our back, so no counter of ours
  // would stay right). 0 while Redis is unreachable: the local tiers answer then.
  uint64_t EntriesFor(const std::string& model_id) override;
  // name "redis"; hits and misses of Get in this process; entries: keys in the Redis
  // database (DBSIZE: every model, and the leases); bytes: the server's used_memory;
  // evictions: the server's evicted_keys. The last three are read at most once a second
  // (one round trip) and are 0 while Redis is unreachable. Also corrupt, and remote with the
  // endpoint and Details().
  TierStats Stats() override;
  RedisTierStats Details();

 private:
  RedisClient& client_;
  const StorageDtype dtype_;
  std::atomic<uint64_t> hits_{0};
  std::atomic<uint64_t> misses_{0};
  std::atomic<uint64_t> corrupt_{0};

  std::mutex server_mutex_;  // the server's figures, refreshed at most once a second
  std::chrono::steady_clock::time_point server_read_at_{};
  uint64_t server_keys_ = 0;
  uint64_t server_bytes_ = 0;
  uint64_t server_evictions_ = 0;
};

}  // namespace samcache
