// Turning uploaded bytes into catalog rows and stored blobs.
//
// Used by the HTTP upload and by `samcache ingest` alike, so both behave the same.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "access/claims.h"
#include "catalog/image_catalog.h"
#include "common/status.h"
#include "ingest/decode_scheduler.h"
#include "similar/near_duplicates.h"
#include "store/blob_store.h"
#include "store/space_reserve.h"

namespace samcache {

struct IngestOptions {
  // Images whose header declares more pixels than this are refused before decoding.
  uint64_t max_image_pixels = 100'000'000;
  int thumb_max_side = 256;
  // Workers that validate and decode uploads (0: one per hardware thread). Shared by all
  // uploads, so concurrent requests cannot decode more images at once than this; clients take
  // turns on them (DecodeScheduler).
  size_t prepare_threads = 0;
  // Near duplicates listed per stored image (the closest first).
  size_t max_near_duplicates_listed = 20;
};

struct IncomingFile {
  std::string filename;  // the uploader's name for it: stored as data, never opened
  std::string bytes;
  std::string content_hash;  // SHA-256 hex computed while the bytes streamed in, or empty
};

struct IngestedImage {
  ImageRecord image;
  bool duplicate = false;         // this content was in the project's datasets before
  bool embedding_cached = false;  // the project may be told its embedding is cached (the probe)
  std::string thumb_jpeg;
  // Images of the same project that look like this one (other pixels), when near-duplicate
  // detection is on (Ingestor::set_near_duplicate_finder).
  std::vector<SimilarImage> near_duplicates;
};

struct RejectedFile {
  std::string filename;
  std::string error;  // a reason a person understands
  StatusCode code = StatusCode::kInvalidArgument;
};

struct DeleteOutcome {
  size_t blobs_removed = 0;
};

struct BackfillOutcome {
  size_t hashed = 0;
  size_t failed = 0;  // stored files that could not be read or decoded (logged)
};

class Ingestor {
 public:
  Ingestor(ImageCatalog& catalog, BlobStore& blobs, IngestOptions options);

  // Answers "may this project be told these pixels' embedding is cached under the active
  // model?" (ProjectCache::CachedFor) for the upload response and the [DEDUP] log. Without
  // one (no model loaded), nothing is cached. Set before the first upload.
  using EmbeddingProbe = std::function<bool(const std::string& project_id, const std::string& pixel_hash)>;
  void SetEmbeddingProbe(EmbeddingProbe probe) { embedding_probe_ = std::move(probe); }

  // A file that passed validation, ready to be stored.
  struct PreparedFile {
    IncomingFile file;
    BlobRecord blob;
  };

  // Validates the file and decodes it unless this exact content is already known. A non-ok
  // Status says why the file is refused. Stores nothing. Thread-safe.
  Result<PreparedFile> Prepare(IncomingFile file);
  // Stores the blob and records the image in `dataset_id`, a dataset of `project_id` (what
  // the answer says is about that project only). `before_row`, when given, runs once the
  // file is stored and before its row is added (a batch creates its dataset there, so a file
  // that cannot be written creates nothing); its failure fails the commit. Thread-safe.
  Result<IngestedImage> Commit(const std::string& dataset_id, const std::string& project_id,
                               PreparedFile prepared, const std::function<Status()>& before_row = {});
  // Prepare, then Commit into the dataset's project. NotFound for an unknown dataset.
  Result<IngestedImage> Ingest(const std::string& dataset_id, IncomingFile file);

  // Deletes a dataset, then the blob files no other dataset refers to. When the catalog
  // cannot write for lack of space, the space reserve (if set) is released and the delete
  // tried once more; after a delete, the reserve is made again if there is room.
  Result<DeleteOutcome> DeleteDataset(const std::string& dataset_id);

  // Removes stored files without a catalog row (left by a crash between the two writes),
  // if untouched for `grace`. See BlobStore::CollectGarbage.
  BlobStore::GarbageReport CollectGarbage(std::chrono::seconds grace, bool dry_run);

  // Computes the perceptual hash of stored content that has none (stored before schema
  // version 3), from the stored files, on the prepare workers. Safe to repeat.
  Result<BackfillOutcome> BackfillPerceptualHashes();

  // Turns on near-duplicate detection: Commit lists each image's near duplicates and adds its
  // picture to `finder`, DeleteDataset removes pictures. `finder` must outlive the ingestor.
  void set_near_duplicate_finder(NearDuplicateFinder* finder) { near_duplicates_ = finder; }
  // The data folder's space reserve, released so deletes work on a full disk. Must outlive
  // the ingestor; set before the first delete.
  void set_space_reserve(SpaceReserve* reserve) { space_reserve_ = reserve; }
  // The claims a delete drops (in the catalog): told to forget what it wrote lately, so the
  // project's next claim of a picture it brings back is written. Must outlive the ingestor.
  void set_claim_book(ClaimBook* claims) { claims_ = claims; }

  const IngestOptions& options() const { return options_; }
  DecodeScheduler& prepare_pool() { return prepare_pool_; }

 private:
  Result<BlobRecord> DescribeNewContent(const IncomingFile& file);
  // True when the catalog has a row for this content, or cannot tell.
  bool BlobIsRecorded(const std::string& content_hash);

  ImageCatalog& catalog_;
  BlobStore& blobs_;
  IngestOptions options_;
  DecodeScheduler prepare_pool_;
  NearDuplicateFinder* near_duplicates_ = nullptr;
  SpaceReserve* space_reserve_ = nullptr;
  ClaimBook* claims_ = nullptr;
  EmbeddingProbe embedding_probe_;
};

// One upload of several files into one dataset. The dataset is created when the first file
// is stored (after its blob is written, before its row), and deleted again by Finish() if
// no row could be added, so an upload whose files all fail (e.g. on a full disk) leaves
// nothing behind. A bad file is
// recorded in rejected() and never stops the others. Rejection reasons name no server path.
//
// Files are validated and decoded on the ingestor's workers while later files still arrive,
// and are committed in the order they were added (so positions and the first-seen copy
// follow the upload's order). Not thread-safe: one thread adds, then calls Finish().
class UploadBatch {
 public:
  // With `existing_dataset_id`, files go into that dataset, which must belong to
  // `project_id`; otherwise a new one named `dataset_name` is created in `project_id` (named
  // after its id when empty). Duplicates, near duplicates and "cached" are about that project
  // only. `client` (the HTTP peer's address) is whose turn the decoding waits for; empty is
  // one shared client.
  UploadBatch(Ingestor& ingestor, ImageCatalog& catalog, std::string dataset_name,
              std::optional<std::string> existing_dataset_id = std::nullopt, std::string client = {},
              std::string project_id = kDefaultProjectId);

  // Queues the file; blocks while too many files of this batch are waiting.
  void Add(IncomingFile file);
  // Records a file that could not even be read (e.g. a permission error), in its place in
  // the order.
  void AddUnreadable(std::string filename, const Status& why);
  // Waits until every added file is stored or rejected, then removes the dataset this batch
  // created if it is still empty (no file could be stored). The results below are complete
  // only after this.
  void Finish();
  ~UploadBatch();
  UploadBatch(const UploadBatch&) = delete;
  UploadBatch& operator=(const UploadBatch&) = delete;
  // Names the dataset; has no effect once the dataset exists.
  void set_dataset_name(std::string name) {
    if (!dataset_created_ && !name.empty()) dataset_name_ = std::move(name);
  }

  const std::string& dataset_id() const { return dataset_id_; }
  const std::string& dataset_name() const { return dataset_name_; }
  const std::string& project_id() const { return project_id_; }
  bool dataset_exists() const { return dataset_created_; }
  const std::vector<IngestedImage>& stored() const { return stored_; }
  const std::vector<RejectedFile>& rejected() const { return rejected_; }
  int64_t duplicates_found() const { return duplicates_found_; }
  // Stored images with at least one near duplicate.
  int64_t near_duplicates_found() const;
  int64_t bytes_received() const { return bytes_received_; }
  size_t completed() const { return stored_.size() + rejected_.size(); }

 private:
  struct Pending {
    std::string filename;
    std::future<Result<Ingestor::PreparedFile>> prepared;
  };
  // Stores or rejects the oldest pending file, waiting for its preparation.
  void CommitOldest();
  void Reject(const std::string& filename, const Status& status);

  Ingestor& ingestor_;
  ImageCatalog& catalog_;
  std::string dataset_id_;
  std::string dataset_name_;
  bool dataset_created_ = false;
  bool created_here_ = false;  // this batch created the dataset (and may remove it)
  std::vector<IngestedImage> stored_;
  std::vector<RejectedFile> rejected_;
  int64_t duplicates_found_ = 0;
  int64_t bytes_received_ = 0;
  std::deque<Pending> pending_;
  size_t max_pending_;
  std::string client_;
  std::string project_id_;
};

// The uploader's file name as we keep it: control characters replaced (they would garble
// logs and terminals), at most 255 bytes without cutting a UTF-8 sequence, never empty.
std::string CleanFilename(const std::string& name);

// The seed's message, e.g. "2 image(s) already cached, prewarm will be faster", where the
// count is of images whose embedding the project may be told is cached (the probe).
std::string DuplicatesMessage(int64_t count);
// For duplicates (same file seen before) whose embedding is not stored yet.
std::string DuplicatesPendingMessage(int64_t count);

}  // namespace samcache
