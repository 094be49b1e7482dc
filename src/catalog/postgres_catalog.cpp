// PostgreSQL backend: opening, the schema, datasets, images and blobs (see postgres_catalog.h).
#include "catalog/postgres_catalog.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>

#include "catalog/catalog_rows.h"
#include "catalog/postgres_migrations.h"

namespace samcache {
namespace catalog_internal::postgres {
namespace {

// Held (transaction-scoped) while migrating, so that of several processes starting at once
// against one database exactly one applies each version. The bytes of "samcache".
constexpr int64_t kMigrationLockKey = 8314046660705740901;

}  // namespace

std::string PixelLockKey(const std::string& project_id, const std::string& pixel_hash) {
  return "pixels/" + project_id + "/" + pixel_hash;
}

void BumpCounter(pqxx::work& tx, const std::string& dataset_id, const std::string& name, int64_t delta) {
  tx.exec_params(
      "INSERT INTO dataset_counts (dataset_id, name, value) VALUES ($1, $2, $3) "
      "ON CONFLICT (dataset_id, name) DO UPDATE SET value = dataset_counts.value + excluded.value",
      dataset_id, name, delta);
}

// Points the other datasets' images whose oldest copy is in `dataset_id` at the next oldest (or
// at none) and recounts their datasets' duplicates: before `dataset_id` is deleted.
void ReassignDuplicates(pqxx::work& tx, const std::string& dataset_id) {
  const pqxx::result affected = tx.exec_params(
      "UPDATE images SET duplicate_of = NULLIF((SELECT o.id FROM images o "
      "JOIN datasets od ON od.id = o.dataset_id WHERE o.pixel_hash = images.pixel_hash "
      "AND o.dataset_id <> $1 AND od.deleting = 0 AND od.project_id = (SELECT project_id FROM datasets "
      "WHERE id = images.dataset_id) ORDER BY o.created_at, o.seq LIMIT 1), images.id) "
      "WHERE dataset_id <> $1 AND duplicate_of IN (SELECT id FROM images WHERE dataset_id = $1) "
      "RETURNING dataset_id",
      dataset_id);
  std::set<std::string> datasets;
  for (const auto& row : affected) datasets.insert(row[0].as<std::string>());
  for (const std::string& d : datasets) {
    tx.exec_params(
        "UPDATE dataset_counts SET value = (SELECT COUNT(*) FROM images WHERE dataset_id = $1 "
        "AND duplicate_of IS NOT NULL) WHERE dataset_id = $1 AND name = 'duplicates'",
        d);
  }
}

Status PostgresCatalog::Connect() {
  return Run("connect", [](pqxx::connection&) { return Status::Ok(); });
}

Status PostgresCatalog::Migrate() {
  for (const auto& m : postgres_schema::kMigrations) {
    SAMCACHE_RETURN_IF_ERROR(Run("migrate", [&](pqxx::connection& c) -> Status {
      pqxx::work tx(c);
      tx.exec_params("SELECT pg_advisory_xact_lock($1)", kMigrationLockKey);
      tx.exec(std::string(postgres_schema::kSchemaMigrationsTable));
      const int current = tx.exec("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")[0][0].as<int>();
      if (current >= m.version) return Status::Ok();  // rolled back: nothing was written
      try {
        tx.exec(std::string(m.sql));
      } catch (const pqxx::sql_error& e) {
        return Status::IoError("migration to schema version " + std::to_string(m.version) +
                               " failed: " + Scrub(e.what(), secrets()));
      }
      tx.exec_params(
          "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, " SAMCACHE_PG_NOW ")",
          m.version, std::string(m.name));
      tx.commit();
      spdlog::info("[CATALOG] PostgreSQL schema migrated to version {} ({})", m.version, m.name);
      return Status::Ok();
    }));
  }
  return Status::Ok();
}

Result<int> PostgresCatalog::SchemaVersion() {
  return Run("read the schema version", [&](pqxx::connection& c) -> Result<int> {
    pqxx::nontransaction tx(c);
    return tx.exec("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")[0][0].as<int>();
  });
}

// ---- Datasets ------------------------------------------------------------------------------

Status PostgresCatalog::CreateDataset(const DatasetRecord& d) {
  return Run("create a dataset", [&](pqxx::connection& c) -> Status {
    pqxx::work tx(c);
    // Held until commit, so that the project cannot be deleted meanwhile.
    if (tx.exec_params("SELECT 1 FROM projects WHERE id = $1 FOR KEY SHARE", d.project_id).empty()) {
      return Status::NotFound("no project with id '" + d.project_id + "'");
    }
    tx.exec_params("INSERT INTO datasets (id, name, created_at, project_id) VALUES ($1, $2, $3, $4)", d.id,
                   d.name, d.created_at, d.project_id);
    tx.commit();
    return Status::Ok();
  });
}

Result<DatasetRecord> PostgresCatalog::GetDataset(const std::string& id) {
  return Run("read a dataset", [&](pqxx::connection& c) -> Result<DatasetRecord> {
    pqxx::nontransaction tx(c);
    std::optional<DatasetRecord> dataset =
        First(tx.exec_params(SAMCACHE_DATASET_SELECT "WHERE d.id = $1 AND d.deleting = 0", id), ReadDataset);
    if (!dataset) return Status::NotFound("no dataset with id '" + id + "'");
    return *std::move(dataset);
  });
}

Result<std::optional<DatasetRecord>> PostgresCatalog::FindDataset(const std::string& id_or_name) {
  return Run("find a dataset", [&](pqxx::connection& c) -> Result<std::optional<DatasetRecord>> {
    pqxx::nontransaction tx(c);
    return First(tx.exec_params(SAMCACHE_DATASET_SELECT
                                "WHERE (d.id = $1 OR d.name = $1) AND d.deleting = 0 "
                                "ORDER BY (d.id = $1) DESC, d.created_at DESC, d.seq DESC LIMIT 1",
                                id_or_name),
                 ReadDataset);
  });
}

Result<std::vector<DatasetRecord>> PostgresCatalog::ListDatasets() {
  return Run("list datasets", [&](pqxx::connection& c) -> Result<std::vector<DatasetRecord>> {
    pqxx::nontransaction tx(c);
    return Collect(
        tx.exec(SAMCACHE_DATASET_SELECT "WHERE d.deleting = 0 ORDER BY d.created_at DESC, d.seq DESC"),
        ReadDataset);
  });
}

Result<std::vector<std::string>> PostgresCatalog::DeleteDataset(const std::string& id) {
  return Run("delete a dataset", [&](pqxx::connection& c) -> Result<std::vector<std::string>> {
    pqxx::work tx(c);
    if (tx.exec_params("SELECT 1 FROM datasets WHERE id = $1 FOR UPDATE", id).empty()) {
      return Status::NotFound("no dataset with id '" + id + "'");
    }
    // The project's claims of this dataset's pictures that no other dataset of the project
    // shows go with it.
    tx.exec_params(
        "DELETE FROM embedding_claims c "
        "WHERE c.project_id = (SELECT project_id FROM datasets WHERE id = $1) "
        "AND c.pixel_hash IN (SELECT b.pixel_hash FROM images i JOIN blobs b "
        "ON b.content_hash = i.content_hash WHERE i.dataset_id = $1) "
        "AND NOT EXISTS (SELECT 1 FROM images o JOIN blobs ob ON ob.content_hash = o.content_hash "
        "JOIN datasets od ON od.id = o.dataset_id WHERE ob.pixel_hash = c.pixel_hash "
        "AND od.project_id = c.project_id AND o.dataset_id <> $1)",
        id);
    const std::vector<std::string> hashes = Collect(
        tx.exec_params("SELECT DISTINCT content_hash FROM images WHERE dataset_id = $1 ORDER BY content_hash",
                       id),
        ReadFirstText);
    // Locked before their annotations go, so that no annotation is added to them meanwhile.
    tx.exec_params("SELECT 1 FROM images WHERE dataset_id = $1 ORDER BY id FOR UPDATE", id);
    ReassignDuplicates(tx, id);
    tx.exec_params("DELETE FROM dataset_counts WHERE dataset_id = $1", id);
    tx.exec_params("DELETE FROM annotations WHERE image_id IN (SELECT id FROM images WHERE dataset_id = $1)",
                   id);
    tx.exec_params("DELETE FROM images WHERE dataset_id = $1", id);
    tx.exec_params("DELETE FROM datasets WHERE id = $1", id);
    tx.exec_params(
        "UPDATE prewarm_jobs SET status = 'cancelled', error = 'the dataset was deleted', "
        "finished_at = " SAMCACHE_PG_NOW " WHERE dataset_id = $1 AND " SAMCACHE_UNFINISHED,
        id);
    std::vector<std::string> orphans;
    if (!hashes.empty()) {
      // Only this dataset's blobs can have lost their last reference. Locked first (in one
      // order, against deadlocks), so that the DELETE, a statement of its own, sees every
      // image committed by an upload that held the blob until now.
      const std::string array = ArrayLiteral(hashes);
      tx.exec_params(
          "SELECT 1 FROM blobs WHERE content_hash = ANY($1::varchar[]) ORDER BY content_hash FOR UPDATE",
          array);
      orphans = Collect(
          tx.exec_params("DELETE FROM blobs b WHERE b.content_hash = ANY($1::varchar[]) AND NOT EXISTS "
                         "(SELECT 1 FROM images i WHERE i.content_hash = b.content_hash) "
                         "RETURNING b.content_hash",
                         array),
          ReadFirstText);
      std::sort(orphans.begin(), orphans.end());
    }
    tx.commit();
    return orphans;
  });
}

// ---- Images and blobs ----------------------------------------------------------------------

Result<AddImageOutcome> PostgresCatalog::AddImage(const NewImage& img) {
  return Run("add an image", [&](pqxx::connection& c) -> Result<AddImageOutcome> {
    pqxx::work tx(c);
    // Adds to one dataset take turns: each position is MAX + 1 of the committed ones.
    const pqxx::result dataset = tx.exec_params(
        "SELECT project_id FROM datasets WHERE id = $1 AND deleting = 0 FOR NO KEY UPDATE", img.dataset_id);
    if (dataset.empty()) return Status::NotFound("no dataset with id '" + img.dataset_id + "'");
    const std::string project_id = dataset[0][0].as<std::string>();
    const BlobRecord& b = img.blob;
    const std::optional<PerceptualHash>& ph = b.perceptual_hash;
    const NullableParam phash = HashParam(ph ? std::optional(ph->hash) : std::nullopt);
    const NullableParam mirrored = HashParam(ph ? std::optional(ph->mirrored) : std::nullopt);
    const pqxx::binarystring thumb(b.thumb_jpeg.data(), b.thumb_jpeg.size());
    // Insert the blob unless it exists, then hold it (share lock) until commit so that a
    // concurrent DeleteDataset cannot remove it. If one did remove it between the two
    // statements, the row is gone and it is inserted again.
    for (int attempt = 0;; ++attempt) {
      tx.exec_params("INSERT INTO blobs (" SAMCACHE_BLOB_COLUMNS
                     ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) "
                     "ON CONFLICT (content_hash) DO NOTHING",
                     b.content_hash, b.pixel_hash, b.format, b.mime_type, b.byte_size, b.width, b.height,
                     thumb, b.created_at, phash.get(), mirrored.get());
      if (!tx.exec_params("SELECT 1 FROM blobs WHERE content_hash = $1 FOR KEY SHARE", b.content_hash)
               .empty()) {
        break;
      }
      if (attempt >= 10) return Status::Unavailable("the blob row of " + b.content_hash + " keeps vanishing");
    }
    // Uploads of this content into this project take turns (the blob row alone does not
    // order them once it exists), so the next statement sees the images of any earlier one.
    tx.exec_params("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                   project_id + "/" + b.content_hash);
    AddImageOutcome out;
    // A statement of its own, so it sees the images of an upload that held the blob or the
    // lock first and committed while this one waited on it.
    out.duplicate = tx.exec_params(
                          "SELECT EXISTS (SELECT 1 FROM images i JOIN datasets d ON d.id = i.dataset_id "
                          "WHERE i.content_hash = $1 AND d.project_id = $2)",
                          b.content_hash, project_id)[0][0]
                        .as<bool>();
    // Uploads and claims of these pixels in this project take turns too, so that the oldest
    // copy and the claimed counters (AddClaims) see each other's rows.
    const std::string pixel_hash =
        tx.exec_params1("SELECT pixel_hash FROM blobs WHERE content_hash = $1", b.content_hash)[0]
            .as<std::string>();
    tx.exec_params("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                   PixelLockKey(project_id, pixel_hash));
    const pqxx::result oldest = tx.exec_params(
        "SELECT o.id FROM images o JOIN datasets od ON od.id = o.dataset_id "
        "WHERE o.pixel_hash = $1 AND od.project_id = $2 AND od.deleting = 0 ORDER BY o.created_at, o.seq "
        "LIMIT 1",
        pixel_hash, project_id);
    NullableParam duplicate_of;
    if (!oldest.empty()) duplicate_of = NullableParam{oldest[0][0].as<std::string>(), false};
    tx.exec_params(
        "INSERT INTO images (id, dataset_id, filename, content_hash, width, height, created_at, position, "
        "pixel_hash, duplicate_of) "
        "SELECT $1, $2::varchar, $3, $4::varchar, b.width, b.height, $5, "
        "(SELECT COALESCE(MAX(position) + 1, 0) FROM images WHERE dataset_id = $2), b.pixel_hash, $6 "
        "FROM blobs b WHERE b.content_hash = $4",
        img.id, img.dataset_id, img.filename, b.content_hash, b.created_at, duplicate_of.get());
    BumpCounter(tx, img.dataset_id, "images", 1);
    if (!duplicate_of.null) BumpCounter(tx, img.dataset_id, "duplicates", 1);
    // The claims the project already has on these pixels count for the new image too.
    tx.exec_params(
        "INSERT INTO dataset_counts (dataset_id, name, value) "
        "SELECT $1, 'claimed:' || c.model_id, 1 FROM embedding_claims c "
        "WHERE c.project_id = $2 AND c.pixel_hash = $3 AND (c.model_id = '*' OR NOT EXISTS "
        "(SELECT 1 FROM embedding_claims s WHERE s.project_id = c.project_id "
        "AND s.pixel_hash = c.pixel_hash AND s.model_id = '*')) "
        "ON CONFLICT (dataset_id, name) DO UPDATE SET value = dataset_counts.value + 1",
        img.dataset_id, project_id, pixel_hash);
    std::optional<ImageRecord> image =
        First(tx.exec_params(SAMCACHE_IMAGE_SELECT "WHERE i.id = $1", img.id), ReadImage);
    if (!image) return Status::Internal("image " + img.id + " vanished within its transaction");
    out.image = *std::move(image);
    tx.commit();
    return out;
  });
}

Result<ImageRecord> PostgresCatalog::GetImage(const std::string& id) {
  return Run("read an image", [&](pqxx::connection& c) -> Result<ImageRecord> {
    pqxx::nontransaction tx(c);
    std::optional<ImageRecord> image =
        First(tx.exec_params(SAMCACHE_IMAGE_SELECT "WHERE i.id = $1", id), ReadImage);
    if (!image) return Status::NotFound("no image with id '" + id + "'");
    return *std::move(image);
  });
}

Result<std::vector<ImageRecord>> PostgresCatalog::ListImages(const std::string& dataset_id) {
  return Run("list images", [&](pqxx::connection& c) -> Result<std::vector<ImageRecord>> {
    pqxx::nontransaction tx(c);
    return Collect(
        tx.exec_params(SAMCACHE_IMAGE_SELECT "WHERE i.dataset_id = $1 ORDER BY i.position", dataset_id),
        ReadImage);
  });
}

Result<std::vector<ImageKey>> PostgresCatalog::ListImageKeys(const std::string& dataset_id) {
  return Run("list image keys", [&](pqxx::connection& c) -> Result<std::vector<ImageKey>> {
    pqxx::nontransaction tx(c);
    return Collect(
        tx.exec_params(SAMCACHE_IMAGE_KEY_SELECT "WHERE dataset_id = $1 ORDER BY position", dataset_id),
        ReadImageKey);
  });
}

Result<std::optional<BlobRecord>> PostgresCatalog::FindBlob(const std::string& content_hash) {
  return Run("read a blob", [&](pqxx::connection& c) -> Result<std::optional<BlobRecord>> {
    pqxx::nontransaction tx(c);
    return First(
        tx.exec_params("SELECT " SAMCACHE_BLOB_COLUMNS " FROM blobs WHERE content_hash = $1", content_hash),
        ReadBlob);
  });
}

Result<bool> PostgresCatalog::HasBlob(const std::string& content_hash) {
  return Run("look for a blob", [&](pqxx::connection& c) -> Result<bool> {
    pqxx::nontransaction tx(c);
    return !tx.exec_params("SELECT 1 FROM blobs WHERE content_hash = $1", content_hash).empty();
  });
}

Result<CatalogStats> PostgresCatalog::Stats() {
  return Run("read statistics", [&](pqxx::connection& c) -> Result<CatalogStats> {
    pqxx::nontransaction tx(c);
    return ReadStats(PgRow(tx.exec1(SAMCACHE_STATS_SELECT)));
  });
}

// ---- Perceptual hashes and pixel copies ----------------------------------------------------

Status PostgresCatalog::ForEachPicture(
    const std::string& stored_since,
    const std::function<void(const std::string& pixel_hash, const PerceptualHash& hash)>& visit) {
  // Read fully before visiting: a retry after a broken connection must not visit twice.
  using Pictures = std::vector<std::pair<std::string, PerceptualHash>>;
  Result<Pictures> pictures = Run("list pictures", [&](pqxx::connection& c) -> Result<Pictures> {
    pqxx::nontransaction tx(c);
    return Collect(tx.exec_params("SELECT pixel_hash, MIN(phash), MIN(phash_mirrored) FROM blobs "
                                  "WHERE phash IS NOT NULL AND created_at >= $1 GROUP BY pixel_hash",
                                  stored_since),
                   ReadPicture);
  });
  SAMCACHE_RETURN_IF_ERROR(pictures);
  for (const auto& [pixel_hash, hash] : *pictures) visit(pixel_hash, hash);
  return Status::Ok();
}

Result<std::vector<ImageRecord>> PostgresCatalog::ListImagesWithPixelHash(const std::string& pixel_hash,
                                                                          const std::string& project_id) {
  return Run("list images by pixels", [&](pqxx::connection& c) -> Result<std::vector<ImageRecord>> {
    pqxx::nontransaction tx(c);
    return Collect(
        tx.exec_params(SAMCACHE_IMAGE_SELECT
                       "JOIN datasets d ON d.id = i.dataset_id WHERE b.pixel_hash = $1 AND d.deleting = 0 "
                       "AND ($2::varchar = '' OR d.project_id = $2) ORDER BY i.created_at, i.seq",
                       pixel_hash, project_id),
        ReadImage);
  });
}

Result<std::vector<std::string>> PostgresCatalog::BlobsWithoutPerceptualHash(const std::string& after,
                                                                             size_t limit) {
  return Run("list blobs without a perceptual hash",
             [&](pqxx::connection& c) -> Result<std::vector<std::string>> {
               pqxx::nontransaction tx(c);
               return Collect(tx.exec_params("SELECT content_hash FROM blobs WHERE phash IS NULL AND "
                                             "content_hash > $1 ORDER BY content_hash LIMIT $2",
                                             after, static_cast<int64_t>(limit)),
                              ReadFirstText);
             });
}

Status PostgresCatalog::SetPerceptualHash(const std::string& content_hash, const PerceptualHash& hash) {
  return Run("store a perceptual hash", [&](pqxx::connection& c) -> Status {
    pqxx::nontransaction tx(c);
    const pqxx::result r =
        tx.exec_params("UPDATE blobs SET phash = $1, phash_mirrored = $2 WHERE content_hash = $3",
                       static_cast<int64_t>(hash.hash), static_cast<int64_t>(hash.mirrored), content_hash);
    if (r.affected_rows() == 0) return Status::NotFound("no stored content with hash " + content_hash);
    return Status::Ok();
  });
}

Result<std::vector<PixelCopy>> PostgresCatalog::ListPixelCopies(const std::string& dataset_id) {
  return Run("list copies of pictures", [&](pqxx::connection& c) -> Result<std::vector<PixelCopy>> {
    pqxx::nontransaction tx(c);
    return Collect(
        tx.exec_params("SELECT id, first_id FROM (SELECT i.id, i.position, "
                       "(SELECT o.id FROM images o JOIN blobs ob ON ob.content_hash = o.content_hash "
                       "JOIN datasets od ON od.id = o.dataset_id "
                       "WHERE ob.pixel_hash = b.pixel_hash AND od.project_id = d.project_id "
                       "ORDER BY o.created_at, o.seq LIMIT 1) AS first_id "
                       "FROM images i JOIN blobs b ON b.content_hash = i.content_hash "
                       "JOIN datasets d ON d.id = i.dataset_id WHERE i.dataset_id = $1) "
                       "AS copies WHERE first_id <> id ORDER BY position",
                       dataset_id),
        ReadPixelCopy);
  });
}

}  // namespace catalog_internal::postgres

std::string RedactCatalogLocation(const std::string& db) {
  return IsPostgresUrl(db) ? catalog_internal::postgres::ParseUrl(db).redacted : db;
}

Result<std::unique_ptr<Catalog>> OpenPostgresCatalog(const std::string& url, const PostgresOptions& options) {
  if (!IsPostgresUrl(url)) {
    return Status::InvalidArgument("not a PostgreSQL URL (postgresql://user@host:port/dbname): " +
                                   RedactCatalogLocation(url));
  }
  catalog_internal::postgres::ParsedUrl parsed = catalog_internal::postgres::ParseUrl(url);
  // libpq waits for an unreachable host as long as the OS does; a bounded wait gives a clear
  // error instead.
  std::string conninfo = url;
  auto add_param = [&](const std::string& param) {
    conninfo += (conninfo.find('?') == std::string::npos ? "?" : "&") + param;
  };
  if (!parsed.has_connect_timeout)
    add_param("connect_timeout=" + std::to_string(options.connect_timeout_seconds));
  if (!parsed.has_application_name) add_param("application_name=samcache");
  auto catalog = std::make_unique<catalog_internal::postgres::PostgresCatalog>(
      std::make_unique<catalog_internal::postgres::ConnectionPool>(std::move(conninfo), std::move(parsed),
                                                                   options.max_connections));
  SAMCACHE_RETURN_IF_ERROR(catalog->Connect());
  SAMCACHE_RETURN_IF_ERROR(catalog->Migrate());
  return std::unique_ptr<Catalog>(std::move(catalog));
}

}  // namespace samcache
