#include "store/tiered_store.h"

#include <spdlog/spdlog.h>
#include <algorithm>

namespace samcache {

TieredStore::TieredStore(std::vector<EmbeddingTier*> tiers) : tiers_(std::move(tiers)) {}

std::shared_ptr<const Embedding> TieredStore::Get(const EmbeddingKey& key) {
  for (size_t i = 0; i < tiers_.size(); ++i) {
    std::shared_ptr<const Embedding> embedding = tiers_[i]->Get(key);
    if (!embedding) continue;
    for (size_t faster = 0; faster < i; ++faster) {
      if (Status promoted = tiers_[faster]->Put(key, embedding); !promoted.ok()) {
        spdlog::warn("tiered store: cannot promote {} into tier {} ({}): {}", key.ToString(), faster,
                     tiers_[faster]->Stats().name, promoted.message());
      }
    }
    ++hits_;
    return embedding;
  }
  ++misses_;
  return nullptr;
}

Status TieredStore::Put(const EmbeddingKey& key, std::shared_ptr<const Embedding> embedding) {
  Status first_error;
  for (EmbeddingTier* tier : tiers_) {
    Status status = tier->Put(key, embedding);
    if (!status.ok() && first_error.ok()) first_error = std::move(status);
  }
  return first_error;
}

bool TieredStore::Contains(const EmbeddingKey& key) {
  return std::any_of(tiers_.begin(), tiers_.end(), [&](EmbeddingTier* tier) { return tier->Contains(key); });
}

std::vector<bool> TieredStore::ContainsMany(const std::vector<EmbeddingKey>& keys) {
  std::vector<bool> present(keys.size(), false);
  std::vector<size_t> missing(keys.size());
  for (size_t i = 0; i < keys.size(); ++i) missing[i] = i;
  for (EmbeddingTier* tier : tiers_) {
    if (missing.empty()) break;
    std::vector<EmbeddingKey> asked;
    asked.reserve(missing.size());
    for (size_t index : missing) asked.push_back(keys[index]);
    const std::vector<bool> answer = tier->ContainsMany(asked);
    std::vector<size_t> still_missing;
    for (size_t j = 0; j < missing.size(); ++j) {
      if (j < answer.size() && answer[j]) {
        present[missing[j]] = true;
      } else {
        still_missing.push_back(missing[j]);
      }
    }
    missing = std::move(still_missing);
  }
  return present;
}

uint64_t TieredStore::EntriesFor(const std::string& model_id) {
  uint64_t most = 0;
  for (EmbeddingTier* tier : tiers_) most = std::max(most, tier->EntriesFor(model_id));
  return most;
}

TierStats TieredStore::Stats() {
  TierStats stats{"tiered", hits_.load(), misses_.load(), 0, 0, 0};
  for (const TierStats& tier : TierStatsAll()) {
    stats.entries = std::max(stats.entries, tier.entries);
    stats.bytes += tier.bytes;
    stats.evictions += tier.evictions;
  }
  return stats;
}

std::vector<TierStats> TieredStore::TierStatsAll() {
  std::vector<TierStats> all;
  all.reserve(tiers_.size());
  for (EmbeddingTier* tier : tiers_) all.push_back(tier->Stats());
  return all;
}

}  // namespace samcache
