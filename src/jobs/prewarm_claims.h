// Who runs which prewarm job. The catalog is the queue: a runner of any process claims the
// oldest waiting job (or one whose runner died); a job this process takes over or holds for
// itself waits in a small in-process queue for one of its runners. While a runner holds a
// job, the heartbeat renews its row; a job whose heartbeat is older than `stale_after` is
// taken over by the next claim, and one whose runner was a process of this machine that no
// longer exists at once.
//
// Thread-safety: all methods may be called from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>

#include "catalog/prewarm_queue.h"
#include "common/status.h"
#include "jobs/prewarm_events.h"
#include "jobs/prewarm_types.h"

namespace samcache {

// Milliseconds since the Unix epoch: the clock of heartbeats, shared by every process.
int64_t UnixMillis();
// "host:pid".
std::string DefaultPrewarmRunnerId();

class PrewarmClaims {
 public:
  // `catalog`, `board` and `options` (with defaults filled in) must outlive this object.
  PrewarmClaims(PrewarmQueue& catalog, PrewarmBoard& board, std::string model_id,
                const PrewarmOptions& options);

  // Waiting in the queue for any runner: not orphaned.
  static bool IsWaiting(const PrewarmJobRecord& job);
  bool RunnerIsDead(const PrewarmJobRecord& job);
  // Claims a job whose runner died (or that waits in the queue) for a runner here; without
  // runners here (or shutting down), hands it back to the queue. Conflict when another
  // process took it first.
  Result<PrewarmSnapshot> TakeOver(const PrewarmJobRecord& job);
  // A job held for this process, for its next free runner.
  void Enqueue(std::shared_ptr<PrewarmLiveJob> job);
  // A job may wait in the catalog queue: idle runners look at once.
  void Wake();

  // For a runner thread: the next job to run here, from the in-process queue or claimed
  // from the catalog; waits for one. Null when shutting down.
  std::shared_ptr<PrewarmLiveJob> Next();
  // Stops taking jobs; the jobs held here but not started go back to the catalog queue.
  void Shutdown();
  bool shutting_down();

  // Renews the rows of the jobs held here every heartbeat_interval, until StopHeartbeats().
  void HeartbeatLoop();
  void StopHeartbeats();

 private:
  std::shared_ptr<PrewarmLiveJob> ClaimNext();
  void TakeOverOneDeadLocalRunner();

  PrewarmQueue& catalog_;
  PrewarmBoard& board_;
  const std::string model_id_;
  const PrewarmOptions& options_;

  std::mutex mutex_;
  std::condition_variable queue_cv_;                   // a job to run or to claim, or shutting down
  std::condition_variable heartbeat_cv_;               // the runners have stopped
  std::deque<std::shared_ptr<PrewarmLiveJob>> queue_;  // taken over by this process, waiting for a runner
  uint64_t wake_generation_ = 0;                       // bumped by Wake(): a job may wait in the queue
  std::chrono::steady_clock::time_point last_orphan_scan_{};
  bool shutting_down_ = false;
  bool heartbeats_stopped_ = false;
};

}  // namespace samcache
