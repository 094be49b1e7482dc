#include "store/memory_tier.h"

namespace samcache {

MemoryTier::MemoryTier(uint64_t max_bytes) : max_bytes_(max_bytes) {}

std::shared_ptr<const Embedding> MemoryTier::Get(const EmbeddingKey& key) {
  std::lock_guard lock(mutex_);
  auto it = index_.find(key.ToString());
  if (it == index_.end()) {
    ++misses_;
    return nullptr;
  }
  ++hits_;
  lru_.splice(lru_.begin(), lru_, it->second);
  return it->second->embedding;
}

Status MemoryTier::Put(const EmbeddingKey& key, std::shared_ptr<const Embedding> embedding) {
  const uint64_t bytes = embedding->bytes();
  if (bytes > max_bytes_) return Status::Ok();
  std::string name = key.ToString();
  std::lock_guard lock(mutex_);
  if (auto it = index_.find(name); it != index_.end()) {
    bytes_ -= it->second->bytes;
    lru_.erase(it->second);
    index_.erase(it);
  }
  lru_.push_front(Entry{name, std::move(embedding), bytes});
  index_[std::move(name)] = lru_.begin();
  bytes_ += bytes;
  EvictLocked();
  return Status::Ok();
}

void MemoryTier::EvictLocked() {
  while (bytes_ > max_bytes_ && !lru_.empty()) {
    bytes_ -= lru_.back().bytes;
    index_.erase(lru_.back().key);
    lru_.pop_back();
    ++evictions_;
  }
}

bool MemoryTier::Contains(const EmbeddingKey& key) {
  std::lock_guard lock(mutex_);
  return index_.count(key.ToString()) > 0;
}

std::vector<bool> MemoryTier::ContainsMany(const std::vector<EmbeddingKey>& keys) {
  std::lock_guard lock(mutex_);
  std::vector<bool> present;
  present.reserve(keys.size());
  for (const EmbeddingKey& key : keys) present.push_back(index_.count(key.ToString()) > 0);
  return present;
}

TierStats MemoryTier::Stats() {
  std::lock_guard lock(mutex_);
  return TierStats{"memory", hits_, misses_, lru_.size(), bytes_, evictions_};
}

}  // namespace samcache
