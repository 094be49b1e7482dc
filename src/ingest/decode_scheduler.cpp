#include "ingest/decode_scheduler.h"

#include <algorithm>

namespace samcache {

DecodeScheduler::DecodeScheduler(size_t threads) {
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  workers_.reserve(threads);
  for (size_t i = 0; i < threads; ++i) workers_.emplace_back([this] { Work(); });
}

DecodeScheduler::~DecodeScheduler() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (std::thread& t : workers_) t.join();
}

size_t DecodeScheduler::queued() const {
  std::lock_guard lock(mu_);
  return queued_;
}

size_t DecodeScheduler::waiting_clients() const {
  std::lock_guard lock(mu_);
  return turns_.size();
}

void DecodeScheduler::Enqueue(const std::string& client, std::function<void()> task) {
  {
    std::lock_guard lock(mu_);
    std::deque<std::function<void()>>& queue = queues_[client];
    if (queue.empty()) turns_.push_back(client);  // a new client waits one round, not a whole queue
    queue.push_back(std::move(task));
    ++queued_;
  }
  cv_.notify_one();
}

void DecodeScheduler::Work() {
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !turns_.empty(); });
      if (turns_.empty()) return;  // stopping, and nothing left to run
      const std::string client = std::move(turns_.front());
      turns_.pop_front();
      auto it = queues_.find(client);
      task = std::move(it->second.front());
      it->second.pop_front();
      --queued_;
      // Empty queues are erased, so the map holds only clients with waiting work.
      if (it->second.empty()) {
        queues_.erase(it);
      } else {
        turns_.push_back(client);
      }
    }
    task();  // packaged_task stores any exception in its future
  }
}

}  // namespace samcache
