#include "jobs/prewarm_jobs.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "common/crypto.h"
#include "common/files.h"
#include "jobs/prewarm_run.h"

namespace samcache {

PrewarmJobs::Options PrewarmJobs::WithDefaults(Options options) {
  if (options.runner_id.empty()) options.runner_id = DefaultPrewarmRunnerId();
  options.pipeline_depth = std::max<size_t>(1, options.pipeline_depth);
  options.poll_interval = std::max(options.poll_interval, std::chrono::milliseconds(10));
  if (options.heartbeat_interval.count() <= 0) {
    options.heartbeat_interval =
        std::clamp(options.stale_after / 4, std::chrono::milliseconds(100), std::chrono::milliseconds(5000));
  }
  return options;
}

PrewarmJobs::PrewarmJobs(Catalog& catalog, EmbeddingService& embeddings, ProjectCache& projects,
                         std::string model_id, Options options)
    : catalog_(catalog),
      embeddings_(embeddings),
      projects_(projects),
      model_id_(std::move(model_id)),
      options_(WithDefaults(std::move(options))),
      board_(catalog, embeddings, projects, model_id_),
      claims_(catalog, board_, model_id_, options_) {
  if (options_.max_running_jobs == 0) return;
  heartbeat_ = std::thread([this] { claims_.HeartbeatLoop(); });
  for (size_t i = 0; i < options_.max_running_jobs; ++i) runners_.emplace_back([this] { RunnerLoop(); });
}

PrewarmJobs::~PrewarmJobs() {
  Shutdown();
  for (std::thread& runner : runners_) runner.join();
  claims_.StopHeartbeats();
  if (heartbeat_.joinable()) heartbeat_.join();
}

void PrewarmJobs::Shutdown() {
  board_.Shutdown();
  claims_.Shutdown();
}

bool PrewarmJobs::shutting_down() { return claims_.shutting_down(); }

void PrewarmJobs::RunnerLoop() {
  while (std::shared_ptr<PrewarmLiveJob> job = claims_.Next()) {
    PrewarmRun(catalog_, embeddings_, projects_, board_, options_, *job).Execute();
    board_.Release(*job);
  }
}

Result<PrewarmJobs::Started> PrewarmJobs::Start(const std::string& dataset_id) {
  SAMCACHE_ASSIGN_OR_RETURN(const DatasetRecord dataset, catalog_.GetDataset(dataset_id));
  SAMCACHE_ASSIGN_OR_RETURN(const std::optional<PrewarmJobRecord> existing,
                            catalog_.FindUnfinishedPrewarmJob(dataset_id, model_id_));
  const bool runs_jobs = options_.max_running_jobs > 0;
  if (existing) {
    Started started;
    started.existing = true;
    const bool take_waiting = PrewarmClaims::IsWaiting(*existing) && runs_jobs && !options_.take_from_queue;
    if (take_waiting || claims_.RunnerIsDead(*existing)) {
      SAMCACHE_ASSIGN_OR_RETURN(started.snapshot, claims_.TakeOver(*existing));
      started.resumed = runs_jobs && !take_waiting;
    } else {
      SAMCACHE_ASSIGN_OR_RETURN(started.snapshot, Snapshot(existing->id));
    }
    return started;
  }

  PrewarmJobRecord record;
  record.id = RandomId();
  record.dataset_id = dataset_id;
  record.model_id = model_id_;
  record.status = std::string(ToText(PrewarmJobState::kQueued));
  record.total = dataset.image_count;
  record.to_compute = dataset.image_count;
  record.created_at = NowIso8601();
  const bool hold_here = runs_jobs && !options_.take_from_queue;
  if (hold_here) {
    // Queued for this process alone: no other runner takes it while its heartbeat is fresh.
    record.runner = options_.runner_id;
    record.heartbeat_ms = UnixMillis();
  }
  Status created = catalog_.CreatePrewarmJob(record);
  if (created.code() == StatusCode::kConflict) {
    // Another process queued one for this dataset and model since our look (the catalog
    // allows one unfinished job per pair): answer with that job.
    return Start(dataset_id);
  }
  SAMCACHE_RETURN_IF_ERROR(created);
  spdlog::info("[PREWARM] job {} queued for dataset {} ({} image(s), model {})", record.id, dataset_id,
               record.total, model_id_);
  if (hold_here) {
    std::shared_ptr<PrewarmLiveJob> job = board_.Track(record, {});
    claims_.Enqueue(job);
    return Started{board_.Snapshot(*job), false, false};
  }
  if (runs_jobs) claims_.Wake();
  SAMCACHE_ASSIGN_OR_RETURN(PrewarmSnapshot snapshot, Snapshot(record.id));
  return Started{std::move(snapshot), false, false};
}

Result<PrewarmSnapshot> PrewarmJobs::Snapshot(const std::string& job_id) { return board_.Snapshot(job_id); }

Result<PrewarmSnapshot> PrewarmJobs::Resume(const std::string& job_id) {
  SAMCACHE_ASSIGN_OR_RETURN(const PrewarmJobRecord record, catalog_.GetPrewarmJob(job_id));
  if (IsFinished(StateOf(record))) {
    return Status::Conflict("prewarm job " + job_id + " is already " + record.status +
                            "; start a new one to prewarm the dataset again");
  }
  if (PrewarmClaims::IsWaiting(record)) {
    if (options_.max_running_jobs == 0) return Snapshot(job_id);  // in the queue already
    Result<PrewarmSnapshot> taken = claims_.TakeOver(record);
    if (taken.ok() || taken.status().code() != StatusCode::kConflict) return taken;
    return Snapshot(job_id);  // a runner took it meanwhile
  }
  if (!claims_.RunnerIsDead(record)) {
    if (record.runner == options_.runner_id) return Snapshot(job_id);  // already running here
    return Status::Conflict("prewarm job " + job_id + " is running in process " + record.runner);
  }
  return claims_.TakeOver(record);
}

Result<std::vector<std::string>> PrewarmJobs::ResumeOrphaned() {
  SAMCACHE_ASSIGN_OR_RETURN(const std::vector<PrewarmJobRecord> unfinished,
                            catalog_.ListUnfinishedPrewarmJobs());
  std::vector<std::string> resumed;
  for (const PrewarmJobRecord& record : unfinished) {
    if (record.model_id != model_id_ || !claims_.RunnerIsDead(record)) continue;
    Result<PrewarmSnapshot> taken = claims_.TakeOver(record);
    if (taken.ok()) {
      resumed.push_back(record.id);
    } else if (taken.status().code() != StatusCode::kConflict) {
      spdlog::warn("[PREWARM] could not resume job {}: {}", record.id, taken.status().message());
    }
  }
  return resumed;
}

Result<PrewarmSnapshot> PrewarmJobs::Cancel(const std::string& job_id) {
  if (board_.RequestCancel(job_id)) {
    spdlog::info("[PREWARM] job {} cancel requested", job_id);
    return Snapshot(job_id);
  }
  SAMCACHE_ASSIGN_OR_RETURN(const PrewarmJobRecord record, catalog_.GetPrewarmJob(job_id));
  if (IsFinished(StateOf(record))) {
    return Status::Conflict("prewarm job " + job_id + " is already " + record.status);
  }
  // Run by another process, or by none: the catalog row is the signal; a live runner sees
  // it at its next save or heartbeat and stops.
  SAMCACHE_ASSIGN_OR_RETURN(const bool cancelled, catalog_.CancelPrewarmJob(job_id, NowIso8601()));
  if (!cancelled) {
    Result<PrewarmJobRecord> now = catalog_.GetPrewarmJob(job_id);
    return Status::Conflict("prewarm job " + job_id + " is already " +
                            (now.ok() ? now->status : std::string("finished")));
  }
  spdlog::info("[PREWARM] job {} cancelled{}", job_id,
               record.runner.empty() ? std::string() : " (run by " + record.runner + ")");
  return Snapshot(job_id);
}

Result<PrewarmUpdate> PrewarmJobs::WaitForUpdate(const std::string& job_id, int64_t after_seq,
                                                 std::chrono::milliseconds timeout) {
  return board_.WaitForUpdate(job_id, after_seq, timeout);
}

}  // namespace samcache
