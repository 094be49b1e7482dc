// Per-token rate limits on the expensive requests: uploads and clicks. Counted in windows of
// one wall-clock minute. With a shared Redis (--redis) the counts are shared by every
// instance; when Redis cannot be reached, each instance counts on its own until it is back
// (a limit is a guard against one busy client, not a reason to refuse service).
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "common/status.h"

namespace samcache {

class RedisClient;

enum class RateKind { kUpload, kClick, kLogin };

struct RateLimits {
  int64_t uploads_per_minute = 0;  // upload requests; 0: no limit
  int64_t clicks_per_minute = 0;   // predict requests; 0: no limit
  int64_t logins_per_minute = 20;  // login attempts per client address: password guessing
};

class RateLimiter {
 public:
  // `shared` may be null (one instance); it must outlive the limiter.
  RateLimiter(RateLimits limits, RedisClient* shared);

  // Counts one request of `token_id` (for kLogin: the client's address) and refuses it (RateLimited, saying
  // when to retry) when it is over the limit of its kind for this minute.
  Status Admit(const std::string& token_id, RateKind kind);

  const RateLimits& limits() const { return limits_; }

 private:
  int64_t CountLocally(const std::string& key, int64_t minute);

  const RateLimits limits_;
  RedisClient* shared_;
  std::mutex mu_;
  std::map<std::string, std::pair<int64_t, int64_t>> counts_;  // key → (minute, count)
};

}  // namespace samcache
