#include "support/postgres_test_db.h"

#include <pqxx/pqxx>

#include <cstdlib>
#include <fstream>
#include <stdexcept>

#include "common/crypto.h"

namespace samcache::testing {
namespace {

// The value of `export NAME=value` in the env file test_services.sh writes.
std::string FromEnvFile(const std::string& name) {
  std::ifstream in(std::string(SAMCACHE_BUILD_DIR) + "/test-services/env");
  const std::string prefix = "export " + name + "=";
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(prefix, 0) == 0) return line.substr(prefix.size());
  }
  return "";
}

std::string Setting(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? std::string(value) : FromEnvFile(name);
}

// The URL with its path (the database name) replaced.
std::string WithDatabase(const std::string& url, const std::string& database) {
  const size_t authority = url.find("://");
  const size_t slash = url.find('/', authority == std::string::npos ? 0 : authority + 3);
  const size_t query = url.find('?');
  std::string out = url.substr(0, slash == std::string::npos ? query : slash) + "/" + database;
  if (query != std::string::npos) out += url.substr(query);
  return out;
}

}  // namespace

std::string TestPostgresUrl() { return Setting("SAMCACHE_TEST_POSTGRES_URL"); }
std::string TestPostgresPasswordUrl() { return Setting("SAMCACHE_TEST_POSTGRES_PASSWORD_URL"); }

PostgresTestDatabase::PostgresTestDatabase(const std::string& owner) {
  const std::string server = TestPostgresUrl();
  if (server.empty()) throw std::runtime_error(kNoPostgresMessage);
  name_ = "samcache_test_" + RandomId();
  try {
    pqxx::connection admin(server);
    pqxx::nontransaction tx(admin);
    tx.exec("CREATE DATABASE " + name_ + (owner.empty() ? "" : " OWNER " + tx.quote_name(owner)));
  } catch (const std::exception& e) {
    throw std::runtime_error("cannot create a test database on " + server + " (" + e.what() +
                             "); is the test server running? " + kNoPostgresMessage);
  }
  url_ = WithDatabase(server, name_);
}

PostgresTestDatabase::~PostgresTestDatabase() {
  try {
    pqxx::connection admin(TestPostgresUrl());
    pqxx::nontransaction tx(admin);
    tx.exec("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
  } catch (const std::exception&) {
    // The server went away: its folder is removed with it.
  }
}

std::string PostgresTestDatabase::UrlFor(const std::string& base_url) const {
  return WithDatabase(base_url, name_);
}

void PostgresTestDatabase::Exec(const std::string& sql) const {
  pqxx::connection c(url_);
  pqxx::nontransaction tx(c);
  tx.exec(sql);
}

std::string PostgresTestDatabase::Scalar(const std::string& sql) const {
  pqxx::connection c(url_);
  pqxx::nontransaction tx(c);
  const pqxx::result r = tx.exec(sql);
  if (r.empty() || r[0][0].is_null()) return "";
  return r[0][0].as<std::string>();
}

}  // namespace samcache::testing
