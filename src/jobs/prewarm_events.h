// The jobs this process holds and everyone who follows them: each held job's live state
// (counts, the image in hand, its image events), snapshots of any job (live, or read from
// its catalog row when another process runs it) and the waits of event-stream followers.
//
// Followers cost no count per update: a snapshot's cache count (the embeddings the job's
// project has claimed: the store's own count would tell of other projects' pictures) is taken
// once when a job is first seen and once when it finishes, shared by every follower, and
// estimated in between (see PrewarmSnapshot::cache_embeddings). Counting reads every claim of
// the model, and it never happens under the board's lock.
//
// Thread-safety: all methods may be called from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "catalog/catalog.h"
#include "jobs/prewarm_types.h"
#include "model/embedding_service.h"
#include "model/project_cache.h"

namespace samcache {

// A job held by this process (running here, or queued for a runner here), or finished here.
// Its fields are read and written under the board's lock (PrewarmBoard::Locked).
struct PrewarmLiveJob {
  PrewarmJobRecord record;  // record.status is not kept up to date: `state` is
  PrewarmJobState state = PrewarmJobState::kQueued;
  std::optional<PrewarmImageEvent> current;
  std::vector<PrewarmImageEvent> events;
  std::vector<PrewarmFailure> failures;  // all of them, for snapshots
  std::vector<PrewarmFailure> unsaved_failures;
  int64_t seq = 0;
  bool cancel_requested = false;
  bool queued_or_running = false;  // a runner of this process has it (or will)
  std::chrono::steady_clock::time_point last_save{};

  // The catalog row, with the state's text.
  PrewarmJobRecord Row() const;
  // Follows a row read from the catalog.
  void SetRow(const PrewarmJobRecord& row);
};

// Cache counts per job, taken at most twice per job (first seen, finished) and shared.
class PrewarmCacheCount {
 public:
  // `count` answers for a job (its project's embeddings of its model).
  explicit PrewarmCacheCount(std::function<int64_t(const PrewarmJobRecord&)> count)
      : count_(std::move(count)) {}
  int64_t For(const PrewarmJobRecord& job, PrewarmJobState state);

 private:
  struct Count {
    int64_t entries = 0;
    int64_t computed = 0;  // the job's computed images when counted
    bool final = false;    // counted after the job finished
  };
  std::function<int64_t(const PrewarmJobRecord&)> count_;
  std::mutex mutex_;  // held while counting: followers of a job wait for one count
  std::map<std::string, Count> counts_;
};

class PrewarmBoard {
 public:
  PrewarmBoard(Catalog& catalog, EmbeddingService& embeddings, ProjectCache& projects, std::string model_id);

  // Runs `f` with the lock that guards every live job's fields.
  template <typename F>
  decltype(auto) Locked(F&& f) {
    std::lock_guard lock(mutex_);
    return f();
  }

  // A live entry for a job this process holds (runs, or will run).
  std::shared_ptr<PrewarmLiveJob> Track(const PrewarmJobRecord& row, std::vector<PrewarmFailure> failures);
  // Around a catalog claim by a runner here: snapshots wait for it, or the row would show
  // the job running before its runner has looked at the dataset. EndClaim tracks the row.
  void BeginClaim();
  std::shared_ptr<PrewarmLiveJob> EndClaim(const std::optional<PrewarmJobRecord>& row,
                                           std::vector<PrewarmFailure> failures);
  // Held here (queued for a runner of this process, or running).
  bool HeldHere(const std::string& job_id);
  // Asks the runner here to stop the job; false when the job is not held here, or finished.
  bool RequestCancel(const std::string& job_id);
  // Unfinished jobs held here, for the heartbeat.
  std::vector<std::shared_ptr<PrewarmLiveJob>> Held();
  // The heartbeat found the row changed (cancelled, or taken over): the runner stops.
  void StopIfHeld(PrewarmLiveJob& job);
  // The runner here has let go of the job (done, handed back or lost).
  void Release(PrewarmLiveJob& job);
  // Cancel requested, or shutting down.
  bool StopRequested(const PrewarmLiveJob& job);
  bool shutting_down();

  // A change to tell followers of, with the image event it brought, if any.
  void Publish(PrewarmLiveJob& job, std::optional<PrewarmImageEvent> event);

  PrewarmSnapshot Snapshot(PrewarmLiveJob& job);
  // Any job: live when held (or finished) here, else from its catalog row.
  Result<PrewarmSnapshot> Snapshot(const std::string& job_id);
  Result<PrewarmSnapshot> SnapshotFromCatalog(const PrewarmJobRecord& row);
  // Waits up to `timeout` for a change after `after_seq`, then returns the job as it is.
  // Jobs run by another process are read from the catalog every 250 ms (no events, seq 0).
  Result<PrewarmUpdate> WaitForUpdate(const std::string& job_id, int64_t after_seq,
                                      std::chrono::milliseconds timeout);

  void Shutdown();

 private:
  std::shared_ptr<PrewarmLiveJob> FollowableLocked(const std::string& job_id);
  PrewarmSnapshot CopyLocked(const PrewarmLiveJob& job);
  // Estimates and cache count, outside the lock.
  void Complete(PrewarmSnapshot& s);
  // The store is asked once for the images of a job another process completed.
  void AdoptCompleted(const PrewarmJobRecord& row);
  // The embeddings of the job's model its dataset's project has claimed (0 when unknown).
  int64_t CountProjectEmbeddings(const PrewarmJobRecord& job);

  Catalog& catalog_;
  EmbeddingService& embeddings_;
  ProjectCache& projects_;
  const std::string model_id_;
  PrewarmCacheCount cache_count_;

  std::mutex mutex_;
  std::condition_variable change_cv_;  // any job changed, a claim ended, or shutting down
  std::map<std::string, std::shared_ptr<PrewarmLiveJob>> live_;  // held (or once run) by this process
  int claiming_ = 0;               // runners between a catalog claim and its live entry
  std::set<std::string> adopted_;  // finished jobs of other processes whose images the store was asked about
  bool shutting_down_ = false;
};

}  // namespace samcache
