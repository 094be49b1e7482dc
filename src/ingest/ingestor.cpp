#include "ingest/ingestor.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "common/crypto.h"
#include "common/files.h"
#include "common/server_paths.h"
#include "image/image_decoder.h"
#include "image/image_format.h"
#include "image/image_load.h"
#include "image/perceptual_hash.h"

namespace samcache {
namespace {

constexpr size_t kMaxFilenameBytes = 255;

}  // namespace

std::string CleanFilename(const std::string& name) {
  std::string out;
  for (unsigned char c : name) out.push_back(c < 0x20 || c == 0x7f ? '_' : static_cast<char>(c));
  if (out.size() > kMaxFilenameBytes) {
    out.resize(kMaxFilenameBytes);
    // Do not end in the middle of a UTF-8 sequence: drop continuation bytes and then the
    // lead byte whose sequence was cut.
    size_t end = out.size();
    while (end > 0 && (static_cast<unsigned char>(out[end - 1]) & 0xC0) == 0x80) --end;
    if (end > 0 && (static_cast<unsigned char>(out[end - 1]) & 0x80) != 0) {
      const unsigned char lead = static_cast<unsigned char>(out[end - 1]);
      const size_t needed = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
      if (out.size() - (end - 1) < needed) out.resize(end - 1);
    }
  }
  return out.empty() ? std::string("unnamed") : out;
}

Ingestor::Ingestor(ImageCatalog& catalog, BlobStore& blobs, IngestOptions options)
    : catalog_(catalog), blobs_(blobs), options_(options), prepare_pool_(options.prepare_threads) {}

Result<BlobRecord> Ingestor::DescribeNewContent(const IncomingFile& file) {
  SAMCACHE_ASSIGN_OR_RETURN(const LoadedImage loaded,
                            LoadCheckedImage(file.bytes, options_.max_image_pixels));
  const DecodedImage& decoded = loaded.pixels;
  BlobRecord blob;
  SAMCACHE_ASSIGN_OR_RETURN(blob.thumb_jpeg, MakeThumbnailJpeg(decoded, options_.thumb_max_side));
  blob.content_hash = file.content_hash;
  blob.pixel_hash = PixelHash(decoded);
  blob.format = std::string(FormatName(loaded.format));
  blob.mime_type = std::string(MimeType(loaded.format));
  blob.byte_size = static_cast<int64_t>(file.bytes.size());
  blob.width = static_cast<int>(decoded.width);
  blob.height = static_cast<int>(decoded.height);
  blob.perceptual_hash = ComputePerceptualHash(decoded);
  return blob;
}

Result<Ingestor::PreparedFile> Ingestor::Prepare(IncomingFile file) {
  file.filename = CleanFilename(file.filename);
  if (file.bytes.empty()) return Status::InvalidArgument("empty file (0 bytes)");
  if (file.content_hash.empty()) file.content_hash = Sha256Hex(file.bytes);

  // Byte-identical content was validated and decoded when it first arrived: reuse that.
  SAMCACHE_ASSIGN_OR_RETURN(std::optional<BlobRecord> known, catalog_.FindBlob(file.content_hash));
  PreparedFile prepared;
  if (known.has_value()) {
    prepared.blob = std::move(*known);
  } else {
    SAMCACHE_ASSIGN_OR_RETURN(prepared.blob, DescribeNewContent(file));
  }
  prepared.file = std::move(file);
  return prepared;
}

Result<IngestedImage> Ingestor::Commit(const std::string& dataset_id, const std::string& project_id,
                                       PreparedFile prepared, const std::function<Status()>& before_row) {
  const IncomingFile& file = prepared.file;
  prepared.blob.created_at = NowIso8601();
  const NewImage row{RandomId(), dataset_id, file.filename, prepared.blob};
  Result<AddImageOutcome> added = [&]() -> Result<AddImageOutcome> {
    auto pin = blobs_.PinForWrite();
    SAMCACHE_RETURN_IF_ERROR(blobs_.Put(file.content_hash, file.bytes));
    if (before_row) SAMCACHE_RETURN_IF_ERROR(before_row());
    return catalog_.AddImage(row);
  }();
  if (!added.ok()) {
    // The file may be new and now without a row: remove it unless the content is recorded.
    blobs_.RemoveUnreferenced({file.content_hash},
                              [&](const std::string& hash) { return BlobIsRecorded(hash); });
    return added.status();
  }

  IngestedImage out;
  out.image = std::move(added->image);
  out.duplicate = added->duplicate;
  out.embedding_cached = embedding_probe_ && embedding_probe_(project_id, out.image.pixel_hash);
  out.thumb_jpeg = std::move(prepared.blob.thumb_jpeg);
  if (out.duplicate) {
    spdlog::info("[DEDUP] Found duplicate image: {} (hash: {}..., cached: {})", out.image.filename,
                 out.image.content_hash.substr(0, 8), out.embedding_cached ? "True" : "False");
  }
  if (near_duplicates_ != nullptr) {
    // The image is stored: a failure here costs the report, not the upload.
    Result<std::vector<SimilarImage>> similar =
        near_duplicates_->OnImageStored(out.image, project_id, options_.max_near_duplicates_listed);
    if (!similar.ok()) {
      spdlog::warn("[NEAR-DUP] cannot look for near duplicates of {}: {}", out.image.filename,
                   similar.status().message());
    } else if (!similar->empty()) {
      out.near_duplicates = std::move(similar).value();
      const SimilarImage& closest = out.near_duplicates.front();
      spdlog::info("[NEAR-DUP] {} looks like {} in dataset '{}' (image {}, distance {}{}){}",
                   out.image.filename, closest.image.filename, closest.dataset_name, closest.image.id,
                   closest.distance, closest.mirrored ? ", mirrored" : "",
                   out.near_duplicates.size() > 1
                       ? " and " + std::to_string(out.near_duplicates.size() - 1) + " more"
                       : std::string());
    }
  }
  return out;
}

Result<IngestedImage> Ingestor::Ingest(const std::string& dataset_id, IncomingFile file) {
  SAMCACHE_ASSIGN_OR_RETURN(const DatasetRecord dataset, catalog_.GetDataset(dataset_id));
  SAMCACHE_ASSIGN_OR_RETURN(PreparedFile prepared, Prepare(std::move(file)));
  return Commit(dataset.id, dataset.project_id, std::move(prepared));
}

BlobStore::GarbageReport Ingestor::CollectGarbage(std::chrono::seconds grace, bool dry_run) {
  return blobs_.CollectGarbage([&](const std::string& hash) { return BlobIsRecorded(hash); }, grace, dry_run);
}

bool Ingestor::BlobIsRecorded(const std::string& content_hash) {
  Result<bool> recorded = catalog_.HasBlob(content_hash);
  return !recorded.ok() || *recorded;  // when unsure, keep the file
}

Result<DeleteOutcome> Ingestor::DeleteDataset(const std::string& dataset_id) {
  std::vector<ImageRecord> images;
  if (near_duplicates_ != nullptr) {
    SAMCACHE_ASSIGN_OR_RETURN(images, catalog_.ListImages(dataset_id));
  }
  Result<std::vector<std::string>> deleted = catalog_.DeleteDataset(dataset_id);
  // A full disk fails the catalog's write like any other (SQLite needs room for its log even
  // to delete): with the reserve's space back, the delete can go through and free more.
  if (!deleted.ok() && deleted.status().code() == StatusCode::kIoError && space_reserve_ != nullptr &&
      space_reserve_->Release()) {
    spdlog::warn("[DATASET] cannot delete {} ({}); trying again with the space reserve released", dataset_id,
                 deleted.status().message());
    deleted = catalog_.DeleteDataset(dataset_id);
  }
  SAMCACHE_RETURN_IF_ERROR(deleted);
  if (claims_ != nullptr) claims_->ForgetRecent();
  const std::vector<std::string>& orphans = *deleted;
  if (near_duplicates_ != nullptr) {
    Status st = near_duplicates_->OnImagesDeleted(images);
    if (!st.ok())
      spdlog::warn("[NEAR-DUP] cannot update the index after deleting {}: {}", dataset_id, st.message());
  }
  DeleteOutcome out;
  // An upload may have brought the same content back since the delete committed.
  out.blobs_removed =
      blobs_.RemoveUnreferenced(orphans, [&](const std::string& hash) { return BlobIsRecorded(hash); });
  if (space_reserve_ != nullptr) space_reserve_->Restore();  // only once there is room for it
  return out;
}

UploadBatch::UploadBatch(Ingestor& ingestor, ImageCatalog& catalog, std::string dataset_name,
                         std::optional<std::string> existing_dataset_id, std::string client,
                         std::string project_id)
    : ingestor_(ingestor),
      catalog_(catalog),
      dataset_name_(std::move(dataset_name)),
      // Enough to keep every worker busy while the next files arrive, and no more: each
      // pending file holds its bytes in memory.
      max_pending_(2 * ingestor.prepare_pool().size()),
      client_(std::move(client)),
      project_id_(std::move(project_id)) {
  if (existing_dataset_id) {
    dataset_id_ = *existing_dataset_id;
    dataset_created_ = true;
  } else {
    dataset_id_ = RandomId();
    if (dataset_name_.empty()) dataset_name_ = "dataset-" + dataset_id_.substr(0, 6);
  }
}

UploadBatch::~UploadBatch() { Finish(); }

void UploadBatch::Add(IncomingFile file) {
  bytes_received_ += static_cast<int64_t>(file.bytes.size());
  file.filename = CleanFilename(file.filename);
  std::string filename = file.filename;
  Ingestor& ingestor = ingestor_;
  pending_.push_back({std::move(filename),
                      ingestor.prepare_pool().Submit(client_, [&ingestor, file = std::move(file)]() mutable {
                        return ingestor.Prepare(std::move(file));
                      })});
  // Commit what is ready at the front without waiting, then make room if needed.
  while (!pending_.empty() &&
         pending_.front().prepared.wait_for(std::chrono::seconds(0)) == std::future_status::ready) {
    CommitOldest();
  }
  while (pending_.size() > max_pending_) CommitOldest();
}

void UploadBatch::AddUnreadable(std::string filename, const Status& why) {
  std::promise<Result<Ingestor::PreparedFile>> failed;
  failed.set_value(why);
  pending_.push_back({CleanFilename(filename), failed.get_future()});
  while (pending_.size() > max_pending_) CommitOldest();
}

void UploadBatch::Finish() {
  while (!pending_.empty()) CommitOldest();
  if (!created_here_ || !stored_.empty()) return;
  // Every row failed after the dataset was made (e.g. the catalog's disk filled up): an empty
  // dataset nobody asked for must not stay. Its id was never given out, so nothing else adds
  // to it; but a row whose commit went through while its reply was lost keeps it.
  Result<std::vector<ImageRecord>> images = catalog_.ListImages(dataset_id_);
  if (!images.ok() || !images->empty()) return;
  Result<DeleteOutcome> removed = ingestor_.DeleteDataset(dataset_id_);
  if (!removed.ok() && removed.status().code() != StatusCode::kNotFound) {
    spdlog::error("[UPLOAD] cannot remove the empty dataset {} of a failed upload: {}", dataset_id_,
                  removed.status().message());
    return;
  }
  spdlog::info("[UPLOAD] no file of the upload could be stored: removed its new dataset {}", dataset_id_);
  created_here_ = false;
  dataset_created_ = false;
}

void UploadBatch::Reject(const std::string& filename, const Status& status) {
  spdlog::warn("[UPLOAD] Rejected {}: {}", filename, status.message());
  // The reasons reach the client: a store's message should name no path, and this makes sure.
  rejected_.push_back({filename, WithoutServerPaths(status.message()), status.code()});
}

void UploadBatch::CommitOldest() {
  Pending next = std::move(pending_.front());
  pending_.pop_front();
  Result<Ingestor::PreparedFile> prepared = Status::Internal("not prepared");
  try {
    prepared = next.prepared.get();
  } catch (const std::exception& e) {
    prepared = Status::Internal(std::string("unexpected failure while reading the image: ") + e.what());
  }
  if (!prepared.ok()) return Reject(next.filename, prepared.status());
  // Created once the first file is written: a file the disk cannot take creates nothing.
  auto create_dataset = [this]() -> Status {
    if (dataset_created_) return Status::Ok();
    Status st =
        catalog_.CreateDataset(DatasetRecord{dataset_id_, dataset_name_, NowIso8601(), 0, project_id_});
    if (!st.ok()) return Status::IoError("could not create the dataset: " + st.message());
    dataset_created_ = true;
    created_here_ = true;
    return Status::Ok();
  };
  Result<IngestedImage> result =
      ingestor_.Commit(dataset_id_, project_id_, std::move(prepared).value(), create_dataset);
  if (!result.ok()) return Reject(next.filename, result.status());
  if (result->duplicate) ++duplicates_found_;
  stored_.push_back(std::move(result).value());
}

int64_t UploadBatch::near_duplicates_found() const {
  return std::count_if(stored_.begin(), stored_.end(),
                       [](const IngestedImage& image) { return !image.near_duplicates.empty(); });
}

Result<BackfillOutcome> Ingestor::BackfillPerceptualHashes() {
  BackfillOutcome outcome;
  constexpr size_t kBatch = 64;
  std::string after;
  for (;;) {
    SAMCACHE_ASSIGN_OR_RETURN(const std::vector<std::string> missing,
                              catalog_.BlobsWithoutPerceptualHash(after, kBatch));
    if (missing.empty()) return outcome;
    after = missing.back();
    std::vector<std::future<Result<PerceptualHash>>> hashes;
    for (const std::string& content_hash : missing) {
      hashes.push_back(prepare_pool_.Submit(std::string(), [this, content_hash]() -> Result<PerceptualHash> {
        SAMCACHE_ASSIGN_OR_RETURN(const std::string bytes, blobs_.Read(content_hash));
        Result<LoadedImage> loaded = LoadCheckedImage(bytes, options_.max_image_pixels);
        // The backfill's log line has always named the limit this briefly.
        if (!loaded.ok() && loaded.status().code() == StatusCode::kTooLarge) {
          return Status::TooLarge("above the pixel limit");
        }
        SAMCACHE_RETURN_IF_ERROR(loaded);
        return ComputePerceptualHash(loaded->pixels);
      }));
    }
    for (size_t i = 0; i < hashes.size(); ++i) {
      Result<PerceptualHash> hash = hashes[i].get();
      const std::string& content_hash = missing[i];
      Status st = hash.ok() ? catalog_.SetPerceptualHash(content_hash, *hash) : hash.status();
      if (st.ok()) {
        ++outcome.hashed;
      } else if (st.code() == StatusCode::kNotFound && hash.ok()) {
        // Deleted meanwhile: nothing to do.
      } else {
        ++outcome.failed;
        spdlog::warn("[NEAR-DUP] no perceptual hash for stored content {}: {}", content_hash, st.message());
      }
    }
  }
}

std::string DuplicatesMessage(int64_t count) {
  return std::to_string(count) + " image(s) already cached, prewarm will be faster";
}

std::string DuplicatesPendingMessage(int64_t count) {
  return std::to_string(count) + " duplicate image(s) not embedded yet; prewarm computes each once";
}

}  // namespace samcache
