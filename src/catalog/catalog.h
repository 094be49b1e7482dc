// The catalog: datasets, images and the distinct blobs they refer to.
//
// One interface, two backends: SQLite (one machine, the default) and PostgreSQL (several
// instances sharing one database), with the same schema versions and the same behaviour. Records
// are plain structs; nothing backend-specific crosses this header. Every method is
// thread-safe and each mutating method is one transaction: after a crash the catalog holds
// either all of a call's rows or none of them.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <utility>
#include <string>
#include <vector>

#include "common/status.h"
#include "image/perceptual_hash.h"

namespace samcache {

struct DatasetRecord {
  std::string id;
  std::string name;
  std::string created_at;   // ISO 8601 UTC
  int64_t image_count = 0;  // filled by reads, ignored by CreateDataset
};

// One distinct content (by SHA-256 of its bytes) and what was derived from it once.
struct BlobRecord {
  std::string content_hash;  // SHA-256 hex of the file's bytes
  std::string pixel_hash;    // SHA-256 hex of the decoded, oriented RGB8 pixels and size
  std::string format;        // "jpeg", "png", ...
  std::string mime_type;
  int64_t byte_size = 0;
  int width = 0;             // after EXIF orientation
  int height = 0;
  std::string thumb_jpeg;    // small JPEG preview bytes
  std::string created_at;
  // Absent for content stored before schema version 3 until it is computed (BackfillPerceptualHashes).
  std::optional<PerceptualHash> perceptual_hash;
};

struct ImageRecord {
  std::string id;
  std::string dataset_id;
  std::string filename;  // as the uploader named it: data, never a path we open
  std::string content_hash;
  std::string pixel_hash;
  std::string format;
  std::string mime_type;
  int64_t byte_size = 0;
  int width = 0;
  int height = 0;
  int64_t position = 0;  // upload order within the dataset
  std::string created_at;
  std::optional<PerceptualHash> perceptual_hash;  // of its blob
};

struct NewImage {
  std::string id;
  std::string dataset_id;
  std::string filename;
  BlobRecord blob;  // inserted if no blob with this content_hash exists yet
};

struct AddImageOutcome {
  ImageRecord image;
  // True when another image with the same content_hash existed before this one, in any
  // dataset (including earlier files of the same upload). Decided inside the transaction,
  // so of N concurrent uploads of new content exactly one sees false.
  bool duplicate = false;
};

// A prewarm job: compute the embeddings a dataset's images lack, for one model. Kept in the
// catalog so that it survives the process running it and can be resumed where it stopped.
struct PrewarmJobRecord {
  std::string id;
  std::string dataset_id;
  std::string model_id;
  std::string status;  // see jobs/prewarm_jobs.h: queued, running, completed, cancelled, failed
  int64_t total = 0;
  int64_t done = 0;  // computed + skipped + failed
  int64_t computed = 0;
  int64_t skipped = 0;
  int64_t failed = 0;
  // Images are handled in upload order; the next one to handle on resume is the first with
  // a position at or after this.
  int64_t next_position = 0;
  int64_t to_compute = 0;  // images still to handle that need the encoder
  double compute_seconds = 0;  // time spent on computed images only (the ETA's basis)
  std::string error;
  std::string runner;        // "host:pid" of the process running it; empty when none has
  int64_t heartbeat_ms = 0;  // Unix time of the runner's last word, for finding dead runners
  std::string created_at;
  std::string started_at;
  std::string finished_at;
};

struct PrewarmFailure {
  std::string image_id;
  std::string filename;
  std::string reason;
};

// One labelled object on an image: a mask with a category name. The mask is kept as COCO's
// compressed RLE (the string pycocotools writes) of the image's full size, so export is a copy.
struct AnnotationRecord {
  std::string id;
  std::string image_id;
  std::string dataset_id;  // filled by reads, ignored by writes
  std::string category;
  int mask_height = 0;
  int mask_width = 0;
  std::string rle_counts;
  std::array<double, 4> bbox{};  // x, y, width, height
  int64_t area = 0;
  std::optional<double> score;
  std::string prompt_json;  // the prompts that produced the mask, as the client sent them; may be empty
  std::string model_id;
  std::string created_at;
  std::string updated_at;
};

// An image with the same pixels as an older image (in any dataset).
struct PixelCopy {
  std::string image_id;
  std::string original_image_id;
};

struct CatalogStats {
  int64_t datasets = 0;
  int64_t images = 0;
  int64_t blobs = 0;
  int64_t blob_bytes = 0;
  int schema_version = 0;
};

class Catalog {
 public:
  virtual ~Catalog() = default;

  // Brings the schema to the newest version; safe to call on an up-to-date catalog.
  virtual Status Migrate() = 0;
  virtual Result<int> SchemaVersion() = 0;

  virtual Status CreateDataset(const DatasetRecord& dataset) = 0;
  // NotFound when no dataset has this id.
  virtual Result<DatasetRecord> GetDataset(const std::string& id) = 0;
  // Finds a dataset by id, or else by exact name (the newest of that name).
  virtual Result<std::optional<DatasetRecord>> FindDataset(const std::string& id_or_name) = 0;
  // Newest first.
  virtual Result<std::vector<DatasetRecord>> ListDatasets() = 0;
  // Removes the dataset and its images. Returns the content hashes whose blob rows were
  // removed because no image refers to them any more: the caller deletes those files.
  virtual Result<std::vector<std::string>> DeleteDataset(const std::string& id) = 0;

  // Inserts the blob (if new) and the image in one transaction. NotFound if the dataset
  // does not exist.
  virtual Result<AddImageOutcome> AddImage(const NewImage& image) = 0;
  virtual Result<ImageRecord> GetImage(const std::string& id) = 0;
  // In upload order.
  virtual Result<std::vector<ImageRecord>> ListImages(const std::string& dataset_id) = 0;

  virtual Result<std::optional<BlobRecord>> FindBlob(const std::string& content_hash) = 0;
  virtual Result<bool> HasBlob(const std::string& content_hash) = 0;
  virtual Result<CatalogStats> Stats() = 0;

  // --- Perceptual hashes (near duplicates) ---
  // Calls `visit` once per distinct picture (pixel_hash) whose perceptual hash is known and
  // whose content was stored at or after `stored_since` (ISO 8601 UTC, as created_at; empty:
  // all), in no particular order. `visit` must not call back into the catalog.
  virtual Status ForEachPicture(
      const std::string& stored_since,
      const std::function<void(const std::string& pixel_hash, const PerceptualHash& hash)>& visit) = 0;
  // Every image showing exactly these pixels, in any dataset, oldest first.
  virtual Result<std::vector<ImageRecord>> ListImagesWithPixelHash(const std::string& pixel_hash) = 0;
  // Up to `limit` content hashes of blobs without a perceptual hash, in order, after `after`.
  virtual Result<std::vector<std::string>> BlobsWithoutPerceptualHash(const std::string& after,
                                                                      size_t limit) = 0;
  // NotFound when no blob has this content hash.
  virtual Status SetPerceptualHash(const std::string& content_hash, const PerceptualHash& hash) = 0;

  // --- Prewarm jobs ---
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
                                                                      const std::string& runner, int64_t now_ms,
                                                                      int64_t stale_before_ms) = 0;
  // Sets heartbeat_ms to `now_ms` while `runner` is the runner of the unfinished job; false
  // (nothing written) when the job finished, was cancelled or was taken over.
  virtual Result<bool> HeartbeatPrewarmJob(const std::string& id, const std::string& runner, int64_t now_ms) = 0;
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

  // --- Annotations ---
  // NotFound when the image does not exist. Annotations go after the image's others.
  virtual Status CreateAnnotation(const AnnotationRecord& annotation) = 0;
  // NotFound when no annotation has this id.
  virtual Result<AnnotationRecord> GetAnnotation(const std::string& id) = 0;
  // In creation order.
  virtual Result<std::vector<AnnotationRecord>> ListAnnotations(const std::string& image_id) = 0;
  // The dataset's images in upload order, each image's annotations in creation order.
  virtual Result<std::vector<AnnotationRecord>> ListDatasetAnnotations(const std::string& dataset_id) = 0;
  // Replaces category, mask, bbox, area, score, prompt_json and updated_at. NotFound when gone.
  virtual Status UpdateAnnotation(const AnnotationRecord& annotation) = 0;
  // NotFound when no annotation has this id.
  virtual Status DeleteAnnotation(const std::string& id) = 0;
  // (image_id, count) for the dataset's images that have annotations.
  virtual Result<std::vector<std::pair<std::string, int64_t>>> CountAnnotationsPerImage(
      const std::string& dataset_id) = 0;
  // The dataset's images whose pixels an older image (same order as ListImagesWithPixelHash)
  // already has, each with that oldest image.
  virtual Result<std::vector<PixelCopy>> ListPixelCopies(const std::string& dataset_id) = 0;
};

// Opens (creating if needed) the SQLite catalog at `path` and applies migrations.
Result<std::unique_ptr<Catalog>> OpenSqliteCatalog(const std::string& path);

struct PostgresOptions {
  // Connections kept open at most; calls beyond it wait for one to be free.
  size_t max_connections = 8;
  // Used unless the URL sets connect_timeout itself.
  int connect_timeout_seconds = 10;
};

// Connects to the PostgreSQL database at `url` (postgresql://user[:password]@host[:port]/dbname,
// libpq's URL syntax) and applies migrations; several processes may do so at once. Unavailable
// when the server cannot be reached; messages never contain the password.
Result<std::unique_ptr<Catalog>> OpenPostgresCatalog(const std::string& url, const PostgresOptions& options = {});

// True for postgresql:// and postgres:// URLs.
bool IsPostgresUrl(const std::string& db);
// A PostgreSQL URL opens OpenPostgresCatalog; anything else is the path of a SQLite file.
Result<std::unique_ptr<Catalog>> OpenCatalog(const std::string& db, const PostgresOptions& options = {});
// `db` as it may be shown in logs and messages: a URL without its password and parameters.
std::string RedactCatalogLocation(const std::string& db);

}  // namespace samcache
