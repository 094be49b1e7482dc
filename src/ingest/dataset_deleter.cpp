#include "ingest/dataset_deleter.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "common/files.h"

namespace samcache {
namespace {

// After a catalog failure (the database restarting, a full disk), the deletion waits this
// long before its next try; it stays queued.
constexpr auto kRetryAfter = std::chrono::seconds(5);

}  // namespace

DatasetDeleter::DatasetDeleter(ImageCatalog& catalog, BlobStore& blobs, DeleterOptions options)
    : catalog_(catalog), blobs_(blobs), options_(options) {}

DatasetDeleter::~DatasetDeleter() { Stop(); }

Status DatasetDeleter::Start() {
  SAMCACHE_ASSIGN_OR_RETURN(const std::vector<DatasetDeletion> unfinished,
                            catalog_.ListUnfinishedDatasetDeletions());
  {
    std::lock_guard lock(mu_);
    for (const DatasetDeletion& d : unfinished) {
      if (std::find(queue_.begin(), queue_.end(), d.dataset_id) != queue_.end()) continue;
      spdlog::info("[DATASET] resuming the deletion of {} ('{}'): {} of {} image(s) removed", d.dataset_id,
                   d.name, d.images_removed, d.images_total);
      queue_.push_back(d.dataset_id);
    }
    StartThreadLocked();
  }
  wake_.notify_one();
  return Status::Ok();
}

void DatasetDeleter::StartThreadLocked() {
  if (started_ || stopping_) return;
  started_ = true;
  thread_ = std::thread([this] { Run(); });
}

void DatasetDeleter::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

Result<DatasetDeletion> DatasetDeleter::Begin(const std::string& dataset_id) {
  SAMCACHE_ASSIGN_OR_RETURN(DatasetDeletion deletion,
                            catalog_.BeginDatasetDeletion(dataset_id, NowIso8601()));
  if (claims_ != nullptr) claims_->ForgetRecent();
  {
    std::lock_guard lock(mu_);
    if (std::find(queue_.begin(), queue_.end(), dataset_id) == queue_.end()) queue_.push_back(dataset_id);
    StartThreadLocked();
  }
  wake_.notify_one();
  return deletion;
}

Status DatasetDeleter::RunToEnd(const std::string& dataset_id) {
  for (;;) {
    SAMCACHE_ASSIGN_OR_RETURN(const bool finished, Step(dataset_id));
    if (finished) return Status::Ok();
  }
}

void DatasetDeleter::Run() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    if (queue_.empty()) {
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      continue;
    }
    const std::string id = queue_.front();
    lock.unlock();
    Result<bool> finished = Step(id);
    lock.lock();
    if (!finished.ok()) {
      spdlog::warn("[DATASET] the deletion of {} stopped for now ({}); trying again in {} s", id,
                   finished.status().message(), kRetryAfter.count());
      wake_.wait_for(lock, kRetryAfter, [this] { return stopping_; });
      continue;
    }
    if (*finished) {
      queue_.erase(std::remove(queue_.begin(), queue_.end(), id), queue_.end());
    } else if (options_.pause.count() > 0) {
      wake_.wait_for(lock, options_.pause, [this] { return stopping_; });
    }
  }
}

Result<bool> DatasetDeleter::Step(const std::string& dataset_id) {
  // Files first: those of a batch committed before a crash, then this batch's.
  SAMCACHE_RETURN_IF_ERROR(RemovePendingFiles(dataset_id));
  Result<DeletionBatch> batch = catalog_.DeleteDatasetBatch(dataset_id, options_.batch_images, NowIso8601());
  if (!batch.ok() && batch.status().code() == StatusCode::kNotFound) return true;  // finished elsewhere
  SAMCACHE_RETURN_IF_ERROR(batch);
  if (batch->finished) {
    Result<std::optional<DatasetDeletion>> done = catalog_.GetDatasetDeletion(dataset_id);
    const int64_t blobs = done.ok() && *done ? (*done)->blobs_removed : 0;
    spdlog::info("[DATASET] deleted {} ({} blob file(s) no longer referenced removed)", dataset_id, blobs);
    return true;
  }
  if (claims_ != nullptr) claims_->ForgetRecent();
  if (near_duplicates_ != nullptr) {
    Status st = near_duplicates_->OnImagesDeleted(batch->images);
    if (!st.ok())
      spdlog::warn("[NEAR-DUP] cannot update the index while deleting {}: {}", dataset_id, st.message());
  }
  SAMCACHE_RETURN_IF_ERROR(RemovePendingFiles(dataset_id));
  Result<std::optional<DatasetDeletion>> progress = catalog_.GetDatasetDeletion(dataset_id);
  if (progress.ok() && *progress) {
    spdlog::debug("[DATASET] deleting {}: {} of {} image(s) removed", dataset_id, (*progress)->images_removed,
                  (*progress)->images_total);
  }
  return false;
}

Status DatasetDeleter::RemovePendingFiles(const std::string& dataset_id) {
  SAMCACHE_ASSIGN_OR_RETURN(const std::vector<std::string> pending,
                            catalog_.ListPendingBlobRemovals(dataset_id));
  if (pending.empty()) return Status::Ok();
  // A file already gone was removed before a crash kept it from being forgotten: it counts.
  size_t removed = static_cast<size_t>(std::count_if(
      pending.begin(), pending.end(), [&](const std::string& hash) { return !blobs_.Contains(hash); }));
  // An upload may have brought the same content back since the batch committed: its row keeps the file.
  removed += blobs_.RemoveUnreferenced(pending, [&](const std::string& hash) {
    Result<bool> recorded = catalog_.HasBlob(hash);
    return !recorded.ok() || *recorded;  // when unsure, keep the file
  });
  return catalog_.ForgetPendingBlobRemovals(dataset_id, pending, static_cast<int64_t>(removed));
}

}  // namespace samcache
