// PostgreSQL URLs and the secrets in them: what may be shown in logs and messages.
// Internal to src/catalog.
#pragma once

#include <string>
#include <vector>

namespace samcache::catalog_internal::postgres {

// The parts of postgresql://[user[:password]@][host][:port][/dbname][?param=value&...] that
// matter here: the password (in the userinfo or as a parameter) and the URL without it.
struct ParsedUrl {
  std::string redacted;              // no password, no parameters
  std::vector<std::string> secrets;  // the password as written and decoded
  bool has_connect_timeout = false;
  bool has_application_name = false;
};

ParsedUrl ParseUrl(const std::string& url);

// A message from libpq or the server with every copy of a secret replaced, on one line.
std::string Scrub(std::string message, const std::vector<std::string>& secrets);

}  // namespace samcache::catalog_internal::postgres
