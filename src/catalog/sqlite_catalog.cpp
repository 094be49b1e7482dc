// SQLite backend: opening, the schema, datasets, images and blobs (see sqlite_catalog.h).
#include "catalog/sqlite_catalog.h"

#include "catalog/catalog_rows.h"
#include "catalog/sqlite_migrations.h"

namespace samcache {
namespace catalog_internal::sqlite {

Status SqliteCatalog::Open(const std::string& path) {
  std::lock_guard lock(mu_);
  return conn_.Open(path);
}

Status SqliteCatalog::Migrate() {
  std::lock_guard lock(mu_);
  SAMCACHE_RETURN_IF_ERROR(
      conn_.Exec("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                 "name TEXT NOT NULL, applied_at TEXT NOT NULL)"));
  for (const auto& m : sqlite_schema::kMigrations) {
    // Each version in its own transaction, re-checked under the write lock so two processes
    // starting at once apply it once.
    SAMCACHE_RETURN_IF_ERROR(InWriteTransaction([&]() -> Status {
      SAMCACHE_ASSIGN_OR_RETURN(const int current, VersionLocked());
      if (current >= m.version) return Status::Ok();
      Status st = conn_.Exec(m.sql);
      if (st.ok()) {
        Result<Query> q = conn_.Prepare(
            "INSERT INTO schema_migrations (version, name, applied_at) "
            "VALUES (?, ?, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))");
        st = q.ok() ? q->Bind(int64_t{m.version}).Bind(std::string(m.name)).Run() : q.status();
      }
      if (!st.ok()) {
        return Status::IoError("migration to schema version " + std::to_string(m.version) +
                               " failed: " + st.message());
      }
      return Status::Ok();
    }));
  }
  return Status::Ok();
}

Result<int> SqliteCatalog::SchemaVersion() {
  std::lock_guard lock(mu_);
  return VersionLocked();
}

Result<int> SqliteCatalog::VersionLocked() {
  SAMCACHE_ASSIGN_OR_RETURN(Query q,
                            conn_.Prepare("SELECT COALESCE(MAX(version), 0) FROM schema_migrations"));
  SAMCACHE_RETURN_IF_ERROR(q.Step());
  return static_cast<int>(q.Int(0));
}

// ---- Datasets ------------------------------------------------------------------------------

Status SqliteCatalog::CreateDataset(const DatasetRecord& d) {
  std::lock_guard lock(mu_);
  return InWriteTransaction([&]() -> Status {
    {
      // No foreign key on datasets.project_id (see migration 8): checked here.
      SAMCACHE_ASSIGN_OR_RETURN(Query q, conn_.Prepare("SELECT 1 FROM projects WHERE id = ?"));
      SAMCACHE_ASSIGN_OR_RETURN(const bool found, q.Bind(d.project_id).Step());
      if (!found) return Status::NotFound("no project with id '" + d.project_id + "'");
    }
    SAMCACHE_ASSIGN_OR_RETURN(
        Query q,
        conn_.Prepare("INSERT INTO datasets (id, name, created_at, project_id) VALUES (?, ?, ?, ?)"));
    return q.Bind(d.id).Bind(d.name).Bind(d.created_at).Bind(d.project_id).Run();
  });
}

Result<DatasetRecord> SqliteCatalog::GetDataset(const std::string& id) {
  std::lock_guard lock(mu_);
  SAMCACHE_ASSIGN_OR_RETURN(Query q,
                            conn_.Prepare(SAMCACHE_DATASET_SELECT "WHERE d.id = ? AND d.deleting = 0"));
  SAMCACHE_ASSIGN_OR_RETURN(std::optional<DatasetRecord> dataset, q.Bind(id).First(ReadDataset));
  if (!dataset) return Status::NotFound("no dataset with id '" + id + "'");
  return *std::move(dataset);
}

Result<std::optional<DatasetRecord>> SqliteCatalog::FindDataset(const std::string& id_or_name) {
  std::lock_guard lock(mu_);
  SAMCACHE_ASSIGN_OR_RETURN(
      Query q, conn_.Prepare(SAMCACHE_DATASET_SELECT
                             "WHERE (d.id = ? OR d.name = ?) AND d.deleting = 0 "
                             "ORDER BY (d.id = ?) DESC, d.created_at DESC, d.rowid DESC LIMIT 1"));
  return q.Bind(id_or_name).Bind(id_or_name).Bind(id_or_name).First(ReadDataset);
}

Result<std::vector<DatasetRecord>> SqliteCatalog::ListDatasets() {
  std::lock_guard lock(mu_);
  SAMCACHE_ASSIGN_OR_RETURN(
      Query q,
      conn_.Prepare(SAMCACHE_DATASET_SELECT "WHERE d.deleting = 0 ORDER BY d.created_at DESC, d.rowid DESC"));
  return q.Collect(ReadDataset);
}

Result<std::vector<std::string>> SqliteCatalog::DeleteDataset(const std::string& id) {
  std::lock_guard lock(mu_);
  return InWriteTransaction([&] { return DeleteDatasetLocked(id); });
}

Result<std::vector<std::string>> SqliteCatalog::DeleteDatasetLocked(const std::string& id) {
  std::vector<std::string> hashes;
  {
    // The project's claims of this dataset's pictures that no other dataset of the project
    // shows go with it.
    SAMCACHE_ASSIGN_OR_RETURN(
        Query q,
        conn_.Prepare(
            "DELETE FROM embedding_claims "
            "WHERE project_id = (SELECT project_id FROM datasets WHERE id = ?) "
            "AND pixel_hash IN (SELECT b.pixel_hash FROM images i JOIN blobs b "
            "ON b.content_hash = i.content_hash WHERE i.dataset_id = ?) "
            "AND NOT EXISTS (SELECT 1 FROM images o JOIN blobs ob ON ob.content_hash = o.content_hash "
            "JOIN datasets od ON od.id = o.dataset_id WHERE ob.pixel_hash = embedding_claims.pixel_hash "
            "AND od.project_id = embedding_claims.project_id AND o.dataset_id <> ?)"));
    SAMCACHE_RETURN_IF_ERROR(q.Bind(id).Bind(id).Bind(id).Run());
  }
  SAMCACHE_RETURN_IF_ERROR(ReassignDuplicatesLocked(id));
  {
    SAMCACHE_ASSIGN_OR_RETURN(Query q, conn_.Prepare("DELETE FROM dataset_counts WHERE dataset_id = ?"));
    SAMCACHE_RETURN_IF_ERROR(q.Bind(id).Run());
  }
  {
    SAMCACHE_ASSIGN_OR_RETURN(Query q,
                              conn_.Prepare("SELECT DISTINCT content_hash FROM images WHERE dataset_id = ?"));
    SAMCACHE_ASSIGN_OR_RETURN(hashes, q.Bind(id).Collect(ReadFirstText));
  }
  {
    SAMCACHE_ASSIGN_OR_RETURN(
        Query q,
        conn_.Prepare(
            "DELETE FROM annotations WHERE image_id IN (SELECT id FROM images WHERE dataset_id = ?)"));
    SAMCACHE_RETURN_IF_ERROR(q.Bind(id).Run());
  }
  {
    SAMCACHE_ASSIGN_OR_RETURN(Query q, conn_.Prepare("DELETE FROM images WHERE dataset_id = ?"));
    SAMCACHE_RETURN_IF_ERROR(q.Bind(id).Run());
  }
  {
    SAMCACHE_ASSIGN_OR_RETURN(Query q, conn_.Prepare("DELETE FROM datasets WHERE id = ?"));
    SAMCACHE_RETURN_IF_ERROR(q.Bind(id).Run());
    if (conn_.Changes() == 0) return Status::NotFound("no dataset with id '" + id + "'");
  }
  {
    SAMCACHE_ASSIGN_OR_RETURN(
        Query q,
        conn_.Prepare("UPDATE prewarm_jobs SET status = 'cancelled', error = 'the dataset was deleted', "
                      "finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') "
                      "WHERE dataset_id = ? AND " SAMCACHE_UNFINISHED));
    SAMCACHE_RETURN_IF_ERROR(q.Bind(id).Run());
  }
  // Only this dataset's blobs can have lost their last reference.
  std::vector<std::string> orphans;
  for (const std::string& hash : hashes) {
    SAMCACHE_ASSIGN_OR_RETURN(
        Query q, conn_.Prepare("DELETE FROM blobs WHERE content_hash = ? AND NOT EXISTS "
                               "(SELECT 1 FROM images i WHERE i.content_hash = blobs.content_hash)"));
    SAMCACHE_RETURN_IF_ERROR(q.Bind(hash).Run());
    if (conn_.Changes() > 0) orphans.push_back(hash);
  }
  return orphans;
}

Status SqliteCatalog::ReassignDuplicatesLocked(const std::string& id) {
  std::vector<std::string> affected;
  {
    SAMCACHE_ASSIGN_OR_RETURN(
        Query q,
        conn_.Prepare("SELECT DISTINCT dataset_id FROM images WHERE dataset_id <> ?1 AND duplicate_of IN "
                      "(SELECT id FROM images WHERE dataset_id = ?1)"));
    SAMCACHE_ASSIGN_OR_RETURN(affected, q.Bind(id).Collect(ReadFirstText));
  }
  if (affected.empty()) return Status::Ok();
  {
    SAMCACHE_ASSIGN_OR_RETURN(
        Query q,
        conn_.Prepare(
            "UPDATE images SET duplicate_of = NULLIF((SELECT o.id FROM images o "
            "JOIN datasets od ON od.id = o.dataset_id WHERE o.pixel_hash = images.pixel_hash "
            "AND o.dataset_id <> ?1 AND od.deleting = 0 AND od.project_id = (SELECT project_id FROM datasets "
            "WHERE id = images.dataset_id) ORDER BY o.created_at, o.rowid LIMIT 1), images.id) "
            "WHERE dataset_id <> ?1 AND duplicate_of IN (SELECT id FROM images WHERE dataset_id = ?1)"));
    SAMCACHE_RETURN_IF_ERROR(q.Bind(id).Run());
  }
  for (const std::string& dataset : affected) {
    SAMCACHE_ASSIGN_OR_RETURN(Query q,
                              conn_.Prepare("UPDATE dataset_counts SET value = (SELECT COUNT(*) FROM images "
                                            "WHERE dataset_id = ?1 AND duplicate_of IS NOT NULL) "
                                            "WHERE dataset_id = ?1 AND name = 'duplicates'"));
    SAMCACHE_RETURN_IF_ERROR(q.Bind(dataset).Run());
  }
  return Status::Ok();
}

// ---- Images and blobs ----------------------------------------------------------------------

Result<AddImageOutcome> SqliteCatalog::AddImage(const NewImage& img) {
  std::lock_guard lock(mu_);
  return InWriteTransaction([&] { return AddImageLocked(img); });
}

Result<AddImageOutcome> SqliteCatalog::AddImageLocked(const NewImage& img) {
  std::string project_id;
  {
    SAMCACHE_ASSIGN_OR_RETURN(Query q,
                              conn_.Prepare("SELECT project_id FROM datasets WHERE id = ? AND deleting = 0"));
    SAMCACHE_ASSIGN_OR_RETURN(const std::optional<std::string> found,
                              q.Bind(img.dataset_id).First(ReadFirstText));
    if (!found) return Status::NotFound("no dataset with id '" + img.dataset_id + "'");
    project_id = *found;
  }
  AddImageOutcome out;
  {
    // Duplicates are found within the target dataset's project only: another project's
    // content is none of this upload's business.
    SAMCACHE_ASSIGN_OR_RETURN(
        Query q, conn_.Prepare("SELECT EXISTS (SELECT 1 FROM images i JOIN datasets d ON d.id = i.dataset_id "
                               "WHERE i.content_hash = ? AND d.project_id = "
                               "(SELECT project_id FROM datasets WHERE id = ?))"));
    SAMCACHE_RETURN_IF_ERROR(q.Bind(img.blob.content_hash).Bind(img.dataset_id).Step());
    out.duplicate = q.Int(0) != 0;
  }
  {
    const BlobRecord& b = img.blob;
    const std::optional<PerceptualHash>& ph = b.perceptual_hash;
    SAMCACHE_ASSIGN_OR_RETURN(Query q, conn_.Prepare("INSERT INTO blobs (" SAMCACHE_BLOB_COLUMNS
                                                     ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                                                     "ON CONFLICT (content_hash) DO NOTHING"));
    SAMCACHE_RETURN_IF_ERROR(q.Bind(b.content_hash)
                                 .Bind(b.pixel_hash)
                                 .Bind(b.format)
                                 .Bind(b.mime_type)
                                 .Bind(b.byte_size)
                                 .Bind(int64_t{b.width})
                                 .Bind(int64_t{b.height})
                                 .BindBlob(b.thumb_jpeg)
                                 .Bind(b.created_at)
                                 .BindHash(ph ? std::optional(ph->hash) : std::nullopt)
                                 .BindHash(ph ? std::optional(ph->mirrored) : std::nullopt)
                                 .Run());
  }
  SAMCACHE_ASSIGN_OR_RETURN(const std::optional<BlobRecord> blob, FindBlobLocked(img.blob.content_hash));
  if (!blob) return Status::Internal("the blob of image " + img.id + " vanished within its transaction");
  // The oldest image of the project with these pixels, if any: this one repeats it.
  std::optional<std::string> duplicate_of;
  {
    SAMCACHE_ASSIGN_OR_RETURN(
        Query q, conn_.Prepare("SELECT o.id FROM images o JOIN datasets od ON od.id = o.dataset_id "
                               "WHERE o.pixel_hash = ? AND od.project_id = ? AND od.deleting = 0 "
                               "ORDER BY o.created_at, o.rowid LIMIT 1"));
    SAMCACHE_ASSIGN_OR_RETURN(duplicate_of, q.Bind(blob->pixel_hash).Bind(project_id).First(ReadFirstText));
  }
  {
    SAMCACHE_ASSIGN_OR_RETURN(
        Query q,
        conn_.Prepare(
            "INSERT INTO images (id, dataset_id, filename, content_hash, width, height, created_at, "
            "position, pixel_hash, duplicate_of) SELECT ?, ?, ?, ?, b.width, b.height, ?, "
            "(SELECT COALESCE(MAX(position) + 1, 0) FROM images WHERE dataset_id = ?), b.pixel_hash, ? "
            "FROM blobs b WHERE b.content_hash = ?"));
    q.Bind(img.id)
        .Bind(img.dataset_id)
        .Bind(img.filename)
        .Bind(img.blob.content_hash)
        .Bind(img.blob.created_at)
        .Bind(img.dataset_id);
    if (duplicate_of) {
      q.Bind(*duplicate_of);
    } else {
      q.Bind(std::optional<double>());  // NULL
    }
    SAMCACHE_RETURN_IF_ERROR(q.Bind(img.blob.content_hash).Run());
  }
  SAMCACHE_RETURN_IF_ERROR(BumpCounterLocked(img.dataset_id, "images", 1));
  if (duplicate_of) SAMCACHE_RETURN_IF_ERROR(BumpCounterLocked(img.dataset_id, "duplicates", 1));
  {
    // The claims the project already has on these pixels count for the new image too.
    SAMCACHE_ASSIGN_OR_RETURN(
        Query q,
        conn_.Prepare("INSERT INTO dataset_counts (dataset_id, name, value) "
                      "SELECT ?, 'claimed:' || c.model_id, 1 FROM embedding_claims c "
                      "WHERE c.project_id = ? AND c.pixel_hash = ? AND (c.model_id = '*' OR NOT EXISTS "
                      "(SELECT 1 FROM embedding_claims s WHERE s.project_id = c.project_id "
                      "AND s.pixel_hash = c.pixel_hash AND s.model_id = '*')) "
                      "ON CONFLICT (dataset_id, name) DO UPDATE SET value = value + 1"));
    SAMCACHE_RETURN_IF_ERROR(q.Bind(img.dataset_id).Bind(project_id).Bind(blob->pixel_hash).Run());
  }
  SAMCACHE_ASSIGN_OR_RETURN(out.image, GetImageLocked(img.id));
  return out;
}

Result<ImageRecord> SqliteCatalog::GetImage(const std::string& id) {
  std::lock_guard lock(mu_);
  return GetImageLocked(id);
}

Result<ImageRecord> SqliteCatalog::GetImageLocked(const std::string& id) {
  SAMCACHE_ASSIGN_OR_RETURN(Query q, conn_.Prepare(SAMCACHE_IMAGE_SELECT "WHERE i.id = ?"));
  SAMCACHE_ASSIGN_OR_RETURN(std::optional<ImageRecord> image, q.Bind(id).First(ReadImage));
  if (!image) return Status::NotFound("no image with id '" + id + "'");
  return *std::move(image);
}

Result<std::vector<ImageRecord>> SqliteCatalog::ListImages(const std::string& dataset_id) {
  std::lock_guard lock(mu_);
  SAMCACHE_ASSIGN_OR_RETURN(
      Query q, conn_.Prepare(SAMCACHE_IMAGE_SELECT "WHERE i.dataset_id = ? ORDER BY i.position"));
  return q.Bind(dataset_id).Collect(ReadImage);
}

Result<std::vector<ImageKey>> SqliteCatalog::ListImageKeys(const std::string& dataset_id) {
  std::lock_guard lock(mu_);
  SAMCACHE_ASSIGN_OR_RETURN(
      Query q, conn_.Prepare(SAMCACHE_IMAGE_KEY_SELECT "WHERE dataset_id = ? ORDER BY position"));
  return q.Bind(dataset_id).Collect(ReadImageKey);
}

Result<std::optional<BlobRecord>> SqliteCatalog::FindBlob(const std::string& content_hash) {
  std::lock_guard lock(mu_);
  return FindBlobLocked(content_hash);
}

Result<std::optional<BlobRecord>> SqliteCatalog::FindBlobLocked(const std::string& content_hash) {
  SAMCACHE_ASSIGN_OR_RETURN(
      Query q, conn_.Prepare("SELECT " SAMCACHE_BLOB_COLUMNS " FROM blobs WHERE content_hash = ?"));
  return q.Bind(content_hash).First(ReadBlob);
}

Result<bool> SqliteCatalog::HasBlob(const std::string& content_hash) {
  std::lock_guard lock(mu_);
  SAMCACHE_ASSIGN_OR_RETURN(Query q, conn_.Prepare("SELECT 1 FROM blobs WHERE content_hash = ?"));
  return q.Bind(content_hash).Step();
}

Result<CatalogStats> SqliteCatalog::Stats() {
  std::lock_guard lock(mu_);
  SAMCACHE_ASSIGN_OR_RETURN(Query q, conn_.Prepare(SAMCACHE_STATS_SELECT));
  SAMCACHE_RETURN_IF_ERROR(q.Step());
  return ReadStats(q);
}

// ---- Perceptual hashes and pixel copies ----------------------------------------------------

Status SqliteCatalog::ForEachPicture(
    const std::string& stored_since,
    const std::function<void(const std::string& pixel_hash, const PerceptualHash& hash)>& visit) {
  std::lock_guard lock(mu_);
  SAMCACHE_ASSIGN_OR_RETURN(
      Query q,
      conn_.Prepare(
          // Without the hint the planner walks the pixel_hash index to skip the GROUP BY's sort,
          // reading every row even when a catch-up wants the last minute's (0.5 s at 200,000).
          "SELECT pixel_hash, MIN(phash), MIN(phash_mirrored) FROM blobs INDEXED BY idx_blobs_created_at "
          "WHERE phash IS NOT NULL AND created_at >= ? GROUP BY pixel_hash"));
  q.Bind(stored_since);
  for (;;) {
    SAMCACHE_ASSIGN_OR_RETURN(const bool row, q.Step());
    if (!row) return Status::Ok();
    const auto [pixel_hash, hash] = ReadPicture(q);
    visit(pixel_hash, hash);
  }
}

Result<std::vector<ImageRecord>> SqliteCatalog::ListImagesWithPixelHash(const std::string& pixel_hash,
                                                                        const std::string& project_id) {
  std::lock_guard lock(mu_);
  SAMCACHE_ASSIGN_OR_RETURN(
      Query q,
      conn_.Prepare(SAMCACHE_IMAGE_SELECT
                    "JOIN datasets d ON d.id = i.dataset_id WHERE b.pixel_hash = ? AND d.deleting = 0 "
                    "AND (? = '' OR d.project_id = ?) ORDER BY i.created_at, i.rowid"));
  return q.Bind(pixel_hash).Bind(project_id).Bind(project_id).Collect(ReadImage);
}

Result<std::vector<std::string>> SqliteCatalog::BlobsWithoutPerceptualHash(const std::string& after,
                                                                           size_t limit) {
  std::lock_guard lock(mu_);
  SAMCACHE_ASSIGN_OR_RETURN(Query q, conn_.Prepare("SELECT content_hash FROM blobs WHERE phash IS NULL AND "
                                                   "content_hash > ? ORDER BY content_hash LIMIT ?"));
  return q.Bind(after).Bind(static_cast<int64_t>(limit)).Collect(ReadFirstText);
}

Status SqliteCatalog::SetPerceptualHash(const std::string& content_hash, const PerceptualHash& hash) {
  std::lock_guard lock(mu_);
  SAMCACHE_ASSIGN_OR_RETURN(
      Query q, conn_.Prepare("UPDATE blobs SET phash = ?, phash_mirrored = ? WHERE content_hash = ?"));
  SAMCACHE_RETURN_IF_ERROR(q.BindHash(hash.hash).BindHash(hash.mirrored).Bind(content_hash).Run());
  if (conn_.Changes() == 0) return Status::NotFound("no stored content with hash " + content_hash);
  return Status::Ok();
}

Result<std::vector<PixelCopy>> SqliteCatalog::ListPixelCopies(const std::string& dataset_id) {
  std::lock_guard lock(mu_);
  SAMCACHE_ASSIGN_OR_RETURN(
      Query q, conn_.Prepare("SELECT id, first_id FROM (SELECT i.id, i.position, "
                             "(SELECT o.id FROM images o JOIN blobs ob ON ob.content_hash = o.content_hash "
                             "JOIN datasets od ON od.id = o.dataset_id "
                             "WHERE ob.pixel_hash = b.pixel_hash AND od.project_id = d.project_id "
                             "ORDER BY o.created_at, o.rowid LIMIT 1) AS first_id "
                             "FROM images i JOIN blobs b ON b.content_hash = i.content_hash "
                             "JOIN datasets d ON d.id = i.dataset_id WHERE i.dataset_id = ?) "
                             "WHERE first_id <> id ORDER BY position"));
  return q.Bind(dataset_id).Collect(ReadPixelCopy);
}

}  // namespace catalog_internal::sqlite

Result<std::unique_ptr<Catalog>> OpenSqliteCatalog(const std::string& path) {
  auto catalog = std::make_unique<catalog_internal::sqlite::SqliteCatalog>();
  SAMCACHE_RETURN_IF_ERROR(catalog->Open(path));
  SAMCACHE_RETURN_IF_ERROR(catalog->Migrate());
  return std::unique_ptr<Catalog>(std::move(catalog));
}

}  // namespace samcache
