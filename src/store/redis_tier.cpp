#include "store/redis_tier.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>

namespace samcache {
namespace {

constexpr std::chrono::seconds kServerStatsMaxAge{1};
constexpr int kScanCount = 10000;

// "name:value" from INFO's text, as a number; 0 when absent.
uint64_t InfoField(std::string_view info, std::string_view name) {
  const std::string needle = std::string(name) + ":";
  size_t at = 0;
  while ((at = info.find(needle, at)) != std::string_view::npos) {
    if (at == 0 || info[at - 1] == '\n') {
      uint64_t value = 0;
      const char* begin = info.data() + at + needle.size();
      std::from_chars(begin, info.data() + info.size(), value);
      return value;
    }
    at += needle.size();
  }
  return 0;
}

}  // namespace

std::string RedisEmbeddingKey(const EmbeddingKey& key) {
  return std::string(kRedisEmbeddingPrefix) + key.model_id + ":" + key.pixel_hash;
}

RedisTier::RedisTier(RedisClient& client, StorageDtype dtype) : client_(client), dtype_(dtype) {}

std::shared_ptr<const Embedding> RedisTier::Get(const EmbeddingKey& key) {
  const std::string name = RedisEmbeddingKey(key);
  std::shared_ptr<const Embedding> found;
  std::string corrupt_reason;
  const Status status = client_.Get(name, [&](std::optional<std::string_view> bytes) {
    if (!bytes) return;
    // Decoded straight from the reply's buffer: no copy of the 4 MiB value in between.
    Result<Embedding> embedding = DecodeSafetensors(*bytes, key);
    if (embedding.ok()) {
      found = std::make_shared<const Embedding>(std::move(embedding).value());
    } else {
      corrupt_reason = embedding.status().message();
    }
  });
  if (!corrupt_reason.empty()) {
    ++corrupt_;
    spdlog::warn("[REDIS] corrupt embedding {}: {}; deleted, treated as a miss", name, corrupt_reason);
    // Another instance may have written a good value since our read; it would be computed
    // again at worst, never served corrupt.
    (void)client_.Command({"DEL", name});
  } else if (!status.ok() && status.code() != StatusCode::kUnavailable) {
    spdlog::warn("[REDIS] cannot read {}: {}", name, status.message());
  }
  if (!found) {
    ++misses_;
    return nullptr;
  }
  ++hits_;
  return found;
}

Status RedisTier::Put(const EmbeddingKey& key, std::shared_ptr<const Embedding> embedding) {
  if (!embedding) return Status::InvalidArgument("no embedding to store for " + key.ToString());
  SAMCACHE_ASSIGN_OR_RETURN(const std::string encoded, EncodeSafetensors(key, *embedding, dtype_));
  // No TTL: Redis' maxmemory policy (allkeys-lru) bounds the tier. A failure was logged by
  // the client; the local tiers still hold the embedding.
  (void)client_.Command({"SET", RedisEmbeddingKey(key), encoded});
  return Status::Ok();
}

bool RedisTier::Contains(const EmbeddingKey& key) { return ContainsMany({key}).front(); }

std::vector<bool> RedisTier::ContainsMany(const std::vector<EmbeddingKey>& keys) {
  std::vector<bool> present(keys.size(), false);
  if (keys.empty()) return present;
  std::vector<std::string> names;
  names.reserve(keys.size());
  for (const EmbeddingKey& key : keys) names.push_back(RedisEmbeddingKey(key));
  std::vector<RedisArgs> commands;
  commands.reserve(keys.size());
  for (const std::string& name : names) commands.push_back({"EXISTS", name});
  Result<std::vector<RedisReply>> replies = client_.Pipeline(commands);
  if (!replies.ok()) return present;  // unreachable: nothing is known to be there
  for (size_t i = 0; i < keys.size(); ++i) {
    present[i] = (*replies)[i].type == RedisReply::Type::kInteger && (*replies)[i].integer > 0;
  }
  return present;
}

uint64_t RedisTier::EntriesFor(const std::string& model_id) {
  // SCAN walks the whole database (every model's keys and the leases), kScanCount keys per
  // round trip; a database of embeddings of a few MB each holds few enough keys for that.
  const std::string pattern = std::string(kRedisEmbeddingPrefix) + model_id + ":*";
  const std::string count = std::to_string(kScanCount);
  std::string cursor = "0";
  uint64_t entries = 0;
  do {
    Result<RedisReply> reply = client_.Command({"SCAN", cursor, "MATCH", pattern, "COUNT", count});
    if (!reply.ok() || reply->type != RedisReply::Type::kArray || reply->elements.size() != 2) {
      return 0;  // unreachable (logged by the client): the local tiers answer
    }
    cursor = reply->elements[0].text;
    entries += reply->elements[1].elements.size();
  } while (cursor != "0");
  return entries;
}

TierStats RedisTier::Stats() {
  TierStats stats{"redis", hits_.load(), misses_.load(), 0, 0, 0};
  std::lock_guard lock(server_mutex_);
  const auto now = std::chrono::steady_clock::now();
  if (server_read_at_ == std::chrono::steady_clock::time_point{} ||
      now - server_read_at_ >= kServerStatsMaxAge) {
    server_read_at_ = now;
    Result<std::vector<RedisReply>> replies =
        client_.Pipeline({{"DBSIZE"}, {"INFO", "memory"}, {"INFO", "stats"}});
    if (replies.ok()) {
      server_keys_ = static_cast<uint64_t>(std::max<int64_t>(0, (*replies)[0].integer));
      server_bytes_ = InfoField((*replies)[1].text, "used_memory");
      server_evictions_ = InfoField((*replies)[2].text, "evicted_keys");
    } else {
      server_keys_ = server_bytes_ = server_evictions_ = 0;
    }
  }
  stats.entries = server_keys_;
  stats.bytes = server_bytes_;
  stats.evictions = server_evictions_;
  const RedisTierStats details = Details();
  stats.corrupt = details.corrupt;
  stats.remote = TierStats::Remote{client_.endpoint().ToString(), details.errors, details.connected};
  return stats;
}

RedisTierStats RedisTier::Details() {
  const RedisClientStats client = client_.Stats();
  return RedisTierStats{client.errors, corrupt_.load(), client.connected};
}

}  // namespace samcache
