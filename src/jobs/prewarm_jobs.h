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
// job taken over goes on where it stopped: what was stored before is found in the store,
// never recomputed (skipped once the project's claim of it was written; see prewarm_run.h).
//
// Any process can follow and cancel any job: a job this process runs is followed live (an
// event per image), one run elsewhere from its row, polled (progress snapshots and the end;
// no per-image events). Cancelling writes the row; the runner sees it at its next save or
// heartbeat and stops after the images in flight.
//
// The parts: prewarm_claims.h (queue, claims, heartbeats, takeovers), prewarm_run.h (one run
// of one job), prewarm_events.h (live state, snapshots, followers), prewarm_text.h (ETA and
// the seed's texts), prewarm_types.h (states and snapshots).
//
// Thread-safety: all methods may be called from any thread.
#pragma once

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "catalog/catalog.h"
#include "common/status.h"
#include "jobs/prewarm_claims.h"
#include "jobs/prewarm_events.h"
#include "jobs/prewarm_text.h"
#include "jobs/prewarm_types.h"
#include "model/embedding_service.h"

namespace samcache {

class PrewarmJobs {
 public:
  using Options = PrewarmOptions;

  // `catalog`, `embeddings` and `projects` must outlive this object. A job's embeddings are
  // keyed, counted as cached and claimed for its dataset's project (ProjectCache).
  PrewarmJobs(Catalog& catalog, EmbeddingService& embeddings, ProjectCache& projects, std::string model_id,
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
  // Followers share the cache count: none of them makes it count per update.
  Result<PrewarmUpdate> WaitForUpdate(const std::string& job_id, int64_t after_seq,
                                      std::chrono::milliseconds timeout);

  const std::string& runner_id() const { return options_.runner_id; }
  // Wakes every waiter and stops taking jobs (the destructor calls it). The jobs running
  // here stop after their images in flight.
  void Shutdown();
  bool shutting_down();

 private:
  static Options WithDefaults(Options options);
  void RunnerLoop();

  Catalog& catalog_;
  EmbeddingService& embeddings_;
  ProjectCache& projects_;
  const std::string model_id_;
  const Options options_;
  PrewarmBoard board_;
  PrewarmClaims claims_;
  std::vector<std::thread> runners_;
  std::thread heartbeat_;
};

}  // namespace samcache
