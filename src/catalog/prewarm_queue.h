// The prewarm jobs' rows: a queue that survives the process running a job, with claims,
// heartbeats (to find dead runners), progress and per-image failures.
//
// Part of the Catalog (catalog.h): thread-safe, and each mutating method is one transaction.
// Every update is a compare-and-set on the job's runner and state, so several processes may
// share one queue.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "catalog/records.h"
#include "common/status.h"

namespace samcache {

class PrewarmQueue {
 public:
  virtual ~PrewarmQueue() = default;

  virtual Status CreatePrewarmJob(const PrewarmJobRecord& job) = 0;
  // NotFound when no job has this id.
  virtual Result<PrewarmJobRecord> GetPrewarmJob(const std::string& id) = 0;
  // Jobs still queued or running (their runner may be dead), oldest first.
  virtual Result<std::vector<PrewarmJobRecord>> ListUnfinishedPrewarmJobs() = 0;
  // The newest unfinished job for this dataset and model, if any.
  virtual Result<std::optional<PrewarmJobRecord>> FindUnfinishedPrewarmJob(const std::string& dataset_id,
                                                                           const std::string& model_id) = 0;
  // Makes `runner` the job's runner if its runner is still `expected_runner` and it is not
  // finished: of several processes trying to take over one job, exactly one gets true.
  // (`runner` "" with `now_ms` 0 hands a job back to the queue: ClaimNextPrewarmJob takes it.)
  virtual Result<bool> ClaimPrewarmJob(const std::string& id, const std::string& expected_runner,
                                       const std::string& runner, int64_t now_ms) = 0;
  // The queue. Atomically takes the oldest (created_at, then insertion order) job of
  // `model_id` that is either waiting for a runner (status 'queued' and runner '') or
  // unfinished with heartbeat_ms < `stale_before_ms` (its runner died or hangs), sets its
  // runner to `runner`, heartbeat_ms to `now_ms` and status to 'running', and returns it as
  // it now is; nullopt when no job qualifies. Of several processes calling at once, each job
  // goes to exactly one (SQLite: one write transaction; PostgreSQL: FOR UPDATE SKIP LOCKED).
  // A queued job that has a runner (taken directly with ClaimPrewarmJob) is not taken while
  // its heartbeat is fresh.
  virtual Result<std::optional<PrewarmJobRecord>> ClaimNextPrewarmJob(const std::string& model_id,
                                                                      const std::string& runner,
                                                                      int64_t now_ms,
                                                                      int64_t stale_before_ms) = 0;
  // Sets heartbeat_ms to `now_ms` while `runner` is the runner of the unfinished job; false
  // (nothing written) when the job finished, was cancelled or was taken over.
  virtual Result<bool> HeartbeatPrewarmJob(const std::string& id, const std::string& runner,
                                           int64_t now_ms) = 0;
  // Writes the job's progress, status and the new failures in one transaction, only while
  // `job.runner` still runs it and it is not finished; false when it does not (cancelled, or
  // taken over), in which case nothing is written.
  virtual Result<bool> SavePrewarmProgress(const PrewarmJobRecord& job,
                                           const std::vector<PrewarmFailure>& new_failures) = 0;
  // Marks an unfinished job cancelled. False when it was already finished.
  virtual Result<bool> CancelPrewarmJob(const std::string& id, const std::string& finished_at) = 0;
  virtual Result<std::vector<PrewarmFailure>> ListPrewarmFailures(const std::string& job_id) = 0;
  // Job count per status, e.g. {"completed": 3, "running": 1}.
  virtual Result<std::vector<std::pair<std::string, int64_t>>> CountPrewarmJobsByStatus() = 0;
};

}  // namespace samcache
