// The PostgreSQL backend's connections: a small pool (pqxx connections are not thread-safe,
// so each call borrows one for its whole duration), RunOnPool, which turns pqxx's exceptions
// into a Status and retries what is worth retrying, and the helpers that pass values to and
// from pqxx. Internal to src/catalog.
#pragma once

#include <pqxx/pqxx>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "catalog/catalog_rows.h"
#include "catalog/postgres_url.h"
#include "common/status.h"

// The current time as the catalog writes it (ISO 8601 UTC with milliseconds), in SQL.
#define SAMCACHE_PG_NOW "to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

namespace samcache::catalog_internal::postgres {

class ConnectionPool {
 public:
  ConnectionPool(std::string conninfo, ParsedUrl url, size_t size);

  const ParsedUrl& url() const { return url_; }

  // A connection for the caller's exclusive use until Release; waits while all are lent.
  Result<std::unique_ptr<pqxx::connection>> Acquire();
  // Closes the idle connections: after one broke (server restart, failover), the others most
  // likely did too, and each would cost a failed attempt.
  void DropIdle();
  // Gives a connection back; null or broken ones are dropped (a new one is opened on demand).
  void Release(std::unique_ptr<pqxx::connection> conn);

 private:
  const std::string conninfo_;
  const ParsedUrl url_;
  const size_t size_;
  std::mutex mu_;
  std::condition_variable available_;
  std::vector<std::unique_ptr<pqxx::connection>> idle_;
  size_t open_ = 0;  // idle plus lent
};

// Logs that a broken connection is replaced (kept out of this header's includes).
void LogReconnecting(const Status& why);

// Runs `body` (which returns a Status or a Result) on a pooled connection, turning pqxx's
// exceptions into a Status. A transaction that failed before its commit is retried: on a new
// connection when the old one broke, after a short pause on a deadlock or a serialization
// failure. `what` completes messages such as "PostgreSQL cannot <what>".
template <typename Body>
auto RunOnPool(ConnectionPool& pool, const char* what, Body&& body)
    -> std::invoke_result_t<Body&, pqxx::connection&> {
  using R = std::invoke_result_t<Body&, pqxx::connection&>;
  constexpr int kMaxAttempts = 5;
  const std::vector<std::string>& secrets = pool.url().secrets;
  Status last;
  for (int attempt = 1; attempt <= kMaxAttempts; ++attempt) {
    Result<std::unique_ptr<pqxx::connection>> conn = pool.Acquire();
    if (!conn.ok()) return R(conn.status());
    std::unique_ptr<pqxx::connection> c = std::move(conn).value();
    try {
      R result = body(*c);
      pool.Release(std::move(c));
      return result;
    } catch (const pqxx::broken_connection& e) {
      c.reset();  // dropped, with the idle ones; the next attempt opens a new one
      pool.Release(nullptr);
      pool.DropIdle();
      last = Status::Unavailable(std::string("PostgreSQL connection lost while trying to ") + what + ": " +
                                 Scrub(e.what(), secrets));
      if (attempt >= 2) break;
      LogReconnecting(last);
      continue;
    } catch (const pqxx::in_doubt_error& e) {
      pool.Release(nullptr);
      return R(Status::Unavailable(std::string("PostgreSQL connection lost while committing (") + what +
                                   "), the outcome is unknown: " + Scrub(e.what(), secrets)));
    } catch (const pqxx::transaction_rollback& e) {  // serialization failure, deadlock
      pool.Release(std::move(c));
      last =
          Status::Unavailable(std::string("PostgreSQL could not ") + what + ": " + Scrub(e.what(), secrets));
      std::this_thread::sleep_for(std::chrono::milliseconds(5 * attempt));
      continue;
    } catch (const pqxx::unique_violation& e) {
      pool.Release(std::move(c));
      return R(Status::Conflict(std::string("cannot ") + what + ": " + Scrub(e.what(), secrets)));
    } catch (const std::exception& e) {  // pqxx::sql_error and anything else
      pool.Release(std::move(c));
      return R(Status::IoError(std::string("PostgreSQL cannot ") + what + ": " + Scrub(e.what(), secrets)));
    }
  }
  return R(last);
}

// A result row as the shared mappers read it (RowReader).
class PgRow final : public RowReader {
 public:
  explicit PgRow(const pqxx::row& row) : row_(row) {}

  bool IsNull(int col) const override { return row_[col].is_null(); }
  std::string Text(int col) const override {
    return IsNull(col) ? std::string() : row_[col].as<std::string>();
  }
  std::string Bytes(int col) const override {
    return IsNull(col) ? std::string() : pqxx::binarystring(row_[col]).str();
  }
  int64_t Int(int col) const override { return IsNull(col) ? 0 : row_[col].as<int64_t>(); }
  double Double(int col) const override { return IsNull(col) ? 0.0 : row_[col].as<double>(); }

 private:
  const pqxx::row& row_;
};

// The first row turned into a record by `read`, or nullopt when there is none.
template <typename Read>
auto First(const pqxx::result& rows, Read read) -> std::optional<std::invoke_result_t<Read, const PgRow&>> {
  if (rows.empty()) return std::nullopt;
  return read(PgRow(rows[0]));
}

// Every row turned into a record by `read`.
template <typename Read>
auto Collect(const pqxx::result& rows, Read read) -> std::vector<std::invoke_result_t<Read, const PgRow&>> {
  std::vector<std::invoke_result_t<Read, const PgRow&>> out;
  out.reserve(rows.size());
  for (const pqxx::row& row : rows) out.push_back(read(PgRow(row)));
  return out;
}

// A nullable parameter: its text, or a null pointer for NULL (pqxx passes it as SQL NULL).
struct NullableParam {
  const char* get() const { return null ? nullptr : text.c_str(); }
  std::string text;
  bool null = true;
};
// A 64-bit hash as a nullable BIGINT (same bits).
NullableParam HashParam(std::optional<uint64_t> v);
// A nullable DOUBLE PRECISION.
NullableParam DoubleParam(std::optional<double> v);

// A PostgreSQL array literal of strings, for `= ANY($1::varchar[])`.
std::string ArrayLiteral(const std::vector<std::string>& values);

}  // namespace samcache::catalog_internal::postgres
