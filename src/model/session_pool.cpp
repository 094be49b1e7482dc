#include "model/session_pool.h"

#include <algorithm>

#include "model/onnx_graph.h"

namespace samcache {
namespace {

// The session ForEachSession holds for this thread's Take(), and its pool.
thread_local const SessionPool* t_pinned_pool = nullptr;
thread_local Ort::Session* t_pinned_session = nullptr;

Result<std::unique_ptr<Ort::Session>> NewSession(std::string_view bytes, const std::string& file,
                                                 const Ort::SessionOptions& options, int threads) {
  Ort::SessionOptions own = options.Clone();
  own.SetIntraOpNumThreads(threads);
  try {
    return std::make_unique<Ort::Session>(OrtEnvironment(), bytes.data(), bytes.size(), own);
  } catch (const Ort::Exception& e) {
    return Status::InvalidArgument(file + ": ONNX Runtime cannot load it: " + e.what());
  }
}

}  // namespace

Result<std::unique_ptr<SessionPool>> SessionPool::Load(std::string_view bytes, const std::string& file,
                                                       const SessionPoolShape& shape,
                                                       const Ort::SessionOptions& options) {
  std::unique_ptr<SessionPool> pool(new SessionPool());
  pool->shape_ = shape;
  pool->shape_.sessions = std::max(1, shape.sessions);
  pool->shape_.threads = std::max(1, shape.threads);
  for (int i = 0; i < pool->shape_.sessions; ++i) {
    SAMCACHE_ASSIGN_OR_RETURN(std::unique_ptr<Ort::Session> session,
                              NewSession(bytes, file, options, pool->shape_.threads));
    pool->free_.push_back(session.get());
    pool->narrow_.push_back(std::move(session));
  }
  // A lone shared session already has every thread.
  if (pool->shape_.sessions > 1 && shape.wide_threads > pool->shape_.threads) {
    SAMCACHE_ASSIGN_OR_RETURN(pool->wide_, NewSession(bytes, file, options, shape.wide_threads));
    pool->wide_free_ = true;
  } else {
    pool->shape_.wide_threads = 0;
  }
  return pool;
}

SessionPool::~SessionPool() = default;

SessionPool::Lease SessionPool::Take() {
  if (t_pinned_pool == this) return Lease(nullptr, t_pinned_session);     // ForEachSession holds it
  if (narrow_.size() == 1) return Lease(nullptr, narrow_.front().get());  // shared, as before
  std::unique_lock lock(mu_);
  const uint64_t ticket = next_ticket_++;
  // Alone (nothing running, nobody queued behind): every core for this click. Else a narrow
  // session, so clicks run side by side. Never beside the wide one: its threads would fight
  // theirs for the cores, so a click that comes while it runs waits for it (a lone click's
  // time), and a queue that built up meanwhile goes on in narrow sessions.
  const bool has_wide = wide_ != nullptr;
  const auto alone = [&] { return has_wide && wide_free_ && running_ == 0 && next_ticket_ == ticket + 1; };
  const auto wide_out = [&] { return has_wide && !wide_free_; };
  freed_.wait(lock, [&] { return ticket == serving_ && !wide_out() && (alone() || !free_.empty()); });
  Ort::Session* session = nullptr;
  if (alone()) {
    wide_free_ = false;
    session = wide_.get();
  } else {
    session = free_.back();
    free_.pop_back();
  }
  ++serving_;
  ++running_;
  lock.unlock();
  freed_.notify_all();  // the next ticket may be served too
  return Lease(this, session);
}

void SessionPool::ForEachSession(const std::function<void()>& run) {
  // `held` goes back to the pool when `run` returns or throws.
  auto with = [&](Lease held) {
    struct Unpin {
      ~Unpin() {
        t_pinned_pool = nullptr;
        t_pinned_session = nullptr;
      }
    } unpin;
    t_pinned_pool = this;
    t_pinned_session = held.session_;
    run();
  };
  if (narrow_.size() == 1) return with(Lease(nullptr, narrow_.front().get()));  // shared: never held
  const bool has_wide = wide_ != nullptr;
  for (const std::unique_ptr<Ort::Session>& own : narrow_) {
    Ort::Session* session = own.get();
    {
      std::unique_lock lock(mu_);
      freed_.wait(lock, [&] {
        return (!has_wide || wide_free_) && std::find(free_.begin(), free_.end(), session) != free_.end();
      });
      free_.erase(std::find(free_.begin(), free_.end(), session));
      ++running_;
    }
    with(Lease(this, session));
  }
  if (has_wide) {
    {
      std::unique_lock lock(mu_);
      freed_.wait(lock, [&] { return wide_free_ && running_ == 0; });
      wide_free_ = false;
      ++running_;
    }
    with(Lease(this, wide_.get()));
  }
}

void SessionPool::GiveBack(Ort::Session* session) {
  {
    std::lock_guard lock(mu_);
    --running_;
    if (session == wide_.get()) {
      wide_free_ = true;
    } else {
      free_.push_back(session);
    }
  }
  freed_.notify_all();
}

SessionPool::Lease::Lease(Lease&& other) noexcept : pool_(other.pool_), session_(other.session_) {
  other.pool_ = nullptr;
}

SessionPool::Lease::~Lease() {
  if (pool_ != nullptr) pool_->GiveBack(session_);
}

}  // namespace samcache
