#include "http/connection_watch.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>

namespace samcache {

ConnectionWatch::ConnectionWatch(ConnectionDeadlines deadlines)
    : deadlines_(deadlines), thread_([this] { Run(); }) {}

ConnectionWatch::~ConnectionWatch() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void ConnectionWatch::Opened(const void* id, int fd) {
  std::lock_guard lock(mutex_);
  watched_[id] = Watched{fd, Phase::kHeaders, std::chrono::steady_clock::now()};
}

void ConnectionWatch::Set(const void* id, Phase phase) {
  std::lock_guard lock(mutex_);
  auto it = watched_.find(id);
  if (it == watched_.end()) return;
  it->second.phase = phase;
  it->second.since = std::chrono::steady_clock::now();
}

void ConnectionWatch::RequestStarted(const void* id) { Set(id, Phase::kHeaders); }
void ConnectionWatch::ReceivingBody(const void* id) { Set(id, Phase::kBody); }
void ConnectionWatch::Busy(const void* id) { Set(id, Phase::kBusy); }
void ConnectionWatch::Idle(const void* id) { Set(id, Phase::kIdle); }

void ConnectionWatch::Closed(const void* id) {
  std::lock_guard lock(mutex_);
  watched_.erase(id);
}

size_t ConnectionWatch::closed_by_deadline() const {
  std::lock_guard lock(mutex_);
  return closed_by_deadline_;
}

size_t ConnectionWatch::open_connections() const {
  std::lock_guard lock(mutex_);
  return watched_.size();
}

void ConnectionWatch::Run() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    wake_.wait_for(lock, std::chrono::milliseconds(250));
    const auto now = std::chrono::steady_clock::now();
    for (auto& [id, w] : watched_) {
      std::chrono::seconds limit{0};
      switch (w.phase) {
        case Phase::kHeaders:
          limit = deadlines_.header;
          break;
        case Phase::kBody:
          limit = deadlines_.body;
          break;
        case Phase::kIdle:
          limit = deadlines_.idle;
          break;
        case Phase::kBusy:
          continue;
      }
      if (now - w.since <= limit) continue;
      // The library sees the socket fail and closes the connection itself; the entry stays
      // until it reports Closed (under this lock, so the fd cannot have been reused).
      ::shutdown(w.fd, SHUT_RDWR);
      w.phase = Phase::kBusy;
      ++closed_by_deadline_;
    }
  }
}

}  // namespace samcache
