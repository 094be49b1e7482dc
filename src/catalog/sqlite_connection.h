// The SQLite backend's connection: one sqlite3 handle in WAL mode with every statement prepared
// once and reused, and Query, which binds a statement's parameters and steps through its rows.
// Not thread-safe: SqliteCatalog guards it with one mutex. Internal to src/catalog.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "catalog/catalog_rows.h"
#include "common/status.h"

namespace samcache::catalog_internal::sqlite {

class Query;

class Connection {
 public:
  Connection() = default;
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Opens (creating if needed) the file, in WAL mode with foreign keys on.
  Status Open(const std::string& path);

  // For fixed SQL without parameters (pragmas, migrations, transaction control).
  Status Exec(std::string_view sql);

  // The statement of `sql`, prepared on first use. `sql` must be a string literal (or live as
  // long as the connection): statements are kept by the address of their text.
  Result<Query> Prepare(const char* sql);

  Status Error(const std::string& what) const;
  // Rows changed by the last INSERT, UPDATE or DELETE.
  int64_t Changes() const { return sqlite3_changes64(db_); }
  int ExtendedErrorCode() const { return sqlite3_extended_errcode(db_); }

 private:
  struct StmtDeleter {
    void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
  };
  using StmtPtr = std::unique_ptr<sqlite3_stmt, StmtDeleter>;

  sqlite3* db_ = nullptr;
  std::map<const char*, StmtPtr> statements_;
};

// Binds parameters by position and steps a prepared statement; resets it when destroyed. While
// on a row, reads its columns (RowReader).
class Query final : public RowReader {
 public:
  Query(Connection& conn, sqlite3_stmt* stmt) : conn_(&conn), stmt_(stmt) {}
  Query(Query&& other) noexcept
      : conn_(other.conn_), stmt_(std::exchange(other.stmt_, nullptr)), index_(other.index_) {}
  Query& operator=(Query&&) = delete;
  ~Query() {
    if (stmt_ != nullptr) sqlite3_reset(stmt_);
  }

  Query& Bind(const std::string& v);
  Query& BindBlob(const std::string& v);
  Query& Bind(int64_t v);
  Query& Bind(double v);
  Query& Bind(std::optional<double> v);
  // A 64-bit hash as SQLite's signed INTEGER (same bits), or NULL.
  Query& BindHash(std::optional<uint64_t> v);

  // True while there is a row; a Status on error (Conflict for a unique key, as the PostgreSQL
  // backend says).
  Result<bool> Step();
  Status Run();
  // The first row turned into a record by `read`, or nullopt when there is none.
  template <typename Read>
  auto First(Read read) -> Result<std::optional<std::invoke_result_t<Read, const Query&>>> {
    using T = std::invoke_result_t<Read, const Query&>;
    SAMCACHE_ASSIGN_OR_RETURN(const bool row, Step());
    if (!row) return std::optional<T>();
    return std::optional<T>(read(*this));
  }
  // Every row, each turned into a record by `read`.
  template <typename Read>
  auto Collect(Read read) -> Result<std::vector<std::invoke_result_t<Read, const Query&>>> {
    std::vector<std::invoke_result_t<Read, const Query&>> out;
    for (;;) {
      SAMCACHE_ASSIGN_OR_RETURN(const bool row, Step());
      if (!row) return out;
      out.push_back(read(*this));
    }
  }

  bool IsNull(int col) const override { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  std::string Text(int col) const override;
  std::string Bytes(int col) const override { return Text(col); }
  int64_t Int(int col) const override { return sqlite3_column_int64(stmt_, col); }
  double Double(int col) const override { return sqlite3_column_double(stmt_, col); }

 private:
  Connection* conn_;
  sqlite3_stmt* stmt_;
  int index_ = 0;
};

}  // namespace samcache::catalog_internal::sqlite
