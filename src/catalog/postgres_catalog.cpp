// PostgreSQL backend of the Catalog, for several samcache processes sharing one database.
//
// pqxx connections are not thread-safe: each call borrows one from a small pool for its whole
// duration. Transactions run at READ COMMITTED; where the SQLite backend relies on its single
// writer, this one takes row locks instead:
//   - AddImage locks the dataset row (so positions within a dataset are handed out one at a
//     time) and inserts the blob with ON CONFLICT DO NOTHING, which makes a concurrent upload
//     of the same new content wait for the first one's commit: of N uploads exactly one finds
//     no earlier image. It then holds a share lock on the blob row until it commits.
//   - DeleteDataset locks the dataset, then its blob rows, before deleting those no image
//     refers to any more, so it never removes a blob an upload is about to refer to.
//   - The prewarm job updates are single compare-and-set UPDATEs (PostgreSQL re-checks the
//     WHERE clause on the newest row version after waiting for a concurrent writer).
// A connection that broke is dropped and the call is retried once on a new one; deadlocks and
// serialization failures are retried a few times. Error messages never contain the password.
#include <spdlog/spdlog.h>
#include <pqxx/pqxx>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <type_traits>

#include "catalog/catalog.h"
#include "catalog/postgres_migrations.h"

namespace samcache {
namespace {

// Held (transaction-scoped) while migrating, so that of several processes starting at once
// against one database exactly one applies each version. The bytes of "samcache".
constexpr int64_t kMigrationLockKey = 8314046660705740901;
constexpr int kMaxAttempts = 5;

// ---- URLs and secrets ---------------------------------------------------------------------

std::string PercentDecode(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out.push_back(static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

// The parts of postgresql://[user[:password]@][host][:port][/dbname][?param=value&...] that
// matter here: the password (in the userinfo or as a parameter) and the URL without it.
struct ParsedUrl {
  std::string redacted;              // no password, no parameters
  std::vector<std::string> secrets;  // the password as written and decoded
  bool has_connect_timeout = false;
  bool has_application_name = false;
};

ParsedUrl ParseUrl(const std::string& url) {
  ParsedUrl out;
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string::npos) {
    out.redacted = "(not a URL)";
    return out;
  }
  const size_t rest = scheme_end + 3;
  const size_t query = url.find('?', rest);
  const size_t authority_end = std::min(url.find('/', rest), query);
  const std::string authority =
      url.substr(rest, authority_end == std::string::npos ? std::string::npos : authority_end - rest);
  std::string shown_authority = authority;
  const size_t at = authority.rfind('@');
  if (at != std::string::npos) {
    const std::string userinfo = authority.substr(0, at);
    const size_t colon = userinfo.find(':');
    if (colon != std::string::npos) {
      const std::string password = userinfo.substr(colon + 1);
      if (!password.empty()) {
        out.secrets.push_back(password);
        out.secrets.push_back(PercentDecode(password));
      }
      shown_authority = userinfo.substr(0, colon) + authority.substr(at);
    }
  }
  std::string path;
  if (authority_end != std::string::npos && authority_end != query) {
    path = url.substr(authority_end, query == std::string::npos ? std::string::npos : query - authority_end);
  }
  if (query != std::string::npos) {
    const std::string params = url.substr(query + 1);
    size_t start = 0;
    while (start <= params.size()) {
      size_t end = params.find('&', start);
      if (end == std::string::npos) end = params.size();
      const std::string param = params.substr(start, end - start);
      const size_t eq = param.find('=');
      const std::string key = param.substr(0, eq);
      if (key == "password" && eq != std::string::npos && eq + 1 < param.size()) {
        out.secrets.push_back(param.substr(eq + 1));
        out.secrets.push_back(PercentDecode(param.substr(eq + 1)));
      }
      out.has_connect_timeout |= key == "connect_timeout";
      out.has_application_name |= key == "application_name";
      start = end + 1;
    }
  }
  out.redacted = url.substr(0, rest) + shown_authority + path;
  return out;
}

// A message from libpq or the server with every copy of a secret replaced, on one line.
std::string Scrub(std::string message, const std::vector<std::string>& secrets) {
  for (const std::string& secret : secrets) {
    if (secret.empty()) continue;
    for (size_t pos = message.find(secret); pos != std::string::npos; pos = message.find(secret, pos)) {
      message.replace(pos, secret.size(), "***");
      pos += 3;
    }
  }
  std::string out;
  for (char c : message) {
    if (c == '\n' || c == '\t') c = ' ';
    if (c == ' ' && (out.empty() || out.back() == ' ')) continue;
    out.push_back(c);
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

// ---- Connection pool ------------------------------------------------------------------------

class ConnectionPool {
 public:
  ConnectionPool(std::string conninfo, ParsedUrl url, size_t size)
      : conninfo_(std::move(conninfo)), url_(std::move(url)), size_(std::max<size_t>(size, 1)) {}

  const ParsedUrl& url() const { return url_; }

  // A connection for the caller's exclusive use until Release; waits while all are lent.
  Result<std::unique_ptr<pqxx::connection>> Acquire() {
    {
      std::unique_lock lock(mu_);
      available_.wait(lock, [&] { return !idle_.empty() || open_ < size_; });
      if (!idle_.empty()) {
        std::unique_ptr<pqxx::connection> conn = std::move(idle_.back());
        idle_.pop_back();
        return conn;
      }
      ++open_;  // reserved; connecting happens outside the lock
    }
    try {
      auto conn = std::make_unique<pqxx::connection>(conninfo_);
      // Keeps "relation already exists, skipping" and the like off the terminal.
      conn->set_variable("client_min_messages", "warning");
      return conn;
    } catch (const std::exception& e) {
      Release(nullptr);
      return Status::Unavailable("cannot connect to PostgreSQL at " + url_.redacted + ": " +
                                 Scrub(e.what(), url_.secrets));
    }
  }

  // Closes the idle connections: after one broke (server restart, failover), the others most
  // likely did too, and each would cost a failed attempt.
  void DropIdle() {
    std::vector<std::unique_ptr<pqxx::connection>> dropped;
    {
      std::lock_guard lock(mu_);
      dropped.swap(idle_);
      open_ -= dropped.size();
      available_.notify_all();
    }
  }

  // Gives a connection back; null or broken ones are dropped (a new one is opened on demand).
  void Release(std::unique_ptr<pqxx::connection> conn) {
    std::lock_guard lock(mu_);
    if (conn != nullptr && conn->is_open()) {
      idle_.push_back(std::move(conn));
    } else {
      --open_;
    }
    available_.notify_one();
  }

 private:
  const std::string conninfo_;
  const ParsedUrl url_;
  const size_t size_;
  std::mutex mu_;
  std::condition_variable available_;
  std::vector<std::unique_ptr<pqxx::connection>> idle_;
  size_t open_ = 0;  // idle plus lent
};

// ---- Rows to records ------------------------------------------------------------------------

std::string Text(const pqxx::field& f) { return f.is_null() ? std::string() : f.as<std::string>(); }
int64_t Int(const pqxx::field& f) { return f.is_null() ? 0 : f.as<int64_t>(); }

std::optional<PerceptualHash> Hashes(const pqxx::row& row, int col) {
  if (row[col].is_null() || row[col + 1].is_null()) return std::nullopt;
  return PerceptualHash{static_cast<uint64_t>(row[col].as<int64_t>()),
                        static_cast<uint64_t>(row[col + 1].as<int64_t>())};
}

ImageRecord ReadImage(const pqxx::row& r) {
  ImageRecord i;
  i.id = Text(r[0]);
  i.dataset_id = Text(r[1]);
  i.filename = Text(r[2]);
  i.content_hash = Text(r[3]);
  i.pixel_hash = Text(r[4]);
  i.format = Text(r[5]);
  i.mime_type = Text(r[6]);
  i.byte_size = Int(r[7]);
  i.width = static_cast<int>(Int(r[8]));
  i.height = static_cast<int>(Int(r[9]));
  i.position = Int(r[10]);
  i.created_at = Text(r[11]);
  i.perceptual_hash = Hashes(r, 12);
  return i;
}

DatasetRecord ReadDataset(const pqxx::row& r) {
  return DatasetRecord{Text(r[0]), Text(r[1]), Text(r[2]), Int(r[3])};
}

PrewarmJobRecord ReadPrewarmJob(const pqxx::row& r) {
  PrewarmJobRecord j;
  j.id = Text(r[0]);
  j.dataset_id = Text(r[1]);
  j.model_id = Text(r[2]);
  j.status = Text(r[3]);
  j.total = Int(r[4]);
  j.done = Int(r[5]);
  j.computed = Int(r[6]);
  j.skipped = Int(r[7]);
  j.failed = Int(r[8]);
  j.next_position = Int(r[9]);
  j.compute_seconds = r[10].is_null() ? 0.0 : r[10].as<double>();
  j.error = Text(r[11]);
  j.runner = Text(r[12]);
  j.heartbeat_ms = Int(r[13]);
  j.created_at = Text(r[14]);
  j.started_at = Text(r[15]);
  j.finished_at = Text(r[16]);
  j.to_compute = Int(r[17]);
  return j;
}

AnnotationRecord ReadAnnotation(const pqxx::row& r) {
  AnnotationRecord a;
  a.id = Text(r[0]);
  a.image_id = Text(r[1]);
  a.dataset_id = Text(r[2]);
  a.category = Text(r[3]);
  a.mask_height = static_cast<int>(Int(r[4]));
  a.mask_width = static_cast<int>(Int(r[5]));
  a.rle_counts = Text(r[6]);
  for (int i = 0; i < 4; ++i) a.bbox[static_cast<size_t>(i)] = r[7 + i].as<double>();
  a.area = Int(r[11]);
  if (!r[12].is_null()) a.score = r[12].as<double>();
  a.prompt_json = Text(r[13]);
  a.model_id = Text(r[14]);
  a.created_at = Text(r[15]);
  a.updated_at = Text(r[16]);
  return a;
}

template <typename T, typename Read>
std::vector<T> Collect(const pqxx::result& rows, Read read) {
  std::vector<T> out;
  out.reserve(rows.size());
  for (const pqxx::row& row : rows) out.push_back(read(row));
  return out;
}

// A hash as a nullable BIGINT parameter: its decimal text, or a null pointer for NULL.
struct HashParam {
  explicit HashParam(std::optional<uint64_t> v) : text(v ? std::to_string(static_cast<int64_t>(*v)) : "") {
    null = !v.has_value();
  }
  const char* get() const { return null ? nullptr : text.c_str(); }
  std::string text;
  bool null = true;
};

// A nullable DOUBLE PRECISION parameter.
struct DoubleParam {
  explicit DoubleParam(std::optional<double> v) : text(v ? pqxx::to_string(*v) : ""), null(!v.has_value()) {}
  const char* get() const { return null ? nullptr : text.c_str(); }
  std::string text;
  bool null = true;
};

// A PostgreSQL array literal of strings, for `= ANY($1::varchar[])`.
std::string ArrayLiteral(const std::vector<std::string>& values) {
  std::string out = "{";
  for (const std::string& v : values) {
    if (out.size() > 1) out += ',';
    out += '"';
    for (char c : v) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

#define SAMCACHE_PG_NOW "to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
#define SAMCACHE_ANNOTATION_SELECT                                                                 \
  "SELECT a.id, a.image_id, i.dataset_id, a.category, a.mask_height, a.mask_width, a.rle_counts, " \
  "a.bbox_x, a.bbox_y, a.bbox_w, a.bbox_h, a.area, a.score, a.prompt_json, a.model_id, "           \
  "a.created_at, a.updated_at FROM annotations a JOIN images i ON i.id = a.image_id "
#define SAMCACHE_PREWARM_JOB_SELECT                                                                  \
  "SELECT id, dataset_id, model_id, status, total, done, computed, skipped, failed, next_position, " \
  "compute_seconds, error, runner, heartbeat_ms, created_at, started_at, finished_at, to_compute "   \
  "FROM prewarm_jobs "
#define SAMCACHE_UNFINISHED "status IN ('queued', 'running')"
#define SAMCACHE_DATASET_SELECT                                                             \
  "SELECT d.id, d.name, d.created_at, (SELECT COUNT(*) FROM images i WHERE i.dataset_id = " \
  "d.id) FROM datasets d "
#define SAMCACHE_IMAGE_SELECT                                                                    \
  "SELECT i.id, i.dataset_id, i.filename, i.content_hash, b.pixel_hash, b.format, b.mime_type, " \
  "b.byte_size, i.width, i.height, i.position, i.created_at, b.phash, b.phash_mirrored "         \
  "FROM images i "                                                                               \
  "JOIN blobs b ON b.content_hash = i.content_hash "

// ---- The catalog ------------------------------------------------------------------------------

class PostgresCatalog final : public Catalog {
 public:
  explicit PostgresCatalog(std::unique_ptr<ConnectionPool> pool) : pool_(std::move(pool)) {}

  // Opens one connection now, so that a wrong URL or an unreachable server is reported at
  // start-up rather than on the first request.
  Status Connect() {
    return Run("connect", [](pqxx::connection&) { return Status::Ok(); });
  }

  Status Migrate() override {
    for (const auto& m : postgres_schema::kMigrations) {
      Status st = Run("migrate", [&](pqxx::connection& c) -> Status {
        pqxx::work tx(c);
        tx.exec_params("SELECT pg_advisory_xact_lock($1)", kMigrationLockKey);
        tx.exec(std::string(postgres_schema::kSchemaMigrationsTable));
        const int current =
            tx.exec("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")[0][0].as<int>();
        if (current >= m.version) return Status::Ok();  // rolled back: nothing was written
        try {
          tx.exec(std::string(m.sql));
        } catch (const pqxx::sql_error& e) {
          return Status::IoError("migration to schema version " + std::to_string(m.version) +
                                 " failed: " + Scrub(e.what(), pool_->url().secrets));
        }
        tx.exec_params(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, " SAMCACHE_PG_NOW ")",
            m.version, std::string(m.name));
        tx.commit();
        spdlog::info("[CATALOG] PostgreSQL schema migrated to version {} ({})", m.version, m.name);
        return Status::Ok();
      });
      SAMCACHE_RETURN_IF_ERROR(st);
    }
    return Status::Ok();
  }

  Result<int> SchemaVersion() override {
    return Run("read the schema version", [&](pqxx::connection& c) -> Result<int> {
      pqxx::nontransaction tx(c);
      return tx.exec("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")[0][0].as<int>();
    });
  }

  Status CreateDataset(const DatasetRecord& d) override {
    return Run("create a dataset", [&](pqxx::connection& c) -> Status {
      pqxx::nontransaction tx(c);
      tx.exec_params("INSERT INTO datasets (id, name, created_at) VALUES ($1, $2, $3)", d.id, d.name,
                     d.created_at);
      return Status::Ok();
    });
  }

  Result<DatasetRecord> GetDataset(const std::string& id) override {
    return Run("read a dataset", [&](pqxx::connection& c) -> Result<DatasetRecord> {
      pqxx::nontransaction tx(c);
      const pqxx::result rows = tx.exec_params(SAMCACHE_DATASET_SELECT "WHERE d.id = $1", id);
      if (rows.empty()) return Status::NotFound("no dataset with id '" + id + "'");
      return ReadDataset(rows[0]);
    });
  }

  Result<std::optional<DatasetRecord>> FindDataset(const std::string& id_or_name) override {
    return Run("find a dataset", [&](pqxx::connection& c) -> Result<std::optional<DatasetRecord>> {
      pqxx::nontransaction tx(c);
      const pqxx::result rows =
          tx.exec_params(SAMCACHE_DATASET_SELECT
                         "WHERE d.id = $1 OR d.name = $1 "
                         "ORDER BY (d.id = $1) DESC, d.created_at DESC, d.seq DESC LIMIT 1",
                         id_or_name);
      if (rows.empty()) return std::optional<DatasetRecord>();
      return std::optional<DatasetRecord>(ReadDataset(rows[0]));
    });
  }

  Result<std::vector<DatasetRecord>> ListDatasets() override {
    return Run("list datasets", [&](pqxx::connection& c) -> Result<std::vector<DatasetRecord>> {
      pqxx::nontransaction tx(c);
      return Collect<DatasetRecord>(tx.exec(SAMCACHE_DATASET_SELECT "ORDER BY d.created_at DESC, d.seq DESC"),
                                    ReadDataset);
    });
  }

  Result<std::vector<std::string>> DeleteDataset(const std::string& id) override {
    return Run("delete a dataset", [&](pqxx::connection& c) -> Result<std::vector<std::string>> {
      pqxx::work tx(c);
      if (tx.exec_params("SELECT 1 FROM datasets WHERE id = $1 FOR UPDATE", id).empty()) {
        return Status::NotFound("no dataset with id '" + id + "'");
      }
      const std::vector<std::string> hashes = Collect<std::string>(
          tx.exec_params(
              "SELECT DISTINCT content_hash FROM images WHERE dataset_id = $1 ORDER BY content_hash", id),
          [](const pqxx::row& r) { return Text(r[0]); });
      // Locked before their annotations go, so that no annotation is added to them meanwhile.
      tx.exec_params("SELECT 1 FROM images WHERE dataset_id = $1 ORDER BY id FOR UPDATE", id);
      tx.exec_params(
          "DELETE FROM annotations WHERE image_id IN (SELECT id FROM images WHERE dataset_id = $1)", id);
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
        orphans = Collect<std::string>(
            tx.exec_params(
                "DELETE FROM blobs b WHERE b.content_hash = ANY($1::varchar[]) AND NOT EXISTS "
                "(SELECT 1 FROM images i WHERE i.content_hash = b.content_hash) RETURNING b.content_hash",
                array),
            [](const pqxx::row& r) { return Text(r[0]); });
        std::sort(orphans.begin(), orphans.end());
      }
      tx.commit();
      return orphans;
    });
  }

  Result<AddImageOutcome> AddImage(const NewImage& img) override {
    return Run("add an image", [&](pqxx::connection& c) -> Result<AddImageOutcome> {
      pqxx::work tx(c);
      // Adds to one dataset take turns: each position is MAX + 1 of the committed ones.
      if (tx.exec_params("SELECT 1 FROM datasets WHERE id = $1 FOR NO KEY UPDATE", img.dataset_id).empty()) {
        return Status::NotFound("no dataset with id '" + img.dataset_id + "'");
      }
      const BlobRecord& b = img.blob;
      const HashParam phash(b.perceptual_hash ? std::optional(b.perceptual_hash->hash) : std::nullopt);
      const HashParam mirrored(b.perceptual_hash ? std::optional(b.perceptual_hash->mirrored) : std::nullopt);
      const pqxx::binarystring thumb(b.thumb_jpeg.data(), b.thumb_jpeg.size());
      // Insert the blob unless it exists, then hold it (share lock) until commit so that a
      // concurrent DeleteDataset cannot remove it. If one did remove it between the two
      // statements, the row is gone and it is inserted again.
      for (int attempt = 0;; ++attempt) {
        tx.exec_params(
            "INSERT INTO blobs (content_hash, pixel_hash, format, mime_type, byte_size, width, height, "
            "thumb_jpeg, "
            "created_at, phash, phash_mirrored) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) "
            "ON CONFLICT (content_hash) DO NOTHING",
            b.content_hash, b.pixel_hash, b.format, b.mime_type, b.byte_size, b.width, b.height, thumb,
            b.created_at, phash.get(), mirrored.get());
        if (!tx.exec_params("SELECT 1 FROM blobs WHERE content_hash = $1 FOR KEY SHARE", b.content_hash)
                 .empty()) {
          break;
        }
        if (attempt >= 10)
          return Status::Unavailable("the blob row of " + b.content_hash + " keeps vanishing");
      }
      AddImageOutcome out;
      // A statement of its own, so it sees the images of an upload that inserted this blob
      // first and committed while this one waited on it.
      out.duplicate =
          tx.exec_params("SELECT EXISTS (SELECT 1 FROM images WHERE content_hash = $1)", b.content_hash)[0][0]
              .as<bool>();
      tx.exec_params(
          "INSERT INTO images (id, dataset_id, filename, content_hash, width, height, created_at, position) "
          "SELECT $1, $2::varchar, $3, $4::varchar, b.width, b.height, $5, "
          "(SELECT COALESCE(MAX(position) + 1, 0) FROM images WHERE dataset_id = $2) "
          "FROM blobs b WHERE b.content_hash = $4",
          img.id, img.dataset_id, img.filename, b.content_hash, b.created_at);
      const pqxx::result rows = tx.exec_params(SAMCACHE_IMAGE_SELECT "WHERE i.id = $1", img.id);
      if (rows.empty()) return Status::Internal("image " + img.id + " vanished within its transaction");
      out.image = ReadImage(rows[0]);
      tx.commit();
      return out;
    });
  }

  Result<ImageRecord> GetImage(const std::string& id) override {
    return Run("read an image", [&](pqxx::connection& c) -> Result<ImageRecord> {
      pqxx::nontransaction tx(c);
      const pqxx::result rows = tx.exec_params(SAMCACHE_IMAGE_SELECT "WHERE i.id = $1", id);
      if (rows.empty()) return Status::NotFound("no image with id '" + id + "'");
      return ReadImage(rows[0]);
    });
  }

  Result<std::vector<ImageRecord>> ListImages(const std::string& dataset_id) override {
    return Run("list images", [&](pqxx::connection& c) -> Result<std::vector<ImageRecord>> {
      pqxx::nontransaction tx(c);
      return Collect<ImageRecord>(
          tx.exec_params(SAMCACHE_IMAGE_SELECT "WHERE i.dataset_id = $1 ORDER BY i.position", dataset_id),
          ReadImage);
    });
  }

  Result<std::optional<BlobRecord>> FindBlob(const std::string& content_hash) override {
    return Run("read a blob", [&](pqxx::connection& c) -> Result<std::optional<BlobRecord>> {
      pqxx::nontransaction tx(c);
      const pqxx::result rows = tx.exec_params(
          "SELECT content_hash, pixel_hash, format, mime_type, byte_size, width, height, thumb_jpeg, "
          "created_at, "
          "phash, phash_mirrored FROM blobs WHERE content_hash = $1",
          content_hash);
      if (rows.empty()) return std::optional<BlobRecord>();
      const pqxx::row& r = rows[0];
      BlobRecord b;
      b.content_hash = Text(r[0]);
      b.pixel_hash = Text(r[1]);
      b.format = Text(r[2]);
      b.mime_type = Text(r[3]);
      b.byte_size = Int(r[4]);
      b.width = static_cast<int>(Int(r[5]));
      b.height = static_cast<int>(Int(r[6]));
      b.thumb_jpeg = pqxx::binarystring(r[7]).str();
      b.created_at = Text(r[8]);
      b.perceptual_hash = Hashes(r, 9);
      return std::optional<BlobRecord>(std::move(b));
    });
  }

  Result<bool> HasBlob(const std::string& content_hash) override {
    return Run("look for a blob", [&](pqxx::connection& c) -> Result<bool> {
      pqxx::nontransaction tx(c);
      return !tx.exec_params("SELECT 1 FROM blobs WHERE content_hash = $1", content_hash).empty();
    });
  }

  Result<CatalogStats> Stats() override {
    return Run("read statistics", [&](pqxx::connection& c) -> Result<CatalogStats> {
      pqxx::nontransaction tx(c);
      const pqxx::row r = tx.exec1(
          "SELECT (SELECT COUNT(*) FROM datasets), (SELECT COUNT(*) FROM images), (SELECT COUNT(*) FROM "
          "blobs), "
          "(SELECT COALESCE(SUM(byte_size), 0)::BIGINT FROM blobs), "
          "(SELECT COALESCE(MAX(version), 0) FROM schema_migrations)");
      CatalogStats s;
      s.datasets = Int(r[0]);
      s.images = Int(r[1]);
      s.blobs = Int(r[2]);
      s.blob_bytes = Int(r[3]);
      s.schema_version = static_cast<int>(Int(r[4]));
      return s;
    });
  }

  Status ForEachPicture(
      const std::string& stored_since,
      const std::function<void(const std::string& pixel_hash, const PerceptualHash& hash)>& visit) override {
    // Read fully before visiting: a retry after a broken connection must not visit twice.
    Result<std::vector<std::pair<std::string, PerceptualHash>>> pictures = Run(
        "list pictures",
        [&](pqxx::connection& c) -> Result<std::vector<std::pair<std::string, PerceptualHash>>> {
          pqxx::nontransaction tx(c);
          return Collect<std::pair<std::string, PerceptualHash>>(
              tx.exec_params("SELECT pixel_hash, MIN(phash), MIN(phash_mirrored) FROM blobs "
                             "WHERE phash IS NOT NULL AND created_at >= $1 GROUP BY pixel_hash",
                             stored_since),
              [](const pqxx::row& r) { return std::pair(Text(r[0]), *Hashes(r, 1)); });
        });
    if (!pictures.ok()) return pictures.status();
    for (const auto& [pixel_hash, hash] : *pictures) visit(pixel_hash, hash);
    return Status::Ok();
  }

  Result<std::vector<ImageRecord>> ListImagesWithPixelHash(const std::string& pixel_hash) override {
    return Run("list images by pixels", [&](pqxx::connection& c) -> Result<std::vector<ImageRecord>> {
      pqxx::nontransaction tx(c);
      return Collect<ImageRecord>(
          tx.exec_params(SAMCACHE_IMAGE_SELECT "WHERE b.pixel_hash = $1 ORDER BY i.created_at, i.seq",
                         pixel_hash),
          ReadImage);
    });
  }

  Result<std::vector<std::string>> BlobsWithoutPerceptualHash(const std::string& after,
                                                              size_t limit) override {
    return Run(
        "list blobs without a perceptual hash", [&](pqxx::connection& c) -> Result<std::vector<std::string>> {
          pqxx::nontransaction tx(c);
          return Collect<std::string>(tx.exec_params("SELECT content_hash FROM blobs WHERE phash IS NULL AND "
                                                     "content_hash > $1 ORDER BY content_hash LIMIT $2",
                                                     after, static_cast<int64_t>(limit)),
                                      [](const pqxx::row& r) { return Text(r[0]); });
        });
  }

  Status SetPerceptualHash(const std::string& content_hash, const PerceptualHash& hash) override {
    return Run("store a perceptual hash", [&](pqxx::connection& c) -> Status {
      pqxx::nontransaction tx(c);
      const pqxx::result r =
          tx.exec_params("UPDATE blobs SET phash = $1, phash_mirrored = $2 WHERE content_hash = $3",
                         static_cast<int64_t>(hash.hash), static_cast<int64_t>(hash.mirrored), content_hash);
      if (r.affected_rows() == 0) return Status::NotFound("no stored content with hash " + content_hash);
      return Status::Ok();
    });
  }

  Status CreatePrewarmJob(const PrewarmJobRecord& j) override {
    return Run("create a prewarm job", [&](pqxx::connection& c) -> Status {
      pqxx::nontransaction tx(c);
      tx.exec_params(
          "INSERT INTO prewarm_jobs (id, dataset_id, model_id, status, total, runner, heartbeat_ms, "
          "created_at, to_compute) "
          "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
          j.id, j.dataset_id, j.model_id, j.status, j.total, j.runner, j.heartbeat_ms, j.created_at, j.to_compute);
      return Status::Ok();
    });
  }

  Result<PrewarmJobRecord> GetPrewarmJob(const std::string& id) override {
    return Run("read a prewarm job", [&](pqxx::connection& c) -> Result<PrewarmJobRecord> {
      pqxx::nontransaction tx(c);
      const pqxx::result rows = tx.exec_params(SAMCACHE_PREWARM_JOB_SELECT "WHERE id = $1", id);
      if (rows.empty()) return Status::NotFound("no prewarm job with id '" + id + "'");
      return ReadPrewarmJob(rows[0]);
    });
  }

  Result<std::vector<PrewarmJobRecord>> ListUnfinishedPrewarmJobs() override {
    return Run("list prewarm jobs", [&](pqxx::connection& c) -> Result<std::vector<PrewarmJobRecord>> {
      pqxx::nontransaction tx(c);
      return Collect<PrewarmJobRecord>(
          tx.exec(SAMCACHE_PREWARM_JOB_SELECT "WHERE " SAMCACHE_UNFINISHED " ORDER BY created_at, seq"),
          ReadPrewarmJob);
    });
  }

  Result<std::optional<PrewarmJobRecord>> FindUnfinishedPrewarmJob(const std::string& dataset_id,
                                                                   const std::string& model_id) override {
    return Run("find a prewarm job", [&](pqxx::connection& c) -> Result<std::optional<PrewarmJobRecord>> {
      pqxx::nontransaction tx(c);
      const pqxx::result rows = tx.exec_params(
          SAMCACHE_PREWARM_JOB_SELECT "WHERE dataset_id = $1 AND model_id = $2 AND " SAMCACHE_UNFINISHED
                                      " ORDER BY created_at DESC, seq DESC LIMIT 1",
          dataset_id, model_id);
      if (rows.empty()) return std::optional<PrewarmJobRecord>();
      return std::optional<PrewarmJobRecord>(ReadPrewarmJob(rows[0]));
    });
  }

  Result<bool> ClaimPrewarmJob(const std::string& id, const std::string& expected_runner,
                               const std::string& runner, int64_t now_ms) override {
    return Run("claim a prewarm job", [&](pqxx::connection& c) -> Result<bool> {
      pqxx::nontransaction tx(c);
      return tx.exec_params(
                   "UPDATE prewarm_jobs SET runner = $1, heartbeat_ms = $2 "
                   "WHERE id = $3 AND runner = $4 AND " SAMCACHE_UNFINISHED,
                   runner, now_ms, id, expected_runner)
                 .affected_rows() > 0;
    });
  }

  Result<std::optional<PrewarmJobRecord>> ClaimNextPrewarmJob(const std::string& model_id,
                                                              const std::string& runner, int64_t now_ms,
                                                              int64_t stale_before_ms) override {
    return Run(
        "claim the next prewarm job", [&](pqxx::connection& c) -> Result<std::optional<PrewarmJobRecord>> {
          pqxx::nontransaction tx(c);
          // One statement: the row lock of the subquery is held by the UPDATE. Rows other
          // claimers hold are skipped, not waited for; a locked row is re-checked against the
          // conditions once it is ours, so a job taken meanwhile is not taken twice.
          const pqxx::result rows = tx.exec_params(
              "UPDATE prewarm_jobs SET runner = $1, heartbeat_ms = $2, status = 'running' "
              "WHERE id = (SELECT id FROM prewarm_jobs WHERE model_id = $3 AND ((status = 'queued' AND "
              "runner = '') OR "
              "(" SAMCACHE_UNFINISHED
              " AND heartbeat_ms < $4)) ORDER BY created_at, seq LIMIT 1 FOR UPDATE SKIP LOCKED) "
              "RETURNING id, dataset_id, model_id, status, total, done, computed, skipped, failed, "
              "next_position, "
              "compute_seconds, error, runner, heartbeat_ms, created_at, started_at, finished_at, to_compute",
              runner, now_ms, model_id, stale_before_ms);
          if (rows.empty()) return std::optional<PrewarmJobRecord>();
          return std::optional<PrewarmJobRecord>(ReadPrewarmJob(rows[0]));
        });
  }

  Result<bool> HeartbeatPrewarmJob(const std::string& id, const std::string& runner,
                                   int64_t now_ms) override {
    return Run("record a prewarm heartbeat", [&](pqxx::connection& c) -> Result<bool> {
      pqxx::nontransaction tx(c);
      return tx.exec_params(
                   "UPDATE prewarm_jobs SET heartbeat_ms = $1 WHERE id = $2 AND runner = $3 "
                   "AND " SAMCACHE_UNFINISHED,
                   now_ms, id, runner)
                 .affected_rows() > 0;
    });
  }

  Result<bool> SavePrewarmProgress(const PrewarmJobRecord& j,
                                   const std::vector<PrewarmFailure>& new_failures) override {
    return Run("save prewarm progress", [&](pqxx::connection& c) -> Result<bool> {
      pqxx::work tx(c);
      const pqxx::result updated = tx.exec_params(
          "UPDATE prewarm_jobs SET status = $1, total = $2, done = $3, computed = $4, skipped = $5, failed = "
          "$6, "
          "next_position = $7, to_compute = $8, compute_seconds = $9, error = $10, heartbeat_ms = $11, "
          "started_at = $12, finished_at = $13 "
          "WHERE id = $14 AND runner = $15 AND " SAMCACHE_UNFINISHED,
          j.status, j.total, j.done, j.computed, j.skipped, j.failed, j.next_position, j.to_compute,
          j.compute_seconds, j.error, j.heartbeat_ms, j.started_at, j.finished_at, j.id, j.runner);
      if (updated.affected_rows() == 0) return false;  // rolled back: nothing written
      for (const PrewarmFailure& f : new_failures) {
        tx.exec_params(
            "INSERT INTO prewarm_failures (job_id, image_id, filename, reason) VALUES ($1, $2, $3, $4) "
            "ON CONFLICT (job_id, image_id) DO UPDATE SET reason = excluded.reason",
            j.id, f.image_id, f.filename, f.reason);
      }
      tx.commit();
      return true;
    });
  }

  Result<bool> CancelPrewarmJob(const std::string& id, const std::string& finished_at) override {
    return Run("cancel a prewarm job", [&](pqxx::connection& c) -> Result<bool> {
      pqxx::nontransaction tx(c);
      return tx.exec_params(
                   "UPDATE prewarm_jobs SET status = 'cancelled', finished_at = $1 "
                   "WHERE id = $2 AND " SAMCACHE_UNFINISHED,
                   finished_at, id)
                 .affected_rows() > 0;
    });
  }

  Result<std::vector<PrewarmFailure>> ListPrewarmFailures(const std::string& job_id) override {
    return Run("list prewarm failures", [&](pqxx::connection& c) -> Result<std::vector<PrewarmFailure>> {
      pqxx::nontransaction tx(c);
      return Collect<PrewarmFailure>(
          tx.exec_params(
              "SELECT image_id, filename, reason FROM prewarm_failures WHERE job_id = $1 ORDER BY seq",
              job_id),
          [](const pqxx::row& r) {
            return PrewarmFailure{Text(r[0]), Text(r[1]), Text(r[2])};
          });
    });
  }

  Result<std::vector<std::pair<std::string, int64_t>>> CountPrewarmJobsByStatus() override {
    return Run("count prewarm jobs",
               [&](pqxx::connection& c) -> Result<std::vector<std::pair<std::string, int64_t>>> {
                 pqxx::nontransaction tx(c);
                 return Collect<std::pair<std::string, int64_t>>(
                     tx.exec("SELECT status, COUNT(*) FROM prewarm_jobs GROUP BY status ORDER BY status"),
                     [](const pqxx::row& r) { return std::pair(Text(r[0]), Int(r[1])); });
               });
  }

  Status CreateAnnotation(const AnnotationRecord& a) override {
    return Run("create an annotation", [&](pqxx::connection& c) -> Status {
      pqxx::work tx(c);
      // Annotations of one image are numbered one at a time.
      if (tx.exec_params("SELECT 1 FROM images WHERE id = $1 FOR NO KEY UPDATE", a.image_id).empty()) {
        return Status::NotFound("no image with id '" + a.image_id + "'");
      }
      const DoubleParam score(a.score);
      tx.exec_params(
          "INSERT INTO annotations (id, image_id, position, category, mask_height, mask_width, rle_counts, "
          "bbox_x, bbox_y, bbox_w, bbox_h, area, score, prompt_json, model_id, created_at, updated_at) "
          "VALUES ($1, $2::varchar, (SELECT COALESCE(MAX(position), -1) + 1 FROM annotations WHERE image_id "
          "= "
          "$2::varchar), $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
          a.id, a.image_id, a.category, a.mask_height, a.mask_width, a.rle_counts, a.bbox[0], a.bbox[1],
          a.bbox[2], a.bbox[3], a.area, score.get(), a.prompt_json, a.model_id, a.created_at, a.updated_at);
      tx.commit();
      return Status::Ok();
    });
  }

  Result<AnnotationRecord> GetAnnotation(const std::string& id) override {
    return Run("read an annotation", [&](pqxx::connection& c) -> Result<AnnotationRecord> {
      pqxx::nontransaction tx(c);
      const pqxx::result rows = tx.exec_params(SAMCACHE_ANNOTATION_SELECT "WHERE a.id = $1", id);
      if (rows.empty()) return Status::NotFound("no annotation with id '" + id + "'");
      return ReadAnnotation(rows[0]);
    });
  }

  Result<std::vector<AnnotationRecord>> ListAnnotations(const std::string& image_id) override {
    return Run("list annotations", [&](pqxx::connection& c) -> Result<std::vector<AnnotationRecord>> {
      pqxx::nontransaction tx(c);
      return Collect<AnnotationRecord>(
          tx.exec_params(SAMCACHE_ANNOTATION_SELECT "WHERE a.image_id = $1 ORDER BY a.position", image_id),
          ReadAnnotation);
    });
  }

  Result<std::vector<AnnotationRecord>> ListDatasetAnnotations(const std::string& dataset_id) override {
    return Run("list annotations", [&](pqxx::connection& c) -> Result<std::vector<AnnotationRecord>> {
      pqxx::nontransaction tx(c);
      return Collect<AnnotationRecord>(
          tx.exec_params(SAMCACHE_ANNOTATION_SELECT "WHERE i.dataset_id = $1 ORDER BY i.position, a.position",
                         dataset_id),
          ReadAnnotation);
    });
  }

  Status UpdateAnnotation(const AnnotationRecord& a) override {
    return Run("update an annotation", [&](pqxx::connection& c) -> Status {
      pqxx::nontransaction tx(c);
      const DoubleParam score(a.score);
      const pqxx::result r = tx.exec_params(
          "UPDATE annotations SET category = $1, mask_height = $2, mask_width = $3, rle_counts = $4, bbox_x "
          "= $5, "
          "bbox_y = $6, bbox_w = $7, bbox_h = $8, area = $9, score = $10, prompt_json = $11, updated_at = "
          "$12 "
          "WHERE id = $13",
          a.category, a.mask_height, a.mask_width, a.rle_counts, a.bbox[0], a.bbox[1], a.bbox[2], a.bbox[3],
          a.area, score.get(), a.prompt_json, a.updated_at, a.id);
      if (r.affected_rows() == 0) return Status::NotFound("no annotation with id '" + a.id + "'");
      return Status::Ok();
    });
  }

  Status DeleteAnnotation(const std::string& id) override {
    return Run("delete an annotation", [&](pqxx::connection& c) -> Status {
      pqxx::nontransaction tx(c);
      if (tx.exec_params("DELETE FROM annotations WHERE id = $1", id).affected_rows() == 0) {
        return Status::NotFound("no annotation with id '" + id + "'");
      }
      return Status::Ok();
    });
  }

  Result<std::vector<std::pair<std::string, int64_t>>> CountAnnotationsPerImage(
      const std::string& dataset_id) override {
    return Run("count annotations",
               [&](pqxx::connection& c) -> Result<std::vector<std::pair<std::string, int64_t>>> {
                 pqxx::nontransaction tx(c);
                 return Collect<std::pair<std::string, int64_t>>(
                     tx.exec_params(
                         "SELECT a.image_id, COUNT(*) FROM annotations a JOIN images i ON i.id = a.image_id "
                         "WHERE i.dataset_id = $1 GROUP BY a.image_id",
                         dataset_id),
                     [](const pqxx::row& r) { return std::pair(Text(r[0]), Int(r[1])); });
               });
  }

  Result<std::vector<PixelCopy>> ListPixelCopies(const std::string& dataset_id) override {
    return Run("list copies of pictures", [&](pqxx::connection& c) -> Result<std::vector<PixelCopy>> {
      pqxx::nontransaction tx(c);
      return Collect<PixelCopy>(
          tx.exec_params(
              "SELECT id, first_id FROM (SELECT i.id, i.position, "
              "(SELECT o.id FROM images o JOIN blobs ob ON ob.content_hash = o.content_hash "
              "WHERE ob.pixel_hash = b.pixel_hash ORDER BY o.created_at, o.seq LIMIT 1) AS first_id "
              "FROM images i JOIN blobs b ON b.content_hash = i.content_hash WHERE i.dataset_id = $1) "
              "AS copies WHERE first_id <> id ORDER BY position",
              dataset_id),
          [](const pqxx::row& r) {
            return PixelCopy{Text(r[0]), Text(r[1])};
          });
    });
  }

 private:
  // Runs `body` (which returns a Status or a Result) on a pooled connection, turning pqxx's
  // exceptions into a Status. A transaction that failed before its commit is retried: on a
  // new connection when the old one broke, after a short pause on a deadlock or a
  // serialization failure.
  template <typename Body>
  auto Run(const char* what, Body&& body) -> std::invoke_result_t<Body&, pqxx::connection&> {
    using R = std::invoke_result_t<Body&, pqxx::connection&>;
    Status last;
    for (int attempt = 1; attempt <= kMaxAttempts; ++attempt) {
      Result<std::unique_ptr<pqxx::connection>> conn = pool_->Acquire();
      if (!conn.ok()) return R(conn.status());
      std::unique_ptr<pqxx::connection> c = std::move(conn).value();
      try {
        R result = body(*c);
        pool_->Release(std::move(c));
        return result;
      } catch (const pqxx::broken_connection& e) {
        c.reset();  // dropped, with the idle ones; the next attempt opens a new one
        pool_->Release(nullptr);
        pool_->DropIdle();
        last = Status::Unavailable(std::string("PostgreSQL connection lost while trying to ") + what + ": " +
                                   Scrub(e.what(), pool_->url().secrets));
        if (attempt >= 2) break;
        spdlog::warn("[CATALOG] {}; reconnecting", last.message());
        continue;
      } catch (const pqxx::in_doubt_error& e) {
        pool_->Release(nullptr);
        return R(Status::Unavailable(std::string("PostgreSQL connection lost while committing (") + what +
                                     "), the outcome is unknown: " + Scrub(e.what(), pool_->url().secrets)));
      } catch (const pqxx::transaction_rollback& e) {  // serialization failure, deadlock
        pool_->Release(std::move(c));
        last = Status::Unavailable(std::string("PostgreSQL could not ") + what + ": " +
                                   Scrub(e.what(), pool_->url().secrets));
        std::this_thread::sleep_for(std::chrono::milliseconds(5 * attempt));
        continue;
      } catch (const pqxx::unique_violation& e) {
        pool_->Release(std::move(c));
        return R(
            Status::Conflict(std::string("cannot ") + what + ": " + Scrub(e.what(), pool_->url().secrets)));
      } catch (const pqxx::sql_error& e) {
        pool_->Release(std::move(c));
        return R(Status::IoError(std::string("PostgreSQL cannot ") + what + ": " +
                                 Scrub(e.what(), pool_->url().secrets)));
      } catch (const std::exception& e) {
        pool_->Release(std::move(c));
        return R(Status::IoError(std::string("PostgreSQL cannot ") + what + ": " +
                                 Scrub(e.what(), pool_->url().secrets)));
      }
    }
    return R(last);
  }

  std::unique_ptr<ConnectionPool> pool_;
};

}  // namespace

std::string RedactCatalogLocation(const std::string& db) {
  return IsPostgresUrl(db) ? ParseUrl(db).redacted : db;
}

Result<std::unique_ptr<Catalog>> OpenPostgresCatalog(const std::string& url, const PostgresOptions& options) {
  if (!IsPostgresUrl(url)) {
    return Status::InvalidArgument("not a PostgreSQL URL (postgresql://user@host:port/dbname): " +
                                   RedactCatalogLocation(url));
  }
  ParsedUrl parsed = ParseUrl(url);
  // libpq waits for an unreachable host as long as the OS does; a bounded wait gives a clear
  // error instead.
  std::string conninfo = url;
  auto add_param = [&](const std::string& param) {
    conninfo += (conninfo.find('?') == std::string::npos ? "?" : "&") + param;
  };
  if (!parsed.has_connect_timeout)
    add_param("connect_timeout=" + std::to_string(options.connect_timeout_seconds));
  if (!parsed.has_application_name) add_param("application_name=samcache");
  auto catalog = std::make_unique<PostgresCatalog>(
      std::make_unique<ConnectionPool>(std::move(conninfo), std::move(parsed), options.max_connections));
  SAMCACHE_RETURN_IF_ERROR(catalog->Connect());
  SAMCACHE_RETURN_IF_ERROR(catalog->Migrate());
  return std::unique_ptr<Catalog>(std::move(catalog));
}

}  // namespace samcache
