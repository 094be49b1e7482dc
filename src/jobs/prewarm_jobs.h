// Prewarm jobs: compute the embeddings a dataset's images lack, skipping what the store
// already holds, with live progress.
//
// A job is a catalog row, so any process can follow it, and a job whose runner died (kill,
// crash, restart) is taken over where it stopped: images are handled in upload order and
// the row keeps the position of the next one. What was stored before the kill is found in
// the store again and skipped, never recomputed.
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
#include <map>
#include <memory>
#include <mutex>
#include <optional>
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
    size_t max_running_jobs = 2;  // more jobs wait in the queue
    size_t pipeline_depth = 3;    // images of one job in the embedding service at once
    // A runner on another machine that has not written for this long is presumed dead. On
    // this machine, a runner is dead when its process is gone.
    std::chrono::seconds stale_after{60};
    std::string runner_id;  // default "host:pid"
  };
  // `catalog`, `embeddings` and `store` must outlive this object.
  PrewarmJobs(Catalog& catalog, EmbeddingService& embeddings, EmbeddingTier& store, std::string model_id,
              Options options);
  // Stops after the images in flight; running jobs stay "running" in the catalog, to be
  // taken over by the next process.
  ~PrewarmJobs();
  PrewarmJobs(const PrewarmJobs&) = delete;
  PrewarmJobs& operator=(const PrewarmJobs&) = delete;

  struct Started {
    PrewarmSnapshot snapshot;
    bool existing = false;  // the dataset already had an unfinished job for this model
    bool resumed = false;   // ... whose runner had died, so this process took it over
  };
  // Queues a job for the dataset, or returns the unfinished one it already has.
  Result<Started> Start(const std::string& dataset_id);
  Result<PrewarmSnapshot> Snapshot(const std::string& job_id);
  // Cancels a queued or running job; the images in flight still finish and are stored.
  Result<PrewarmSnapshot> Cancel(const std::string& job_id);
  // Takes over an unfinished job whose runner died. Conflict when a live process runs it.
  Result<PrewarmSnapshot> Resume(const std::string& job_id);
  // Takes over every unfinished job of this model whose runner died; returns their ids.
  Result<std::vector<std::string>> ResumeOrphaned();

  // Waits up to `timeout` for a change after `after_seq`, then returns the job as it is.
  // Jobs run by another process are read from the catalog (no events, seq 0).
  Result<PrewarmUpdate> WaitForUpdate(const std::string& job_id, int64_t after_seq,
                                      std::chrono::milliseconds timeout);

  const std::string& runner_id() const { return options_.runner_id; }
  // Wakes every waiter and stops taking jobs (the destructor calls it).
  void Shutdown();

 private:
  struct LiveJob;
  struct Entry;

  bool RunnerIsDead(const PrewarmJobRecord& job);
  Result<PrewarmSnapshot> TakeOver(const PrewarmJobRecord& job);
  std::shared_ptr<LiveJob> Track(const PrewarmJobRecord& job);
  void Enqueue(const std::shared_ptr<LiveJob>& job);
  PrewarmSnapshot SnapshotLocked(const LiveJob& job);
  Result<PrewarmSnapshot> SnapshotFromCatalog(const PrewarmJobRecord& job);
  void RunnerLoop();
  void Run(LiveJob& job);
  void Publish(LiveJob& job, std::optional<PrewarmImageEvent> event);
  bool Save(LiveJob& job, bool force);

  Catalog& catalog_;
  EmbeddingService& embeddings_;
  EmbeddingTier& store_;
  const std::string model_id_;
  Options options_;

  std::mutex mutex_;
  std::condition_variable queue_cv_;   // a job to run, or shutting down
  std::condition_variable change_cv_;  // any job changed, or shutting down
  std::deque<std::shared_ptr<LiveJob>> queue_;
  std::map<std::string, std::shared_ptr<LiveJob>> live_;  // run (or queued) by this process
  bool shutting_down_ = false;
  std::vector<std::thread> runners_;
};

}  // namespace samcache
