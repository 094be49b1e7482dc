// Decoder sessions for concurrent clicks. PRIVATE to src/model/ (it includes ONNX Runtime).
//
// One ONNX Runtime session shared by concurrent runs splits its intra-op threads between
// them and the runs wait on each other inside its thread pool: with two cores, four clients
// got about half of what the cores can decode. Here concurrent clicks each take a session of
// their own with few intra-op threads (one, with a session per core), which runs on the
// caller's thread with no hand-off; a click that comes while no other runs takes the "wide"
// session with every intra-op thread instead, as fast as a lone click was before.
//
// A session is taken for one Run and given back when the Lease goes (RAII). Take waits while
// every narrow session is out, first come first served. A pool of one session is shared as a
// lone session always was: concurrent runs go into it at once and share its threads.
//
// Thread-safety: every member may be called from any thread at once.
#pragma once

#include <onnxruntime_cxx_api.h>

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace samcache {

struct SessionPoolShape {
  int sessions = 1;      // narrow sessions, for clicks that come while others run
  int threads = 1;       // intra-op threads of each narrow session
  int wide_threads = 0;  // > threads: also a wide session with this many, for lone clicks
};

class SessionPool {
 public:
  // The sessions of the graph in `bytes`, with `options`' other settings. InvalidArgument
  // naming `file` when ONNX Runtime refuses it.
  static Result<std::unique_ptr<SessionPool>> Load(std::string_view bytes, const std::string& file,
                                                   const SessionPoolShape& shape,
                                                   const Ort::SessionOptions& options);
  ~SessionPool();

  class Lease {
   public:
    Lease(Lease&& other) noexcept;
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    Ort::Session& operator*() const { return *session_; }
    Ort::Session* operator->() const { return session_; }

   private:
    friend class SessionPool;
    Lease(SessionPool* pool, Ort::Session* session) : pool_(pool), session_(session) {}
    SessionPool* pool_;  // null: nothing to give back
    Ort::Session* session_;
  };

  // A session for one run; waits while all narrow ones are taken.
  Lease Take();
  // Calls `run` once per session, each narrow one and then the wide one, with Take() on this
  // thread giving that session. A session's first runs take 2-3x a steady one, which the pool
  // would otherwise hand to some user's click. Each session is held as Take holds it (never
  // beside the wide one), so clicks may come meanwhile; they get the other sessions.
  void ForEachSession(const std::function<void()>& run);
  // A session to read the graph's signature from (never to run).
  Ort::Session& first() const { return *narrow_.front(); }
  const SessionPoolShape& shape() const { return shape_; }

 private:
  SessionPool() = default;
  void GiveBack(Ort::Session* session);

  SessionPoolShape shape_;
  std::vector<std::unique_ptr<Ort::Session>> narrow_;
  std::unique_ptr<Ort::Session> wide_;  // null when there is none
  std::mutex mu_;
  std::condition_variable freed_;
  std::vector<Ort::Session*> free_;  // free narrow sessions; guarded by mu_
  bool wide_free_ = false;           // guarded by mu_
  int running_ = 0;                  // sessions out; guarded by mu_
  uint64_t next_ticket_ = 0;         // first come first served; guarded by mu_
  uint64_t serving_ = 0;
};

}  // namespace samcache
