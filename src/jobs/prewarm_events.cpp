#include "jobs/prewarm_events.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "jobs/prewarm_text.h"

namespace samcache {
namespace {

constexpr size_t kFinishedJobsKept = 256;
constexpr auto kClaimWait = std::chrono::seconds(2);
constexpr auto kCatalogPoll = std::chrono::milliseconds(250);

}  // namespace

PrewarmJobRecord PrewarmLiveJob::Row() const {
  PrewarmJobRecord row = record;
  row.status = std::string(ToText(state));
  return row;
}

void PrewarmLiveJob::SetRow(const PrewarmJobRecord& row) {
  record = row;
  state = StateOf(row);
}

int64_t PrewarmCacheCount::For(const PrewarmJobRecord& job, PrewarmJobState state) {
  std::lock_guard lock(mutex_);
  auto it = counts_.find(job.id);
  const bool finished = IsFinished(state);
  if (it == counts_.end() || (finished && !it->second.final)) {
    if (it == counts_.end() && counts_.size() >= kFinishedJobsKept)
      counts_.clear();  // counted again if asked
    const Count count{count_(job), job.computed, finished};
    it = counts_.insert_or_assign(job.id, count).first;
  }
  // Each image computed since the count is one more embedding in the store.
  return it->second.entries + std::max<int64_t>(0, job.computed - it->second.computed);
}

PrewarmBoard::PrewarmBoard(Catalog& catalog, EmbeddingService& embeddings, ProjectCache& projects,
                           std::string model_id)
    : catalog_(catalog),
      embeddings_(embeddings),
      projects_(projects),
      model_id_(std::move(model_id)),
      cache_count_([this](const PrewarmJobRecord& job) { return CountProjectEmbeddings(job); }) {}

int64_t PrewarmBoard::CountProjectEmbeddings(const PrewarmJobRecord& job) {
  Result<DatasetRecord> dataset = catalog_.GetDataset(job.dataset_id);
  if (!dataset.ok()) return 0;  // deleted meanwhile: its claims may be gone too
  // Distinct pictures: one claimed for the model and from before projects ("*") is one.
  Result<int64_t> claimed = catalog_.CountClaims(dataset->project_id, job.model_id);
  if (!claimed.ok()) {
    spdlog::warn("[PREWARM] job {}: cannot count the project's embeddings: {}", job.id,
                 claimed.status().message());
    return 0;
  }
  return *claimed;
}

std::shared_ptr<PrewarmLiveJob> PrewarmBoard::Track(const PrewarmJobRecord& row,
                                                    std::vector<PrewarmFailure> failures) {
  auto job = std::make_shared<PrewarmLiveJob>();
  job->SetRow(row);
  job->failures = std::move(failures);
  job->queued_or_running = true;
  std::lock_guard lock(mutex_);
  live_[row.id] = job;
  if (live_.size() > kFinishedJobsKept) {
    for (auto it = live_.begin(); it != live_.end() && live_.size() > kFinishedJobsKept;) {
      it = it->second->queued_or_running ? std::next(it) : live_.erase(it);
    }
  }
  return job;
}

void PrewarmBoard::BeginClaim() {
  std::lock_guard lock(mutex_);
  ++claiming_;
}

std::shared_ptr<PrewarmLiveJob> PrewarmBoard::EndClaim(const std::optional<PrewarmJobRecord>& row,
                                                       std::vector<PrewarmFailure> failures) {
  std::shared_ptr<PrewarmLiveJob> job;
  // Tracked before the claim ends, so that a snapshot waiting for it finds the live entry.
  if (row) job = Track(*row, std::move(failures));
  {
    std::lock_guard lock(mutex_);
    --claiming_;
  }
  change_cv_.notify_all();
  return job;
}

bool PrewarmBoard::HeldHere(const std::string& job_id) {
  std::lock_guard lock(mutex_);
  auto it = live_.find(job_id);
  return it != live_.end() && it->second->queued_or_running;
}

bool PrewarmBoard::RequestCancel(const std::string& job_id) {
  std::lock_guard lock(mutex_);
  auto it = live_.find(job_id);
  if (it == live_.end() || !it->second->queued_or_running || IsFinished(it->second->state)) return false;
  it->second->cancel_requested = true;
  return true;
}

std::vector<std::shared_ptr<PrewarmLiveJob>> PrewarmBoard::Held() {
  std::vector<std::shared_ptr<PrewarmLiveJob>> held;
  std::lock_guard lock(mutex_);
  for (const auto& [id, job] : live_) {
    if (job->queued_or_running && !IsFinished(job->state)) held.push_back(job);
  }
  return held;
}

void PrewarmBoard::StopIfHeld(PrewarmLiveJob& job) {
  std::lock_guard lock(mutex_);
  if (job.queued_or_running && !IsFinished(job.state)) job.cancel_requested = true;
}

void PrewarmBoard::Release(PrewarmLiveJob& job) {
  {
    std::lock_guard lock(mutex_);
    job.queued_or_running = false;
  }
  change_cv_.notify_all();
}

bool PrewarmBoard::StopRequested(const PrewarmLiveJob& job) {
  std::lock_guard lock(mutex_);
  return job.cancel_requested || shutting_down_;
}

bool PrewarmBoard::shutting_down() {
  std::lock_guard lock(mutex_);
  return shutting_down_;
}

void PrewarmBoard::Publish(PrewarmLiveJob& job, std::optional<PrewarmImageEvent> event) {
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

std::shared_ptr<PrewarmLiveJob> PrewarmBoard::FollowableLocked(const std::string& job_id) {
  auto it = live_.find(job_id);
  if (it == live_.end()) return nullptr;
  if (!it->second->queued_or_running && !IsFinished(it->second->state))
    return nullptr;  // handed back or lost
  return it->second;
}

PrewarmSnapshot PrewarmBoard::CopyLocked(const PrewarmLiveJob& job) {
  PrewarmSnapshot s;
  s.job = job.Row();
  s.current = job.current;
  s.failures = job.failures;
  s.runs_here = job.queued_or_running;
  s.seq = job.seq;
  return s;
}

void PrewarmBoard::Complete(PrewarmSnapshot& s) {
  SetEstimates(s);
  s.cache_embeddings = cache_count_.For(s.job, StateOf(s.job));
}

PrewarmSnapshot PrewarmBoard::Snapshot(PrewarmLiveJob& job) {
  PrewarmSnapshot s = Locked([&] { return CopyLocked(job); });
  Complete(s);
  return s;
}

Result<PrewarmSnapshot> PrewarmBoard::Snapshot(const std::string& job_id) {
  {
    std::unique_lock lock(mutex_);
    change_cv_.wait_for(lock, kClaimWait, [&] { return claiming_ == 0; });
    if (std::shared_ptr<PrewarmLiveJob> job = FollowableLocked(job_id)) {
      PrewarmSnapshot s = CopyLocked(*job);
      lock.unlock();
      Complete(s);
      return s;
    }
  }
  SAMCACHE_ASSIGN_OR_RETURN(PrewarmJobRecord row, catalog_.GetPrewarmJob(job_id));
  return SnapshotFromCatalog(row);
}

void PrewarmBoard::AdoptCompleted(const PrewarmJobRecord& row) {
  // Another process computed these embeddings: the store learns of files it did not write
  // when asked for their keys, so ask once, and the final count includes them.
  {
    std::lock_guard lock(mutex_);
    if (adopted_.size() >= kFinishedJobsKept) adopted_.clear();
    if (!adopted_.insert(row.id).second) return;
  }
  Result<DatasetRecord> dataset = catalog_.GetDataset(row.dataset_id);
  if (!dataset.ok()) return;
  if (Result<std::vector<ImageKey>> images = catalog_.ListImageKeys(row.dataset_id); images.ok()) {
    std::vector<std::string> hashes;
    hashes.reserve(images->size());
    for (const ImageKey& image : *images) hashes.push_back(image.pixel_hash);
    embeddings_.AreCached(projects_.CacheHashes(dataset->project_id, hashes));  // under the project's keys
  }
}

Result<PrewarmSnapshot> PrewarmBoard::SnapshotFromCatalog(const PrewarmJobRecord& row) {
  PrewarmSnapshot s;
  s.job = row;
  SAMCACHE_ASSIGN_OR_RETURN(s.failures, catalog_.ListPrewarmFailures(row.id));
  if (StateOf(row) == PrewarmJobState::kCompleted && row.model_id == model_id_) AdoptCompleted(row);
  Complete(s);
  return s;
}

Result<PrewarmUpdate> PrewarmBoard::WaitForUpdate(const std::string& job_id, int64_t after_seq,
                                                  std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  std::shared_ptr<PrewarmLiveJob> job = FollowableLocked(job_id);
  if (!job) {
    // Queued, or run by another process: poll the catalog at a modest rate (or until a
    // runner of this process takes it).
    change_cv_.wait_for(lock, std::min(timeout, std::chrono::milliseconds(kCatalogPoll)),
                        [&] { return shutting_down_ || FollowableLocked(job_id) != nullptr; });
    lock.unlock();
    SAMCACHE_ASSIGN_OR_RETURN(PrewarmSnapshot snapshot, Snapshot(job_id));
    lock.lock();
    job = FollowableLocked(job_id);
    if (!job) return PrewarmUpdate{std::move(snapshot), {}};
    // A runner of this process took the job meanwhile (Snapshot waits for its claim): answer
    // from the live entry, with the image events it has published since, or a follower that
    // connected just after Start() would skip to its sequence number and miss them.
  } else {
    change_cv_.wait_for(lock, timeout, [&] {
      return job->seq > after_seq || IsFinished(job->state) || !job->queued_or_running;
    });
  }
  PrewarmUpdate update{CopyLocked(*job), {}};
  auto first = std::upper_bound(job->events.begin(), job->events.end(), after_seq,
                                [](int64_t seq, const PrewarmImageEvent& e) { return seq < e.seq; });
  update.events.assign(first, job->events.end());
  lock.unlock();
  Complete(update.snapshot);  // no store query under the lock, and none per follower
  return update;
}

void PrewarmBoard::Shutdown() {
  {
    std::lock_guard lock(mutex_);
    shutting_down_ = true;
  }
  change_cv_.notify_all();
}

}  // namespace samcache
