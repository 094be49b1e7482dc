// KeyLease on Redis: the lease of a key is `samcache:lease:<model_id>:<pixel_hash>`, taken
// with `SET key token NX PX ttl` and given up with a compare-and-delete script (EVAL), so a
// holder whose lease expired never deletes its successor's. The token names the holder
// (host, process id, a random part) and the holding (a counter).
//
// A background thread renews every lease this process holds (compare-and-PEXPIRE, one
// round trip for all) every `renew_every`, so a long encoder run keeps its lease; if the
// process dies, its leases expire after at most `ttl` and a waiting instance takes over.
// A lease found gone at renewal is counted as lost and logged.
//
// Redis unreachable: TryAcquire answers kUnavailable (the caller computes without a lease).
//
// Thread-safety: all methods may be called from any number of threads.
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "store/key_lease.h"
#include "store/redis_client.h"

namespace samcache {

inline constexpr std::string_view kRedisLeasePrefix = "samcache:lease:";

// The Redis key of a lease.
std::string RedisLeaseKey(const EmbeddingKey& key);

class RedisKeyLease final : public KeyLease {
 public:
  struct Options {
    std::chrono::milliseconds ttl{30000};
    std::chrono::milliseconds renew_every{10000};  // well under ttl
  };
  // `client` must outlive the lease.
  RedisKeyLease(RedisClient& client, Options options);
  // Stops renewing and releases the leases still held.
  ~RedisKeyLease() override;
  RedisKeyLease(const RedisKeyLease&) = delete;
  RedisKeyLease& operator=(const RedisKeyLease&) = delete;

  std::vector<LeaseAttempt> TryAcquire(const std::vector<EmbeddingKey>& keys) override;
  void Release(const EmbeddingKey& key, const std::string& token) override;
  LeaseStats Stats() override;

  // The holder part of this process's tokens.
  const std::string& owner() const { return owner_; }

 private:
  void RenewLoop();

  RedisClient& client_;
  const Options options_;
  const std::string owner_;
  const std::string ttl_ms_;

  std::mutex mutex_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  uint64_t next_holding_ = 0;
  std::map<std::string, std::string> held_;  // lease key -> token
  LeaseStats stats_;
  std::thread renewer_;
};

}  // namespace samcache
