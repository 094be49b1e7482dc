// The in-process tier: least-recently-used eviction within a byte budget.
#pragma once

#include <cstdint>
#include <list>
#include <mutex>
#include <string>
#include <unordered_map>

#include "store/embedding_tier.h"

namespace samcache {

class MemoryTier final : public EmbeddingTier {
 public:
  explicit MemoryTier(uint64_t max_bytes);

  std::shared_ptr<const Embedding> Get(const EmbeddingKey& key) override;
  // An embedding larger than the whole budget is not kept (and is not an error).
  Status Put(const EmbeddingKey& key, std::shared_ptr<const Embedding> embedding) override;
  bool Contains(const EmbeddingKey& key) override;
  std::vector<bool> ContainsMany(const std::vector<EmbeddingKey>& keys) override;
  uint64_t EntriesFor(const std::string& model_id) override;
  TierStats Stats() override;

 private:
  struct Entry {
    std::string key;
    std::string model_id;
    std::shared_ptr<const Embedding> embedding;
    uint64_t bytes = 0;
  };
  void EvictLocked();
  void EraseLocked(std::list<Entry>::iterator entry);

  const uint64_t max_bytes_;
  std::mutex mutex_;
  std::list<Entry> lru_;  // front: most recently used
  std::unordered_map<std::string, std::list<Entry>::iterator> index_;
  std::unordered_map<std::string, uint64_t> entries_per_model_;
  uint64_t bytes_ = 0;
  uint64_t hits_ = 0;
  uint64_t misses_ = 0;
  uint64_t evictions_ = 0;
};

}  // namespace samcache
