// The HTTP server: the route table (http/route.h) served by the transport
// (http/mhd_transport.cpp, the one file that knows libmicrohttpd).
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "access/rate_limiter.h"
#include "common/status.h"

namespace samcache {

class App;

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 3000;                            // 0 picks a free port
  size_t max_upload_bytes = size_t{1} << 30;  // a multipart upload
  size_t max_json_bytes = size_t{1} << 20;    // any other request body
  int threads = 8;                            // handler workers; open connections and event streams hold none
  int io_threads = 2;                         // network threads (epoll)
  int max_connections = 4096;
  int max_connections_per_client = 64;  // per IP address; more are closed at once
  int header_timeout_seconds = 10;      // a request's headers, from its first byte
  int idle_timeout_seconds = 30;        // a keep-alive connection between requests
  int body_timeout_seconds = 30;        // the longest pause inside a request body
  int max_event_streams = 1000;
  std::string spool_dir;  // where uploads wait while they arrive; empty: the system temp folder
  std::string web_dir;    // the web page's files; empty: the copy compiled into the binary
  // Only GET /metrics and GET /healthz (samcache worker, a separate metrics listener): no
  // token needed for /metrics there.
  bool metrics_only = false;
  // False: no accounts, everyone may do everything (--insecure-no-auth).
  bool accounts = true;
  // Host names besides localhost and IP literals (http/access_gate.h).
  std::vector<std::string> allowed_hosts;
  // Origins whose pages may call the API with a token (CORS); empty: none.
  std::vector<std::string> cors_origins;
  RateLimits rate_limits;
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
