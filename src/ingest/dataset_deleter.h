// Deleting a large dataset in the background. Begin hides the dataset at once (one short
// transaction: it leaves the lists, its images answer 404, uploads into it are refused); a
// thread then removes its images, annotations, claims and blob rows in batches, each one
// short transaction, so uploads into other datasets wait at most one batch. The blob files no
// image refers to any more are removed after each batch commits (the catalog lists them as
// pending until then, so a crash between the two leaves nothing behind: the next start
// removes them). Deletions under way are picked up again by Start, after a restart or a
// kill -9, and by any instance sharing the catalog.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

#include "access/claims.h"
#include "catalog/image_catalog.h"
#include "common/status.h"
#include "similar/near_duplicates.h"
#include "store/blob_store.h"

namespace samcache {

struct DeleterOptions {
  // Images per batch (and per transaction). A dataset of at most this many is deleted at once
  // by the caller, as before background deletion existed.
  size_t batch_images = 1000;
  // A pause between batches: a throttle for a busy disk (and a way for tests to be slow).
  std::chrono::milliseconds pause{0};
};

class DatasetDeleter {
 public:
  DatasetDeleter(ImageCatalog& catalog, BlobStore& blobs, DeleterOptions options);
  ~DatasetDeleter();  // Stop()
  DatasetDeleter(const DatasetDeleter&) = delete;
  DatasetDeleter& operator=(const DatasetDeleter&) = delete;

  // Optional; set before Start. Told about each batch's removed images / dropped claims.
  void set_near_duplicate_finder(NearDuplicateFinder* finder) { near_duplicates_ = finder; }
  void set_claim_book(ClaimBook* claims) { claims_ = claims; }
  const DeleterOptions& options() const { return options_; }

  // Queues the deletions the catalog has under way (interrupted by a restart) and starts the
  // thread (Begin starts it too, without looking for interrupted ones).
  Status Start();
  // Finishes the batch in progress and stops; what is left resumes at the next Start.
  void Stop();

  // Hides the dataset and queues its deletion (a dataset being deleted already: its
  // deletion as it stands). NotFound for an unknown dataset.
  Result<DatasetDeletion> Begin(const std::string& dataset_id);
  // Deletes what is left of a begun deletion on the calling thread (tests, tools).
  Status RunToEnd(const std::string& dataset_id);

 private:
  void StartThreadLocked();
  void Run();
  // One batch and its files; true once the deletion is finished (or gone).
  Result<bool> Step(const std::string& dataset_id);
  // Removes the files of blob rows removed by committed batches, then forgets them.
  Status RemovePendingFiles(const std::string& dataset_id);

  ImageCatalog& catalog_;
  BlobStore& blobs_;
  const DeleterOptions options_;
  NearDuplicateFinder* near_duplicates_ = nullptr;
  ClaimBook* claims_ = nullptr;

  std::mutex mu_;
  std::condition_variable wake_;
  std::deque<std::string> queue_;
  bool stopping_ = false;
  bool started_ = false;
  std::thread thread_;
};

}  // namespace samcache
