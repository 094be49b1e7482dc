#include "jobs/prewarm_jobs.h"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <set>

#include "common/crypto.h"
#include "common/files.h"

namespace samcache {
namespace {

using Clock = std::chrono::steady_clock;

constexpr auto kSaveInterval = std::chrono::milliseconds(200);
constexpr auto kQueueFullRetry = std::chrono::milliseconds(100);
constexpr size_t kFinishedJobsKept = 256;

int64_t UnixMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string HostName() {
  char name[256] = {};
  if (gethostname(name, sizeof name - 1) != 0) return "localhost";
  return name;
}

std::string DefaultRunnerId() { return HostName() + ":" + std::to_string(getpid()); }

// "host:pid" of a process on this machine that no longer exists.
bool IsDeadLocalProcess(const std::string& runner) {
  const size_t colon = runner.rfind(':');
  if (colon == std::string::npos || runner.substr(0, colon) != HostName()) return false;
  const pid_t pid = static_cast<pid_t>(std::atoll(runner.c_str() + colon + 1));
  if (pid <= 0) return true;
  return kill(pid, 0) != 0 && errno == ESRCH;
}

std::string Fixed(double value, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, value);
  return buf;
}

}  // namespace

bool IsFinishedPrewarmStatus(std::string_view status) {
  return status == prewarm_status::kCompleted || status == prewarm_status::kCancelled ||
         status == prewarm_status::kFailed;
}

std::string FormatDuration(double seconds) {
  const auto total = static_cast<int64_t>(std::llround(std::max(0.0, seconds)));
  const int64_t hours = total / 3600, minutes = total % 3600 / 60, secs = total % 60;
  if (hours > 0) return std::to_string(hours) + "h " + std::to_string(minutes) + "m";
  if (minutes > 0) return std::to_string(minutes) + "m " + std::to_string(secs) + "s";
  return std::to_string(secs) + "s";
}

std::string PrewarmProgressText(const PrewarmSnapshot& s) {
  return "Pre-warming cache... " + std::to_string(s.job.done) + "/" + std::to_string(s.job.total);
}

std::string PrewarmDetailText(const PrewarmSnapshot& s) {
  std::string text;
  if (s.current) {
    if (s.current->state == "skipped") {
      text = "skipped (" + s.current->detail + ")";
    } else if (s.current->state == "failed") {
      text = "failed (" + s.current->detail + ")";
    } else {
      text = s.current->state;
    }
  }
  std::string eta;
  if (s.eta_seconds) {
    eta = "Est. remaining: " + FormatDuration(*s.eta_seconds);
  } else if (s.job.to_compute > 0) {
    eta = "Est. remaining: estimating...";
  }
  if (!text.empty() && !eta.empty()) return text + " \u2022 " + eta;
  return text + eta;
}

std::string PrewarmAverageText(const PrewarmSnapshot& s) {
  if (!s.avg_seconds_per_image) return "";
  const double avg = *s.avg_seconds_per_image;
  return "(avg " + Fixed(avg, avg >= 1 ? 1 : avg >= 0.01 ? 2 : 3) + "s per image)";
}

std::string PrewarmReadyText(const PrewarmSnapshot& s) {
  std::string text = "Dataset ready (cache: " + std::to_string(s.cache_embeddings) +
                     " embeddings, computed: " + std::to_string(s.job.computed) +
                     ", skipped: " + std::to_string(s.job.skipped);
  if (s.job.failed > 0) text += ", failed: " + std::to_string(s.job.failed);
  return text + ")";
}

struct PrewarmJobs::LiveJob {
  PrewarmJobRecord record;
  std::optional<PrewarmImageEvent> current;
  std::vector<PrewarmImageEvent> events;
  std::vector<PrewarmFailure> failures;  // all of them, for snapshots
  std::vector<PrewarmFailure> unsaved_failures;
  int64_t seq = 0;
  bool cancel_requested = false;
  bool queued_or_running = false;  // a runner of this process has it (or will)
  Clock::time_point last_save{};
};

// One image of a job on its way through, in upload order.
struct PrewarmJobs::Entry {
  const ImageRecord* image = nullptr;
  std::optional<PendingEmbedding> pending;  // empty: skipped without asking the service
  std::string skip_reason;
};

PrewarmJobs::PrewarmJobs(Catalog& catalog, EmbeddingService& embeddings, EmbeddingTier& store,
                         std::string model_id, Options options)
    : catalog_(catalog),
      embeddings_(embeddings),
      store_(store),
      model_id_(std::move(model_id)),
      options_(std::move(options)) {
  if (options_.runner_id.empty()) options_.runner_id = DefaultRunnerId();
  options_.pipeline_depth = std::max<size_t>(1, options_.pipeline_depth);
  options_.poll_interval = std::max(options_.poll_interval, std::chrono::milliseconds(10));
  if (options_.heartbeat_interval.count() <= 0) {
    options_.heartbeat_interval =
        std::clamp(options_.stale_after / 4, std::chrono::milliseconds(100), std::chrono::milliseconds(5000));
  }
  if (options_.max_running_jobs == 0) return;
  heartbeat_ = std::thread([this] { HeartbeatLoop(); });
  for (size_t i = 0; i < options_.max_running_jobs; ++i) runners_.emplace_back([this] { RunnerLoop(); });
}

PrewarmJobs::~PrewarmJobs() {
  Shutdown();
  for (std::thread& runner : runners_) runner.join();
  {
    std::lock_guard lock(mutex_);
    runners_stopped_ = true;
  }
  heartbeat_cv_.notify_all();
  if (heartbeat_.joinable()) heartbeat_.join();
}

void PrewarmJobs::Shutdown() {
  std::vector<std::shared_ptr<LiveJob>> unstarted;
  {
    std::lock_guard lock(mutex_);
    if (shutting_down_) return;
    shutting_down_ = true;
    unstarted.assign(queue_.begin(), queue_.end());
    queue_.clear();
  }
  queue_cv_.notify_all();
  change_cv_.notify_all();
  // Jobs taken over but not started go back to the queue, for another process to take.
  for (const std::shared_ptr<LiveJob>& job : unstarted) {
    Result<bool> released = catalog_.ClaimPrewarmJob(job->record.id, options_.runner_id, "", 0);
    if (!released.ok()) {
      spdlog::warn("[PREWARM] job {}: cannot hand it back to the queue: {}", job->record.id,
                   released.status().message());
    }
    {
      std::lock_guard lock(mutex_);
      job->queued_or_running = false;
    }
  }
  change_cv_.notify_all();
}

bool PrewarmJobs::shutting_down() {
  std::lock_guard lock(mutex_);
  return shutting_down_;
}

bool PrewarmJobs::IsWaiting(const PrewarmJobRecord& job) {
  return job.status == prewarm_status::kQueued && job.runner.empty();
}

bool PrewarmJobs::RunnerIsDead(const PrewarmJobRecord& job) {
  if (IsWaiting(job)) return false;
  if (job.runner.empty()) return true;  // handed back to the queue
  if (job.runner == options_.runner_id) {
    std::lock_guard lock(mutex_);
    auto it = live_.find(job.id);
    return it == live_.end() || !it->second->queued_or_running;
  }
  if (IsDeadLocalProcess(job.runner)) return true;
  return UnixMillis() - job.heartbeat_ms > options_.stale_after.count();
}

std::shared_ptr<PrewarmJobs::LiveJob> PrewarmJobs::TrackLocked(const PrewarmJobRecord& record) {
  auto job = std::make_shared<LiveJob>();
  job->record = record;
  job->queued_or_running = true;
  live_[record.id] = job;
  if (live_.size() > kFinishedJobsKept) {
    for (auto it = live_.begin(); it != live_.end() && live_.size() > kFinishedJobsKept;) {
      it = it->second->queued_or_running ? std::next(it) : live_.erase(it);
    }
  }
  return job;
}

Result<PrewarmJobs::Started> PrewarmJobs::Start(const std::string& dataset_id) {
  Result<DatasetRecord> dataset = catalog_.GetDataset(dataset_id);
  if (!dataset.ok()) return dataset.status();
  Result<std::optional<PrewarmJobRecord>> existing = catalog_.FindUnfinishedPrewarmJob(dataset_id, model_id_);
  if (!existing.ok()) return existing.status();
  const bool runs_jobs = options_.max_running_jobs > 0;
  if (*existing) {
    Started started;
    started.existing = true;
    const bool take_waiting = IsWaiting(**existing) && runs_jobs && !options_.take_from_queue;
    if (take_waiting || RunnerIsDead(**existing)) {
      Result<PrewarmSnapshot> taken = TakeOver(**existing);
      if (!taken.ok()) return taken.status();
      started.snapshot = std::move(taken).value();
      started.resumed = runs_jobs && !take_waiting;
    } else {
      Result<PrewarmSnapshot> snapshot = Snapshot((*existing)->id);
      if (!snapshot.ok()) return snapshot.status();
      started.snapshot = std::move(snapshot).value();
    }
    return started;
  }

  PrewarmJobRecord record;
  record.id = RandomId();
  record.dataset_id = dataset_id;
  record.model_id = model_id_;
  record.status = prewarm_status::kQueued;
  record.total = dataset->image_count;
  record.to_compute = dataset->image_count;
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
    std::shared_ptr<LiveJob> job;
    {
      std::lock_guard lock(mutex_);
      job = TrackLocked(record);
      queue_.push_back(job);
    }
    queue_cv_.notify_one();
    std::lock_guard lock(mutex_);
    return Started{SnapshotLocked(*job), false, false};
  }
  if (runs_jobs) {
    {
      std::lock_guard lock(mutex_);
      ++wake_generation_;
    }
    queue_cv_.notify_all();
  }
  Result<PrewarmSnapshot> snapshot = Snapshot(record.id);
  if (!snapshot.ok()) return snapshot.status();
  return Started{std::move(snapshot).value(), false, false};
}

Result<PrewarmSnapshot> PrewarmJobs::TakeOver(const PrewarmJobRecord& record) {
  if (record.model_id != model_id_) {
    return Status::Conflict("prewarm job " + record.id + " is for model " + record.model_id +
                            ", and this process runs model " + model_id_);
  }
  const bool runs_jobs = options_.max_running_jobs > 0 && !shutting_down();
  // Without runners here, the job goes back to the queue, where any runner takes it at once.
  const std::string runner = runs_jobs ? options_.runner_id : std::string();
  Result<bool> claimed =
      catalog_.ClaimPrewarmJob(record.id, record.runner, runner, runs_jobs ? UnixMillis() : 0);
  if (!claimed.ok()) return claimed.status();
  if (!*claimed) return Status::Conflict("prewarm job " + record.id + " was taken over by another process");
  Result<PrewarmJobRecord> fresh = catalog_.GetPrewarmJob(record.id);
  if (!fresh.ok()) return fresh.status();
  if (!runs_jobs) {
    spdlog::info("[PREWARM] job {} handed back to the queue at {}/{} (its runner {} is gone)", record.id,
                 fresh->done, fresh->total, record.runner.empty() ? "(none)" : record.runner);
    return SnapshotFromCatalog(*fresh);
  }
  if (!IsWaiting(record)) {
    spdlog::info("[PREWARM] job {} resumed at {}/{} (its runner {} is gone)", record.id, fresh->done,
                 fresh->total, record.runner.empty() ? "(none)" : record.runner);
  }
  Result<std::vector<PrewarmFailure>> failures = catalog_.ListPrewarmFailures(record.id);
  std::shared_ptr<LiveJob> job;
  {
    std::lock_guard lock(mutex_);
    job = TrackLocked(*fresh);
    if (failures.ok()) job->failures = std::move(failures).value();
    queue_.push_back(job);
  }
  queue_cv_.notify_one();
  std::lock_guard lock(mutex_);
  return SnapshotLocked(*job);
}

Result<PrewarmSnapshot> PrewarmJobs::Resume(const std::string& job_id) {
  Result<PrewarmJobRecord> record = catalog_.GetPrewarmJob(job_id);
  if (!record.ok()) return record.status();
  if (IsFinishedPrewarmStatus(record->status)) {
    return Status::Conflict("prewarm job " + job_id + " is already " + record->status +
                            "; start a new one to prewarm the dataset again");
  }
  if (IsWaiting(*record)) {
    if (options_.max_running_jobs == 0) return Snapshot(job_id);  // in the queue already
    Result<PrewarmSnapshot> taken = TakeOver(*record);
    if (taken.ok() || taken.status().code() != StatusCode::kConflict) return taken;
    return Snapshot(job_id);  // a runner took it meanwhile
  }
  if (!RunnerIsDead(*record)) {
    if (record->runner == options_.runner_id) return Snapshot(job_id);  // already running here
    return Status::Conflict("prewarm job " + job_id + " is running in process " + record->runner);
  }
  return TakeOver(*record);
}

Result<std::vector<std::string>> PrewarmJobs::ResumeOrphaned() {
  Result<std::vector<PrewarmJobRecord>> unfinished = catalog_.ListUnfinishedPrewarmJobs();
  if (!unfinished.ok()) return unfinished.status();
  std::vector<std::string> resumed;
  for (const PrewarmJobRecord& record : *unfinished) {
    if (record.model_id != model_id_ || !RunnerIsDead(record)) continue;
    Result<PrewarmSnapshot> taken = TakeOver(record);
    if (taken.ok()) {
      resumed.push_back(record.id);
    } else if (taken.status().code() != StatusCode::kConflict) {
      spdlog::warn("[PREWARM] could not resume job {}: {}", record.id, taken.status().message());
    }
  }
  return resumed;
}

Result<PrewarmSnapshot> PrewarmJobs::Cancel(const std::string& job_id) {
  {
    std::unique_lock lock(mutex_);
    auto it = live_.find(job_id);
    if (it != live_.end() && it->second->queued_or_running &&
        !IsFinishedPrewarmStatus(it->second->record.status)) {
      it->second->cancel_requested = true;
      lock.unlock();
      spdlog::info("[PREWARM] job {} cancel requested", job_id);
      return Snapshot(job_id);
    }
  }
  Result<PrewarmJobRecord> record = catalog_.GetPrewarmJob(job_id);
  if (!record.ok()) return record.status();
  if (IsFinishedPrewarmStatus(record->status)) {
    return Status::Conflict("prewarm job " + job_id + " is already " + record->status);
  }
  // Run by another process, or by none: the catalog row is the signal; a live runner sees
  // it at its next save or heartbeat and stops.
  Result<bool> cancelled = catalog_.CancelPrewarmJob(job_id, NowIso8601());
  if (!cancelled.ok()) return cancelled.status();
  if (!*cancelled) {
    Result<PrewarmJobRecord> now = catalog_.GetPrewarmJob(job_id);
    return Status::Conflict("prewarm job " + job_id + " is already " +
                            (now.ok() ? now->status : std::string("finished")));
  }
  spdlog::info("[PREWARM] job {} cancelled{}", job_id,
               record->runner.empty() ? std::string() : " (run by " + record->runner + ")");
  return Snapshot(job_id);
}

Result<PrewarmSnapshot> PrewarmJobs::Snapshot(const std::string& job_id) {
  {
    std::unique_lock lock(mutex_);
    // A runner of this process between its claim and its live entry: the row would show
    // the job as running before it has looked at the dataset.
    change_cv_.wait_for(lock, std::chrono::seconds(2), [&] { return claiming_ == 0; });
    auto it = live_.find(job_id);
    if (it != live_.end() &&
        (it->second->queued_or_running || IsFinishedPrewarmStatus(it->second->record.status))) {
      return SnapshotLocked(*it->second);
    }
  }
  Result<PrewarmJobRecord> record = catalog_.GetPrewarmJob(job_id);
  if (!record.ok()) return record.status();
  return SnapshotFromCatalog(*record);
}

PrewarmSnapshot PrewarmJobs::SnapshotLocked(const LiveJob& job) {
  PrewarmSnapshot s;
  s.job = job.record;
  s.current = job.current;
  s.failures = job.failures;
  s.runs_here = job.queued_or_running;
  s.seq = job.seq;
  if (s.job.computed > 0) {
    s.avg_seconds_per_image = s.job.compute_seconds / static_cast<double>(s.job.computed);
    s.eta_seconds = *s.avg_seconds_per_image * static_cast<double>(s.job.to_compute);
  } else if (s.job.to_compute == 0) {
    s.eta_seconds = 0;
  }
  s.cache_embeddings = static_cast<int64_t>(store_.EntriesFor(s.job.model_id));
  return s;
}

Result<PrewarmSnapshot> PrewarmJobs::SnapshotFromCatalog(const PrewarmJobRecord& record) {
  LiveJob job;
  job.record = record;
  Result<std::vector<PrewarmFailure>> failures = catalog_.ListPrewarmFailures(record.id);
  if (!failures.ok()) return failures.status();
  job.failures = std::move(failures).value();
  if (record.status == prewarm_status::kCompleted && record.model_id == model_id_) {
    // Another process computed these embeddings: the store learns of files it did not
    // write when asked for their keys, so ask once, and the final count includes them.
    bool ask = false;
    {
      std::lock_guard lock(mutex_);
      if (adopted_.size() >= kFinishedJobsKept) adopted_.clear();
      ask = adopted_.insert(record.id).second;
    }
    if (ask) {
      if (Result<std::vector<ImageRecord>> images = catalog_.ListImages(record.dataset_id); images.ok()) {
        std::vector<std::string> hashes;
        hashes.reserve(images->size());
        for (const ImageRecord& image : *images) hashes.push_back(image.pixel_hash);
        embeddings_.AreCached(hashes);
      }
    }
  }
  std::lock_guard lock(mutex_);
  return SnapshotLocked(job);
}

Result<PrewarmUpdate> PrewarmJobs::WaitForUpdate(const std::string& job_id, int64_t after_seq,
                                                 std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  auto held_here = [&]() -> std::shared_ptr<LiveJob> {
    auto it = live_.find(job_id);
    if (it == live_.end()) return nullptr;
    if (!it->second->queued_or_running && !IsFinishedPrewarmStatus(it->second->record.status)) return nullptr;
    return it->second;
  };
  std::shared_ptr<LiveJob> job = held_here();
  if (!job) {
    // Queued, or run by another process: poll the catalog at a modest rate (or until a
    // runner of this process takes it).
    change_cv_.wait_for(lock, std::min(timeout, std::chrono::milliseconds(250)),
                        [&] { return shutting_down_ || held_here() != nullptr; });
    lock.unlock();
    Result<PrewarmSnapshot> snapshot = Snapshot(job_id);
    if (!snapshot.ok()) return snapshot.status();
    lock.lock();
    job = held_here();
    if (!job) return PrewarmUpdate{std::move(snapshot).value(), {}};
    // A runner of this process took the job meanwhile (Snapshot waits for its claim): answer
    // from the live entry, with the image events it has published since, or a follower that
    // connected just after Start() would skip to its sequence number and miss them.
  } else {
    change_cv_.wait_for(lock, timeout, [&] {
      return job->seq > after_seq || IsFinishedPrewarmStatus(job->record.status) || !job->queued_or_running;
    });
  }
  PrewarmUpdate update{SnapshotLocked(*job), {}};
  auto first = std::upper_bound(job->events.begin(), job->events.end(), after_seq,
                                [](int64_t seq, const PrewarmImageEvent& e) { return seq < e.seq; });
  update.events.assign(first, job->events.end());
  return update;
}

void PrewarmJobs::Publish(LiveJob& job, std::optional<PrewarmImageEvent> event) {
  {
    std::lock_guard lock(mutex_);
    ++job.seq;
    if (event) {
      event->seq = job.seq;
      job.current = *event;
      job.events.push_back(std::move(*event));
    }
  }
  change_cv_.notify_all();
}

bool PrewarmJobs::Save(LiveJob& job, bool force) {
  PrewarmJobRecord record;
  std::vector<PrewarmFailure> failures;
  {
    std::lock_guard lock(mutex_);
    const Clock::time_point now = Clock::now();
    if (!force && job.unsaved_failures.empty() && now - job.last_save < kSaveInterval) return true;
    job.last_save = now;
    job.record.heartbeat_ms = UnixMillis();
    record = job.record;
    failures.swap(job.unsaved_failures);
  }
  Result<bool> saved = catalog_.SavePrewarmProgress(record, failures);
  if (!saved.ok()) {
    // The job goes on; its progress is written again at the next save.
    spdlog::error("[PREWARM] job {}: cannot save progress: {}", record.id, saved.status().message());
    std::lock_guard lock(mutex_);
    job.unsaved_failures.insert(job.unsaved_failures.begin(), failures.begin(), failures.end());
    return true;
  }
  if (!*saved) {
    // Cancelled through the catalog, or taken over: stop without writing.
    std::lock_guard lock(mutex_);
    job.cancel_requested = true;
    return false;
  }
  return true;
}

void PrewarmJobs::RunnerLoop() {
  for (;;) {
    std::shared_ptr<LiveJob> job;
    uint64_t generation = 0;
    {
      std::lock_guard lock(mutex_);
      if (shutting_down_) return;
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
    if (job) {
      Run(*job);
      {
        std::lock_guard lock(mutex_);
        job->queued_or_running = false;
      }
      change_cv_.notify_all();
      continue;
    }
    std::unique_lock lock(mutex_);
    queue_cv_.wait_for(lock, options_.poll_interval,
                       [&] { return shutting_down_ || !queue_.empty() || wake_generation_ != generation; });
  }
}

std::shared_ptr<PrewarmJobs::LiveJob> PrewarmJobs::ClaimNext() {
  {
    std::lock_guard lock(mutex_);
    ++claiming_;
  }
  const int64_t now = UnixMillis();
  Result<std::optional<PrewarmJobRecord>> claimed =
      catalog_.ClaimNextPrewarmJob(model_id_, options_.runner_id, now, now - options_.stale_after.count());
  Result<std::vector<PrewarmFailure>> failures = std::vector<PrewarmFailure>{};
  if (claimed.ok() && *claimed && (*claimed)->failed > 0)
    failures = catalog_.ListPrewarmFailures((*claimed)->id);
  std::shared_ptr<LiveJob> job;
  {
    std::lock_guard lock(mutex_);
    --claiming_;
    if (claimed.ok() && *claimed) {
      job = TrackLocked(**claimed);
      if (failures.ok()) job->failures = std::move(failures).value();
    }
  }
  change_cv_.notify_all();
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

void PrewarmJobs::TakeOverOneDeadLocalRunner() {
  {
    std::lock_guard lock(mutex_);
    const Clock::time_point now = Clock::now();
    if (now - last_orphan_scan_ < options_.poll_interval) return;
    last_orphan_scan_ = now;
  }
  Result<std::vector<PrewarmJobRecord>> unfinished = catalog_.ListUnfinishedPrewarmJobs();
  if (!unfinished.ok()) return;
  for (const PrewarmJobRecord& record : *unfinished) {
    if (record.model_id != model_id_ || record.runner.empty() || record.runner == options_.runner_id ||
        !IsDeadLocalProcess(record.runner)) {
      continue;
    }
    // One at a time: this runner is idle and runs it; other processes' runners take the rest.
    if (TakeOver(record).ok()) return;
  }
}

void PrewarmJobs::HeartbeatLoop() {
  std::unique_lock lock(mutex_);
  for (;;) {
    heartbeat_cv_.wait_for(lock, options_.heartbeat_interval, [&] { return runners_stopped_; });
    if (runners_stopped_) return;
    std::vector<std::shared_ptr<LiveJob>> held;
    for (const auto& [id, job] : live_) {
      if (job->queued_or_running && !IsFinishedPrewarmStatus(job->record.status)) held.push_back(job);
    }
    lock.unlock();
    for (const std::shared_ptr<LiveJob>& job : held) {
      Result<bool> renewed = catalog_.HeartbeatPrewarmJob(job->record.id, options_.runner_id, UnixMillis());
      if (!renewed.ok()) {
        spdlog::warn("[PREWARM] job {}: cannot renew its heartbeat: {}", job->record.id,
                     renewed.status().message());
      } else if (!*renewed) {
        // Cancelled through the catalog, or taken over: the runner stops after its images
        // in flight and finds out which from the row.
        std::lock_guard job_lock(mutex_);
        if (job->queued_or_running && !IsFinishedPrewarmStatus(job->record.status))
          job->cancel_requested = true;
      }
    }
    lock.lock();
  }
}

void PrewarmJobs::Notify(std::string_view event, LiveJob& job) {
  if (!options_.on_job) return;
  PrewarmSnapshot snapshot;
  {
    std::lock_guard lock(mutex_);
    snapshot = SnapshotLocked(job);
  }
  options_.on_job(event, snapshot);
}

void PrewarmJobs::Run(LiveJob& job) {
  const std::string id = job.record.id;
  // Cancelled through the catalog (the row still names this runner), or taken over by
  // another process, which may even have finished it: the row says which.
  auto stopped_elsewhere = [&]() -> bool {
    Result<PrewarmJobRecord> stored = catalog_.GetPrewarmJob(id);
    if (!stored.ok() || stored->runner == options_.runner_id) return false;
    spdlog::info("[PREWARM] job {} was taken over by {} at {}/{}; this process stops running it", id,
                 stored->runner.empty() ? "the queue" : stored->runner, stored->done, stored->total);
    {
      std::lock_guard lock(mutex_);
      job.record = *stored;  // snapshots follow the row from now on
    }
    Publish(job, std::nullopt);
    Notify("lost", job);
    return true;
  };

  auto finish = [&](std::string_view status, std::string error) {
    {
      std::lock_guard lock(mutex_);
      job.record.status = std::string(status);
      job.record.error = std::move(error);
      job.record.finished_at = NowIso8601();
      if (status == prewarm_status::kCompleted) job.record.to_compute = 0;
    }
    if (!Save(job, /*force=*/true)) {
      if (stopped_elsewhere()) return;
      // Cancelled elsewhere while finishing: show what the catalog says.
      if (Result<PrewarmJobRecord> stored = catalog_.GetPrewarmJob(id); stored.ok()) {
        std::lock_guard lock(mutex_);
        job.record.status = stored->status;
        job.record.finished_at = stored->finished_at;
      }
    }
    Publish(job, std::nullopt);
    Notify("finished", job);
  };

  Notify("claimed", job);
  Result<std::vector<ImageRecord>> images = catalog_.ListImages(job.record.dataset_id);
  if (!images.ok()) {
    spdlog::error("[PREWARM] job {}: cannot list the dataset's images: {}", id, images.status().message());
    finish(prewarm_status::kFailed, "cannot list the dataset's images: " + images.status().message());
    return;
  }
  std::vector<const ImageRecord*> remaining;
  for (const ImageRecord& image : *images) {
    if (image.position >= job.record.next_position) remaining.push_back(&image);
  }
  std::vector<std::string> pixel_hashes;
  pixel_hashes.reserve(remaining.size());
  for (const ImageRecord* image : remaining) pixel_hashes.push_back(image->pixel_hash);
  const std::vector<bool> cached = embeddings_.AreCached(pixel_hashes);  // one batched query

  std::set<std::string> to_compute;
  for (size_t i = 0; i < remaining.size(); ++i) {
    if (!cached[i]) to_compute.insert(remaining[i]->pixel_hash);
  }
  {
    std::lock_guard lock(mutex_);
    job.record.status = prewarm_status::kRunning;
    job.record.total = job.record.done + static_cast<int64_t>(remaining.size());
    job.record.to_compute = static_cast<int64_t>(to_compute.size());
    if (job.record.started_at.empty()) job.record.started_at = NowIso8601();
  }
  if (!Save(job, /*force=*/true)) {
    if (!stopped_elsewhere()) finish(prewarm_status::kCancelled, "");
    return;
  }
  spdlog::info("[PREWARM] job {} running: {} image(s) to handle, {} cached, {} to compute", id,
               remaining.size(), remaining.size() - std::count(cached.begin(), cached.end(), false),
               to_compute.size());
  Publish(job, std::nullopt);

  std::deque<Entry> in_order;
  size_t computing = 0;
  Clock::time_point mark = Clock::now();  // the last image settled; time since then is the next one's
  bool interrupted = false;               // shutting down: leave the job to be resumed

  auto stop_requested = [&] {
    std::lock_guard lock(mutex_);
    return job.cancel_requested || shutting_down_;
  };
  auto event = [](const ImageRecord& image, std::string state, std::string detail) {
    return PrewarmImageEvent{0, image.id, image.filename, std::move(state), std::move(detail)};
  };

  // Settles the oldest image: its outcome is counted and the resume position moves past it.
  auto settle_front = [&] {
    Entry entry = std::move(in_order.front());
    in_order.pop_front();
    const ImageRecord& image = *entry.image;
    PrewarmImageEvent outcome;
    bool computed = false;
    if (!entry.pending) {
      outcome = event(image, "skipped", entry.skip_reason);
    } else {
      --computing;
      Publish(job, event(image, "computing", ""));
      Result<EmbeddingLookup> lookup = entry.pending->Wait();
      if (!lookup.ok() && lookup.status().code() == StatusCode::kUnavailable) {
        interrupted = true;  // the service is shutting down; this image stays to do
        return;
      }
      if (!lookup.ok()) {
        outcome = event(image, "failed", lookup.status().message());
      } else if (lookup->cached) {
        outcome = event(image, "skipped", "cached");
      } else if (lookup->joined) {
        outcome = event(image, "skipped", "computed by another request");
      } else {
        outcome = event(image, "computed", "");
        computed = true;
      }
    }
    const Clock::time_point now = Clock::now();
    {
      std::lock_guard lock(mutex_);
      PrewarmJobRecord& r = job.record;
      ++r.done;
      if (outcome.state == "skipped") ++r.skipped;
      if (outcome.state == "failed") {
        ++r.failed;
        PrewarmFailure failure{image.id, image.filename, outcome.detail};
        job.failures.push_back(failure);
        job.unsaved_failures.push_back(std::move(failure));
      }
      if (computed) {
        ++r.computed;
        r.compute_seconds += std::chrono::duration<double>(now - mark).count();
      }
      if (entry.pending) r.to_compute = std::max<int64_t>(0, r.to_compute - 1);
      r.next_position = image.position + 1;
    }
    mark = now;
    if (outcome.state == "failed") {
      spdlog::warn("[PREWARM] job {}: {} failed: {}", id, image.filename, outcome.detail);
    }
    Publish(job, std::move(outcome));
    // At most every 200 ms (failures at once): a row that lags after a kill only means the
    // resumed job finds those images in the cache and skips them.
    Save(job, /*force=*/false);  // a false return sets cancel_requested
  };

  std::set<std::string> asked;
  for (size_t i = 0; i < remaining.size() && !interrupted && !stop_requested(); ++i) {
    const ImageRecord& image = *remaining[i];
    Entry entry{&image, std::nullopt, ""};
    if (cached[i]) {
      entry.skip_reason = "cached";
    } else if (!asked.insert(image.pixel_hash).second) {
      entry.skip_reason = "same pixels as an earlier image";
    } else {
      // A full encoder queue (other jobs, clicks) makes the job wait, never fail.
      Result<PendingEmbedding> pending =
          embeddings_.Request(ImageSource{image.content_hash, image.pixel_hash});
      while (!pending.ok() && !interrupted && !stop_requested()) {
        if (!in_order.empty()) {
          settle_front();
        } else {
          std::this_thread::sleep_for(kQueueFullRetry);
        }
        pending = embeddings_.Request(ImageSource{image.content_hash, image.pixel_hash});
      }
      if (!pending.ok()) break;
      entry.pending = std::move(pending).value();
      ++computing;
    }
    in_order.push_back(std::move(entry));
    while (!interrupted && !in_order.empty() &&
           (!in_order.front().pending || computing >= options_.pipeline_depth)) {
      settle_front();
    }
  }
  while (!interrupted && !in_order.empty()) settle_front();

  bool cancelled;
  bool shutting_down;
  {
    std::lock_guard lock(mutex_);
    cancelled = job.cancel_requested;
    shutting_down = shutting_down_;
  }
  if (cancelled) {
    if (stopped_elsewhere()) return;
    spdlog::info("[PREWARM] job {} cancelled at {}/{}", id, job.record.done, job.record.total);
    finish(prewarm_status::kCancelled, "");
  } else if (interrupted || shutting_down) {
    // Saved at its position, then handed back to the queue: the next runner of any process
    // goes on from there without waiting for this one to look dead.
    if (Save(job, /*force=*/true)) {
      Result<bool> released = catalog_.ClaimPrewarmJob(id, options_.runner_id, "", 0);
      if (released.ok() && *released) {
        std::lock_guard lock(mutex_);
        job.record.runner.clear();
        job.record.heartbeat_ms = 0;
      }
    }
    Publish(job, std::nullopt);
    spdlog::info("[PREWARM] job {} interrupted at {}/{}; the next process that runs prewarm jobs resumes it",
                 id, job.record.done, job.record.total);
    Notify("released", job);
  } else {
    PrewarmSnapshot s;
    {
      std::lock_guard lock(mutex_);
      job.record.to_compute = 0;
      s = SnapshotLocked(job);
    }
    spdlog::info("[PREWARM] job {} {}", id, PrewarmReadyText(s));
    finish(prewarm_status::kCompleted, "");
  }
}

}  // namespace samcache
