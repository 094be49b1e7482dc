// The PostgreSQL backend's connection pool and parameter helpers (postgres_pool.h).
#include "catalog/postgres_pool.h"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace samcache::catalog_internal::postgres {

ConnectionPool::ConnectionPool(std::string conninfo, ParsedUrl url, size_t size)
    : conninfo_(std::move(conninfo)), url_(std::move(url)), size_(std::max<size_t>(size, 1)) {}

Result<std::unique_ptr<pqxx::connection>> ConnectionPool::Acquire() {
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

void ConnectionPool::DropIdle() {
  std::vector<std::unique_ptr<pqxx::connection>> dropped;
  {
    std::lock_guard lock(mu_);
    dropped.swap(idle_);
    open_ -= dropped.size();
    available_.notify_all();
  }
}

void ConnectionPool::Release(std::unique_ptr<pqxx::connection> conn) {
  std::lock_guard lock(mu_);
  if (conn != nullptr && conn->is_open()) {
    idle_.push_back(std::move(conn));
  } else {
    --open_;
  }
  available_.notify_one();
}

void LogReconnecting(const Status& why) { spdlog::warn("[CATALOG] {}; reconnecting", why.message()); }

NullableParam HashParam(std::optional<uint64_t> v) {
  if (!v) return {};
  return {std::to_string(static_cast<int64_t>(*v)), false};
}

NullableParam DoubleParam(std::optional<double> v) {
  if (!v) return {};
  return {pqxx::to_string(*v), false};
}

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

}  // namespace samcache::catalog_internal::postgres
