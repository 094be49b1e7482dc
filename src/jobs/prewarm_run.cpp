#include "jobs/prewarm_run.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <thread>

#include "common/files.h"
#include "common/server_paths.h"
#include "jobs/prewarm_claims.h"
#include "jobs/prewarm_text.h"

namespace samcache {
namespace {

using Clock = std::chrono::steady_clock;

constexpr auto kSaveInterval = std::chrono::milliseconds(200);
constexpr auto kQueueFullRetry = std::chrono::milliseconds(100);

PrewarmImageEvent Event(const ImageKey& image, PrewarmImageState state, std::string detail) {
  return PrewarmImageEvent{0, image.id, image.filename, state, std::move(detail)};
}

}  // namespace

PrewarmRun::PrewarmRun(Catalog& catalog, EmbeddingService& embeddings, ProjectCache& projects,
                       PrewarmBoard& board, const PrewarmOptions& options, PrewarmLiveJob& job)
    : catalog_(catalog),
      embeddings_(embeddings),
      projects_(projects),
      board_(board),
      options_(options),
      job_(job),
      id_(job.record.id) {}

void PrewarmRun::Execute() {
  Notify("claimed");
  if (!Prepare()) return;
  Pipeline();
  End();
}

bool PrewarmRun::Prepare() {
  Result<DatasetRecord> dataset = catalog_.GetDataset(job_.record.dataset_id);
  if (!dataset.ok()) {
    spdlog::error("[PREWARM] job {}: cannot read the dataset: {}", id_, dataset.status().message());
    Finish(PrewarmJobState::kFailed, "cannot read the dataset: " + dataset.status().message());
    return false;
  }
  project_id_ = dataset->project_id;
  Result<std::vector<ImageKey>> images = catalog_.ListImageKeys(job_.record.dataset_id);
  if (!images.ok()) {
    spdlog::error("[PREWARM] job {}: cannot list the dataset's images: {}", id_, images.status().message());
    Finish(PrewarmJobState::kFailed, "cannot list the dataset's images: " + images.status().message());
    return false;
  }
  images_ = std::move(images).value();
  for (const ImageKey& image : images_) {
    if (image.position >= job_.record.next_position) remaining_.push_back(&image);
  }
  std::vector<std::string> pixel_hashes;
  pixel_hashes.reserve(remaining_.size());
  for (const ImageKey* image : remaining_) pixel_hashes.push_back(image->pixel_hash);
  cached_ = projects_.CachedFor(project_id_, pixel_hashes);  // one batched claim query, one store query

  std::set<std::string> to_compute;
  for (size_t i = 0; i < remaining_.size(); ++i) {
    if (!cached_[i]) to_compute.insert(remaining_[i]->pixel_hash);
  }
  board_.Locked([&] {
    PrewarmJobRecord& r = job_.record;
    job_.state = PrewarmJobState::kRunning;
    r.total = r.done + static_cast<int64_t>(remaining_.size());
    r.to_compute = static_cast<int64_t>(to_compute.size());
    if (r.started_at.empty()) r.started_at = NowIso8601();
  });
  if (!Save(/*force=*/true)) {
    if (!StoppedElsewhere()) Finish(PrewarmJobState::kCancelled, "");
    return false;
  }
  spdlog::info("[PREWARM] job {} running: {} image(s) to handle, {} cached, {} to compute", id_,
               remaining_.size(), remaining_.size() - std::count(cached_.begin(), cached_.end(), false),
               to_compute.size());
  board_.Publish(job_, std::nullopt);
  mark_ = Clock::now();
  return true;
}

void PrewarmRun::Pipeline() {
  for (size_t i = 0; i < remaining_.size() && !interrupted_ && !board_.StopRequested(job_); ++i) {
    if (!Admit(i)) break;
    while (!interrupted_ && !in_order_.empty() &&
           (!in_order_.front().pending || computing_ >= options_.pipeline_depth)) {
      SettleFront();
    }
  }
  while (!interrupted_ && !in_order_.empty()) SettleFront();
}

bool PrewarmRun::Admit(size_t i) {
  const ImageKey& image = *remaining_[i];
  Entry entry{&image, std::nullopt, ""};
  if (cached_[i]) {
    entry.skip_reason = "cached";
  } else if (!asked_.insert(image.pixel_hash).second) {
    entry.skip_reason = "same pixels as an earlier image";
  } else {
    // A full encoder queue (other jobs, clicks) makes the job wait, never fail.
    const ImageSource source = projects_.SourceFor(image, project_id_);
    Result<PendingEmbedding> pending = embeddings_.Request(source);
    while (!pending.ok() && !interrupted_ && !board_.StopRequested(job_)) {
      if (!in_order_.empty()) {
        SettleFront();
      } else {
        std::this_thread::sleep_for(kQueueFullRetry);
      }
      pending = embeddings_.Request(source);
    }
    if (!pending.ok()) return false;
    entry.pending = std::move(pending).value();
    ++computing_;
  }
  in_order_.push_back(std::move(entry));
  return true;
}

void PrewarmRun::SettleFront() {
  Entry entry = std::move(in_order_.front());
  in_order_.pop_front();
  std::optional<PrewarmImageEvent> outcome = Await(entry);
  if (!outcome) {
    interrupted_ = true;
    return;
  }
  Count(entry, std::move(*outcome));
}

std::optional<PrewarmImageEvent> PrewarmRun::Await(Entry& entry) {
  const ImageKey& image = *entry.image;
  if (!entry.pending) return Event(image, PrewarmImageState::kSkipped, entry.skip_reason);
  --computing_;
  board_.Publish(job_, Event(image, PrewarmImageState::kComputing, ""));
  Result<EmbeddingLookup> lookup = entry.pending->Wait();
  if (!lookup.ok() && lookup.status().code() == StatusCode::kUnavailable) return std::nullopt;
  if (!lookup.ok()) {
    return Event(image, PrewarmImageState::kFailed, WithoutServerPaths(lookup.status().message()));
  }
  // Computed is a promise that the next click finds it cached: not kept, it is a failure.
  if (!lookup->store_status.ok()) {
    return Event(image, PrewarmImageState::kFailed,
                 "computed, but the embedding could not be stored: " +
                     WithoutServerPaths(lookup->store_status.message()));
  }
  // Not cached for the project when the run began (else it was skipped without asking): found
  // in the store or computed by another request now, it is still news to the project, and
  // "skipped" would tell it that another project has the picture.
  return Event(image, PrewarmImageState::kComputed, "");
}

void PrewarmRun::Count(const Entry& entry, PrewarmImageEvent outcome) {
  const ImageKey& image = *entry.image;
  const Clock::time_point now = Clock::now();
  board_.Locked([&] {
    PrewarmJobRecord& r = job_.record;
    ++r.done;
    switch (outcome.state) {
      case PrewarmImageState::kSkipped:
        ++r.skipped;
        break;
      case PrewarmImageState::kFailed: {
        ++r.failed;
        PrewarmFailure failure{image.id, image.filename, outcome.detail};
        job_.failures.push_back(failure);
        job_.unsaved_failures.push_back(std::move(failure));
        break;
      }
      case PrewarmImageState::kComputed:
        ++r.computed;
        r.compute_seconds += std::chrono::duration<double>(now - mark_).count();
        break;
      case PrewarmImageState::kComputing:
        break;
    }
    if (entry.pending) r.to_compute = std::max<int64_t>(0, r.to_compute - 1);
    r.next_position = image.position + 1;
  });
  if (outcome.state == PrewarmImageState::kComputed) unclaimed_.push_back(image.pixel_hash);
  mark_ = now;
  if (outcome.state == PrewarmImageState::kFailed) {
    spdlog::warn("[PREWARM] job {}: {} failed: {}", id_, image.filename, outcome.detail);
  }
  board_.Publish(job_, std::move(outcome));
  // At most every 200 ms (failures at once): a row that lags after a kill only means the
  // resumed job finds those images in the cache and skips them.
  Save(/*force=*/false);  // a false return sets cancel_requested
}

void PrewarmRun::End() {
  FlushClaims();  // before the final snapshot and its cache count
  const bool cancelled = board_.Locked([&] { return job_.cancel_requested; });
  if (cancelled) {
    if (StoppedElsewhere()) return;
    spdlog::info("[PREWARM] job {} cancelled at {}/{}", id_, job_.record.done, job_.record.total);
    Finish(PrewarmJobState::kCancelled, "");
  } else if (interrupted_ || board_.shutting_down()) {
    HandBack();
  } else {
    Complete();
  }
}

void PrewarmRun::Complete() {
  MarkFinished(PrewarmJobState::kCompleted, "");
  spdlog::info("[PREWARM] job {} {}", id_, PrewarmReadyText(board_.Snapshot(job_)));
  Conclude();
}

void PrewarmRun::HandBack() {
  // Saved at its position, then handed back to the queue: the next runner of any process
  // goes on from there without waiting for this one to look dead.
  if (Save(/*force=*/true)) {
    Result<bool> released = catalog_.ClaimPrewarmJob(id_, options_.runner_id, "", 0);
    if (released.ok() && *released) {
      board_.Locked([&] {
        job_.record.runner.clear();
        job_.record.heartbeat_ms = 0;
      });
    }
  }
  board_.Publish(job_, std::nullopt);
  spdlog::info("[PREWARM] job {} interrupted at {}/{}; the next process that runs prewarm jobs resumes it",
               id_, job_.record.done, job_.record.total);
  Notify("released");
}

void PrewarmRun::Finish(PrewarmJobState state, std::string error) {
  MarkFinished(state, std::move(error));
  Conclude();
}

void PrewarmRun::MarkFinished(PrewarmJobState state, std::string error) {
  board_.Locked([&] {
    job_.state = state;
    job_.record.error = std::move(error);
    job_.record.finished_at = NowIso8601();
    if (state == PrewarmJobState::kCompleted) job_.record.to_compute = 0;
  });
}

void PrewarmRun::Conclude() {
  if (!Save(/*force=*/true)) {
    if (StoppedElsewhere()) return;
    // Cancelled elsewhere while finishing: show what the catalog says.
    if (Result<PrewarmJobRecord> stored = catalog_.GetPrewarmJob(id_); stored.ok()) {
      board_.Locked([&] {
        job_.state = StateOf(*stored);
        job_.record.finished_at = stored->finished_at;
      });
    }
  }
  board_.Publish(job_, std::nullopt);
  Notify("finished");
}

bool PrewarmRun::StoppedElsewhere() {
  Result<PrewarmJobRecord> stored = catalog_.GetPrewarmJob(id_);
  if (!stored.ok() || stored->runner == options_.runner_id) return false;
  spdlog::info("[PREWARM] job {} was taken over by {} at {}/{}; this process stops running it", id_,
               stored->runner.empty() ? "the queue" : stored->runner, stored->done, stored->total);
  board_.Locked([&] { job_.SetRow(*stored); });  // snapshots follow the row from now on
  board_.Publish(job_, std::nullopt);
  Notify("lost");
  return true;
}

bool PrewarmRun::Save(bool force) {
  PrewarmJobRecord row;
  std::vector<PrewarmFailure> failures;
  const bool due = board_.Locked([&] {
    const Clock::time_point now = Clock::now();
    if (!force && job_.unsaved_failures.empty() && now - job_.last_save < kSaveInterval) return false;
    job_.last_save = now;
    job_.record.heartbeat_ms = UnixMillis();
    row = job_.Row();
    failures.swap(job_.unsaved_failures);
    return true;
  });
  if (!due) return true;
  FlushClaims();  // before the row moves past the images
  Result<bool> saved = catalog_.SavePrewarmProgress(row, failures);
  if (!saved.ok()) {
    // The job goes on; its progress is written again at the next save.
    spdlog::error("[PREWARM] job {}: cannot save progress: {}", id_, saved.status().message());
    board_.Locked([&] {
      job_.unsaved_failures.insert(job_.unsaved_failures.begin(), failures.begin(), failures.end());
    });
    return true;
  }
  if (!*saved) {
    // Cancelled through the catalog, or taken over: stop without writing.
    board_.Locked([&] { job_.cancel_requested = true; });
    return false;
  }
  return true;
}

void PrewarmRun::FlushClaims() {
  if (unclaimed_.empty()) return;
  projects_.ClaimFor(project_id_, unclaimed_);
  unclaimed_.clear();
}

void PrewarmRun::Notify(std::string_view event) {
  if (!options_.on_job) return;
  options_.on_job(event, board_.Snapshot(job_));
}

}  // namespace samcache
