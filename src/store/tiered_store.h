// The embedding cache as one EmbeddingTier over an ordered list of tiers, fastest first:
// e.g. memory -> disk today, memory -> disk -> shared (Redis) later. Nothing here assumes a
// number of tiers.
//
// Reads go down the list and promote a hit into every faster tier; writes go through to
// all tiers, so the last (persistent) tier holds a superset of the others.
//
// Thread-safety: safe from any number of threads, as the tiers themselves are.
#pragma once

#include <atomic>
#include <cstdint>
#include <vector>

#include "store/embedding_tier.h"

namespace samcache {

class TieredStore final : public EmbeddingTier {
 public:
  // `tiers` are not owned and must outlive the store; tiers[0] is the fastest.
  explicit TieredStore(std::vector<EmbeddingTier*> tiers);

  // The first tier that has the key answers; the embedding is then Put into the faster
  // tiers before it (a failed promotion is logged, the hit is still returned).
  std::shared_ptr<const Embedding> Get(const EmbeddingKey& key) override;
  // Write-through: every tier is tried even after one fails; the first error is returned.
  Status Put(const EmbeddingKey& key, std::shared_ptr<const Embedding> embedding) override;
  // True when any tier has the key.
  bool Contains(const EmbeddingKey& key) override;
  // One ContainsMany per tier, each asked only about the keys still missing.
  std::vector<bool> ContainsMany(const std::vector<EmbeddingKey>& keys) override;
  // The largest count over the tiers: under write-through the persistent tier is a superset
  // of the faster ones, so this is what the cache as a whole holds.
  uint64_t EntriesFor(const std::string& model_id) override;
  // name "tiered"; hits: gets answered by any tier; misses: gets no tier answered;
  // entries: the largest tier's (as EntriesFor); bytes and evictions: summed over tiers.
  TierStats Stats() override;
  // Each tier's own Stats(), fastest first.
  std::vector<TierStats> TierStatsAll();

 private:
  const std::vector<EmbeddingTier*> tiers_;
  std::atomic<uint64_t> hits_{0};
  std::atomic<uint64_t> misses_{0};
};

}  // namespace samcache
