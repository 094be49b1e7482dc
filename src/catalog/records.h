// The catalog's records: plain structs shared by its interfaces (image_catalog.h,
// prewarm_queue.h, annotation_catalog.h) and both backends. Nothing backend-specific here.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "image/perceptual_hash.h"

namespace samcache {

// The project every catalog has from its first migration on: datasets made before projects
// existed, and by a server without accounts (--insecure-no-auth), belong to it.
inline constexpr const char* kDefaultProjectId = "0000000000000000";

struct DatasetRecord {
  std::string id;
  std::string name;
  std::string created_at;   // ISO 8601 UTC
  int64_t image_count = 0;  // filled by reads, ignored by CreateDataset
  std::string project_id = kDefaultProjectId;
};

// One distinct content (by SHA-256 of its bytes) and what was derived from it once.
struct BlobRecord {
  std::string content_hash;  // SHA-256 hex of the file's bytes
  std::string pixel_hash;    // SHA-256 hex of the decoded, oriented RGB8 pixels and size
  std::string format;        // "jpeg", "png", ...
  std::string mime_type;
  int64_t byte_size = 0;
  int width = 0;  // after EXIF orientation
  int height = 0;
  std::string thumb_jpeg;  // small JPEG preview bytes
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

// What a whole-dataset job (prewarm) needs of an image, from the images table alone: reading
// the blob rows too (which hold the thumbnails) costs ten times as much at 100,000 images.
struct ImageKey {
  std::string id;
  std::string filename;
  std::string content_hash;
  std::string pixel_hash;
  int64_t position = 0;
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
  // dataset of the same project (including earlier files of the same upload). Decided inside the transaction,
  // so of N concurrent uploads of new content exactly one sees false.
  bool duplicate = false;
};

// A prewarm job: compute the embeddings a dataset's images lack, for one model. Kept in the
// catalog so that it survives the process running it and can be resumed where it stopped.
struct PrewarmJobRecord {
  std::string id;
  std::string dataset_id;
  std::string model_id;
  std::string status;  // jobs/prewarm_types.h: queued, running, completed, cancelled, failed
  int64_t total = 0;
  int64_t done = 0;  // computed + skipped + failed
  int64_t computed = 0;
  int64_t skipped = 0;
  int64_t failed = 0;
  // Images are handled in upload order; the next one to handle on resume is the first with
  // a position at or after this.
  int64_t next_position = 0;
  int64_t to_compute = 0;      // images still to handle that need the encoder
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
  int64_t position = 0;  // creation order within the image; filled by reads, ignored by writes
};

// An image with the same pixels as an older image (in any dataset of the same project).
struct PixelCopy {
  std::string image_id;
  std::string original_image_id;
};

// --- Whole-dataset work (streamed) ---

// Where an annotation stands in a dataset's export order: its image's position, then its own.
struct AnnotationPlace {
  int64_t image_position = -1;  // -1, -1: before the first
  int64_t position = -1;
};

struct PlacedAnnotation {
  AnnotationRecord annotation;
  AnnotationPlace place;
};

// A dataset being deleted in the background (or deleted). The dataset is hidden from the
// moment the deletion begins; its rows go in batches, each one short transaction.
enum class DeletionState { kDeleting, kDeleted };

struct DatasetDeletion {
  std::string dataset_id;
  std::string project_id;  // whose members may follow it
  std::string name;
  DeletionState state = DeletionState::kDeleting;
  int64_t images_total = 0;    // when the deletion began
  int64_t images_removed = 0;  // an upload racing the hide may add a few more than the total
  int64_t blobs_removed = 0;   // blob files removed (no other image referred to them)
  std::string started_at;
  std::string finished_at;  // empty while deleting
};

// What one batch of a background deletion removed.
struct DeletionBatch {
  std::vector<ImageRecord> images;          // the image rows removed
  std::vector<std::string> orphaned_blobs;  // content hashes whose blob rows went with them
  bool finished = false;                    // nothing is left: the dataset row is gone too
};

struct CatalogStats {
  int64_t datasets = 0;
  int64_t images = 0;
  int64_t blobs = 0;
  int64_t blob_bytes = 0;
  int schema_version = 0;
};

}  // namespace samcache

namespace samcache {

// What a user may do. Ordered: each role may do everything the ones before it may.
//   viewer     read and export the project's datasets
//   annotator  also upload, prewarm, click, annotate, delete its datasets
//   admin      everything in every project, and users, projects and tokens
enum class Role { kViewer = 1, kAnnotator = 2, kAdmin = 3 };

struct ProjectRecord {
  std::string id;
  std::string name;
  std::string created_at;
};

struct UserRecord {
  std::string id;
  std::string name;
  // kAdmin: every project. Otherwise the role the user gets in a project it is added to
  // without one; what it may do in a project is its membership's role.
  Role role = Role::kViewer;
  std::string password_hash;  // an Argon2id encoded string; empty: no password login
  std::string created_at;
};

struct MembershipRecord {
  std::string project_id;
  std::string user_id;
  Role role = Role::kViewer;  // kViewer or kAnnotator
};

enum class TokenKind {
  kApi,      // an API token a person created (Authorization: Bearer)
  kSession,  // the page's login (an HttpOnly cookie)
  kLogin,    // a one-time login link: exchanged for a session at its first use
};

// A secret is never stored: `hash` is the SHA-256 of the random secret the holder keeps.
struct TokenRecord {
  std::string id;
  std::string user_id;
  std::string name;
  TokenKind kind = TokenKind::kApi;
  std::string hash;
  std::string created_at;
  std::string last_used_at;  // empty: never used
  std::string expires_at;    // empty: does not expire
  std::string revoked_at;    // empty: valid
  // A page session made from an API token: revoking the token revokes the session too.
  std::string parent_id;
};

}  // namespace samcache
