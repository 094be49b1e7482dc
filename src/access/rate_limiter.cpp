#include "access/rate_limiter.h"

#include <chrono>

#include "store/redis_client.h"

namespace samcache {

namespace {
constexpr size_t kMaxLocalKeys = 100000;
}  // namespace

RateLimiter::RateLimiter(RateLimits limits, RedisClient* shared) : limits_(limits), shared_(shared) {}

int64_t RateLimiter::CountLocally(const std::string& key, int64_t minute) {
  std::lock_guard lock(mu_);
  if (counts_.size() > kMaxLocalKeys)
    std::erase_if(counts_, [&](const auto& e) { return e.second.first != minute; });
  auto& [window, count] = counts_[key];
  if (window != minute) {
    window = minute;
    count = 0;
  }
  return ++count;
}

Status RateLimiter::Admit(const std::string& token_id, RateKind kind) {
  const int64_t limit = kind == RateKind::kUpload  ? limits_.uploads_per_minute
                        : kind == RateKind::kClick ? limits_.clicks_per_minute
                                                   : limits_.logins_per_minute;
  if (limit <= 0) return Status::Ok();
  const int64_t seconds =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  const int64_t minute = seconds / 60;
  const std::string what = kind == RateKind::kUpload  ? "uploads"
                           : kind == RateKind::kClick ? "clicks"
                                                      : "logins";
  const std::string key = "samcache:rate:" + what + ":" + token_id + ":" + std::to_string(minute);
  int64_t count = 0;
  bool counted = false;
  if (shared_ != nullptr) {
    Result<RedisReply> reply = shared_->Command({"INCR", key});
    if (reply.ok() && reply->type == RedisReply::Type::kInteger) {
      count = reply->integer;
      counted = true;
      if (count == 1) (void)shared_->Command({"EXPIRE", key, "120"});
    }
  }
  if (!counted) count = CountLocally(key, minute);
  if (count <= limit) return Status::Ok();
  const std::string who = kind == RateKind::kLogin ? "this address" : "this token";
  return Status::RateLimited("too many " + what + ": " + who + " may send " + std::to_string(limit) + " " +
                             what + " a minute; try again in " + std::to_string(60 - seconds % 60) + " s");
}

}  // namespace samcache
