// SQLite backend: whole-dataset work in bounded pieces (the streamed COCO export, the paged
// picture scan, background dataset deletion). See image_catalog.h and annotation_catalog.h.
#include "catalog/catalog_rows.h"
#include "catalog/sqlite_catalog.h"

namespace samcache::catalog_internal::sqlite {

Result<std::vector<ImageRecord>> SqliteCatalog::ListImagesAfterPosition(const std::string& dataset_id,
                                                                        int64_t after_position,
                                                                        size_t limit) {
  std::lock_guard lock(mu_);
  SAMCACHE_ASSIGN_OR_RETURN(Query q,
                            conn_.Prepare(SAMCACHE_IMAGE_SELECT "WHERE i.dataset_id = ? AND i.position > ? "
                                                                "ORDER BY i.position LIMIT ?"));
  return q.Bind(dataset_id).Bind(after_position).Bind(static_cast<int64_t>(limit)).Collect(ReadImage);
}

Result<std::vector<std::pair<std::string, PerceptualHash>>> SqliteCatalog::ListPicturesAfter(
    const std::string& stored_since, const std::string& after_pixel_hash, size_t limit) {
  std::lock_guard lock(mu_);
  if (stored_since.empty()) {
    // Everything: the pixel_hash index gives the groups in order, a page at a time.
    SAMCACHE_ASSIGN_OR_RETURN(Query q,
                              conn_.Prepare("SELECT pixel_hash, MIN(phash), MIN(phash_mirrored) FROM blobs "
                                            "INDEXED BY idx_blobs_pixel_hash "
                                            "WHERE phash IS NOT NULL AND pixel_hash > ? "
                                            "GROUP BY pixel_hash ORDER BY pixel_hash LIMIT ?"));
    return q.Bind(after_pixel_hash).Bind(static_cast<int64_t>(limit)).Collect(ReadPicture);
  }
  // The recent ones only: the storage-time index finds the few rows (as ForEachPicture).
  SAMCACHE_ASSIGN_OR_RETURN(Query q,
                            conn_.Prepare("SELECT pixel_hash, MIN(phash), MIN(phash_mirrored) FROM blobs "
                                          "INDEXED BY idx_blobs_created_at "
                                          "WHERE phash IS NOT NULL AND created_at >= ? AND pixel_hash > ? "
                                          "GROUP BY pixel_hash ORDER BY pixel_hash LIMIT ?"));
  return q.Bind(stored_since).Bind(after_pixel_hash).Bind(static_cast<int64_t>(limit)).Collect(ReadPicture);
}

Result<std::vector<PlacedAnnotation>> SqliteCatalog::ListDatasetAnnotationsAfter(
    const std::string& dataset_id, const AnnotationPlace& after, size_t limit) {
  std::lock_guard lock(mu_);
  SAMCACHE_ASSIGN_OR_RETURN(
      Query q, conn_.Prepare(SAMCACHE_PLACED_ANNOTATION_SELECT
                             // `i.position >= ?` says what the OR implies: without it, bound parameters
                             // make SQLite read the dataset's images from the first on every page.
                             "WHERE i.dataset_id = ? AND i.position >= ? AND "
                             "(i.position > ? OR (i.position = ? AND a.position > ?)) "
                             "ORDER BY i.position, a.position LIMIT ?"));
  return q.Bind(dataset_id)
      .Bind(after.image_position)
      .Bind(after.image_position)
      .Bind(after.image_position)
      .Bind(after.position)
      .Bind(static_cast<int64_t>(limit))
      .Collect(ReadPlacedAnnotation);
}

Result<std::vector<std::string>> SqliteCatalog::ListDatasetCategories(const std::string& dataset_id) {
  std::lock_guard lock(mu_);
  SAMCACHE_ASSIGN_OR_RETURN(Query q,
                            conn_.Prepare("SELECT DISTINCT a.category FROM annotations a "
                                          "JOIN images i ON i.id = a.image_id WHERE i.dataset_id = ?"));
  return q.Bind(dataset_id).Collect(ReadFirstText);
}

Result<std::vector<std::string>> SqliteCatalog::ListSharedContent(const std::string& after, size_t limit) {
  std::lock_guard lock(mu_);
  SAMCACHE_ASSIGN_OR_RETURN(Query q,
                            conn_.Prepare("SELECT i.content_hash FROM images i JOIN datasets d ON d.id = "
                                          "i.dataset_id WHERE d.deleting = 0 AND i.content_hash > ? "
                                          "GROUP BY i.content_hash HAVING COUNT(*) > 1 "
                                          "ORDER BY i.content_hash LIMIT ?"));
  return q.Bind(after).Bind(static_cast<int64_t>(limit)).Collect(ReadFirstText);
}

Result<std::vector<std::string>> SqliteCatalog::ListMultiFilePictures(const std::string& after,
                                                                      size_t limit) {
  std::lock_guard lock(mu_);
  SAMCACHE_ASSIGN_OR_RETURN(Query q, conn_.Prepare("SELECT pixel_hash FROM blobs WHERE pixel_hash > ? "
                                                   "GROUP BY pixel_hash HAVING COUNT(*) > 1 "
                                                   "ORDER BY pixel_hash LIMIT ?"));
  return q.Bind(after).Bind(static_cast<int64_t>(limit)).Collect(ReadFirstText);
}

Result<std::vector<ImageRecord>> SqliteCatalog::ListImagesWithContentHash(const std::string& content_hash) {
  std::lock_guard lock(mu_);
  SAMCACHE_ASSIGN_OR_RETURN(
      Query q,
      conn_.Prepare(SAMCACHE_IMAGE_SELECT "JOIN datasets d ON d.id = i.dataset_id WHERE i.content_hash = ? "
                                          "AND d.deleting = 0 ORDER BY i.created_at, i.rowid"));
  return q.Bind(content_hash).Collect(ReadImage);
}

// ---- Background deletion ---------------------------------------------------------------------

Result<DatasetDeletion> SqliteCatalog::BeginDatasetDeletion(const std::string& id, const std::string& now) {
  std::lock_guard lock(mu_);
  return InWriteTransaction([&]() -> Result<DatasetDeletion> {
    {
      SAMCACHE_ASSIGN_OR_RETURN(Query q,
                                conn_.Prepare("SELECT " SAMCACHE_DELETION_COLUMNS " FROM dataset_deletions "
                                              "WHERE dataset_id = ? AND finished_at = ''"));
      SAMCACHE_ASSIGN_OR_RETURN(std::optional<DatasetDeletion> running,
                                q.Bind(id).First(ReadDatasetDeletion));
      if (running) return *std::move(running);
    }
    DatasetDeletion d;
    {
      SAMCACHE_ASSIGN_OR_RETURN(
          Query q,
          conn_.Prepare("SELECT project_id, name, (SELECT COUNT(*) FROM images WHERE dataset_id = d.id) "
                        "FROM datasets d WHERE id = ? AND deleting = 0"));
      SAMCACHE_ASSIGN_OR_RETURN(const bool found, q.Bind(id).Step());
      if (!found) return Status::NotFound("no dataset with id '" + id + "'");
      d.dataset_id = id;
      d.project_id = q.Text(0);
      d.name = q.Text(1);
      d.images_total = q.Int(2);
      d.started_at = now;
    }
    {
      SAMCACHE_ASSIGN_OR_RETURN(Query q, conn_.Prepare("UPDATE datasets SET deleting = 1 WHERE id = ?"));
      SAMCACHE_RETURN_IF_ERROR(q.Bind(id).Run());
    }
    // Other datasets' images that repeat one of this dataset's point at their next oldest copy
    // now: the dataset is hidden from this transaction on.
    SAMCACHE_RETURN_IF_ERROR(ReassignDuplicatesLocked(id));
    {
      SAMCACHE_ASSIGN_OR_RETURN(
          Query q, conn_.Prepare("INSERT OR REPLACE INTO dataset_deletions (" SAMCACHE_DELETION_COLUMNS
                                 ") VALUES (?, ?, ?, ?, 0, 0, ?, '')"));
      SAMCACHE_RETURN_IF_ERROR(
          q.Bind(id).Bind(d.project_id).Bind(d.name).Bind(d.images_total).Bind(now).Run());
    }
    {
      SAMCACHE_ASSIGN_OR_RETURN(
          Query q,
          conn_.Prepare("UPDATE prewarm_jobs SET status = 'cancelled', error = 'the dataset was deleted', "
                        "finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') "
                        "WHERE dataset_id = ? AND " SAMCACHE_UNFINISHED));
      SAMCACHE_RETURN_IF_ERROR(q.Bind(id).Run());
    }
    return d;
  });
}

Result<DeletionBatch> SqliteCatalog::DeleteDatasetBatch(const std::string& id, size_t limit,
                                                        const std::string& now) {
  std::lock_guard lock(mu_);
  return InWriteTransaction([&]() -> Result<DeletionBatch> {
    {
      SAMCACHE_ASSIGN_OR_RETURN(
          Query q,
          conn_.Prepare("SELECT 1 FROM dataset_deletions WHERE dataset_id = ? AND finished_at = ''"));
      SAMCACHE_ASSIGN_OR_RETURN(const bool running, q.Bind(id).Step());
      if (!running) return Status::NotFound("no deletion of dataset '" + id + "' under way");
    }
    DeletionBatch batch;
    {
      SAMCACHE_ASSIGN_OR_RETURN(
          Query q, conn_.Prepare(SAMCACHE_IMAGE_SELECT "WHERE i.dataset_id = ? ORDER BY i.position LIMIT ?"));
      SAMCACHE_ASSIGN_OR_RETURN(batch.images,
                                q.Bind(id).Bind(static_cast<int64_t>(limit)).Collect(ReadImage));
    }
    if (batch.images.empty()) {
      // Only an empty batch finishes: the previous batches' files are gone by now.
      SAMCACHE_ASSIGN_OR_RETURN(Query drop, conn_.Prepare("DELETE FROM datasets WHERE id = ?"));
      SAMCACHE_RETURN_IF_ERROR(drop.Bind(id).Run());
      SAMCACHE_ASSIGN_OR_RETURN(Query counts,
                                conn_.Prepare("DELETE FROM dataset_counts WHERE dataset_id = ?"));
      SAMCACHE_RETURN_IF_ERROR(counts.Bind(id).Run());
      SAMCACHE_ASSIGN_OR_RETURN(
          Query done, conn_.Prepare("UPDATE dataset_deletions SET finished_at = ? WHERE dataset_id = ?"));
      SAMCACHE_RETURN_IF_ERROR(done.Bind(now).Bind(id).Run());
      batch.finished = true;
      return batch;
    }
    // The batch is the dataset's first images: everything up to the last one's position.
    const int64_t last = batch.images.back().position;
    {
      // The project's claims of these pictures that no other dataset of the project shows.
      SAMCACHE_ASSIGN_OR_RETURN(
          Query q,
          conn_.Prepare(
              "DELETE FROM embedding_claims "
              "WHERE project_id = (SELECT project_id FROM datasets WHERE id = ?) "
              "AND pixel_hash IN (SELECT b.pixel_hash FROM images i JOIN blobs b "
              "ON b.content_hash = i.content_hash WHERE i.dataset_id = ? AND i.position <= ?) "
              "AND NOT EXISTS (SELECT 1 FROM images o JOIN blobs ob ON ob.content_hash = o.content_hash "
              "JOIN datasets od ON od.id = o.dataset_id WHERE ob.pixel_hash = embedding_claims.pixel_hash "
              "AND od.project_id = embedding_claims.project_id AND o.dataset_id <> ?)"));
      SAMCACHE_RETURN_IF_ERROR(q.Bind(id).Bind(id).Bind(last).Bind(id).Run());
    }
    std::vector<std::string> hashes;
    {
      SAMCACHE_ASSIGN_OR_RETURN(Query q, conn_.Prepare("SELECT DISTINCT content_hash FROM images "
                                                       "WHERE dataset_id = ? AND position <= ?"));
      SAMCACHE_ASSIGN_OR_RETURN(hashes, q.Bind(id).Bind(last).Collect(ReadFirstText));
    }
    {
      SAMCACHE_ASSIGN_OR_RETURN(
          Query q, conn_.Prepare("DELETE FROM annotations WHERE image_id IN "
                                 "(SELECT id FROM images WHERE dataset_id = ? AND position <= ?)"));
      SAMCACHE_RETURN_IF_ERROR(q.Bind(id).Bind(last).Run());
    }
    {
      SAMCACHE_ASSIGN_OR_RETURN(Query q,
                                conn_.Prepare("DELETE FROM images WHERE dataset_id = ? AND position <= ?"));
      SAMCACHE_RETURN_IF_ERROR(q.Bind(id).Bind(last).Run());
    }
    for (const std::string& hash : hashes) {
      SAMCACHE_ASSIGN_OR_RETURN(
          Query q, conn_.Prepare("DELETE FROM blobs WHERE content_hash = ? AND NOT EXISTS "
                                 "(SELECT 1 FROM images i WHERE i.content_hash = blobs.content_hash)"));
      SAMCACHE_RETURN_IF_ERROR(q.Bind(hash).Run());
      if (conn_.Changes() == 0) continue;
      SAMCACHE_ASSIGN_OR_RETURN(
          Query pending,
          conn_.Prepare(
              "INSERT OR IGNORE INTO pending_blob_removals (dataset_id, content_hash) VALUES (?, ?)"));
      SAMCACHE_RETURN_IF_ERROR(pending.Bind(id).Bind(hash).Run());
      batch.orphaned_blobs.push_back(hash);
    }
    {
      SAMCACHE_ASSIGN_OR_RETURN(
          Query q,
          conn_.Prepare(
              "UPDATE dataset_deletions SET images_removed = images_removed + ? WHERE dataset_id = ?"));
      SAMCACHE_RETURN_IF_ERROR(q.Bind(static_cast<int64_t>(batch.images.size())).Bind(id).Run());
    }
    return batch;
  });
}

Result<std::optional<DatasetDeletion>> SqliteCatalog::GetDatasetDeletion(const std::string& id) {
  std::lock_guard lock(mu_);
  SAMCACHE_ASSIGN_OR_RETURN(Query q, conn_.Prepare("SELECT " SAMCACHE_DELETION_COLUMNS
                                                   " FROM dataset_deletions WHERE dataset_id = ?"));
  return q.Bind(id).First(ReadDatasetDeletion);
}

Result<std::vector<DatasetDeletion>> SqliteCatalog::ListUnfinishedDatasetDeletions() {
  std::lock_guard lock(mu_);
  SAMCACHE_ASSIGN_OR_RETURN(Query q, conn_.Prepare("SELECT " SAMCACHE_DELETION_COLUMNS
                                                   " FROM dataset_deletions WHERE finished_at = '' "
                                                   "ORDER BY started_at"));
  return q.Collect(ReadDatasetDeletion);
}

Result<std::vector<std::string>> SqliteCatalog::ListPendingBlobRemovals(const std::string& id) {
  std::lock_guard lock(mu_);
  SAMCACHE_ASSIGN_OR_RETURN(Query q, conn_.Prepare("SELECT content_hash FROM pending_blob_removals "
                                                   "WHERE dataset_id = ? ORDER BY content_hash"));
  return q.Bind(id).Collect(ReadFirstText);
}

Status SqliteCatalog::ForgetPendingBlobRemovals(const std::string& id,
                                                const std::vector<std::string>& content_hashes,
                                                int64_t files_removed) {
  std::lock_guard lock(mu_);
  return InWriteTransaction([&]() -> Status {
    for (const std::string& hash : content_hashes) {
      SAMCACHE_ASSIGN_OR_RETURN(
          Query q,
          conn_.Prepare("DELETE FROM pending_blob_removals WHERE dataset_id = ? AND content_hash = ?"));
      SAMCACHE_RETURN_IF_ERROR(q.Bind(id).Bind(hash).Run());
    }
    SAMCACHE_ASSIGN_OR_RETURN(
        Query q,
        conn_.Prepare("UPDATE dataset_deletions SET blobs_removed = blobs_removed + ? WHERE dataset_id = ?"));
    return q.Bind(files_removed).Bind(id).Run();
  });
}

}  // namespace samcache::catalog_internal::sqlite
