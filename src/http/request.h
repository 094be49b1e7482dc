// A request as the routes see it, whatever carries it: the transport adapter
// (http/mhd_transport.cpp) fills it in, and no route depends on the HTTP library.
#pragma once

#include <strings.h>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "access/caller.h"

namespace samcache {

// One part of a multipart/form-data body, as its header announces it.
struct BodyPart {
  std::string name;      // the form field
  std::string filename;  // empty for a plain field
  std::string content_type;
};

// A part the transport received whole. A file's bytes wait on disk, not in memory; the
// transport removes the file once the reply is sent.
struct UploadPart {
  BodyPart header;
  bool is_file = false;
  std::string value;                 // a plain field's value
  std::filesystem::path spool_path;  // a file part's bytes
  uint64_t size = 0;
  std::string sha256_hex;  // of a file part's bytes, computed as they arrived
};

// A multipart body as the transport read it: every part that arrived whole, in order. When
// the body broke off (a malformed part, no final boundary, a field over its limit), `parts`
// still holds the whole parts before the break and `problem` says what happened.
struct UploadBody {
  std::vector<UploadPart> parts;
  std::string problem;  // empty: the body was complete and well-formed

  bool complete() const { return problem.empty(); }
};

// Header names compare without case, as HTTP wants.
struct CaseInsensitiveLess {
  bool operator()(const std::string& a, const std::string& b) const {
    return strcasecmp(a.c_str(), b.c_str()) < 0;
  }
};

struct Request {
  std::string method;
  std::string path;
  std::map<std::string, std::string> path_params;  // the {name}s of the route's pattern
  std::multimap<std::string, std::string> query;
  std::multimap<std::string, std::string, CaseInsensitiveLess> headers;
  std::string body;                    // empty on an upload route
  bool multipart = false;              // the body is multipart/form-data
  const UploadBody* upload = nullptr;  // only on an upload route with a multipart body
  std::string client_address;          // the peer's IP address, for per-client fairness
  // True once the client has hung up: long work (a click on a huge image) stops early.
  // Empty when the transport cannot tell.
  std::function<bool()> client_gone;
  // Who is asking, once the route's gate admitted the request (http/access_gate.h); null on
  // public routes.
  const Caller* caller = nullptr;

  bool ClientGone() const { return client_gone && client_gone(); }

  // A path parameter; empty when the pattern has no such name.
  std::string param(const std::string& name) const { return First(path_params, name); }
  bool has_query(const std::string& name) const { return query.count(name) > 0; }
  // The first value of a query parameter, or empty.
  std::string query_value(const std::string& name) const { return First(query, name); }
  // The first value of a header, or empty.
  std::string header(const std::string& name) const { return First(headers, name); }

 private:
  template <typename Map>
  static std::string First(const Map& map, const std::string& name) {
    auto it = map.find(name);
    return it == map.end() ? std::string() : it->second;
  }
};

}  // namespace samcache
