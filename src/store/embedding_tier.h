// One level of the embedding cache. The in-process LRU is the first; a persistent disk
// tier and a shared tier for several instances stack behind the same interface.
//
// Thread-safety: implementations are safe to call from any number of threads.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "store/embedding.h"

namespace samcache {

struct TierStats {
  TierStats() = default;
  // The counters every tier has; the optional ones below start unset.
  TierStats(std::string name, uint64_t hits, uint64_t misses, uint64_t entries, uint64_t bytes,
            uint64_t evictions)
      : name(std::move(name)),
        hits(hits),
        misses(misses),
        entries(entries),
        bytes(bytes),
        evictions(evictions) {}

  std::string name;
  uint64_t hits = 0;
  uint64_t misses = 0;
  uint64_t entries = 0;
  uint64_t bytes = 0;
  uint64_t evictions = 0;
  // Entries that failed verification (truncated, bad checksum) and were removed; only the
  // tiers that verify what they read report it.
  std::optional<uint64_t> corrupt;
  // Only a tier reached over the network (the shared Redis tier) reports its health.
  struct Remote {
    std::string endpoint;    // where it is, never with a password
    uint64_t errors = 0;     // operations that got no answer (refused, timed out, cut)
    bool connected = false;  // whether the last operation reached the server
  };
  std::optional<Remote> remote;
};

class EmbeddingTier {
 public:
  virtual ~EmbeddingTier() = default;

  // The embedding, or nullptr on a miss. Embeddings are immutable once stored, so they are
  // handed out shared rather than copied (4 MiB each for SAM).
  virtual std::shared_ptr<const Embedding> Get(const EmbeddingKey& key) = 0;
  virtual Status Put(const EmbeddingKey& key, std::shared_ptr<const Embedding> embedding) = 0;
  // Does not count as a hit or a miss, and does not refresh recency.
  virtual bool Contains(const EmbeddingKey& key) = 0;
  // Contains() for many keys at once; backends answer with one query where they can.
  virtual std::vector<bool> ContainsMany(const std::vector<EmbeddingKey>& keys) = 0;
  // How many embeddings of one model the tier holds. The local tiers answer from counters;
  // the Redis tier walks the database (SCAN), so a caller that would ask per event or per
  // follower asks once and shares the answer.
  virtual uint64_t EntriesFor(const std::string& model_id) = 0;
  virtual TierStats Stats() = 0;
};

}  // namespace samcache
