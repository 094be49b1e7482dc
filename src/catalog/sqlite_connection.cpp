// The SQLite backend's connection and statements (sqlite_connection.h).
#include "catalog/sqlite_connection.h"

namespace samcache::catalog_internal::sqlite {

Connection::~Connection() {
  statements_.clear();
  if (db_ != nullptr) sqlite3_close(db_);
}

Status Connection::Open(const std::string& path) {
  int rc = sqlite3_open_v2(path.c_str(), &db_,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) return Error("cannot open catalog " + path);
  sqlite3_busy_timeout(db_, 15000);
  SAMCACHE_RETURN_IF_ERROR(Exec("PRAGMA journal_mode=WAL"));
  SAMCACHE_RETURN_IF_ERROR(Exec("PRAGMA synchronous=NORMAL"));
  return Exec("PRAGMA foreign_keys=ON");
}

Status Connection::Exec(std::string_view sql) {
  char* err = nullptr;
  std::string text(sql);
  if (sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err != nullptr ? err : "unknown error";
    sqlite3_free(err);
    return Status::IoError("SQLite: " + msg);
  }
  return Status::Ok();
}

Result<Query> Connection::Prepare(const char* sql) {
  auto it = statements_.find(sql);
  if (it != statements_.end()) {
    sqlite3_reset(it->second.get());
    sqlite3_clear_bindings(it->second.get());
    return Query(*this, it->second.get());
  }
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr) != SQLITE_OK) {
    return Error(std::string("cannot prepare ") + sql);
  }
  statements_.emplace(sql, StmtPtr(stmt));
  return Query(*this, stmt);
}

Status Connection::Error(const std::string& what) const {
  return Status::IoError(what + ": " + (db_ ? sqlite3_errmsg(db_) : "out of memory"));
}

Query& Query::Bind(const std::string& v) {
  sqlite3_bind_text(stmt_, ++index_, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  return *this;
}

Query& Query::BindBlob(const std::string& v) {
  sqlite3_bind_blob(stmt_, ++index_, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  return *this;
}

Query& Query::Bind(int64_t v) {
  sqlite3_bind_int64(stmt_, ++index_, v);
  return *this;
}

Query& Query::Bind(double v) {
  sqlite3_bind_double(stmt_, ++index_, v);
  return *this;
}

Query& Query::Bind(std::optional<double> v) {
  if (v) return Bind(*v);
  sqlite3_bind_null(stmt_, ++index_);
  return *this;
}

Query& Query::BindHash(std::optional<uint64_t> v) {
  if (v) {
    sqlite3_bind_int64(stmt_, ++index_, static_cast<int64_t>(*v));
  } else {
    sqlite3_bind_null(stmt_, ++index_);
  }
  return *this;
}

Result<bool> Query::Step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  const int extended = conn_->ExtendedErrorCode();
  if (extended == SQLITE_CONSTRAINT_PRIMARYKEY || extended == SQLITE_CONSTRAINT_UNIQUE) {
    return Status::Conflict(conn_->Error("SQLite step failed").message());  // as the PostgreSQL backend says
  }
  return conn_->Error("SQLite step failed");
}

Status Query::Run() {
  SAMCACHE_RETURN_IF_ERROR(Step());
  return Status::Ok();
}

std::string Query::Text(int col) const {
  const auto* p = sqlite3_column_blob(stmt_, col);
  int n = sqlite3_column_bytes(stmt_, col);
  return p == nullptr ? std::string() : std::string(static_cast<const char*>(p), static_cast<size_t>(n));
}

}  // namespace samcache::catalog_internal::sqlite
