// Prewarm jobs: compute the embeddings a dataset's images lack, skipping what the store
// already holds, with live progress.
//
// A job is a catalog row, and the catalog is the queue: Start() adds a row ("queued", no
// runner) and any process that shares the catalog (`samcache serve`, `samcache worker`) may
// run it. Each process has a pool of runner threads that take the oldest waiting job with
// Catalog::ClaimNextPrewarmJob, woken at once by a Start() in the same process and every
// `poll_interval` for jobs queued elsewhere. While a runner holds a job, a heartbeat thread
// renews the row every `heartbeat_interval`, even while one image takes minutes; a job whose
// heartbeat is older than `stale_after` (its runner died or hangs) is taken over by the next
// claim, and one whose runner was a process of this machine that no longer exists at once.
// Images are handled in upload order and the row keeps the position of the next one, so a
// job taken over goes on where it stopped: what was stored before is found in the store and
// skipped, never recomputed.
//
// Any process can follow and cancel any job: a job this process runs is followed live (an
// event per image), one run elsewhere from its row, polled (progress snapshots and the end;
// no per-image events). Cancelling writes the row; the runner sees it at its next save or
// heartbeat and stops after the images in flight.
//
// Cached images are found with one batched store query per job, not one per image. Images
// to compute are kept `pipeline_depth` deep in the embedding service, so the next image's
// decoding and preprocessing overlap the current encoder run.
//
// Thread-safety: all methods may be called from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "catalog/catalog.h"
#include "common/status.h"
#include "model/embedding_service.h"
#include "store/embedding_tier.h"

namespace samcache {

namespace prewarm_status {
inline constexpr std::string_view kQueued = "queued";
inline constexpr std::string_view kRunning = "running";
inline constexpr std::string_view kCompleted = "completed";
inline constexpr std::string_view kCancelled = "cancelled";
inline constexpr std::string_view kFailed = "failed";
}  // namespace prewarm_status

bool IsFinishedPrewarmStatus(std::string_view status);

// What happened to one image of a job.
struct PrewarmImageEvent {
  int64_t seq = 0;  // the job's change counter when this happened
  std::string image_id;
  std::string filename;
  std::string state;   // "computing", "computed", "skipped" or "failed"
  std::string detail;  // why skipped ("cached", ...) or why it failed
};

// A job as a client sees it at one moment.
struct PrewarmSnapshot {
  PrewarmJobRecord job;
  std::optional<PrewarmImageEvent> current;     // the image being handled, or the last one handled
  std::optional<double> avg_seconds_per_image;  // over computed images only
  std::optional<double> eta_seconds;            // to_compute x average
  int64_t cache_embeddings = 0;                 // embeddings the store holds for the job's model
  std::vector<PrewarmFailure> failures;
  bool runs_here = false;  // this process runs it (events are live; else polled from the catalog)
  int64_t seq = 0;
};

// The seed's texts.
std::string FormatDuration(double seconds);                 // "3m 45s"
std::string PrewarmProgressText(const PrewarmSnapshot& s);  // "Pre-warming cache... 25/50"
std::string PrewarmDetailText(const PrewarmSnapshot& s);    // "skipped (cached) • Est. remaining: 3m 45s"
std::string PrewarmAverageText(const PrewarmSnapshot& s);   // "(avg 18.5s per image)", empty before any
std::string PrewarmReadyText(const PrewarmSnapshot& s);     // "Dataset ready (cache: 150 embeddings, ...)"

// A snapshot and the image events after the sequence number a follower had seen.
struct PrewarmUpdate {
  PrewarmSnapshot snapshot;
  std::vector<PrewarmImageEvent> events;
};

class PrewarmJobs {
 public:
  struct Options {
    // Runner threads: jobs this process runs at once. 0: it runs none, only queues and
    // follows them (e.g. `serve --prewarm-jobs 0` next to `samcache worker`s).
    size_t max_running_jobs = 2;
    size_t pipeline_depth = 3;  // images of one job in the embedding service at once
    // A runner whose heartbeat is older than this is presumed dead and its job is taken
    // over. On this machine, a runner is also dead as soon as its process is gone.
    std::chrono::milliseconds stale_after{std::chrono::seconds(60)};
    // How often idle runners look for jobs queued by other processes (a Start() in this
    // process wakes them at once).
    std::chrono::milliseconds poll_interval{500};
    // How often the row of each job held here is renewed; 0: stale_after / 4, between
    // 100 ms and 5 s.
    std::chrono::milliseconds heartbeat_interval{0};
    // False: the runners run only the jobs this process starts or resumes, never others
    // from the queue (`samcache prewarm DATASET` runs its dataset's job, nothing else).
    bool take_from_queue = true;
    std::string runner_id;  // default "host:pid"
    // Called from a runner thread when a job is "claimed" (starts running here), "finished"
    // (completed, cancelled or failed), "released" (this process stops, the job goes back
    // to the queue) or "lost" (another process took it over). Must not call back into this object.
    std::function<void(std::string_view event, const PrewarmSnapshot& snapshot)> on_job;
  };
  // `catalog`, `embeddings` and `store` must outlive this object.
  PrewarmJobs(Catalog& catalog, EmbeddingService& embeddings, EmbeddingTier& store, std::string model_id,
              Options options);
  // Shutdown(), then waits for the runners: the images in flight finish and are stored, and
  // unfinished jobs go back to the queue at their position, for the next runner to take.
  ~PrewarmJobs();
  PrewarmJobs(const PrewarmJobs&) = delete;
  PrewarmJobs& operator=(const PrewarmJobs&) = delete;

  struct Started {
    PrewarmSnapshot snapshot;
    bool existing = false;  // the dataset already had an unfinished job for this model
    bool resumed = false;   // ... whose runner had died, so this process took it over
  };
  // Queues a job for the dataset (and wakes this process's runners), or returns the
  // unfinished one it already has, taking it over when its runner died. Without
  // take_from_queue, a new job is claimed for this process at once.
  Result<Started> Start(const std::string& dataset_id);
  Result<PrewarmSnapshot> Snapshot(const std::string& job_id);
  // Cancels a queued or running job, whichever process runs it; the images in flight still
  // finish and are stored. Conflict when it has finished.
  Result<PrewarmSnapshot> Cancel(const std::string& job_id);
  // Takes over an unfinished job whose runner died (or that waits in the queue) to run it
  // here; without runners, hands it back to the queue. Conflict when a live process runs it.
  Result<PrewarmSnapshot> Resume(const std::string& job_id);
  // Takes over every unfinished job of this model whose runner died; returns their ids.
  Result<std::vector<std::string>> ResumeOrphaned();

  // Waits up to `timeout` for a change after `after_seq`, then returns the job as it is.
  // Jobs run by another process are read from the catalog every 250 ms (no events, seq 0).
  Result<PrewarmUpdate> WaitForUpdate(const std::string& job_id, int64_t after_seq,
                                      std::chrono::milliseconds timeout);

  const std::string& runner_id() const { return options_.runner_id; }
  // Wakes every waiter and stops taking jobs (the destructor calls it). The jobs running
  // here stop after their images in flight.
  void Shutdown();
  bool shutting_down();

 private:
  struct LiveJob;
  struct Entry;

  // Waiting in the queue for any runner: not orphaned.
  static bool IsWaiting(const PrewarmJobRecord& job);
  bool RunnerIsDead(const PrewarmJobRecord& job);
  Result<PrewarmSnapshot> TakeOver(const PrewarmJobRecord& job);
  // A live entry for a job this process holds (runs, or will run).
  std::shared_ptr<LiveJob> TrackLocked(const PrewarmJobRecord& job);
  PrewarmSnapshot SnapshotLocked(const LiveJob& job);
  Result<PrewarmSnapshot> SnapshotFromCatalog(const PrewarmJobRecord& job);
  void RunnerLoop();
  std::shared_ptr<LiveJob> ClaimNext();
  void TakeOverOneDeadLocalRunner();
  void HeartbeatLoop();
  void Run(LiveJob& job);
  void Notify(std::string_view event, LiveJob& job);
  void Publish(LiveJob& job, std::optional<PrewarmImageEvent> event);
  bool Save(LiveJob& job, bool force);

  Catalog& catalog_;
  EmbeddingService& embeddings_;
  EmbeddingTier& store_;
  const std::string model_id_;
  Options options_;

  std::mutex mutex_;
  std::condition_variable queue_cv_;                      // a job to run or to claim, or shutting down
  std::condition_variable change_cv_;                     // any job changed, a claim ended, or shutting down
  std::condition_variable heartbeat_cv_;                  // the runners have stopped
  std::deque<std::shared_ptr<LiveJob>> queue_;            // taken over by this process, waiting for a runner
  std::map<std::string, std::shared_ptr<LiveJob>> live_;  // held (or once run) by this process
  uint64_t wake_generation_ = 0;                          // bumped by Start(): a job may wait in the queue
  int claiming_ = 0;  // runners between a catalog claim and its live entry
  std::chrono::steady_clock::time_point last_orphan_scan_{};
  std::set<std::string> adopted_;  // finished jobs of other processes whose images the store was asked about
  bool shutting_down_ = false;
  bool runners_stopped_ = false;
  std::vector<std::thread> runners_;
  std::thread heartbeat_;
};

}  // namespace samcache
