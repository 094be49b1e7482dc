#include "jobs/prewarm_claims.h"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

namespace samcache {
namespace {

using Clock = std::chrono::steady_clock;

std::string HostName() {
  char name[256] = {};
  if (gethostname(name, sizeof name - 1) != 0) return "localhost";
  return name;
}

// "host:pid" of a process on this machine that no longer exists.
bool IsDeadLocalProcess(const std::string& runner) {
  const size_t colon = runner.rfind(':');
  if (colon == std::string::npos || runner.substr(0, colon) != HostName()) return false;
  const pid_t pid = static_cast<pid_t>(std::atoll(runner.c_str() + colon + 1));
  if (pid <= 0) return true;
  return kill(pid, 0) != 0 && errno == ESRCH;
}

}  // namespace

int64_t UnixMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string DefaultPrewarmRunnerId() { return HostName() + ":" + std::to_string(getpid()); }

PrewarmClaims::PrewarmClaims(PrewarmQueue& catalog, PrewarmBoard& board, std::string model_id,
                             const PrewarmOptions& options)
    : catalog_(catalog), board_(board), model_id_(std::move(model_id)), options_(options) {}

bool PrewarmClaims::IsWaiting(const PrewarmJobRecord& job) {
  return StateOf(job) == PrewarmJobState::kQueued && job.runner.empty();
}

bool PrewarmClaims::RunnerIsDead(const PrewarmJobRecord& job) {
  if (IsWaiting(job)) return false;
  if (job.runner.empty()) return true;  // handed back to the queue
  if (job.runner == options_.runner_id) return !board_.HeldHere(job.id);
  if (IsDeadLocalProcess(job.runner)) return true;
  return UnixMillis() - job.heartbeat_ms > options_.stale_after.count();
}

Result<PrewarmSnapshot> PrewarmClaims::TakeOver(const PrewarmJobRecord& job) {
  if (job.model_id != model_id_) {
    return Status::Conflict("prewarm job " + job.id + " is for model " + job.model_id +
                            ", and this process runs model " + model_id_);
  }
  const bool runs_jobs = options_.max_running_jobs > 0 && !shutting_down();
  // Without runners here, the job goes back to the queue, where any runner takes it at once.
  const std::string runner = runs_jobs ? options_.runner_id : std::string();
  SAMCACHE_ASSIGN_OR_RETURN(
      const bool claimed, catalog_.ClaimPrewarmJob(job.id, job.runner, runner, runs_jobs ? UnixMillis() : 0));
  if (!claimed) return Status::Conflict("prewarm job " + job.id + " was taken over by another process");
  SAMCACHE_ASSIGN_OR_RETURN(PrewarmJobRecord fresh, catalog_.GetPrewarmJob(job.id));
  const std::string previous = job.runner.empty() ? "(none)" : job.runner;
  if (!runs_jobs) {
    spdlog::info("[PREWARM] job {} handed back to the queue at {}/{} (its runner {} is gone)", job.id,
                 fresh.done, fresh.total, previous);
    return board_.SnapshotFromCatalog(fresh);
  }
  if (!IsWaiting(job)) {
    spdlog::info("[PREWARM] job {} resumed at {}/{} (its runner {} is gone)", job.id, fresh.done, fresh.total,
                 previous);
  }
  Result<std::vector<PrewarmFailure>> failures = catalog_.ListPrewarmFailures(job.id);
  std::shared_ptr<PrewarmLiveJob> live =
      board_.Track(fresh, failures.ok() ? std::move(failures).value() : std::vector<PrewarmFailure>{});
  Enqueue(live);
  return board_.Snapshot(*live);
}

void PrewarmClaims::Enqueue(std::shared_ptr<PrewarmLiveJob> job) {
  {
    std::lock_guard lock(mutex_);
    queue_.push_back(std::move(job));
  }
  queue_cv_.notify_one();
}

void PrewarmClaims::Wake() {
  {
    std::lock_guard lock(mutex_);
    ++wake_generation_;
  }
  queue_cv_.notify_all();
}

std::shared_ptr<PrewarmLiveJob> PrewarmClaims::Next() {
  for (;;) {
    std::shared_ptr<PrewarmLiveJob> job;
    uint64_t generation = 0;
    {
      std::lock_guard lock(mutex_);
      if (shutting_down_) return nullptr;
      generation = wake_generation_;
      if (!queue_.empty()) {
        job = std::move(queue_.front());
        queue_.pop_front();
      }
    }
    if (!job && options_.take_from_queue) {
      job = ClaimNext();
      if (!job) TakeOverOneDeadLocalRunner();  // into queue_, run at the next turn
    }
    if (job) return job;
    std::unique_lock lock(mutex_);
    queue_cv_.wait_for(lock, options_.poll_interval,
                       [&] { return shutting_down_ || !queue_.empty() || wake_generation_ != generation; });
  }
}

std::shared_ptr<PrewarmLiveJob> PrewarmClaims::ClaimNext() {
  board_.BeginClaim();
  const int64_t now = UnixMillis();
  Result<std::optional<PrewarmJobRecord>> claimed =
      catalog_.ClaimNextPrewarmJob(model_id_, options_.runner_id, now, now - options_.stale_after.count());
  Result<std::vector<PrewarmFailure>> failures = std::vector<PrewarmFailure>{};
  if (claimed.ok() && *claimed && (*claimed)->failed > 0)
    failures = catalog_.ListPrewarmFailures((*claimed)->id);
  std::shared_ptr<PrewarmLiveJob> job =
      board_.EndClaim(claimed.ok() ? *claimed : std::nullopt,
                      failures.ok() ? std::move(failures).value() : std::vector<PrewarmFailure>{});
  if (!claimed.ok()) {
    // A busy or unreachable catalog: try again at the next poll.
    spdlog::warn("[PREWARM] cannot take a job from the queue: {}", claimed.status().message());
    return nullptr;
  }
  if (job && (job->record.done > 0 || !job->record.started_at.empty())) {
    spdlog::info("[PREWARM] job {} resumed at {}/{} (its runner had been silent for more than {:.1f} s)",
                 job->record.id, job->record.done, job->record.total,
                 static_cast<double>(options_.stale_after.count()) / 1000.0);
  }
  return job;
}

void PrewarmClaims::TakeOverOneDeadLocalRunner() {
  {
    std::lock_guard lock(mutex_);
    const Clock::time_point now = Clock::now();
    if (now - last_orphan_scan_ < options_.poll_interval) return;
    last_orphan_scan_ = now;
  }
  Result<std::vector<PrewarmJobRecord>> unfinished = catalog_.ListUnfinishedPrewarmJobs();
  if (!unfinished.ok()) return;
  for (const PrewarmJobRecord& job : *unfinished) {
    if (job.model_id != model_id_ || job.runner.empty() || job.runner == options_.runner_id ||
        !IsDeadLocalProcess(job.runner)) {
      continue;
    }
    // One at a time: this runner is idle and runs it; other processes' runners take the rest.
    if (TakeOver(job).ok()) return;
  }
}

void PrewarmClaims::Shutdown() {
  std::deque<std::shared_ptr<PrewarmLiveJob>> unstarted;
  {
    std::lock_guard lock(mutex_);
    if (shutting_down_) return;
    shutting_down_ = true;
    unstarted.swap(queue_);
  }
  queue_cv_.notify_all();
  // Jobs taken over but not started go back to the queue, for another process to take.
  for (const std::shared_ptr<PrewarmLiveJob>& job : unstarted) {
    Result<bool> released = catalog_.ClaimPrewarmJob(job->record.id, options_.runner_id, "", 0);
    if (!released.ok()) {
      spdlog::warn("[PREWARM] job {}: cannot hand it back to the queue: {}", job->record.id,
                   released.status().message());
    }
    board_.Release(*job);
  }
}

bool PrewarmClaims::shutting_down() {
  std::lock_guard lock(mutex_);
  return shutting_down_;
}

void PrewarmClaims::HeartbeatLoop() {
  std::unique_lock lock(mutex_);
  for (;;) {
    heartbeat_cv_.wait_for(lock, options_.heartbeat_interval, [&] { return heartbeats_stopped_; });
    if (heartbeats_stopped_) return;
    lock.unlock();
    for (const std::shared_ptr<PrewarmLiveJob>& job : board_.Held()) {
      Result<bool> renewed = catalog_.HeartbeatPrewarmJob(job->record.id, options_.runner_id, UnixMillis());
      if (!renewed.ok()) {
        spdlog::warn("[PREWARM] job {}: cannot renew its heartbeat: {}", job->record.id,
                     renewed.status().message());
      } else if (!*renewed) {
        // Cancelled through the catalog, or taken over: the runner stops after its images
        // in flight and finds out which from the row.
        board_.StopIfHeld(*job);
      }
    }
    lock.lock();
  }
}

void PrewarmClaims::StopHeartbeats() {
  {
    std::lock_guard lock(mutex_);
    heartbeats_stopped_ = true;
  }
  heartbeat_cv_.notify_all();
}

}  // namespace samcache
