// SQLite backend: annotations (see sqlite_catalog.h).
#include "catalog/catalog_rows.h"
#include "catalog/sqlite_catalog.h"

namespace samcache::catalog_internal::sqlite {
namespace {

// Binds what a client may change, in the order both statements list it: category, mask_height,
// mask_width, rle_counts, bbox_x, bbox_y, bbox_w, bbox_h, area, score, prompt_json.
Query& BindContent(Query& q, const AnnotationRecord& a) {
  return q.Bind(a.category)
      .Bind(int64_t{a.mask_height})
      .Bind(int64_t{a.mask_width})
      .Bind(a.rle_counts)
      .Bind(a.bbox[0])
      .Bind(a.bbox[1])
      .Bind(a.bbox[2])
      .Bind(a.bbox[3])
      .Bind(a.area)
      .Bind(a.score)
      .Bind(a.prompt_json);
}

}  // namespace

Status SqliteCatalog::CreateAnnotation(const AnnotationRecord& a) {
  std::lock_guard lock(mu_);
  return InWriteTransaction([&] { return CreateAnnotationLocked(a); });
}

Status SqliteCatalog::CreateAnnotationLocked(const AnnotationRecord& a) {
  {
    SAMCACHE_ASSIGN_OR_RETURN(Query q, conn_.Prepare("SELECT 1 FROM images WHERE id = ?"));
    SAMCACHE_ASSIGN_OR_RETURN(const bool found, q.Bind(a.image_id).Step());
    if (!found) return Status::NotFound("no image with id '" + a.image_id + "'");
  }
  SAMCACHE_ASSIGN_OR_RETURN(
      Query q,
      conn_.Prepare(
          "INSERT INTO annotations (" SAMCACHE_ANNOTATION_COLUMNS ") "
          "VALUES (?, ?, (SELECT COALESCE(MAX(position), -1) + 1 FROM annotations WHERE image_id = ?), "
          "?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
  q.Bind(a.id).Bind(a.image_id).Bind(a.image_id);
  SAMCACHE_RETURN_IF_ERROR(BindContent(q, a).Bind(a.model_id).Bind(a.created_at).Bind(a.updated_at).Run());
  return CountAnnotationLocked(a.image_id, 1);
}

Status SqliteCatalog::CountAnnotationLocked(const std::string& image_id, int64_t delta) {
  SAMCACHE_ASSIGN_OR_RETURN(
      Query q, conn_.Prepare("UPDATE images SET annotation_count = annotation_count + ? WHERE id = ? "
                             "RETURNING dataset_id, annotation_count"));
  SAMCACHE_ASSIGN_OR_RETURN(const auto row, q.Bind(delta).Bind(image_id).First(ReadKeyCount));
  if (!row) return Status::Ok();
  // The dataset's "annotated" counter moves when the image's count leaves or reaches 0.
  if (delta > 0 && row->second == delta) return BumpCounterLocked(row->first, "annotated", 1);
  if (delta < 0 && row->second == 0) return BumpCounterLocked(row->first, "annotated", -1);
  return Status::Ok();
}

Result<AnnotationRecord> SqliteCatalog::GetAnnotation(const std::string& id) {
  std::lock_guard lock(mu_);
  SAMCACHE_ASSIGN_OR_RETURN(Query q, conn_.Prepare(SAMCACHE_ANNOTATION_SELECT "WHERE a.id = ?"));
  SAMCACHE_ASSIGN_OR_RETURN(std::optional<AnnotationRecord> annotation, q.Bind(id).First(ReadAnnotation));
  if (!annotation) return Status::NotFound("no annotation with id '" + id + "'");
  return *std::move(annotation);
}

Result<std::vector<AnnotationRecord>> SqliteCatalog::ListAnnotations(const std::string& image_id) {
  std::lock_guard lock(mu_);
  SAMCACHE_ASSIGN_OR_RETURN(
      Query q, conn_.Prepare(SAMCACHE_ANNOTATION_SELECT "WHERE a.image_id = ? ORDER BY a.position"));
  return q.Bind(image_id).Collect(ReadAnnotation);
}

Result<std::vector<AnnotationRecord>> SqliteCatalog::ListAnnotationsPage(const std::string& image_id,
                                                                         int64_t after_position,
                                                                         size_t limit) {
  std::lock_guard lock(mu_);
  SAMCACHE_ASSIGN_OR_RETURN(
      Query q, conn_.Prepare(SAMCACHE_ANNOTATION_SELECT
                             "WHERE a.image_id = ? AND a.position > ? ORDER BY a.position LIMIT ?"));
  return q.Bind(image_id).Bind(after_position).Bind(static_cast<int64_t>(limit)).Collect(ReadAnnotation);
}

Result<std::vector<AnnotationRecord>> SqliteCatalog::ListDatasetAnnotations(const std::string& dataset_id) {
  std::lock_guard lock(mu_);
  SAMCACHE_ASSIGN_OR_RETURN(Query q, conn_.Prepare(SAMCACHE_ANNOTATION_SELECT
                                                   "WHERE i.dataset_id = ? ORDER BY i.position, a.position"));
  return q.Bind(dataset_id).Collect(ReadAnnotation);
}

Status SqliteCatalog::UpdateAnnotation(const AnnotationRecord& a) {
  std::lock_guard lock(mu_);
  SAMCACHE_ASSIGN_OR_RETURN(
      Query q,
      conn_.Prepare(
          "UPDATE annotations SET category = ?, mask_height = ?, mask_width = ?, rle_counts = ?, bbox_x = ?, "
          "bbox_y = ?, bbox_w = ?, bbox_h = ?, area = ?, score = ?, prompt_json = ?, updated_at = ? "
          "WHERE id = ?"));
  SAMCACHE_RETURN_IF_ERROR(BindContent(q, a).Bind(a.updated_at).Bind(a.id).Run());
  if (conn_.Changes() == 0) return Status::NotFound("no annotation with id '" + a.id + "'");
  return Status::Ok();
}

Status SqliteCatalog::DeleteAnnotation(const std::string& id) {
  std::lock_guard lock(mu_);
  return InWriteTransaction([&]() -> Status {
    SAMCACHE_ASSIGN_OR_RETURN(Query q,
                              conn_.Prepare("DELETE FROM annotations WHERE id = ? RETURNING image_id"));
    SAMCACHE_ASSIGN_OR_RETURN(const std::optional<std::string> image_id, q.Bind(id).First(ReadFirstText));
    if (!image_id) return Status::NotFound("no annotation with id '" + id + "'");
    return CountAnnotationLocked(*image_id, -1);
  });
}

Result<std::vector<std::pair<std::string, int64_t>>> SqliteCatalog::CountAnnotationsPerImage(
    const std::string& dataset_id) {
  std::lock_guard lock(mu_);
  // The images' counts (kept by Create/DeleteAnnotation), on the partial index of annotated images.
  SAMCACHE_ASSIGN_OR_RETURN(Query q, conn_.Prepare("SELECT i.id, i.annotation_count FROM images i "
                                                   "WHERE i.dataset_id = ? AND i.annotation_count > 0"));
  return q.Bind(dataset_id).Collect(ReadKeyCount);
}

}  // namespace samcache::catalog_internal::sqlite
