// A real redis-server (Debian's /usr/bin/redis-server) for the tests: a child process on a
// free loopback port with its own temporary folder, no persistence, and the memory policy
// samcache documents (maxmemory + allkeys-lru). It can be stopped and started again on the
// same port (restart tests) and is killed when the object is destroyed.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <string>

#include "support/test_support.h"

namespace samcache::testing {

class RedisServer {
 public:
  // Starts the server and waits until it answers PING. Throws std::runtime_error (with the
  // server's log) when it cannot be started.
  explicit RedisServer(uint64_t max_memory_bytes = uint64_t{256} << 20);
  ~RedisServer();
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  int port() const { return port_; }
  // redis://127.0.0.1:<port>
  std::string url() const;
  bool running() const { return pid_ > 0; }
  // SIGKILL and wait: the server is gone at once, as in a crash (nothing is persisted anyway).
  void Stop();
  // Starts it again on the same port and waits until it answers (empty: no persistence).
  void Start();
  // Runs one command through redis-cli and returns its output (for tests to look inside).
  std::string Cli(const std::vector<std::string>& args) const;
  std::string Log() const;

 private:
  TempDir dir_;
  uint64_t max_memory_bytes_;
  int port_ = 0;
  pid_t pid_ = -1;
  int starts_ = 0;
};

}  // namespace samcache::testing
