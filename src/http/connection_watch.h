// Deadlines the HTTP library does not keep: a request's headers must be complete within
// seconds of its first byte, a keep-alive connection may idle only so long, and a body may
// not stall. Each connection reports its phase; a thread closes (shuts down the socket of)
// any connection past its phase's deadline, so slow-drip and no-body clients cost no worker
// and no more than their deadline. Time spent in a handler or writing a reply is not watched
// here (the library's own inactivity timeout covers a reader that stalls).
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <unordered_map>

namespace samcache {

struct ConnectionDeadlines {
  std::chrono::seconds header{10};  // from a request's first byte to its last header
  std::chrono::seconds idle{30};    // a keep-alive connection between requests
  std::chrono::seconds body{30};    // the longest pause while a body arrives
};

class ConnectionWatch {
 public:
  explicit ConnectionWatch(ConnectionDeadlines deadlines);
  ~ConnectionWatch();
  ConnectionWatch(const ConnectionWatch&) = delete;
  ConnectionWatch& operator=(const ConnectionWatch&) = delete;

  // `id` names the connection (the library's handle), `fd` is its socket. Thread-safe.
  void Opened(const void* id, int fd);  // waits for a first request: header deadline
  void RequestStarted(const void* id);  // the request line arrived: header deadline
  void ReceivingBody(const void* id);   // headers done, or more body arrived: body deadline
  void Busy(const void* id);            // a handler or a reply runs: no deadline here
  void Idle(const void* id);            // the reply went out: idle deadline
  void Closed(const void* id);          // must come before the socket is closed

  size_t closed_by_deadline() const;
  size_t open_connections() const;

 private:
  enum class Phase { kHeaders, kBody, kBusy, kIdle };
  struct Watched {
    int fd;
    Phase phase;
    std::chrono::steady_clock::time_point since;
  };
  void Set(const void* id, Phase phase);
  void Run();

  const ConnectionDeadlines deadlines_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::unordered_map<const void*, Watched> watched_;
  size_t closed_by_deadline_ = 0;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace samcache
