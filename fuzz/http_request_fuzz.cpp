// Raw bytes from the network through the real transport (libmicrohttpd, our header checks,
// limits, route matching, the multipart spool and the JSON body cap) on loopback. The server
// is started once with small limits and a route table of its own (this file's BuildRoutes
// stands in for the API's, so the target needs no catalog or model). The first input byte
// picks the mode: the whole request from the input, or the input as the body of a multipart
// upload (the part parser is the target then). Each input gets its own connection, half
// closed after the bytes; afterwards the server must still answer GET /healthz.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>

#include "fuzz_check.h"
#include "http/access_gate.h"
#include "http/json_reply.h"
#include "http/route.h"
#include "http/server.h"

namespace samcache {

// No accounts: the fuzzed server has no catalog; the gate still checks Host and Origin.
ServerAccess MakeServerAccess(App&, const ServerOptions&) {
  ServerAccess access;
  access.gate = std::make_unique<AccessGate>(GateOptions::WithoutAccounts(), nullptr, nullptr);
  return access;
}

// The routes the fuzzed server has: one of each kind the transport treats differently.
RouteTable BuildRoutes(const RouteContext&) {
  RouteTable routes;
  routes.push_back({Method::kGet, "/healthz",
                    [](const Request&) -> Result<Reply> {
                      return JsonReply(200, nlohmann::json{{"status", "ok"}});
                    },
                    /*upload=*/false, /*system=*/true});
  routes.push_back({Method::kPost, "/json/{id}", [](const Request& req) -> Result<Reply> {
                      SAMCACHE_ASSIGN_OR_RETURN(const nlohmann::json body, ParseJsonObject(req.body, "{}"));
                      return JsonReply(200, nlohmann::json{{"keys", body.size()}, {"id", req.param("id")}});
                    }});
  routes.push_back({Method::kPost, "/upload",
                    [](const Request& req) -> Result<Reply> {
                      if (req.upload == nullptr) return ErrorReply(400, "not multipart");
                      uint64_t bytes = 0;
                      for (const UploadPart& part : req.upload->parts) {
                        FUZZ_CHECK(part.is_file == !part.spool_path.empty());
                        FUZZ_CHECK(part.value.size() <= 4096);
                        bytes += part.size;
                      }
                      FUZZ_CHECK(bytes <= (uint64_t{1} << 20));
                      return JsonReply(200, nlohmann::json{{"parts", req.upload->parts.size()}});
                    },
                    /*upload=*/true});
  routes.push_back({Method::kGet, "/stream", [](const Request&) -> Result<Reply> {
                      Reply reply;
                      reply.content_type = "text/event-stream";
                      auto left = std::make_shared<int>(3);
                      reply.stream = [left](ReplySink& sink) {
                        if (!sink.Write("data: x\n\n")) return false;
                        if (--*left == 0) sink.Done();
                        return true;
                      };
                      return reply;
                    }});
  routes.push_back({Method::kGet, "/files/{path*}", [](const Request& req) -> Result<Reply> {
                      return JsonReply(200, nlohmann::json{{"path", req.param("path")}});
                    }});
  return routes;
}

}  // namespace samcache

namespace {

struct Server {
  Server() {
    samcache::ServerOptions options;
    options.host = "127.0.0.1";
    options.port = 0;
    options.max_upload_bytes = 1 << 20;
    options.max_json_bytes = 64 << 10;
    options.threads = 2;
    options.header_timeout_seconds = 2;
    options.idle_timeout_seconds = 2;
    options.body_timeout_seconds = 2;
    // Connections of earlier inputs may linger until the 2 s timeout: no cap may refuse the
    // /healthz check because of them.
    options.max_connections = 100000;
    options.max_connections_per_client = 100000;
    options.spool_dir = "/tmp/samcache-http-fuzz-spool";
    // The routes above never touch the App: the transport only passes the reference on.
    server = std::make_unique<samcache::HttpServer>(*reinterpret_cast<samcache::App*>(&app_storage), options);
    samcache::Result<int> bound = server->Bind();
    FUZZ_CHECK(bound.ok());
    port = *bound;
    thread = std::thread([this] { (void)server->Run(); });
  }

  alignas(std::max_align_t) char app_storage[16] = {};
  std::unique_ptr<samcache::HttpServer> server;
  int port = 0;
  std::thread thread;
};

int Connect(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  FUZZ_CHECK(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  return fd;
}

// Sends `bytes`, half-closes, and reads whatever comes back until the server closes or
// `wait_ms` pass without a byte.
std::string Exchange(int port, const std::string& bytes, int wait_ms, bool half_close) {
  const int fd = Connect(port);
  size_t sent = 0;
  while (sent < bytes.size()) {
    const ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  if (half_close) ::shutdown(fd, SHUT_WR);
  std::string reply;
  char buffer[4096];
  pollfd p{fd, POLLIN, 0};
  while (::poll(&p, 1, wait_ms) > 0) {
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) break;
    reply.append(buffer, static_cast<size_t>(n));
    if (!half_close && reply.find("\r\n\r\n") != std::string::npos) break;
  }
  ::close(fd);
  return reply;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Server* server = new Server;  // lives for the whole run
  if (size == 0) return 0;
  const std::string input(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::string request;
  if (data[0] % 2 == 0) {
    request = input;
  } else {
    request =
        "POST /upload HTTP/1.1\r\nHost: fuzz\r\nContent-Type: multipart/form-data; boundary=XyZ\r\n"
        "Content-Length: " +
        std::to_string(input.size()) + "\r\n\r\n" + input;
  }
  (void)Exchange(server->port, request, 50, /*half_close=*/true);
  const std::string health =
      Exchange(server->port, "GET /healthz HTTP/1.1\r\nHost: fuzz\r\n\r\n", 5000, false);
  if (health.rfind("HTTP/1.1 200", 0) != 0) {
    std::fprintf(stderr, "/healthz after the input answered %zu bytes: %.200s\n", health.size(),
                 health.c_str());
  }
  FUZZ_CHECK(health.rfind("HTTP/1.1 200", 0) == 0);
  return 0;
}
