// A per-key lease shared by several processes: whoever holds the lease of a cache key is the
// one computing its embedding, so two instances never run the encoder for the same key at
// the same time. The others wait for the value to appear in the shared tier, or for the
// lease to disappear (its holder died or gave up) and then try to take it themselves.
//
// A lease expires by itself if its holder dies; while a holder lives, the implementation
// keeps it alive however long the computation takes, until Release.
//
// Thread-safety: implementations are safe to call from any number of threads.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "store/embedding.h"

namespace samcache {

struct LeaseAttempt {
  enum class State {
    kAcquired,       // this caller holds the lease now; Release it when done
    kHeldElsewhere,  // another holder has it
    kUnavailable,    // the lease service cannot be reached: proceed without a lease
  };
  State state = State::kUnavailable;
  std::string token;  // identifies this holding, for Release (kAcquired only)
};

struct LeaseStats {
  uint64_t acquired = 0;        // leases taken
  uint64_t held_elsewhere = 0;  // attempts that found another holder
  uint64_t unavailable = 0;     // attempts that could not reach the lease service
  uint64_t lost = 0;            // leases that expired while held (not renewed in time)
  uint64_t held = 0;            // leases held right now
};

class KeyLease {
 public:
  virtual ~KeyLease() = default;

  // Tries to take the lease of each key, all in one round trip; one attempt per key.
  virtual std::vector<LeaseAttempt> TryAcquire(const std::vector<EmbeddingKey>& keys) = 0;
  // Gives up the lease if `token` still holds it (it may have expired and been taken by
  // another since). Failures are logged, never reported: an unreleased lease expires.
  virtual void Release(const EmbeddingKey& key, const std::string& token) = 0;
  virtual LeaseStats Stats() = 0;
};

}  // namespace samcache
