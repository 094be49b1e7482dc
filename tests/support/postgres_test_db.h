// The PostgreSQL server of the tests (started by scripts/test_services.sh, which
// scripts/test.sh runs) and a fresh database per test on it.
#pragma once

#include <memory>
#include <string>

namespace samcache::testing {

// What a test says when there is no server: tests that need one fail, never skip.
inline constexpr const char* kNoPostgresMessage =
    "no PostgreSQL server for the tests: run scripts/test.sh, which starts one, or "
    "`scripts/test_services.sh start build` and `source build/test-services/env` before ctest";

// The server's URL for the trusted test user (a superuser), from SAMCACHE_TEST_POSTGRES_URL or,
// when unset, from the env file test_services.sh wrote into the build folder; empty if neither.
std::string TestPostgresUrl();
// The same server, as a user who must give a password (SAMCACHE_TEST_POSTGRES_PASSWORD_URL,
// password included).
std::string TestPostgresPasswordUrl();

// A database of its own, created on construction and dropped on destruction (with whatever
// connection is still open to it), so tests may run in parallel. Throws std::runtime_error
// when the server cannot be reached.
class PostgresTestDatabase {
 public:
  // `owner`: a role to own the database (default: the test user).
  explicit PostgresTestDatabase(const std::string& owner = "");
  ~PostgresTestDatabase();
  PostgresTestDatabase(const PostgresTestDatabase&) = delete;
  PostgresTestDatabase& operator=(const PostgresTestDatabase&) = delete;

  const std::string& name() const { return name_; }
  // The URL of this database for the test user.
  const std::string& url() const { return url_; }
  // `base_url` (a URL of the server, e.g. with another user) pointed at this database.
  std::string UrlFor(const std::string& base_url) const;

  // Runs SQL (several statements allowed) on this database as the test user.
  void Exec(const std::string& sql) const;
  // The first column of the first row as text ("" when there is no row or it is NULL).
  std::string Scalar(const std::string& sql) const;

 private:
  std::string name_;
  std::string url_;
};

}  // namespace samcache::testing
