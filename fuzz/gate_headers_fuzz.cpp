// The request headers the access gate reads (Host, Origin, Sec-Fetch-Site, Cookie,
// Authorization) from the network, through the gate's parsers: CookieValue, SecretOf and the
// Host and Origin checks. None may crash; what they take out of a header must be a part of it,
// a refusal's message stays short, and a request the gate admits to change something either
// carries no Origin or one naming the Host it was sent to.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.h"
#include "http/access_gate.h"

namespace {

// The input as NUL-separated fields: method, Host, Origin, Sec-Fetch-Site, Cookie,
// Authorization (missing fields are empty).
std::vector<std::string> Fields(std::string_view text) {
  std::vector<std::string> fields;
  size_t start = 0;
  while (fields.size() < 6) {
    const size_t end = text.find('\0', start);
    fields.emplace_back(
        text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  fields.resize(6);
  return fields;
}

std::string Lower(std::string text) {
  for (char& c : text) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return text;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using samcache::Request;
  const std::vector<std::string> f = Fields(std::string_view(reinterpret_cast<const char*>(data), size));
  Request request;
  request.method = f[0].empty() ? "POST" : f[0];
  const char* names[] = {"Host", "Origin", "Sec-Fetch-Site", "Cookie", "Authorization"};
  for (int i = 0; i < 5; ++i) {
    if (!f[i + 1].empty()) request.headers.emplace(names[i], f[i + 1]);
  }

  const std::string cookie = samcache::CookieValue(f[4], samcache::kSessionCookie);
  FUZZ_CHECK(f[4].find(cookie) != std::string::npos);
  const std::string secret = samcache::SecretOf(request);
  FUZZ_CHECK(secret.empty() || f[5].find(secret) != std::string::npos ||
             f[4].find(secret) != std::string::npos);

  static const samcache::AccessGate gate(samcache::GateOptions::WithoutAccounts(), nullptr, nullptr);
  const samcache::Status checked = gate.CheckHostAndOrigin(request);
  FUZZ_CHECK(checked.message().size() <= 200);
  if (checked.ok() && request.method != "GET" && request.method != "HEAD" && !f[2].empty()) {
    const std::string origin = Lower(f[2]);
    const std::string host = Lower(f[1]);
    FUZZ_CHECK(origin == "http://" + host || origin == "https://" + host);
  }
  return 0;
}
