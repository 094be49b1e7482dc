// The HTTP server: the route table (http/route.h) served by the transport adapter
// (http/httplib_transport.cpp, the one file that knows cpp-httplib).
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "common/status.h"

namespace samcache {

class App;

struct ServerOptions {
  std::string host = "0.0.0.0";
  int port = 3000;  // 0 picks a free port
  size_t max_upload_bytes = size_t{1} << 30;
  int threads = 32;     // each open event stream (prewarm progress) holds one
  std::string web_dir;  // the web page's files; empty: the copy compiled into the binary
  // Only GET /metrics and GET /healthz (samcache worker).
  bool metrics_only = false;
};

class HttpServer {
 public:
  // `app` must outlive the server.
  HttpServer(App& app, ServerOptions options);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds the listening socket; returns the port (useful with port 0).
  Result<int> Bind();
  // Serves until Stop() is called from another thread or a signal handler's thread.
  Status Run();
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace samcache
