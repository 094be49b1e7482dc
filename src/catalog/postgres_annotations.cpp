// PostgreSQL backend: annotations (see postgres_catalog.h).
#include "catalog/catalog_rows.h"
#include "catalog/postgres_catalog.h"

namespace samcache::catalog_internal::postgres {
namespace {

// Adds `delta` to the image's annotation_count and moves its dataset's "annotated" counter
// when the count leaves or reaches 0. The UPDATE locks the image row: annotations of one image
// are counted one at a time.
void CountAnnotation(pqxx::work& tx, const std::string& image_id, int64_t delta) {
  const pqxx::result r = tx.exec_params(
      "UPDATE images SET annotation_count = annotation_count + $1 WHERE id = $2 "
      "RETURNING dataset_id, annotation_count",
      delta, image_id);
  if (r.empty()) return;
  const std::string dataset_id = r[0][0].as<std::string>();
  const int64_t count = r[0][1].as<int64_t>();
  if (delta > 0 && count == delta) BumpCounter(tx, dataset_id, "annotated", 1);
  if (delta < 0 && count == 0) BumpCounter(tx, dataset_id, "annotated", -1);
}

}  // namespace

Status PostgresCatalog::CreateAnnotation(const AnnotationRecord& a) {
  return Run("create an annotation", [&](pqxx::connection& c) -> Status {
    pqxx::work tx(c);
    // Annotations of one image are numbered one at a time.
    if (tx.exec_params("SELECT 1 FROM images WHERE id = $1 FOR NO KEY UPDATE", a.image_id).empty()) {
      return Status::NotFound("no image with id '" + a.image_id + "'");
    }
    const NullableParam score = DoubleParam(a.score);
    tx.exec_params(
        "INSERT INTO annotations (" SAMCACHE_ANNOTATION_COLUMNS
        ") "
        "VALUES ($1, $2::varchar, (SELECT COALESCE(MAX(position), -1) + 1 FROM annotations "
        "WHERE image_id = $2::varchar), $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
        a.id, a.image_id, a.category, a.mask_height, a.mask_width, a.rle_counts, a.bbox[0], a.bbox[1],
        a.bbox[2], a.bbox[3], a.area, score.get(), a.prompt_json, a.model_id, a.created_at, a.updated_at);
    CountAnnotation(tx, a.image_id, 1);
    tx.commit();
    return Status::Ok();
  });
}

Result<AnnotationRecord> PostgresCatalog::GetAnnotation(const std::string& id) {
  return Run("read an annotation", [&](pqxx::connection& c) -> Result<AnnotationRecord> {
    pqxx::nontransaction tx(c);
    std::optional<AnnotationRecord> annotation =
        First(tx.exec_params(SAMCACHE_ANNOTATION_SELECT "WHERE a.id = $1", id), ReadAnnotation);
    if (!annotation) return Status::NotFound("no annotation with id '" + id + "'");
    return *std::move(annotation);
  });
}

Result<std::vector<AnnotationRecord>> PostgresCatalog::ListAnnotations(const std::string& image_id) {
  return Run("list annotations", [&](pqxx::connection& c) -> Result<std::vector<AnnotationRecord>> {
    pqxx::nontransaction tx(c);
    return Collect(
        tx.exec_params(SAMCACHE_ANNOTATION_SELECT "WHERE a.image_id = $1 ORDER BY a.position", image_id),
        ReadAnnotation);
  });
}

Result<std::vector<AnnotationRecord>> PostgresCatalog::ListAnnotationsPage(const std::string& image_id,
                                                                           int64_t after_position,
                                                                           size_t limit) {
  return Run("list annotations", [&](pqxx::connection& c) -> Result<std::vector<AnnotationRecord>> {
    pqxx::nontransaction tx(c);
    return Collect(tx.exec_params(SAMCACHE_ANNOTATION_SELECT
                                  "WHERE a.image_id = $1 AND a.position > $2 ORDER BY a.position LIMIT $3",
                                  image_id, after_position, static_cast<int64_t>(limit)),
                   ReadAnnotation);
  });
}

Result<std::vector<AnnotationRecord>> PostgresCatalog::ListDatasetAnnotations(const std::string& dataset_id) {
  return Run("list annotations", [&](pqxx::connection& c) -> Result<std::vector<AnnotationRecord>> {
    pqxx::nontransaction tx(c);
    return Collect(
        tx.exec_params(SAMCACHE_ANNOTATION_SELECT "WHERE i.dataset_id = $1 ORDER BY i.position, a.position",
                       dataset_id),
        ReadAnnotation);
  });
}

Status PostgresCatalog::UpdateAnnotation(const AnnotationRecord& a) {
  return Run("update an annotation", [&](pqxx::connection& c) -> Status {
    pqxx::nontransaction tx(c);
    const NullableParam score = DoubleParam(a.score);
    const pqxx::result r = tx.exec_params(
        "UPDATE annotations SET category = $1, mask_height = $2, mask_width = $3, rle_counts = $4, bbox_x = "
        "$5, "
        "bbox_y = $6, bbox_w = $7, bbox_h = $8, area = $9, score = $10, prompt_json = $11, updated_at = $12 "
        "WHERE id = $13",
        a.category, a.mask_height, a.mask_width, a.rle_counts, a.bbox[0], a.bbox[1], a.bbox[2], a.bbox[3],
        a.area, score.get(), a.prompt_json, a.updated_at, a.id);
    if (r.affected_rows() == 0) return Status::NotFound("no annotation with id '" + a.id + "'");
    return Status::Ok();
  });
}

Status PostgresCatalog::DeleteAnnotation(const std::string& id) {
  return Run("delete an annotation", [&](pqxx::connection& c) -> Status {
    pqxx::work tx(c);
    const pqxx::result r = tx.exec_params("DELETE FROM annotations WHERE id = $1 RETURNING image_id", id);
    if (r.empty()) return Status::NotFound("no annotation with id '" + id + "'");
    CountAnnotation(tx, r[0][0].as<std::string>(), -1);
    tx.commit();
    return Status::Ok();
  });
}

Result<std::vector<std::pair<std::string, int64_t>>> PostgresCatalog::CountAnnotationsPerImage(
    const std::string& dataset_id) {
  return Run(
      "count annotations", [&](pqxx::connection& c) -> Result<std::vector<std::pair<std::string, int64_t>>> {
        pqxx::nontransaction tx(c);
        return Collect(tx.exec_params(
                           // The images' counts (kept by Create/DeleteAnnotation), on the partial index.
                           "SELECT i.id, i.annotation_count FROM images i "
                           "WHERE i.dataset_id = $1 AND i.annotation_count > 0",
                           dataset_id),
                       ReadKeyCount);
      });
}

}  // namespace samcache::catalog_internal::postgres
