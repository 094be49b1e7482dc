// Rows to records, once for both backends (catalog_rows.h).
#include "catalog/catalog_rows.h"

#include <cstddef>

#include "catalog/access_names.h"

namespace samcache::catalog_internal {

DatasetRecord ReadDataset(const RowReader& r) {
  return DatasetRecord{r.Text(0), r.Text(1), r.Text(2), r.Int(3), r.Text(4)};
}

CatalogStats ReadStats(const RowReader& r) {
  CatalogStats s;
  s.datasets = r.Int(0);
  s.images = r.Int(1);
  s.blobs = r.Int(2);
  s.blob_bytes = r.Int(3);
  s.schema_version = static_cast<int>(r.Int(4));
  return s;
}

ImageRecord ReadImage(const RowReader& r) {
  ImageRecord i;
  i.id = r.Text(0);
  i.dataset_id = r.Text(1);
  i.filename = r.Text(2);
  i.content_hash = r.Text(3);
  i.pixel_hash = r.Text(4);
  i.format = r.Text(5);
  i.mime_type = r.Text(6);
  i.byte_size = r.Int(7);
  i.width = static_cast<int>(r.Int(8));
  i.height = static_cast<int>(r.Int(9));
  i.position = r.Int(10);
  i.created_at = r.Text(11);
  i.perceptual_hash = ReadHashes(r, 12);
  return i;
}

ImageKey ReadImageKey(const RowReader& r) {
  return ImageKey{r.Text(0), r.Text(1), r.Text(2), r.Text(3), r.Int(4)};
}

BlobRecord ReadBlob(const RowReader& r) {
  BlobRecord b;
  b.content_hash = r.Text(0);
  b.pixel_hash = r.Text(1);
  b.format = r.Text(2);
  b.mime_type = r.Text(3);
  b.byte_size = r.Int(4);
  b.width = static_cast<int>(r.Int(5));
  b.height = static_cast<int>(r.Int(6));
  b.thumb_jpeg = r.Bytes(7);
  b.created_at = r.Text(8);
  b.perceptual_hash = ReadHashes(r, 9);
  return b;
}

PrewarmJobRecord ReadPrewarmJob(const RowReader& r) {
  PrewarmJobRecord j;
  j.id = r.Text(0);
  j.dataset_id = r.Text(1);
  j.model_id = r.Text(2);
  j.status = r.Text(3);
  j.total = r.Int(4);
  j.done = r.Int(5);
  j.computed = r.Int(6);
  j.skipped = r.Int(7);
  j.failed = r.Int(8);
  j.next_position = r.Int(9);
  j.compute_seconds = r.Double(10);
  j.error = r.Text(11);
  j.runner = r.Text(12);
  j.heartbeat_ms = r.Int(13);
  j.created_at = r.Text(14);
  j.started_at = r.Text(15);
  j.finished_at = r.Text(16);
  j.to_compute = r.Int(17);
  return j;
}

PrewarmFailure ReadPrewarmFailure(const RowReader& r) {
  return PrewarmFailure{r.Text(0), r.Text(1), r.Text(2)};
}

AnnotationRecord ReadAnnotation(const RowReader& r) {
  AnnotationRecord a;
  a.id = r.Text(0);
  a.image_id = r.Text(1);
  a.dataset_id = r.Text(2);
  a.category = r.Text(3);
  a.mask_height = static_cast<int>(r.Int(4));
  a.mask_width = static_cast<int>(r.Int(5));
  a.rle_counts = r.Text(6);
  for (int i = 0; i < 4; ++i) a.bbox[static_cast<size_t>(i)] = r.Double(7 + i);
  a.area = r.Int(11);
  if (!r.IsNull(12)) a.score = r.Double(12);
  a.prompt_json = r.Text(13);
  a.model_id = r.Text(14);
  a.created_at = r.Text(15);
  a.updated_at = r.Text(16);
  a.position = r.Int(17);
  return a;
}

// --- Whole-dataset work (streamed) ---
PlacedAnnotation ReadPlacedAnnotation(const RowReader& r) {
  PlacedAnnotation placed;
  placed.annotation = ReadAnnotation(r);
  placed.place = AnnotationPlace{r.Int(18), r.Int(17)};
  return placed;
}

DatasetDeletion ReadDatasetDeletion(const RowReader& r) {
  DatasetDeletion d;
  d.dataset_id = r.Text(0);
  d.project_id = r.Text(1);
  d.name = r.Text(2);
  d.images_total = r.Int(3);
  d.images_removed = r.Int(4);
  d.blobs_removed = r.Int(5);
  d.started_at = r.Text(6);
  d.finished_at = r.Text(7);
  d.state = d.finished_at.empty() ? DeletionState::kDeleting : DeletionState::kDeleted;
  return d;
}

PixelCopy ReadPixelCopy(const RowReader& r) { return PixelCopy{r.Text(0), r.Text(1)}; }

ProjectRecord ReadProject(const RowReader& r) { return ProjectRecord{r.Text(0), r.Text(1), r.Text(2)}; }

UserRecord ReadUser(const RowReader& r) {
  UserRecord u;
  u.id = r.Text(0);
  u.name = r.Text(1);
  u.role = ParseRole(r.Text(2)).value_or(Role::kViewer);
  u.password_hash = r.Text(3);
  u.created_at = r.Text(4);
  return u;
}

MembershipRecord ReadMembership(const RowReader& r) {
  return MembershipRecord{r.Text(0), r.Text(1), ParseRole(r.Text(2)).value_or(Role::kViewer)};
}

TokenRecord ReadToken(const RowReader& r) {
  TokenRecord t;
  t.id = r.Text(0);
  t.user_id = r.Text(1);
  t.name = r.Text(2);
  t.kind = ParseTokenKind(r.Text(3)).value_or(TokenKind::kLogin);
  t.hash = r.Text(4);
  t.created_at = r.Text(5);
  t.last_used_at = r.Text(6);
  t.expires_at = r.Text(7);
  t.revoked_at = r.Text(8);
  t.parent_id = r.Text(9);
  return t;
}

std::optional<PerceptualHash> ReadHashes(const RowReader& r, int col) {
  if (r.IsNull(col) || r.IsNull(col + 1)) return std::nullopt;
  return PerceptualHash{static_cast<uint64_t>(r.Int(col)), static_cast<uint64_t>(r.Int(col + 1))};
}

std::pair<std::string, PerceptualHash> ReadPicture(const RowReader& r) {
  // The query selects only rows whose hash is known.
  return {r.Text(0), ReadHashes(r, 1).value_or(PerceptualHash{})};
}

std::string ReadFirstText(const RowReader& r) { return r.Text(0); }

std::pair<std::string, std::string> ReadTextPair(const RowReader& r) { return {r.Text(0), r.Text(1)}; }

std::pair<std::string, int64_t> ReadKeyCount(const RowReader& r) { return {r.Text(0), r.Int(1)}; }

}  // namespace samcache::catalog_internal
