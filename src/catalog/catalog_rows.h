// What both catalog backends share about rows: the column lists of the SELECTs, and the one
// mapping from a row of them to a record. Internal to src/catalog.
//
// The column lists are macros so that a backend can append its own WHERE clause (with its own
// placeholders) as one string literal: the SQLite backend keeps each prepared statement by the
// address of its SQL text. A mapper reads columns by position, in the order of its list.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "catalog/records.h"

// Read by ReadDataset: id, name, created_at, image_count, project_id.
// image_count is the dataset's counter (image_pages.h), not a count of its rows.
#define SAMCACHE_DATASET_SELECT                                                              \
  "SELECT d.id, d.name, d.created_at, COALESCE((SELECT c.value FROM dataset_counts c WHERE " \
  "c.dataset_id = d.id AND c.name = 'images'), 0), d.project_id FROM datasets d "

// Read by ReadImageKey: the images table alone (images.pixel_hash is kept with the row).
#define SAMCACHE_IMAGE_KEY_SELECT "SELECT id, filename, content_hash, pixel_hash, position FROM images "
// Read by ReadImage. The picture's fields come from the blob row.
#define SAMCACHE_IMAGE_SELECT                                                                    \
  "SELECT i.id, i.dataset_id, i.filename, i.content_hash, b.pixel_hash, b.format, b.mime_type, " \
  "b.byte_size, i.width, i.height, i.position, i.created_at, b.phash, b.phash_mirrored "         \
  "FROM images i "                                                                               \
  "JOIN blobs b ON b.content_hash = i.content_hash "

// Every column of a blob row, as read by ReadBlob and written by AddImage.
#define SAMCACHE_BLOB_COLUMNS                                                                       \
  "content_hash, pixel_hash, format, mime_type, byte_size, width, height, thumb_jpeg, created_at, " \
  "phash, phash_mirrored"

// Read by ReadPrewarmJob (also as a RETURNING list).
#define SAMCACHE_PREWARM_JOB_COLUMNS                                                          \
  "id, dataset_id, model_id, status, total, done, computed, skipped, failed, next_position, " \
  "compute_seconds, error, runner, heartbeat_ms, created_at, started_at, finished_at, to_compute"
#define SAMCACHE_PREWARM_JOB_SELECT "SELECT " SAMCACHE_PREWARM_JOB_COLUMNS " FROM prewarm_jobs "
#define SAMCACHE_UNFINISHED "status IN ('queued', 'running')"

// Read by ReadStats.
#define SAMCACHE_STATS_SELECT                                                                             \
  "SELECT (SELECT COUNT(*) FROM datasets), (SELECT COUNT(*) FROM images), (SELECT COUNT(*) FROM blobs), " \
  "(SELECT CAST(COALESCE(SUM(byte_size), 0) AS BIGINT) FROM blobs), "                                     \
  "(SELECT COALESCE(MAX(version), 0) FROM schema_migrations)"

// Read by ReadAnnotation; the dataset comes from the image.
#define SAMCACHE_ANNOTATION_SELECT                                                                 \
  "SELECT a.id, a.image_id, i.dataset_id, a.category, a.mask_height, a.mask_width, a.rle_counts, " \
  "a.bbox_x, a.bbox_y, a.bbox_w, a.bbox_h, a.area, a.score, a.prompt_json, a.model_id, "           \
  "a.created_at, a.updated_at, a.position FROM annotations a JOIN images i ON i.id = a.image_id "
// --- Whole-dataset work (streamed) ---
// Read by ReadPlacedAnnotation: the annotation's columns (its own position last), then its
// image's position.
#define SAMCACHE_PLACED_ANNOTATION_SELECT                                                          \
  "SELECT a.id, a.image_id, i.dataset_id, a.category, a.mask_height, a.mask_width, a.rle_counts, " \
  "a.bbox_x, a.bbox_y, a.bbox_w, a.bbox_h, a.area, a.score, a.prompt_json, a.model_id, "           \
  "a.created_at, a.updated_at, a.position, i.position FROM annotations a JOIN images i ON i.id = " \
  "a.image_id "
// Read by ReadDatasetDeletion.
#define SAMCACHE_DELETION_COLUMNS \
  "dataset_id, project_id, name, images_total, images_removed, blobs_removed, started_at, finished_at"
// The columns CreateAnnotation writes, position (numbered by the backend) third.
#define SAMCACHE_ANNOTATION_COLUMNS                                                                 \
  "id, image_id, position, category, mask_height, mask_width, rle_counts, bbox_x, bbox_y, bbox_w, " \
  "bbox_h, area, score, prompt_json, model_id, created_at, updated_at"

// Read by ReadProject, ReadUser, ReadMembership and ReadToken; also the order in which the
// backends write them.
#define SAMCACHE_PROJECT_COLUMNS "id, name, created_at"
#define SAMCACHE_USER_COLUMNS "id, name, role, password_hash, created_at"
#define SAMCACHE_MEMBERSHIP_COLUMNS "project_id, user_id, role"
#define SAMCACHE_TOKEN_COLUMNS \
  "id, user_id, name, kind, hash, created_at, last_used_at, expires_at, revoked_at, parent_id"

namespace samcache::catalog_internal {

// One result row of a backend, read by column position (0-based). NULL reads as "" or 0.
class RowReader {
 public:
  virtual bool IsNull(int col) const = 0;
  virtual std::string Text(int col) const = 0;
  // Binary data (BLOB, BYTEA) as raw bytes.
  virtual std::string Bytes(int col) const = 0;
  virtual int64_t Int(int col) const = 0;
  virtual double Double(int col) const = 0;

 protected:
  ~RowReader() = default;
};

DatasetRecord ReadDataset(const RowReader& row);
CatalogStats ReadStats(const RowReader& row);
ImageRecord ReadImage(const RowReader& row);
ImageKey ReadImageKey(const RowReader& row);
BlobRecord ReadBlob(const RowReader& row);
PrewarmJobRecord ReadPrewarmJob(const RowReader& row);
// image_id, filename, reason.
PrewarmFailure ReadPrewarmFailure(const RowReader& row);
AnnotationRecord ReadAnnotation(const RowReader& row);
// --- Whole-dataset work (streamed) ---
PlacedAnnotation ReadPlacedAnnotation(const RowReader& row);
DatasetDeletion ReadDatasetDeletion(const RowReader& row);
// image_id, original_image_id.
PixelCopy ReadPixelCopy(const RowReader& row);
// A role or kind the catalog does not know reads as the least it could be (viewer, login).
ProjectRecord ReadProject(const RowReader& row);
UserRecord ReadUser(const RowReader& row);
MembershipRecord ReadMembership(const RowReader& row);
TokenRecord ReadToken(const RowReader& row);

// Two hash columns (hash, mirrored) starting at `col`, stored as signed 64-bit integers with
// the same bits; absent when either is NULL.
std::optional<PerceptualHash> ReadHashes(const RowReader& row, int col);
// pixel_hash, MIN(phash), MIN(phash_mirrored): a picture of ForEachPicture.
std::pair<std::string, PerceptualHash> ReadPicture(const RowReader& row);
// The first column as text (a content hash, an id).
std::string ReadFirstText(const RowReader& row);
// Two text columns, e.g. (project_id, pixel_hash).
std::pair<std::string, std::string> ReadTextPair(const RowReader& row);
// A key and a count, e.g. (status, jobs) or (image_id, annotations).
std::pair<std::string, int64_t> ReadKeyCount(const RowReader& row);

}  // namespace samcache::catalog_internal
