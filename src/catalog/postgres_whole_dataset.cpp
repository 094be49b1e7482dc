// PostgreSQL backend: whole-dataset work in bounded pieces (the streamed COCO export, the paged
// picture scan, background dataset deletion). See image_catalog.h and annotation_catalog.h.
#include <algorithm>

#include "catalog/catalog_rows.h"
#include "catalog/postgres_catalog.h"

namespace samcache::catalog_internal::postgres {

Result<std::vector<ImageRecord>> PostgresCatalog::ListImagesAfterPosition(const std::string& dataset_id,
                                                                          int64_t after_position,
                                                                          size_t limit) {
  return Run("list images", [&](pqxx::connection& c) -> Result<std::vector<ImageRecord>> {
    pqxx::nontransaction tx(c);
    return Collect(tx.exec_params(SAMCACHE_IMAGE_SELECT
                                  "WHERE i.dataset_id = $1 AND i.position > $2 ORDER BY i.position LIMIT $3",
                                  dataset_id, after_position, static_cast<int64_t>(limit)),
                   ReadImage);
  });
}

Result<std::vector<std::pair<std::string, PerceptualHash>>> PostgresCatalog::ListPicturesAfter(
    const std::string& stored_since, const std::string& after_pixel_hash, size_t limit) {
  return Run("list pictures",
             [&](pqxx::connection& c) -> Result<std::vector<std::pair<std::string, PerceptualHash>>> {
               pqxx::nontransaction tx(c);
               return Collect(
                   tx.exec_params("SELECT pixel_hash, MIN(phash), MIN(phash_mirrored) FROM blobs "
                                  "WHERE phash IS NOT NULL AND pixel_hash > $1 AND created_at >= $2 "
                                  "GROUP BY pixel_hash ORDER BY pixel_hash LIMIT $3",
                                  after_pixel_hash, stored_since, static_cast<int64_t>(limit)),
                   ReadPicture);
             });
}

Result<std::vector<PlacedAnnotation>> PostgresCatalog::ListDatasetAnnotationsAfter(
    const std::string& dataset_id, const AnnotationPlace& after, size_t limit) {
  return Run("list annotations", [&](pqxx::connection& c) -> Result<std::vector<PlacedAnnotation>> {
    pqxx::nontransaction tx(c);
    return Collect(
        tx.exec_params(SAMCACHE_PLACED_ANNOTATION_SELECT
                       // The row comparison spans two tables: `i.position >= $2` is the
                       // range the index of images can start from.
                       "WHERE i.dataset_id = $1 AND i.position >= $2 AND (i.position, a.position) > ($2, $3) "
                       "ORDER BY i.position, a.position LIMIT $4",
                       dataset_id, after.image_position, after.position, static_cast<int64_t>(limit)),
        ReadPlacedAnnotation);
  });
}

Result<std::vector<std::string>> PostgresCatalog::ListDatasetCategories(const std::string& dataset_id) {
  return Run("list categories", [&](pqxx::connection& c) -> Result<std::vector<std::string>> {
    pqxx::nontransaction tx(c);
    return Collect(tx.exec_params("SELECT DISTINCT a.category FROM annotations a "
                                  "JOIN images i ON i.id = a.image_id WHERE i.dataset_id = $1",
                                  dataset_id),
                   ReadFirstText);
  });
}

Result<std::vector<std::string>> PostgresCatalog::ListSharedContent(const std::string& after, size_t limit) {
  return Run("list shared content", [&](pqxx::connection& c) -> Result<std::vector<std::string>> {
    pqxx::nontransaction tx(c);
    return Collect(
        tx.exec_params("SELECT i.content_hash FROM images i JOIN datasets d ON d.id = i.dataset_id "
                       "WHERE d.deleting = 0 AND i.content_hash > $1 GROUP BY i.content_hash "
                       "HAVING COUNT(*) > 1 ORDER BY i.content_hash LIMIT $2",
                       after, static_cast<int64_t>(limit)),
        ReadFirstText);
  });
}

Result<std::vector<std::string>> PostgresCatalog::ListMultiFilePictures(const std::string& after,
                                                                        size_t limit) {
  return Run("list pictures in several files", [&](pqxx::connection& c) -> Result<std::vector<std::string>> {
    pqxx::nontransaction tx(c);
    return Collect(tx.exec_params("SELECT pixel_hash FROM blobs WHERE pixel_hash > $1 GROUP BY pixel_hash "
                                  "HAVING COUNT(*) > 1 ORDER BY pixel_hash LIMIT $2",
                                  after, static_cast<int64_t>(limit)),
                   ReadFirstText);
  });
}

Result<std::vector<ImageRecord>> PostgresCatalog::ListImagesWithContentHash(const std::string& content_hash) {
  return Run("list images by content", [&](pqxx::connection& c) -> Result<std::vector<ImageRecord>> {
    pqxx::nontransaction tx(c);
    return Collect(tx.exec_params(SAMCACHE_IMAGE_SELECT
                                  "JOIN datasets d ON d.id = i.dataset_id WHERE i.content_hash = $1 "
                                  "AND d.deleting = 0 ORDER BY i.created_at, i.seq",
                                  content_hash),
                   ReadImage);
  });
}

// ---- Background deletion ---------------------------------------------------------------------

Result<DatasetDeletion> PostgresCatalog::BeginDatasetDeletion(const std::string& id, const std::string& now) {
  return Run("begin a dataset deletion", [&](pqxx::connection& c) -> Result<DatasetDeletion> {
    pqxx::work tx(c);
    // The dataset row's lock orders this against uploads (AddImage locks it too): an upload
    // that got in first is committed, one that comes after finds the dataset hidden.
    const pqxx::result dataset =
        tx.exec_params("SELECT project_id, name, deleting FROM datasets WHERE id = $1 FOR NO KEY UPDATE", id);
    if (dataset.empty()) return Status::NotFound("no dataset with id '" + id + "'");
    if (dataset[0][2].as<int64_t>() != 0) {
      std::optional<DatasetDeletion> running =
          First(tx.exec_params(
                    "SELECT " SAMCACHE_DELETION_COLUMNS " FROM dataset_deletions WHERE dataset_id = $1", id),
                ReadDatasetDeletion);
      if (!running) return Status::NotFound("no dataset with id '" + id + "'");
      return *std::move(running);
    }
    DatasetDeletion d;
    d.dataset_id = id;
    d.project_id = dataset[0][0].as<std::string>();
    d.name = dataset[0][1].as<std::string>();
    d.images_total =
        tx.exec_params("SELECT COUNT(*) FROM images WHERE dataset_id = $1", id)[0][0].as<int64_t>();
    d.started_at = now;
    tx.exec_params("UPDATE datasets SET deleting = 1 WHERE id = $1", id);
    // Other datasets' images that repeat one of this dataset's point at their next oldest copy
    // now: the dataset is hidden from this transaction on.
    ReassignDuplicates(tx, id);
    tx.exec_params("INSERT INTO dataset_deletions (" SAMCACHE_DELETION_COLUMNS
                   ") VALUES ($1, $2, $3, $4, 0, 0, $5, '') "
                   "ON CONFLICT (dataset_id) DO UPDATE SET project_id = $2, name = $3, images_total = $4, "
                   "images_removed = 0, blobs_removed = 0, started_at = $5, finished_at = ''",
                   id, d.project_id, d.name, d.images_total, now);
    tx.exec_params(
        "UPDATE prewarm_jobs SET status = 'cancelled', error = 'the dataset was deleted', "
        "finished_at = " SAMCACHE_PG_NOW " WHERE dataset_id = $1 AND " SAMCACHE_UNFINISHED,
        id);
    tx.commit();
    return d;
  });
}

Result<DeletionBatch> PostgresCatalog::DeleteDatasetBatch(const std::string& id, size_t limit,
                                                          const std::string& now) {
  return Run("delete a batch of a dataset", [&](pqxx::connection& c) -> Result<DeletionBatch> {
    pqxx::work tx(c);
    // One batch of a dataset at a time, whichever instance runs it.
    if (tx.exec_params(
              "SELECT 1 FROM dataset_deletions WHERE dataset_id = $1 AND finished_at = '' FOR UPDATE", id)
            .empty()) {
      return Status::NotFound("no deletion of dataset '" + id + "' under way");
    }
    DeletionBatch batch;
    batch.images =
        Collect(tx.exec_params(SAMCACHE_IMAGE_SELECT "WHERE i.dataset_id = $1 ORDER BY i.position LIMIT $2",
                               id, static_cast<int64_t>(limit)),
                ReadImage);
    if (batch.images.empty()) {
      // Only an empty batch finishes: the previous batches' files are gone by now.
      tx.exec_params("DELETE FROM datasets WHERE id = $1", id);
      tx.exec_params("DELETE FROM dataset_counts WHERE dataset_id = $1", id);
      tx.exec_params("UPDATE dataset_deletions SET finished_at = $2 WHERE dataset_id = $1", id, now);
      tx.commit();
      batch.finished = true;
      return batch;
    }
    const int64_t last = batch.images.back().position;
    tx.exec_params(
        "DELETE FROM embedding_claims c "
        "WHERE c.project_id = (SELECT project_id FROM datasets WHERE id = $1) "
        "AND c.pixel_hash IN (SELECT b.pixel_hash FROM images i JOIN blobs b "
        "ON b.content_hash = i.content_hash WHERE i.dataset_id = $1 AND i.position <= $2) "
        "AND NOT EXISTS (SELECT 1 FROM images o JOIN blobs ob ON ob.content_hash = o.content_hash "
        "JOIN datasets od ON od.id = o.dataset_id WHERE ob.pixel_hash = c.pixel_hash "
        "AND od.project_id = c.project_id AND o.dataset_id <> $1)",
        id, last);
    const std::vector<std::string> hashes = Collect(
        tx.exec_params("SELECT DISTINCT content_hash FROM images WHERE dataset_id = $1 AND position <= $2 "
                       "ORDER BY content_hash",
                       id, last),
        ReadFirstText);
    // Locked before their annotations go, so that no annotation is added to them meanwhile.
    tx.exec_params("SELECT 1 FROM images WHERE dataset_id = $1 AND position <= $2 ORDER BY id FOR UPDATE", id,
                   last);
    tx.exec_params(
        "DELETE FROM annotations WHERE image_id IN (SELECT id FROM images WHERE dataset_id = $1 AND position "
        "<= $2)",
        id, last);
    tx.exec_params("DELETE FROM images WHERE dataset_id = $1 AND position <= $2", id, last);
    if (!hashes.empty()) {
      // As DeleteDataset: the blob rows locked in one order, then those no image refers to go.
      const std::string array = ArrayLiteral(hashes);
      tx.exec_params(
          "SELECT 1 FROM blobs WHERE content_hash = ANY($1::varchar[]) ORDER BY content_hash FOR UPDATE",
          array);
      batch.orphaned_blobs =
          Collect(tx.exec_params("DELETE FROM blobs b WHERE b.content_hash = ANY($1::varchar[]) "
                                 "AND NOT EXISTS (SELECT 1 FROM images i WHERE i.content_hash = "
                                 "b.content_hash) RETURNING b.content_hash",
                                 array),
                  ReadFirstText);
      std::sort(batch.orphaned_blobs.begin(), batch.orphaned_blobs.end());
      if (!batch.orphaned_blobs.empty()) {
        tx.exec_params(
            "INSERT INTO pending_blob_removals (dataset_id, content_hash) "
            "SELECT $1, unnest($2::varchar[]) ON CONFLICT DO NOTHING",
            id, ArrayLiteral(batch.orphaned_blobs));
      }
    }
    tx.exec_params("UPDATE dataset_deletions SET images_removed = images_removed + $2 WHERE dataset_id = $1",
                   id, static_cast<int64_t>(batch.images.size()));
    tx.commit();
    return batch;
  });
}

Result<std::optional<DatasetDeletion>> PostgresCatalog::GetDatasetDeletion(const std::string& id) {
  return Run("read a dataset deletion", [&](pqxx::connection& c) -> Result<std::optional<DatasetDeletion>> {
    pqxx::nontransaction tx(c);
    return First(tx.exec_params(
                     "SELECT " SAMCACHE_DELETION_COLUMNS " FROM dataset_deletions WHERE dataset_id = $1", id),
                 ReadDatasetDeletion);
  });
}

Result<std::vector<DatasetDeletion>> PostgresCatalog::ListUnfinishedDatasetDeletions() {
  return Run("list dataset deletions", [&](pqxx::connection& c) -> Result<std::vector<DatasetDeletion>> {
    pqxx::nontransaction tx(c);
    return Collect(tx.exec("SELECT " SAMCACHE_DELETION_COLUMNS
                           " FROM dataset_deletions WHERE finished_at = '' ORDER BY started_at"),
                   ReadDatasetDeletion);
  });
}

Result<std::vector<std::string>> PostgresCatalog::ListPendingBlobRemovals(const std::string& id) {
  return Run("list pending blob removals", [&](pqxx::connection& c) -> Result<std::vector<std::string>> {
    pqxx::nontransaction tx(c);
    return Collect(tx.exec_params("SELECT content_hash FROM pending_blob_removals WHERE dataset_id = $1 "
                                  "ORDER BY content_hash",
                                  id),
                   ReadFirstText);
  });
}

Status PostgresCatalog::ForgetPendingBlobRemovals(const std::string& id,
                                                  const std::vector<std::string>& content_hashes,
                                                  int64_t files_removed) {
  return Run("forget pending blob removals", [&](pqxx::connection& c) -> Status {
    pqxx::work tx(c);
    tx.exec_params(
        "DELETE FROM pending_blob_removals WHERE dataset_id = $1 AND content_hash = ANY($2::varchar[])", id,
        ArrayLiteral(content_hashes));
    tx.exec_params("UPDATE dataset_deletions SET blobs_removed = blobs_removed + $2 WHERE dataset_id = $1",
                   id, files_removed);
    tx.commit();
    return Status::Ok();
  });
}

}  // namespace samcache::catalog_internal::postgres
