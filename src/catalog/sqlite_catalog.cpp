// SQLite backend of the Catalog: one connection in WAL mode, guarded by a mutex, with every
// statement prepared once and reused. Several processes (serve, ingest) may share the file:
// writers take the lock up front (BEGIN IMMEDIATE) and wait on each other (busy_timeout).
#include <sqlite3.h>

#include <map>
#include <mutex>

#include "catalog/catalog.h"
#include "catalog/sqlite_migrations.h"

namespace samcache {
namespace {

class Statement;

class Connection {
 public:
  ~Connection() {
    statements_.clear();
    if (db_ != nullptr) sqlite3_close(db_);
  }

  Status Open(const std::string& path) {
    int rc = sqlite3_open_v2(path.c_str(), &db_,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                             nullptr);
    if (rc != SQLITE_OK) return Error("cannot open catalog " + path);
    sqlite3_busy_timeout(db_, 15000);
    SAMCACHE_RETURN_IF_ERROR(Exec("PRAGMA journal_mode=WAL"));
    SAMCACHE_RETURN_IF_ERROR(Exec("PRAGMA synchronous=NORMAL"));
    return Exec("PRAGMA foreign_keys=ON");
  }

  // For fixed SQL without parameters (pragmas, migrations, transaction control).
  Status Exec(std::string_view sql) {
    char* err = nullptr;
    std::string text(sql);
    if (sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
      std::string msg = err != nullptr ? err : "unknown error";
      sqlite3_free(err);
      return Status::IoError("SQLite: " + msg);
    }
    return Status::Ok();
  }

  Result<sqlite3_stmt*> Prepare(const char* sql) {
    auto it = statements_.find(sql);
    if (it != statements_.end()) {
      sqlite3_reset(it->second.get());
      sqlite3_clear_bindings(it->second.get());
      return it->second.get();
    }
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr) != SQLITE_OK) {
      return Error(std::string("cannot prepare ") + sql);
    }
    statements_.emplace(sql, StmtPtr(stmt));
    return stmt;
  }

  Status Error(const std::string& what) const {
    return Status::IoError(what + ": " + (db_ ? sqlite3_errmsg(db_) : "out of memory"));
  }

  int64_t Changes() const { return sqlite3_changes64(db_); }
  int ExtendedErrorCode() const { return sqlite3_extended_errcode(db_); }

 private:
  struct StmtDeleter {
    void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
  };
  using StmtPtr = std::unique_ptr<sqlite3_stmt, StmtDeleter>;

  sqlite3* db_ = nullptr;
  // Keyed by the SQL text's address: every statement is a string literal in this file.
  std::map<const char*, StmtPtr> statements_;
};

// Binds parameters by position and steps a prepared statement.
class Query {
 public:
  Query(Connection& conn, sqlite3_stmt* stmt) : conn_(conn), stmt_(stmt) {}
  ~Query() { sqlite3_reset(stmt_); }

  Query& Bind(const std::string& v) {
    sqlite3_bind_text(stmt_, ++index_, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Query& BindBlob(const std::string& v) {
    sqlite3_bind_blob(stmt_, ++index_, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Query& Bind(int64_t v) {
    sqlite3_bind_int64(stmt_, ++index_, v);
    return *this;
  }
  Query& Bind(double v) {
    sqlite3_bind_double(stmt_, ++index_, v);
    return *this;
  }
  Query& Bind(std::optional<double> v) {
    if (v) return Bind(*v);
    sqlite3_bind_null(stmt_, ++index_);
    return *this;
  }
  // A 64-bit hash as SQLite's signed INTEGER (same bits), or NULL.
  Query& BindHash(std::optional<uint64_t> v) {
    if (v) {
      sqlite3_bind_int64(stmt_, ++index_, static_cast<int64_t>(*v));
    } else {
      sqlite3_bind_null(stmt_, ++index_);
    }
    return *this;
  }

  // True while there is a row; a Status on error.
  Result<bool> Step() {
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    const int extended = conn_.ExtendedErrorCode();
    if (extended == SQLITE_CONSTRAINT_PRIMARYKEY || extended == SQLITE_CONSTRAINT_UNIQUE) {
      return Status::Conflict(conn_.Error("SQLite step failed").message());  // as the PostgreSQL backend says
    }
    return conn_.Error("SQLite step failed");
  }
  Status Run() {
    Result<bool> r = Step();
    return r.ok() ? Status::Ok() : r.status();
  }
  // Steps through every row, turning each into a T with `read`.
  template <typename T, typename Read>
  Result<std::vector<T>> Collect(Read read) {
    std::vector<T> out;
    for (;;) {
      Result<bool> row = Step();
      if (!row.ok()) return row.status();
      if (!*row) return out;
      out.push_back(read(*this));
    }
  }

  std::string Text(int col) const {
    const auto* p = sqlite3_column_blob(stmt_, col);
    int n = sqlite3_column_bytes(stmt_, col);
    return p == nullptr ? std::string() : std::string(static_cast<const char*>(p), static_cast<size_t>(n));
  }
  int64_t Int(int col) const { return sqlite3_column_int64(stmt_, col); }
  double Double(int col) const { return sqlite3_column_double(stmt_, col); }
  std::optional<double> OptionalDouble(int col) const {
    if (sqlite3_column_type(stmt_, col) == SQLITE_NULL) return std::nullopt;
    return Double(col);
  }
  // Two hash columns (hash, mirrored) starting at `col`; absent when NULL.
  std::optional<PerceptualHash> Hashes(int col) const {
    if (sqlite3_column_type(stmt_, col) == SQLITE_NULL || sqlite3_column_type(stmt_, col + 1) == SQLITE_NULL) {
      return std::nullopt;
    }
    return PerceptualHash{static_cast<uint64_t>(Int(col)), static_cast<uint64_t>(Int(col + 1))};
  }

 private:
  Connection& conn_;
  sqlite3_stmt* stmt_;
  int index_ = 0;
};

ImageRecord ReadImage(const Query& q) {
  ImageRecord r;
  r.id = q.Text(0);
  r.dataset_id = q.Text(1);
  r.filename = q.Text(2);
  r.content_hash = q.Text(3);
  r.pixel_hash = q.Text(4);
  r.format = q.Text(5);
  r.mime_type = q.Text(6);
  r.byte_size = q.Int(7);
  r.width = static_cast<int>(q.Int(8));
  r.height = static_cast<int>(q.Int(9));
  r.position = q.Int(10);
  r.created_at = q.Text(11);
  r.perceptual_hash = q.Hashes(12);
  return r;
}

DatasetRecord ReadDataset(const Query& q) {
  return DatasetRecord{q.Text(0), q.Text(1), q.Text(2), q.Int(3)};
}

PrewarmJobRecord ReadPrewarmJob(const Query& q) {
  PrewarmJobRecord j;
  j.id = q.Text(0);
  j.dataset_id = q.Text(1);
  j.model_id = q.Text(2);
  j.status = q.Text(3);
  j.total = q.Int(4);
  j.done = q.Int(5);
  j.computed = q.Int(6);
  j.skipped = q.Int(7);
  j.failed = q.Int(8);
  j.next_position = q.Int(9);
  j.compute_seconds = q.Double(10);
  j.error = q.Text(11);
  j.runner = q.Text(12);
  j.heartbeat_ms = q.Int(13);
  j.created_at = q.Text(14);
  j.started_at = q.Text(15);
  j.finished_at = q.Text(16);
  j.to_compute = q.Int(17);
  return j;
}

AnnotationRecord ReadAnnotation(const Query& q) {
  AnnotationRecord a;
  a.id = q.Text(0);
  a.image_id = q.Text(1);
  a.dataset_id = q.Text(2);
  a.category = q.Text(3);
  a.mask_height = static_cast<int>(q.Int(4));
  a.mask_width = static_cast<int>(q.Int(5));
  a.rle_counts = q.Text(6);
  for (int i = 0; i < 4; ++i) a.bbox[static_cast<size_t>(i)] = q.Double(7 + i);
  a.area = q.Int(11);
  a.score = q.OptionalDouble(12);
  a.prompt_json = q.Text(13);
  a.model_id = q.Text(14);
  a.created_at = q.Text(15);
  a.updated_at = q.Text(16);
  return a;
}

#define SAMCACHE_ANNOTATION_SELECT                                                                  \
  "SELECT a.id, a.image_id, i.dataset_id, a.category, a.mask_height, a.mask_width, a.rle_counts, " \
  "a.bbox_x, a.bbox_y, a.bbox_w, a.bbox_h, a.area, a.score, a.prompt_json, a.model_id, "          \
  "a.created_at, a.updated_at FROM annotations a JOIN images i ON i.id = a.image_id "

#define SAMCACHE_PREWARM_JOB_SELECT                                                                  \
  "SELECT id, dataset_id, model_id, status, total, done, computed, skipped, failed, next_position, " \
  "compute_seconds, error, runner, heartbeat_ms, created_at, started_at, finished_at, to_compute " \
  "FROM prewarm_jobs "
#define SAMCACHE_UNFINISHED "status IN ('queued', 'running')"

#define SAMCACHE_DATASET_SELECT                                                          \
  "SELECT d.id, d.name, d.created_at, (SELECT COUNT(*) FROM images i WHERE i.dataset_id = " \
  "d.id) FROM datasets d "
#define SAMCACHE_IMAGE_SELECT \
  "SELECT i.id, i.dataset_id, i.filename, i.content_hash, b.pixel_hash, b.format, b.mime_type, " \
  "b.byte_size, i.width, i.height, i.position, i.created_at, b.phash, b.phash_mirrored "        \
  "FROM images i "                                                                              \
  "JOIN blobs b ON b.content_hash = i.content_hash "

class SqliteCatalog final : public Catalog {
 public:
  Status Open(const std::string& path) {
    std::lock_guard lock(mu_);
    return conn_.Open(path);
  }

  Status Migrate() override {
    std::lock_guard lock(mu_);
    SAMCACHE_RETURN_IF_ERROR(conn_.Exec(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
        "name TEXT NOT NULL, applied_at TEXT NOT NULL)"));
    for (const auto& m : sqlite_schema::kMigrations) {
      // Each version in its own transaction, re-checked under the write lock so two
      // processes starting at once apply it once.
      SAMCACHE_RETURN_IF_ERROR(conn_.Exec("BEGIN IMMEDIATE"));
      Result<int> current = VersionLocked();
      if (!current.ok()) return Rollback(current.status());
      if (*current >= m.version) {
        SAMCACHE_RETURN_IF_ERROR(conn_.Exec("COMMIT"));
        continue;
      }
      Status st = conn_.Exec(m.sql);
      if (st.ok()) {
        auto stmt = conn_.Prepare(
            "INSERT INTO schema_migrations (version, name, applied_at) "
            "VALUES (?, ?, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))");
        st = stmt.ok() ? Query(conn_, *stmt).Bind(int64_t{m.version}).Bind(std::string(m.name)).Run()
                       : stmt.status();
      }
      if (!st.ok()) {
        return Rollback(Status::IoError("migration to schema version " + std::to_string(m.version) +
                                        " failed: " + st.message()));
      }
      st = conn_.Exec("COMMIT");
      if (!st.ok()) return Rollback(st);
    }
    return Status::Ok();
  }

  Result<int> SchemaVersion() override {
    std::lock_guard lock(mu_);
    return VersionLocked();
  }

  Status CreateDataset(const DatasetRecord& d) override {
    std::lock_guard lock(mu_);
    auto stmt = conn_.Prepare("INSERT INTO datasets (id, name, created_at) VALUES (?, ?, ?)");
    if (!stmt.ok()) return stmt.status();
    return Query(conn_, *stmt).Bind(d.id).Bind(d.name).Bind(d.created_at).Run();
  }

  Result<DatasetRecord> GetDataset(const std::string& id) override {
    std::lock_guard lock(mu_);
    auto stmt = conn_.Prepare(SAMCACHE_DATASET_SELECT "WHERE d.id = ?");
    if (!stmt.ok()) return stmt.status();
    Query q(conn_, *stmt);
    q.Bind(id);
    auto row = q.Step();
    if (!row.ok()) return row.status();
    if (!*row) return Status::NotFound("no dataset with id '" + id + "'");
    return ReadDataset(q);
  }

  Result<std::optional<DatasetRecord>> FindDataset(const std::string& id_or_name) override {
    std::lock_guard lock(mu_);
    auto stmt = conn_.Prepare(SAMCACHE_DATASET_SELECT
                              "WHERE d.id = ? OR d.name = ? "
                              "ORDER BY (d.id = ?) DESC, d.created_at DESC, d.rowid DESC LIMIT 1");
    if (!stmt.ok()) return stmt.status();
    Query q(conn_, *stmt);
    q.Bind(id_or_name).Bind(id_or_name).Bind(id_or_name);
    auto row = q.Step();
    if (!row.ok()) return row.status();
    if (!*row) return std::optional<DatasetRecord>();
    return std::optional<DatasetRecord>(ReadDataset(q));
  }

  Result<std::vector<DatasetRecord>> ListDatasets() override {
    std::lock_guard lock(mu_);
    auto stmt = conn_.Prepare(SAMCACHE_DATASET_SELECT "ORDER BY d.created_at DESC, d.rowid DESC");
    if (!stmt.ok()) return stmt.status();
    return Query(conn_, *stmt).Collect<DatasetRecord>(ReadDataset);
  }

  Result<std::vector<std::string>> DeleteDataset(const std::string& id) override {
    std::lock_guard lock(mu_);
    SAMCACHE_RETURN_IF_ERROR(conn_.Exec("BEGIN IMMEDIATE"));
    auto result = DeleteDatasetLocked(id);
    if (!result.ok()) return Rollback(result.status());
    SAMCACHE_RETURN_IF_ERROR(conn_.Exec("COMMIT"));
    return result;
  }

  Result<AddImageOutcome> AddImage(const NewImage& img) override {
    std::lock_guard lock(mu_);
    SAMCACHE_RETURN_IF_ERROR(conn_.Exec("BEGIN IMMEDIATE"));
    auto result = AddImageLocked(img);
    if (!result.ok()) return Rollback(result.status());
    SAMCACHE_RETURN_IF_ERROR(conn_.Exec("COMMIT"));
    return result;
  }

  Result<ImageRecord> GetImage(const std::string& id) override {
    std::lock_guard lock(mu_);
    return GetImageLocked(id);
  }

  Result<std::vector<ImageRecord>> ListImages(const std::string& dataset_id) override {
    std::lock_guard lock(mu_);
    auto stmt = conn_.Prepare(SAMCACHE_IMAGE_SELECT "WHERE i.dataset_id = ? ORDER BY i.position");
    if (!stmt.ok()) return stmt.status();
    return Query(conn_, *stmt).Bind(dataset_id).Collect<ImageRecord>(ReadImage);
  }

  Result<std::optional<BlobRecord>> FindBlob(const std::string& content_hash) override {
    std::lock_guard lock(mu_);
    auto stmt = conn_.Prepare(
        "SELECT content_hash, pixel_hash, format, mime_type, byte_size, width, height, "
        "thumb_jpeg, created_at, phash, phash_mirrored FROM blobs WHERE content_hash = ?");
    if (!stmt.ok()) return stmt.status();
    Query q(conn_, *stmt);
    q.Bind(content_hash);
    auto row = q.Step();
    if (!row.ok()) return row.status();
    if (!*row) return std::optional<BlobRecord>();
    BlobRecord b;
    b.content_hash = q.Text(0);
    b.pixel_hash = q.Text(1);
    b.format = q.Text(2);
    b.mime_type = q.Text(3);
    b.byte_size = q.Int(4);
    b.width = static_cast<int>(q.Int(5));
    b.height = static_cast<int>(q.Int(6));
    b.thumb_jpeg = q.Text(7);
    b.created_at = q.Text(8);
    b.perceptual_hash = q.Hashes(9);
    return std::optional<BlobRecord>(std::move(b));
  }

  Result<bool> HasBlob(const std::string& content_hash) override {
    std::lock_guard lock(mu_);
    auto stmt = conn_.Prepare("SELECT 1 FROM blobs WHERE content_hash = ?");
    if (!stmt.ok()) return stmt.status();
    return Query(conn_, *stmt).Bind(content_hash).Step();
  }

  Result<CatalogStats> Stats() override {
    std::lock_guard lock(mu_);
    CatalogStats s;
    auto stmt = conn_.Prepare(
        "SELECT (SELECT COUNT(*) FROM datasets), (SELECT COUNT(*) FROM images), "
        "(SELECT COUNT(*) FROM blobs), (SELECT COALESCE(SUM(byte_size), 0) FROM blobs)");
    if (!stmt.ok()) return stmt.status();
    Query q(conn_, *stmt);
    auto row = q.Step();
    if (!row.ok()) return row.status();
    s.datasets = q.Int(0);
    s.images = q.Int(1);
    s.blobs = q.Int(2);
    s.blob_bytes = q.Int(3);
    auto version = VersionLocked();
    if (!version.ok()) return version.status();
    s.schema_version = *version;
    return s;
  }

  Status ForEachPicture(
      const std::string& stored_since,
      const std::function<void(const std::string& pixel_hash, const PerceptualHash& hash)>& visit) override {
    std::lock_guard lock(mu_);
    auto stmt = conn_.Prepare(
        // Without the hint the planner walks the pixel_hash index to skip the GROUP BY's sort,
        // reading every row even when a catch-up wants the last minute's (0.5 s at 200,000).
        "SELECT pixel_hash, MIN(phash), MIN(phash_mirrored) FROM blobs INDEXED BY idx_blobs_created_at "
        "WHERE phash IS NOT NULL AND created_at >= ? GROUP BY pixel_hash");
    if (!stmt.ok()) return stmt.status();
    Query q(conn_, *stmt);
    q.Bind(stored_since);
    for (;;) {
      Result<bool> row = q.Step();
      if (!row.ok()) return row.status();
      if (!*row) return Status::Ok();
      visit(q.Text(0), *q.Hashes(1));
    }
  }

  Result<std::vector<ImageRecord>> ListImagesWithPixelHash(const std::string& pixel_hash) override {
    std::lock_guard lock(mu_);
    auto stmt = conn_.Prepare(SAMCACHE_IMAGE_SELECT "WHERE b.pixel_hash = ? ORDER BY i.created_at, i.rowid");
    if (!stmt.ok()) return stmt.status();
    return Query(conn_, *stmt).Bind(pixel_hash).Collect<ImageRecord>(ReadImage);
  }

  Result<std::vector<std::string>> BlobsWithoutPerceptualHash(const std::string& after, size_t limit) override {
    std::lock_guard lock(mu_);
    auto stmt = conn_.Prepare(
        "SELECT content_hash FROM blobs WHERE phash IS NULL AND content_hash > ? "
        "ORDER BY content_hash LIMIT ?");
    if (!stmt.ok()) return stmt.status();
    return Query(conn_, *stmt).Bind(after).Bind(static_cast<int64_t>(limit)).Collect<std::string>(
        [](const Query& q) { return q.Text(0); });
  }

  Status SetPerceptualHash(const std::string& content_hash, const PerceptualHash& hash) override {
    std::lock_guard lock(mu_);
    auto stmt = conn_.Prepare("UPDATE blobs SET phash = ?, phash_mirrored = ? WHERE content_hash = ?");
    if (!stmt.ok()) return stmt.status();
    SAMCACHE_RETURN_IF_ERROR(Query(conn_, *stmt).BindHash(hash.hash).BindHash(hash.mirrored).Bind(content_hash).Run());
    if (conn_.Changes() == 0) return Status::NotFound("no stored content with hash " + content_hash);
    return Status::Ok();
  }

  Status CreatePrewarmJob(const PrewarmJobRecord& j) override {
    std::lock_guard lock(mu_);
    auto stmt = conn_.Prepare(
        "INSERT INTO prewarm_jobs (id, dataset_id, model_id, status, total, runner, heartbeat_ms, "
        "created_at, to_compute) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
    if (!stmt.ok()) return stmt.status();
    return Query(conn_, *stmt)
        .Bind(j.id)
        .Bind(j.dataset_id)
        .Bind(j.model_id)
        .Bind(j.status)
        .Bind(j.total)
        .Bind(j.runner)
        .Bind(j.heartbeat_ms)
        .Bind(j.created_at)
        .Bind(j.to_compute)
        .Run();
  }

  Result<PrewarmJobRecord> GetPrewarmJob(const std::string& id) override {
    std::lock_guard lock(mu_);
    auto stmt = conn_.Prepare(SAMCACHE_PREWARM_JOB_SELECT "WHERE id = ?");
    if (!stmt.ok()) return stmt.status();
    Query q(conn_, *stmt);
    q.Bind(id);
    auto row = q.Step();
    if (!row.ok()) return row.status();
    if (!*row) return Status::NotFound("no prewarm job with id '" + id + "'");
    return ReadPrewarmJob(q);
  }

  Result<std::vector<PrewarmJobRecord>> ListUnfinishedPrewarmJobs() override {
    std::lock_guard lock(mu_);
    auto stmt = conn_.Prepare(SAMCACHE_PREWARM_JOB_SELECT "WHERE " SAMCACHE_UNFINISHED
                                                          " ORDER BY created_at, rowid");
    if (!stmt.ok()) return stmt.status();
    return Query(conn_, *stmt).Collect<PrewarmJobRecord>(ReadPrewarmJob);
  }

  Result<std::optional<PrewarmJobRecord>> FindUnfinishedPrewarmJob(const std::string& dataset_id,
                                                                   const std::string& model_id) override {
    std::lock_guard lock(mu_);
    auto stmt = conn_.Prepare(SAMCACHE_PREWARM_JOB_SELECT "WHERE dataset_id = ? AND model_id = ? AND " SAMCACHE_UNFINISHED
                                                          " ORDER BY created_at DESC, rowid DESC LIMIT 1");
    if (!stmt.ok()) return stmt.status();
    Query q(conn_, *stmt);
    q.Bind(dataset_id).Bind(model_id);
    auto row = q.Step();
    if (!row.ok()) return row.status();
    if (!*row) return std::optional<PrewarmJobRecord>();
    return std::optional<PrewarmJobRecord>(ReadPrewarmJob(q));
  }

  Result<bool> ClaimPrewarmJob(const std::string& id, const std::string& expected_runner, const std::string& runner,
                               int64_t now_ms) override {
    std::lock_guard lock(mu_);
    auto stmt = conn_.Prepare("UPDATE prewarm_jobs SET runner = ?, heartbeat_ms = ? WHERE id = ? AND runner = ? AND " SAMCACHE_UNFINISHED);
    if (!stmt.ok()) return stmt.status();
    SAMCACHE_RETURN_IF_ERROR(Query(conn_, *stmt).Bind(runner).Bind(now_ms).Bind(id).Bind(expected_runner).Run());
    return conn_.Changes() > 0;
  }

  Result<std::optional<PrewarmJobRecord>> ClaimNextPrewarmJob(const std::string& model_id, const std::string& runner,
                                                              int64_t now_ms, int64_t stale_before_ms) override {
    std::lock_guard lock(mu_);
    // One write transaction: another process's claim waits for the lock and then sees this one.
    SAMCACHE_RETURN_IF_ERROR(conn_.Exec("BEGIN IMMEDIATE"));
    Result<std::optional<PrewarmJobRecord>> claimed = ClaimNextPrewarmJobLocked(model_id, runner, now_ms, stale_before_ms);
    if (!claimed.ok()) return Rollback(claimed);
    SAMCACHE_RETURN_IF_ERROR(conn_.Exec("COMMIT"));
    return claimed;
  }

  Result<bool> HeartbeatPrewarmJob(const std::string& id, const std::string& runner, int64_t now_ms) override {
    std::lock_guard lock(mu_);
    auto stmt = conn_.Prepare("UPDATE prewarm_jobs SET heartbeat_ms = ? WHERE id = ? AND runner = ? AND " SAMCACHE_UNFINISHED);
    if (!stmt.ok()) return stmt.status();
    SAMCACHE_RETURN_IF_ERROR(Query(conn_, *stmt).Bind(now_ms).Bind(id).Bind(runner).Run());
    return conn_.Changes() > 0;
  }

  Result<bool> SavePrewarmProgress(const PrewarmJobRecord& j, const std::vector<PrewarmFailure>& new_failures) override {
    std::lock_guard lock(mu_);
    SAMCACHE_RETURN_IF_ERROR(conn_.Exec("BEGIN IMMEDIATE"));
    Result<bool> saved = SavePrewarmProgressLocked(j, new_failures);
    if (!saved.ok() || !*saved) return Rollback(saved);
    SAMCACHE_RETURN_IF_ERROR(conn_.Exec("COMMIT"));
    return saved;
  }

  Result<bool> CancelPrewarmJob(const std::string& id, const std::string& finished_at) override {
    std::lock_guard lock(mu_);
    auto stmt = conn_.Prepare("UPDATE prewarm_jobs SET status = 'cancelled', finished_at = ? WHERE id = ? AND " SAMCACHE_UNFINISHED);
    if (!stmt.ok()) return stmt.status();
    SAMCACHE_RETURN_IF_ERROR(Query(conn_, *stmt).Bind(finished_at).Bind(id).Run());
    return conn_.Changes() > 0;
  }

  Result<std::vector<PrewarmFailure>> ListPrewarmFailures(const std::string& job_id) override {
    std::lock_guard lock(mu_);
    auto stmt = conn_.Prepare("SELECT image_id, filename, reason FROM prewarm_failures WHERE job_id = ? ORDER BY rowid");
    if (!stmt.ok()) return stmt.status();
    return Query(conn_, *stmt).Bind(job_id).Collect<PrewarmFailure>(
        [](const Query& q) { return PrewarmFailure{q.Text(0), q.Text(1), q.Text(2)}; });
  }

  Result<std::vector<std::pair<std::string, int64_t>>> CountPrewarmJobsByStatus() override {
    std::lock_guard lock(mu_);
    auto stmt = conn_.Prepare("SELECT status, COUNT(*) FROM prewarm_jobs GROUP BY status ORDER BY status");
    if (!stmt.ok()) return stmt.status();
    return Query(conn_, *stmt).Collect<std::pair<std::string, int64_t>>(
        [](const Query& q) { return std::pair(q.Text(0), q.Int(1)); });
  }

  Status CreateAnnotation(const AnnotationRecord& a) override {
    std::lock_guard lock(mu_);
    SAMCACHE_RETURN_IF_ERROR(conn_.Exec("BEGIN IMMEDIATE"));
    Status st = CreateAnnotationLocked(a);
    if (!st.ok()) return Rollback(st);
    return conn_.Exec("COMMIT");
  }

  Result<AnnotationRecord> GetAnnotation(const std::string& id) override {
    std::lock_guard lock(mu_);
    auto stmt = conn_.Prepare(SAMCACHE_ANNOTATION_SELECT "WHERE a.id = ?");
    if (!stmt.ok()) return stmt.status();
    Query q(conn_, *stmt);
    q.Bind(id);
    auto row = q.Step();
    if (!row.ok()) return row.status();
    if (!*row) return Status::NotFound("no annotation with id '" + id + "'");
    return ReadAnnotation(q);
  }

  Result<std::vector<AnnotationRecord>> ListAnnotations(const std::string& image_id) override {
    std::lock_guard lock(mu_);
    auto stmt = conn_.Prepare(SAMCACHE_ANNOTATION_SELECT "WHERE a.image_id = ? ORDER BY a.position");
    if (!stmt.ok()) return stmt.status();
    return Query(conn_, *stmt).Bind(image_id).Collect<AnnotationRecord>(ReadAnnotation);
  }

  Result<std::vector<AnnotationRecord>> ListDatasetAnnotations(const std::string& dataset_id) override {
    std::lock_guard lock(mu_);
    auto stmt =
        conn_.Prepare(SAMCACHE_ANNOTATION_SELECT "WHERE i.dataset_id = ? ORDER BY i.position, a.position");
    if (!stmt.ok()) return stmt.status();
    return Query(conn_, *stmt).Bind(dataset_id).Collect<AnnotationRecord>(ReadAnnotation);
  }

  Status UpdateAnnotation(const AnnotationRecord& a) override {
    std::lock_guard lock(mu_);
    auto stmt = conn_.Prepare(
        "UPDATE annotations SET category = ?, mask_height = ?, mask_width = ?, rle_counts = ?, bbox_x = ?, "
        "bbox_y = ?, bbox_w = ?, bbox_h = ?, area = ?, score = ?, prompt_json = ?, updated_at = ? WHERE id = ?");
    if (!stmt.ok()) return stmt.status();
    SAMCACHE_RETURN_IF_ERROR(Query(conn_, *stmt)
                                 .Bind(a.category)
                                 .Bind(int64_t{a.mask_height})
                                 .Bind(int64_t{a.mask_width})
                                 .Bind(a.rle_counts)
                                 .Bind(a.bbox[0])
                                 .Bind(a.bbox[1])
                                 .Bind(a.bbox[2])
                                 .Bind(a.bbox[3])
                                 .Bind(a.area)
                                 .Bind(a.score)
                                 .Bind(a.prompt_json)
                                 .Bind(a.updated_at)
                                 .Bind(a.id)
                                 .Run());
    if (conn_.Changes() == 0) return Status::NotFound("no annotation with id '" + a.id + "'");
    return Status::Ok();
  }

  Status DeleteAnnotation(const std::string& id) override {
    std::lock_guard lock(mu_);
    auto stmt = conn_.Prepare("DELETE FROM annotations WHERE id = ?");
    if (!stmt.ok()) return stmt.status();
    SAMCACHE_RETURN_IF_ERROR(Query(conn_, *stmt).Bind(id).Run());
    if (conn_.Changes() == 0) return Status::NotFound("no annotation with id '" + id + "'");
    return Status::Ok();
  }

  Result<std::vector<std::pair<std::string, int64_t>>> CountAnnotationsPerImage(
      const std::string& dataset_id) override {
    std::lock_guard lock(mu_);
    auto stmt = conn_.Prepare(
        "SELECT a.image_id, COUNT(*) FROM annotations a JOIN images i ON i.id = a.image_id "
        "WHERE i.dataset_id = ? GROUP BY a.image_id");
    if (!stmt.ok()) return stmt.status();
    return Query(conn_, *stmt).Bind(dataset_id).Collect<std::pair<std::string, int64_t>>(
        [](const Query& q) { return std::pair(q.Text(0), q.Int(1)); });
  }

  Result<std::vector<PixelCopy>> ListPixelCopies(const std::string& dataset_id) override {
    std::lock_guard lock(mu_);
    auto stmt = conn_.Prepare(
        "SELECT id, first_id FROM (SELECT i.id, i.position, "
        "(SELECT o.id FROM images o JOIN blobs ob ON ob.content_hash = o.content_hash "
        "WHERE ob.pixel_hash = b.pixel_hash ORDER BY o.created_at, o.rowid LIMIT 1) AS first_id "
        "FROM images i JOIN blobs b ON b.content_hash = i.content_hash WHERE i.dataset_id = ?) "
        "WHERE first_id <> id ORDER BY position");
    if (!stmt.ok()) return stmt.status();
    return Query(conn_, *stmt).Bind(dataset_id).Collect<PixelCopy>(
        [](const Query& q) { return PixelCopy{q.Text(0), q.Text(1)}; });
  }

 private:
  template <typename T>
  T Rollback(T error) {
    (void)conn_.Exec("ROLLBACK");
    return error;
  }

  Result<int> VersionLocked() {
    auto stmt = conn_.Prepare("SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
    if (!stmt.ok()) return stmt.status();
    Query q(conn_, *stmt);
    auto row = q.Step();
    if (!row.ok()) return row.status();
    return static_cast<int>(q.Int(0));
  }

  Result<ImageRecord> GetImageLocked(const std::string& id) {
    auto stmt = conn_.Prepare(SAMCACHE_IMAGE_SELECT "WHERE i.id = ?");
    if (!stmt.ok()) return stmt.status();
    Query q(conn_, *stmt);
    q.Bind(id);
    auto row = q.Step();
    if (!row.ok()) return row.status();
    if (!*row) return Status::NotFound("no image with id '" + id + "'");
    return ReadImage(q);
  }

  Result<AddImageOutcome> AddImageLocked(const NewImage& img) {
    {
      auto stmt = conn_.Prepare("SELECT 1 FROM datasets WHERE id = ?");
      if (!stmt.ok()) return stmt.status();
      Query q(conn_, *stmt);
      q.Bind(img.dataset_id);
      auto row = q.Step();
      if (!row.ok()) return row.status();
      if (!*row) return Status::NotFound("no dataset with id '" + img.dataset_id + "'");
    }
    AddImageOutcome out;
    {
      auto stmt = conn_.Prepare("SELECT EXISTS (SELECT 1 FROM images WHERE content_hash = ?)");
      if (!stmt.ok()) return stmt.status();
      Query q(conn_, *stmt);
      q.Bind(img.blob.content_hash);
      auto row = q.Step();
      if (!row.ok()) return row.status();
      out.duplicate = q.Int(0) != 0;
    }
    {
      const BlobRecord& b = img.blob;
      auto stmt = conn_.Prepare(
          "INSERT INTO blobs (content_hash, pixel_hash, format, mime_type, byte_size, width, "
          "height, thumb_jpeg, created_at, phash, phash_mirrored) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
          "ON CONFLICT (content_hash) DO NOTHING");
      if (!stmt.ok()) return stmt.status();
      SAMCACHE_RETURN_IF_ERROR(Query(conn_, *stmt)
                                   .Bind(b.content_hash)
                                   .Bind(b.pixel_hash)
                                   .Bind(b.format)
                                   .Bind(b.mime_type)
                                   .Bind(b.byte_size)
                                   .Bind(int64_t{b.width})
                                   .Bind(int64_t{b.height})
                                   .BindBlob(b.thumb_jpeg)
                                   .Bind(b.created_at)
                                   .BindHash(b.perceptual_hash ? std::optional(b.perceptual_hash->hash) : std::nullopt)
                                   .BindHash(b.perceptual_hash ? std::optional(b.perceptual_hash->mirrored) : std::nullopt)
                                   .Run());
    }
    {
      auto stmt = conn_.Prepare(
          "INSERT INTO images (id, dataset_id, filename, content_hash, width, height, created_at, "
          "position) SELECT ?, ?, ?, ?, b.width, b.height, ?, "
          "(SELECT COALESCE(MAX(position) + 1, 0) FROM images WHERE dataset_id = ?) "
          "FROM blobs b WHERE b.content_hash = ?");
      if (!stmt.ok()) return stmt.status();
      SAMCACHE_RETURN_IF_ERROR(Query(conn_, *stmt)
                                   .Bind(img.id)
                                   .Bind(img.dataset_id)
                                   .Bind(img.filename)
                                   .Bind(img.blob.content_hash)
                                   .Bind(img.blob.created_at)
                                   .Bind(img.dataset_id)
                                   .Bind(img.blob.content_hash)
                                   .Run());
    }
    auto image = GetImageLocked(img.id);
    if (!image.ok()) return image.status();
    out.image = std::move(image).value();
    return out;
  }

  Result<std::optional<PrewarmJobRecord>> ClaimNextPrewarmJobLocked(const std::string& model_id, const std::string& runner,
                                                                    int64_t now_ms, int64_t stale_before_ms) {
    std::string id;
    {
      auto stmt = conn_.Prepare(
          "SELECT id FROM prewarm_jobs WHERE model_id = ? AND ((status = 'queued' AND runner = '') OR "
          "(" SAMCACHE_UNFINISHED " AND heartbeat_ms < ?)) ORDER BY created_at, rowid LIMIT 1");
      if (!stmt.ok()) return stmt.status();
      Query q(conn_, *stmt);
      q.Bind(model_id).Bind(stale_before_ms);
      auto row = q.Step();
      if (!row.ok()) return row.status();
      if (!*row) return std::optional<PrewarmJobRecord>();
      id = q.Text(0);
    }
    {
      auto stmt = conn_.Prepare("UPDATE prewarm_jobs SET runner = ?, heartbeat_ms = ?, status = 'running' WHERE id = ?");
      if (!stmt.ok()) return stmt.status();
      SAMCACHE_RETURN_IF_ERROR(Query(conn_, *stmt).Bind(runner).Bind(now_ms).Bind(id).Run());
    }
    auto stmt = conn_.Prepare(SAMCACHE_PREWARM_JOB_SELECT "WHERE id = ?");
    if (!stmt.ok()) return stmt.status();
    Query q(conn_, *stmt);
    q.Bind(id);
    auto row = q.Step();
    if (!row.ok()) return row.status();
    if (!*row) return Status::Internal("prewarm job " + id + " vanished while being claimed");
    return std::optional<PrewarmJobRecord>(ReadPrewarmJob(q));
  }

  Result<bool> SavePrewarmProgressLocked(const PrewarmJobRecord& j, const std::vector<PrewarmFailure>& new_failures) {
    {
      auto stmt = conn_.Prepare(
          "UPDATE prewarm_jobs SET status = ?, total = ?, done = ?, computed = ?, skipped = ?, failed = ?, "
          "next_position = ?, to_compute = ?, compute_seconds = ?, error = ?, heartbeat_ms = ?, started_at = ?, "
          "finished_at = ? "
          "WHERE id = ? AND runner = ? AND " SAMCACHE_UNFINISHED);
      if (!stmt.ok()) return stmt.status();
      SAMCACHE_RETURN_IF_ERROR(Query(conn_, *stmt)
                                   .Bind(j.status)
                                   .Bind(j.total)
                                   .Bind(j.done)
                                   .Bind(j.computed)
                                   .Bind(j.skipped)
                                   .Bind(j.failed)
                                   .Bind(j.next_position)
                                   .Bind(j.to_compute)
                                   .Bind(j.compute_seconds)
                                   .Bind(j.error)
                                   .Bind(j.heartbeat_ms)
                                   .Bind(j.started_at)
                                   .Bind(j.finished_at)
                                   .Bind(j.id)
                                   .Bind(j.runner)
                                   .Run());
      if (conn_.Changes() == 0) return false;
    }
    for (const PrewarmFailure& f : new_failures) {
      auto stmt = conn_.Prepare(
          "INSERT INTO prewarm_failures (job_id, image_id, filename, reason) VALUES (?, ?, ?, ?) "
          "ON CONFLICT (job_id, image_id) DO UPDATE SET reason = excluded.reason");
      if (!stmt.ok()) return stmt.status();
      SAMCACHE_RETURN_IF_ERROR(Query(conn_, *stmt).Bind(j.id).Bind(f.image_id).Bind(f.filename).Bind(f.reason).Run());
    }
    return true;
  }

  Status CreateAnnotationLocked(const AnnotationRecord& a) {
    {
      auto stmt = conn_.Prepare("SELECT 1 FROM images WHERE id = ?");
      if (!stmt.ok()) return stmt.status();
      Query q(conn_, *stmt);
      auto row = q.Bind(a.image_id).Step();
      if (!row.ok()) return row.status();
      if (!*row) return Status::NotFound("no image with id '" + a.image_id + "'");
    }
    auto stmt = conn_.Prepare(
        "INSERT INTO annotations (id, image_id, position, category, mask_height, mask_width, rle_counts, "
        "bbox_x, bbox_y, bbox_w, bbox_h, area, score, prompt_json, model_id, created_at, updated_at) "
        "VALUES (?, ?, (SELECT COALESCE(MAX(position), -1) + 1 FROM annotations WHERE image_id = ?), "
        "?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    if (!stmt.ok()) return stmt.status();
    return Query(conn_, *stmt)
        .Bind(a.id)
        .Bind(a.image_id)
        .Bind(a.image_id)
        .Bind(a.category)
        .Bind(int64_t{a.mask_height})
        .Bind(int64_t{a.mask_width})
        .Bind(a.rle_counts)
        .Bind(a.bbox[0])
        .Bind(a.bbox[1])
        .Bind(a.bbox[2])
        .Bind(a.bbox[3])
        .Bind(a.area)
        .Bind(a.score)
        .Bind(a.prompt_json)
        .Bind(a.model_id)
        .Bind(a.created_at)
        .Bind(a.updated_at)
        .Run();
  }

  Result<std::vector<std::string>> DeleteDatasetLocked(const std::string& id) {
    auto hashes_stmt = conn_.Prepare("SELECT DISTINCT content_hash FROM images WHERE dataset_id = ?");
    if (!hashes_stmt.ok()) return hashes_stmt.status();
    Result<std::vector<std::string>> hashes = Query(conn_, *hashes_stmt).Bind(id).Collect<std::string>(
        [](const Query& q) { return q.Text(0); });
    if (!hashes.ok()) return hashes.status();
    {
      auto stmt = conn_.Prepare(
          "DELETE FROM annotations WHERE image_id IN (SELECT id FROM images WHERE dataset_id = ?)");
      if (!stmt.ok()) return stmt.status();
      SAMCACHE_RETURN_IF_ERROR(Query(conn_, *stmt).Bind(id).Run());
    }
    {
      auto stmt = conn_.Prepare("DELETE FROM images WHERE dataset_id = ?");
      if (!stmt.ok()) return stmt.status();
      SAMCACHE_RETURN_IF_ERROR(Query(conn_, *stmt).Bind(id).Run());
    }
    {
      auto stmt = conn_.Prepare("DELETE FROM datasets WHERE id = ?");
      if (!stmt.ok()) return stmt.status();
      SAMCACHE_RETURN_IF_ERROR(Query(conn_, *stmt).Bind(id).Run());
      if (conn_.Changes() == 0) return Status::NotFound("no dataset with id '" + id + "'");
    }
    {
      auto stmt = conn_.Prepare(
          "UPDATE prewarm_jobs SET status = 'cancelled', error = 'the dataset was deleted', "
          "finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE dataset_id = ? AND " SAMCACHE_UNFINISHED);
      if (!stmt.ok()) return stmt.status();
      SAMCACHE_RETURN_IF_ERROR(Query(conn_, *stmt).Bind(id).Run());
    }
    // Only this dataset's blobs can have lost their last reference.
    std::vector<std::string> orphans;
    for (const std::string& hash : *hashes) {
      auto stmt = conn_.Prepare(
          "DELETE FROM blobs WHERE content_hash = ? AND NOT EXISTS "
          "(SELECT 1 FROM images i WHERE i.content_hash = blobs.content_hash)");
      if (!stmt.ok()) return stmt.status();
      SAMCACHE_RETURN_IF_ERROR(Query(conn_, *stmt).Bind(hash).Run());
      if (conn_.Changes() > 0) orphans.push_back(hash);
    }
    return orphans;
  }

  std::mutex mu_;
  Connection conn_;
};

}  // namespace

Result<std::unique_ptr<Catalog>> OpenSqliteCatalog(const std::string& path) {
  auto catalog = std::make_unique<SqliteCatalog>();
  SAMCACHE_RETURN_IF_ERROR(catalog->Open(path));
  SAMCACHE_RETURN_IF_ERROR(catalog->Migrate());
  return std::unique_ptr<Catalog>(std::move(catalog));
}

}  // namespace samcache
