// A request as the routes see it, whatever carries it: the transport adapter
// (http/httplib_transport.cpp) fills it in, and no route depends on the HTTP library.
#pragma once

#include <strings.h>
#include <cstddef>
#include <functional>
#include <map>
#include <string>

namespace samcache {

// One part of a multipart/form-data body, as its header announces it.
struct BodyPart {
  std::string name;      // the form field
  std::string filename;  // empty for a plain field
  std::string content_type;
};

// A multipart body read part by part as it arrives, so an upload never sits whole in memory.
class MultipartReader {
 public:
  using OnPart = std::function<bool(const BodyPart& part)>;
  using OnData = std::function<bool(const char* data, size_t size)>;

  virtual ~MultipartReader() = default;
  // Calls on_part at the start of each part and on_data with its bytes; either one returning
  // false stops the read. True when the whole body was read.
  virtual bool Read(const OnPart& on_part, const OnData& on_data) = 0;
  // Whether the read stopped because the body is over the server's size limit.
  virtual bool TooLarge() const = 0;
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
  std::string body;                  // empty on a route that streams its body
  bool multipart = false;            // the body is multipart/form-data
  MultipartReader* parts = nullptr;  // only on a route that streams its body
  std::string client_address;        // the peer's IP address, for per-client fairness
  // True once the client has hung up: long work (a click on a huge image) stops early.
  // Empty when the transport cannot tell.
  std::function<bool()> client_gone;

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
