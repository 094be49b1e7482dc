#include "store/redis_lease.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <vector>

#include "common/crypto.h"

namespace samcache {
namespace {

// Deletes the lease only if this holding still owns it.
constexpr std::string_view kReleaseScript =
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";
// Extends the lease only if this holding still owns it.
constexpr std::string_view kRenewScript =
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) "
    "else return 0 end";

std::string MakeOwner() {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  return std::string(host[0] != '\0' ? host : "host") + ":" + std::to_string(getpid()) + ":" +
         RandomId().substr(0, 8);
}

}  // namespace

std::string RedisLeaseKey(const EmbeddingKey& key) {
  return std::string(kRedisLeasePrefix) + key.model_id + ":" + key.pixel_hash;
}

RedisKeyLease::RedisKeyLease(RedisClient& client, Options options)
    : client_(client), options_(options), owner_(MakeOwner()), ttl_ms_(std::to_string(options.ttl.count())) {
  renewer_ = std::thread([this] { RenewLoop(); });
}

RedisKeyLease::~RedisKeyLease() {
  std::map<std::string, std::string> held;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    held.swap(held_);
  }
  stop_cv_.notify_all();
  renewer_.join();
  if (held.empty()) return;
  std::vector<RedisArgs> commands;
  for (const auto& [name, token] : held) commands.push_back({"EVAL", kReleaseScript, "1", name, token});
  (void)client_.Pipeline(commands);
}

std::vector<LeaseAttempt> RedisKeyLease::TryAcquire(const std::vector<EmbeddingKey>& keys) {
  std::vector<LeaseAttempt> attempts(keys.size());
  if (keys.empty()) return attempts;
  std::vector<std::string> names;
  names.reserve(keys.size());
  {
    std::lock_guard lock(mutex_);
    for (size_t i = 0; i < keys.size(); ++i) {
      names.push_back(RedisLeaseKey(keys[i]));
      attempts[i].token = owner_ + ":" + std::to_string(++next_holding_);
    }
  }
  std::vector<RedisArgs> commands;
  commands.reserve(keys.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    commands.push_back({"SET", names[i], attempts[i].token, "NX", "PX", ttl_ms_});
  }
  Result<std::vector<RedisReply>> replies = client_.Pipeline(commands);
  std::lock_guard lock(mutex_);
  for (size_t i = 0; i < keys.size(); ++i) {
    LeaseAttempt& attempt = attempts[i];
    if (!replies.ok()) {
      attempt.state = LeaseAttempt::State::kUnavailable;
      ++stats_.unavailable;
    } else if ((*replies)[i].type == RedisReply::Type::kStatus) {  // "OK"
      attempt.state = LeaseAttempt::State::kAcquired;
      held_[names[i]] = attempt.token;
      ++stats_.acquired;
      continue;
    } else {  // nil: another holder
      attempt.state = LeaseAttempt::State::kHeldElsewhere;
      ++stats_.held_elsewhere;
    }
    attempt.token.clear();
  }
  return attempts;
}

void RedisKeyLease::Release(const EmbeddingKey& key, const std::string& token) {
  const std::string name = RedisLeaseKey(key);
  {
    std::lock_guard lock(mutex_);
    if (auto it = held_.find(name); it != held_.end() && it->second == token) held_.erase(it);
  }
  // Unreachable: logged by the client; the lease expires after its ttl.
  (void)client_.Command({"EVAL", kReleaseScript, "1", name, token});
}

LeaseStats RedisKeyLease::Stats() {
  std::lock_guard lock(mutex_);
  LeaseStats stats = stats_;
  stats.held = held_.size();
  return stats;
}

void RedisKeyLease::RenewLoop() {
  std::unique_lock lock(mutex_);
  for (;;) {
    stop_cv_.wait_for(lock, options_.renew_every, [this] { return stopping_; });
    if (stopping_) return;
    if (held_.empty()) continue;
    const std::map<std::string, std::string> held = held_;
    lock.unlock();
    std::vector<RedisArgs> commands;
    commands.reserve(held.size());
    for (const auto& [name, token] : held)
      commands.push_back({"EVAL", kRenewScript, "1", name, token, ttl_ms_});
    Result<std::vector<RedisReply>> replies = client_.Pipeline(commands);
    lock.lock();
    if (!replies.ok()) continue;  // logged by the client; tried again next round
    size_t i = 0;
    for (const auto& [name, token] : held) {
      const RedisReply& reply = (*replies)[i++];
      if (reply.type == RedisReply::Type::kInteger && reply.integer == 1) continue;
      // Expired (Redis restarted, or unreachable for longer than the ttl): another instance
      // may now compute the same key. Harmless beyond the duplicate work.
      auto it = held_.find(name);
      if (it == held_.end() || it->second != token) continue;  // released meanwhile
      held_.erase(it);
      ++stats_.lost;
      spdlog::warn(
          "[REDIS] lease {} expired before its computation finished; another instance may compute it too",
          name);
    }
  }
}

}  // namespace samcache
