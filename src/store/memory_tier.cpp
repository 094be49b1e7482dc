#include "store/memory_tier.h"

#include <iterator>

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
  if (auto it = index_.find(name); it != index_.end()) EraseLocked(it->second);
  lru_.push_front(Entry{name, key.model_id, std::move(embedding), bytes});
  index_[std::move(name)] = lru_.begin();
  bytes_ += bytes;
  ++entries_per_model_[key.model_id];
  EvictLocked();
  return Status::Ok();
}

void MemoryTier::EraseLocked(std::list<Entry>::iterator entry) {
  bytes_ -= entry->bytes;
  auto count = entries_per_model_.find(entry->model_id);
  // Every entry in the list was counted when it was put.
  if (--count->second == 0) entries_per_model_.erase(count);
  index_.erase(entry->key);
  lru_.erase(entry);
}

void MemoryTier::EvictLocked() {
  while (bytes_ > max_bytes_ && !lru_.empty()) {
    EraseLocked(std::prev(lru_.end()));
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

uint64_t MemoryTier::EntriesFor(const std::string& model_id) {
  std::lock_guard lock(mutex_);
  auto it = entries_per_model_.find(model_id);
  return it == entries_per_model_.end() ? 0 : it->second;
}

TierStats MemoryTier::Stats() {
  std::lock_guard lock(mutex_);
  return TierStats{"memory", hits_, misses_, lru_.size(), bytes_, evictions_};
}

}  // namespace samcache
