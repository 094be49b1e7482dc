#include "store/redis_client.h"

#include <hiredis.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <condition_variable>
#include <mutex>

namespace samcache {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::chrono::milliseconds kFirstBackoff{50};
constexpr std::chrono::milliseconds kMaxBackoff{2000};
constexpr std::chrono::seconds kLogInterval{10};

timeval ToTimeval(std::chrono::milliseconds ms) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return tv;
}

std::optional<int> ParseNumber(std::string_view text, int min, int max) {
  int value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value < min || value > max) {
    return std::nullopt;
  }
  return value;
}

RedisReply Convert(const redisReply& reply) {
  RedisReply out;
  switch (reply.type) {
    case REDIS_REPLY_STRING:
      out.type = RedisReply::Type::kString;
      out.text.assign(reply.str, reply.len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = RedisReply::Type::kStatus;
      out.text.assign(reply.str, reply.len);
      break;
    case REDIS_REPLY_INTEGER:
      out.type = RedisReply::Type::kInteger;
      out.integer = reply.integer;
      break;
    case REDIS_REPLY_ARRAY:
      out.type = RedisReply::Type::kArray;
      out.elements.reserve(reply.elements);
      for (size_t i = 0; i < reply.elements; ++i) out.elements.push_back(Convert(*reply.element[i]));
      break;
    default:
      out.type = RedisReply::Type::kNil;
  }
  return out;
}

// The first error reply in `reply` (arrays included), if any.
const redisReply* FindError(const redisReply& reply) {
  if (reply.type == REDIS_REPLY_ERROR) return &reply;
  if (reply.type == REDIS_REPLY_ARRAY) {
    for (size_t i = 0; i < reply.elements; ++i) {
      if (const redisReply* error = FindError(*reply.element[i])) return error;
    }
  }
  return nullptr;
}

struct ReplyDeleter {
  void operator()(redisReply* reply) const { freeReplyObject(reply); }
};
using ReplyPtr = std::unique_ptr<redisReply, ReplyDeleter>;

}  // namespace

std::string RedisEndpoint::ToString() const {
  std::string url = "redis://";
  if (!user.empty() || !password.empty()) url += user + (password.empty() ? "" : ":***") + "@";
  url += host.find(':') != std::string::npos ? "[" + host + "]" : host;
  url += ":" + std::to_string(port) + "/" + std::to_string(db);
  return url;
}

Result<RedisEndpoint> ParseRedisUrl(std::string_view url) {
  const std::string shown(url);
  auto invalid = [&](const std::string& why) {
    return Status::InvalidArgument("--redis " + shown + ": " + why +
                                   " (expected redis://host:port or redis://host:port/db)");
  };
  constexpr std::string_view kScheme = "redis://";
  if (!url.starts_with(kScheme)) return invalid("the URL must start with redis://");
  std::string_view rest = url.substr(kScheme.size());
  RedisEndpoint endpoint;
  if (size_t at = rest.rfind('@'); at != std::string_view::npos) {
    const std::string_view credentials = rest.substr(0, at);
    rest = rest.substr(at + 1);
    const size_t colon = credentials.find(':');
    if (colon == std::string_view::npos) return invalid("credentials must be user:password or :password");
    endpoint.user = std::string(credentials.substr(0, colon));
    endpoint.password = std::string(credentials.substr(colon + 1));
  }
  std::string_view authority = rest;
  std::string_view path;
  if (size_t slash = rest.find('/'); slash != std::string_view::npos) {
    authority = rest.substr(0, slash);
    path = rest.substr(slash + 1);
  }
  std::string_view port_text;
  if (authority.starts_with("[")) {  // IPv6 literal
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return invalid("unclosed [ in the host");
    endpoint.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return invalid("unexpected text after the host");
      port_text = after.substr(1);
      if (port_text.empty()) return invalid("empty port");
    }
  } else {
    const size_t colon = authority.find(':');
    endpoint.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      port_text = authority.substr(colon + 1);
      if (port_text.empty()) return invalid("empty port");
    }
  }
  if (endpoint.host.empty()) return invalid("no host");
  if (!port_text.empty()) {
    std::optional<int> port = ParseNumber(port_text, 1, 65535);
    if (!port) return invalid("the port must be a number from 1 to 65535");
    endpoint.port = *port;
  }
  if (!path.empty()) {
    std::optional<int> db = ParseNumber(path, 0, 65535);
    if (!db) return invalid("the database must be a number (e.g. /0)");
    endpoint.db = *db;
  }
  return endpoint;
}

struct RedisClient::Impl {
  RedisEndpoint endpoint;
  Options options;

  std::mutex mutex;
  std::condition_variable idle_cv;
  std::vector<redisContext*> idle;
  size_t open = 0;          // idle and handed out
  uint64_t generation = 0;  // bumped on a failure: older connections are closed when returned
  int consecutive_failures = 0;
  Clock::time_point retry_at{};
  RedisClientStats stats;
  // Rate-limited logging.
  bool failing = false;
  Clock::time_point last_log{};
  uint64_t unlogged = 0;

  struct Connection {
    redisContext* context = nullptr;
    uint64_t generation = 0;
  };

  ~Impl() {
    for (redisContext* context : idle) redisFree(context);
  }

  // Under `mutex`.
  void LogErrorLocked(const std::string& message) {
    ++stats.errors;
    const Clock::time_point now = Clock::now();
    if (last_log != Clock::time_point{} && now - last_log < kLogInterval) {
      ++unlogged;
      return;
    }
    if (unlogged > 0) {
      spdlog::error(
          "[REDIS] {}: {} ({} more error(s) since the last message; the shared tier is skipped "
          "meanwhile)",
          endpoint.ToString(), message, unlogged);
    } else {
      spdlog::error("[REDIS] {}: {} (the shared tier is skipped meanwhile)", endpoint.ToString(), message);
    }
    last_log = now;
    unlogged = 0;
  }

  void LogError(const std::string& message) {
    std::lock_guard lock(mutex);
    LogErrorLocked(message);
  }

  // Drops idle connections (under `mutex`; returns them to be freed outside).
  std::vector<redisContext*> NoteFailureLocked(const std::string& message) {
    ++consecutive_failures;
    const auto backoff = std::min<std::chrono::milliseconds>(
        kMaxBackoff, kFirstBackoff * (1 << std::min(consecutive_failures - 1, 10)));
    retry_at = Clock::now() + backoff;
    ++generation;
    failing = true;
    stats.connected = false;
    LogErrorLocked(message);
    std::vector<redisContext*> dropped;
    dropped.swap(idle);
    open -= dropped.size();
    idle_cv.notify_all();
    return dropped;
  }

  void NoteSuccessLocked() {
    ++stats.commands;
    stats.connected = true;
    consecutive_failures = 0;
    if (failing) {
      failing = false;
      spdlog::info("[REDIS] {}: reachable again", endpoint.ToString());
    }
  }

  Result<redisContext*> Connect() {
    redisContext* context =
        redisConnectWithTimeout(endpoint.host.c_str(), endpoint.port, ToTimeval(options.connect_timeout));
    if (context == nullptr) return Status::Unavailable("cannot allocate a connection");
    auto fail = [&](const std::string& what) -> Status {
      Status status = Status::Unavailable(what);
      redisFree(context);
      return status;
    };
    if (context->err != 0) return fail(std::string("cannot connect: ") + context->errstr);
    redisSetTimeout(context, ToTimeval(options.command_timeout));
    redisEnableKeepAlive(context);
    auto setup = [&](const RedisArgs& args) -> Status {
      std::vector<const char*> argv;
      std::vector<size_t> lengths;
      for (std::string_view arg : args) {
        argv.push_back(arg.data());
        lengths.push_back(arg.size());
      }
      ReplyPtr reply(static_cast<redisReply*>(
          redisCommandArgv(context, static_cast<int>(argv.size()), argv.data(), lengths.data())));
      if (!reply) return Status::Unavailable(std::string("no answer: ") + context->errstr);
      if (reply->type == REDIS_REPLY_ERROR) return Status::Unavailable(std::string(reply->str, reply->len));
      return Status::Ok();
    };
    if (!endpoint.password.empty()) {
      Status auth = endpoint.user.empty() ? setup({"AUTH", endpoint.password})
                                          : setup({"AUTH", endpoint.user, endpoint.password});
      if (!auth.ok()) return fail("authentication failed: " + auth.message());
    }
    if (endpoint.db != 0) {
      const std::string db = std::to_string(endpoint.db);
      if (Status selected = setup({"SELECT", db}); !selected.ok()) {
        return fail("cannot select database " + db + ": " + selected.message());
      }
    }
    return context;
  }

  Result<Connection> Acquire() {
    std::unique_lock lock(mutex);
    for (;;) {
      if (Clock::now() < retry_at) {
        LogErrorLocked("not reachable; next attempt after a short backoff");
        return Status::Unavailable("redis is not reachable (retrying shortly)");
      }
      if (!idle.empty()) {
        redisContext* context = idle.back();
        idle.pop_back();
        return Connection{context, generation};
      }
      if (open < options.max_connections) break;
      idle_cv.wait(lock);
    }
    ++open;
    const uint64_t connecting_generation = generation;
    lock.unlock();
    Result<redisContext*> context = Connect();
    lock.lock();
    if (!context.ok()) {
      --open;
      std::vector<redisContext*> dropped = NoteFailureLocked(context.status().message());
      lock.unlock();
      for (redisContext* c : dropped) redisFree(c);
      return context.status();
    }
    ++stats.connects;
    return Connection{*context, connecting_generation};
  }

  // `broken`: the connection failed (I/O error, timeout) and must not be reused.
  void Return(Connection connection, bool broken, const std::string& error = {}) {
    std::vector<redisContext*> to_free;
    {
      std::lock_guard lock(mutex);
      if (broken) {
        to_free = NoteFailureLocked(error);
        to_free.push_back(connection.context);
        --open;
      } else {
        NoteSuccessLocked();
        if (connection.generation != generation) {
          to_free.push_back(connection.context);
          --open;
        } else {
          idle.push_back(connection.context);
        }
      }
      idle_cv.notify_one();
    }
    for (redisContext* context : to_free) redisFree(context);
  }

  // Sends `commands` and reads one reply each; `on_reply(i, reply)` sees each reply while
  // it is alive. Error replies are logged and make the call Unavailable.
  Status Run(const std::vector<RedisArgs>& commands,
             const std::function<void(size_t, const redisReply&)>& on_reply) {
    SAMCACHE_ASSIGN_OR_RETURN(Connection connection, Acquire());
    redisContext* context = connection.context;
    std::vector<const char*> argv;
    std::vector<size_t> lengths;
    for (const RedisArgs& args : commands) {
      argv.clear();
      lengths.clear();
      for (std::string_view arg : args) {
        argv.push_back(arg.data());
        lengths.push_back(arg.size());
      }
      if (redisAppendCommandArgv(context, static_cast<int>(argv.size()), argv.data(), lengths.data()) !=
          REDIS_OK) {
        const std::string error = std::string("cannot send a command: ") + context->errstr;
        Return(connection, true, error);
        return Status::Unavailable(error);
      }
    }
    std::string error_reply;
    for (size_t i = 0; i < commands.size(); ++i) {
      void* raw = nullptr;
      if (redisGetReply(context, &raw) != REDIS_OK || raw == nullptr) {
        const std::string error =
            std::string("no answer: ") + (context->err != 0 ? context->errstr : "connection closed");
        Return(connection, true, error);
        return Status::Unavailable(error);
      }
      ReplyPtr reply(static_cast<redisReply*>(raw));
      if (const redisReply* error = FindError(*reply)) {
        if (error_reply.empty()) error_reply.assign(error->str, error->len);
        continue;  // the other replies must still be read off the connection
      }
      if (error_reply.empty()) on_reply(i, *reply);
    }
    Return(connection, false);
    if (!error_reply.empty()) {
      LogError("the server answered: " + error_reply);
      return Status::Unavailable("redis: " + error_reply);
    }
    return Status::Ok();
  }
};

RedisClient::RedisClient(RedisEndpoint endpoint, Options options)
    : endpoint_(std::move(endpoint)), impl_(std::make_unique<Impl>()) {
  impl_->endpoint = endpoint_;
  impl_->options = options;
  impl_->options.max_connections = std::max<size_t>(1, options.max_connections);
}

RedisClient::~RedisClient() = default;

Result<RedisReply> RedisClient::Command(const RedisArgs& args) {
  RedisReply out;
  SAMCACHE_RETURN_IF_ERROR(
      impl_->Run({args}, [&](size_t, const redisReply& reply) { out = Convert(reply); }));
  return out;
}

Result<std::vector<RedisReply>> RedisClient::Pipeline(const std::vector<RedisArgs>& commands) {
  std::vector<RedisReply> out(commands.size());
  if (commands.empty()) return out;
  SAMCACHE_RETURN_IF_ERROR(
      impl_->Run(commands, [&](size_t i, const redisReply& reply) { out[i] = Convert(reply); }));
  return out;
}

Status RedisClient::Get(std::string_view key,
                        const std::function<void(std::optional<std::string_view>)>& consume) {
  bool wrong_type = false;
  SAMCACHE_RETURN_IF_ERROR(impl_->Run({{"GET", key}}, [&](size_t, const redisReply& reply) {
    if (reply.type == REDIS_REPLY_STRING) {
      consume(std::string_view(reply.str, reply.len));
    } else if (reply.type == REDIS_REPLY_NIL) {
      consume(std::nullopt);
    } else {
      wrong_type = true;
    }
  }));
  if (wrong_type) return Status::InvalidArgument("redis key " + std::string(key) + " does not hold a string");
  return Status::Ok();
}

Status RedisClient::Ping() {
  SAMCACHE_RETURN_IF_ERROR(Command({"PING"}));
  return Status::Ok();
}

RedisClientStats RedisClient::Stats() {
  std::lock_guard lock(impl_->mutex);
  return impl_->stats;
}

}  // namespace samcache
