// PostgreSQL URLs and their secrets (postgres_url.h).
#include "catalog/postgres_url.h"

#include <algorithm>
#include <cctype>

namespace samcache::catalog_internal::postgres {
namespace {

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

}  // namespace

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

}  // namespace samcache::catalog_internal::postgres
