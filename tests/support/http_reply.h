// What the black-box tests need to speak HTTP to the server: files to upload and parsed
// replies. Header-only, because only the HTTP tests include cpp-httplib.
#pragma once

#include <httplib.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace samcache::testing {

struct NamedFile {
  std::string filename;
  std::string bytes;
};

struct Reply {
  int status = 0;       // 0 when no answer came
  nlohmann::json body;  // discarded (is_discarded()) when the body is not JSON
  std::string raw;
  httplib::Headers headers;

  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

inline Reply ToReply(const httplib::Result& result) {
  Reply reply;
  if (!result) return reply;
  reply.status = result->status;
  reply.raw = result->body;
  reply.body = nlohmann::json::parse(result->body, nullptr, /*allow_exceptions=*/false);
  reply.headers = result->headers;
  return reply;
}

// Multipart form items with each file in a field named "images", as the seed's curl sends.
inline httplib::MultipartFormDataItems ImageItems(const std::vector<NamedFile>& files) {
  httplib::MultipartFormDataItems items;
  for (const NamedFile& f : files) items.push_back({"images", f.bytes, f.filename, "application/octet-stream"});
  return items;
}

}  // namespace samcache::testing
