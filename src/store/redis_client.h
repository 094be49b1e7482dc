// A small synchronous Redis client for the shared embedding tier and the per-key lease: a
// pool of connections, timeouts on connect and on every command, reconnection with backoff,
// and replies as plain structs. hiredis stays inside redis_client.cpp.
//
// Failure model: Redis is an optimisation shared by several instances, never a dependency
// of a user's request. Every call returns Unavailable when the server cannot be reached or
// does not answer in time; the connection is then dropped (with every idle one, as they
// were most likely cut by the same event) and new connections are tried again only after a
// backoff (50 ms doubling up to 2 s), during which calls fail at once instead of waiting for
// a timeout. Errors are logged with the `[REDIS]` tag at most once per 10 s, with the
// number of errors in between; the first success after a failure logs a reconnection.
//
// Thread-safety: all methods may be called from any number of threads; each call takes a
// connection from the pool for its duration (a new one is opened when all are busy and the
// pool is not full, otherwise it waits for one).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace samcache {

// Where a Redis server is: `redis://[[user]:password@]host[:port][/db]`.
struct RedisEndpoint {
  std::string host;
  int port = 6379;
  int db = 0;
  std::string user;
  std::string password;

  // The URL without the password, for logs.
  std::string ToString() const;
};

// InvalidArgument naming what is wrong: another scheme, no host, a port outside 1..65535,
// a database that is not a whole number in 0..65535, anything after the database.
Result<RedisEndpoint> ParseRedisUrl(std::string_view url);

struct RedisReply {
  enum class Type { kNil, kString, kStatus, kInteger, kError, kArray };
  Type type = Type::kNil;
  std::string text;  // kString, kStatus, kError
  int64_t integer = 0;
  std::vector<RedisReply> elements;  // kArray
};

// The arguments of one command, sent binary-safe.
using RedisArgs = std::vector<std::string_view>;

struct RedisClientStats {
  uint64_t commands = 0;   // commands answered (an error reply counts: the server answered)
  uint64_t errors = 0;     // calls that got no answer: refused, timed out, cut, in backoff
  uint64_t connects = 0;   // connections opened
  bool connected = false;  // the last call reached the server
};

class RedisClient {
 public:
  struct Options {
    std::chrono::milliseconds connect_timeout{250};
    std::chrono::milliseconds command_timeout{2000};
    size_t max_connections = 8;
  };

  RedisClient(RedisEndpoint endpoint, Options options);
  ~RedisClient();
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  const RedisEndpoint& endpoint() const { return endpoint_; }

  // One command. The server's error replies come back as kError replies, not as a Status.
  Result<RedisReply> Command(const RedisArgs& args);
  // Several commands in one round trip; one reply each, in order. Unavailable when any
  // reply is missing.
  Result<std::vector<RedisReply>> Pipeline(const std::vector<RedisArgs>& commands);
  // GET without copying the value: `consume` sees the bytes (nullopt: no such key) while
  // the reply is alive. A value of another type is an error (InvalidArgument).
  Status Get(std::string_view key, const std::function<void(std::optional<std::string_view>)>& consume);
  // PING; Ok when the server answered.
  Status Ping();

  RedisClientStats Stats();

 private:
  struct Impl;
  const RedisEndpoint endpoint_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace samcache
