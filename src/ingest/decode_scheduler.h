// Decoding uploads fairly between clients.
//
// A fixed set of worker threads, like ThreadPool, but the queue is one FIFO per client and the
// workers take the next task from each client in turn (round-robin). A client that queues a
// hundred slow files (or decompression bombs) therefore delays another client's one small
// file by at most the tasks already running, not by its whole queue.
//
// The client key is whatever identifies a caller: the HTTP layer passes the peer's address;
// the empty string is one shared client (the command line, background jobs).
//
// Thread-safety: Submit may be called from any number of threads at once.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace samcache {

class DecodeScheduler {
 public:
  // `threads` == 0 means one per hardware thread.
  explicit DecodeScheduler(size_t threads);
  // Runs every task already submitted, then joins the workers.
  ~DecodeScheduler();
  DecodeScheduler(const DecodeScheduler&) = delete;
  DecodeScheduler& operator=(const DecodeScheduler&) = delete;

  size_t size() const { return workers_.size(); }

  // Queues `task` behind the earlier tasks of the same `client`; its result (or exception)
  // arrives through the future.
  template <typename F>
  auto Submit(const std::string& client, F task) -> std::future<decltype(task())> {
    using R = decltype(task());
    auto packaged = std::make_shared<std::packaged_task<R()>>(std::move(task));
    std::future<R> result = packaged->get_future();
    Enqueue(client, [packaged] { (*packaged)(); });
    return result;
  }

  // Tasks waiting (not yet running), over all clients; and the number of clients with any.
  size_t queued() const;
  size_t waiting_clients() const;

 private:
  void Enqueue(const std::string& client, std::function<void()> task);
  void Work();

  mutable std::mutex mu_;
  std::condition_variable cv_;
  // Each client with waiting tasks has a queue and appears once in `turns`; a worker serves
  // the client at the front and moves it to the back if it has more.
  std::map<std::string, std::deque<std::function<void()>>> queues_;
  std::deque<std::string> turns_;
  size_t queued_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace samcache
