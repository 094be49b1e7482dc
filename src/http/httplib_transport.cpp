// The transport: cpp-httplib, and the only file that knows it. It registers the route table
// (http/route.h), turns each httplib request into a Request and each Reply (or failed
// Status, through StatusReply) into the response, and answers the transport's own errors
// (no such endpoint, a body over the limit, an exception) with the same JSON error shape.
#include <httplib.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "http/json_reply.h"
#include "http/route.h"
#include "http/server.h"

namespace samcache {
namespace {

// "/api/sam/image/{id}/embedding.npy" -> "/api/sam/image/([^/]+)/embedding\.npy", with the
// parameter names in capture order.
std::string PatternRegex(const std::string& pattern, std::vector<std::string>& names) {
  std::string regex;
  for (size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '{') {
      const size_t end = pattern.find('}', i);
      std::string name = pattern.substr(i + 1, end - i - 1);
      const bool rest = !name.empty() && name.back() == '*';
      if (rest) name.pop_back();
      names.push_back(std::move(name));
      regex += rest ? "(.*)" : "([^/]+)";
      i = end;
    } else {
      if (std::string_view(".[]()\\^$|?*+").find(c) != std::string_view::npos) regex += '\\';
      regex += c;
    }
  }
  return regex;
}

Request ToRequest(const httplib::Request& req, const std::vector<std::string>& names) {
  Request request;
  request.method = req.method;
  request.path = req.path;
  for (size_t i = 0; i < names.size() && i + 1 < req.matches.size(); ++i) {
    request.path_params.emplace(names[i], req.matches[i + 1]);
  }
  request.query.insert(req.params.begin(), req.params.end());
  request.headers.insert(req.headers.begin(), req.headers.end());
  request.body = req.body;
  request.multipart = req.is_multipart_form_data();
  request.client_address = req.remote_addr;
  return request;
}

// The multipart body of a streaming route, read through httplib's content reader.
class HttplibMultipartReader final : public MultipartReader {
 public:
  HttplibMultipartReader(const httplib::ContentReader& reader, const httplib::Response& res)
      : reader_(reader), res_(res) {}

  bool Read(const OnPart& on_part, const OnData& on_data) override {
    return reader_(
        [&](const httplib::MultipartFormData& header) {
          return on_part(BodyPart{header.name, header.filename, header.content_type});
        },
        [&](const char* data, size_t size) { return on_data(data, size); });
  }

  // httplib marks the response 413 when the body passes set_payload_max_length.
  bool TooLarge() const override { return res_.status == 413; }

 private:
  const httplib::ContentReader& reader_;
  const httplib::Response& res_;
};

class HttplibSink final : public ReplySink {
 public:
  explicit HttplibSink(httplib::DataSink& sink) : sink_(sink) {}
  bool Writable() const override { return sink_.is_writable(); }
  bool Write(std::string_view bytes) override { return sink_.write(bytes.data(), bytes.size()); }
  void Done() override { sink_.done(); }

 private:
  httplib::DataSink& sink_;
};

void Send(Reply reply, httplib::Response& res) {
  res.status = reply.status;
  for (auto& [name, value] : reply.headers) res.set_header(name, value);
  if (reply.stream) {
    res.set_chunked_content_provider(reply.content_type,
                                     [stream = std::move(reply.stream)](size_t, httplib::DataSink& sink) {
                                       HttplibSink out(sink);
                                       return stream(out);
                                     });
  } else if (!reply.body.empty() || !reply.content_type.empty()) {
    res.set_content(std::move(reply.body), reply.content_type);
  }
}

void Answer(const Route& route, const Request& request, httplib::Response& res) {
  Result<Reply> reply = route.handler(request);
  Send(reply.ok() ? std::move(reply).value() : StatusReply(reply.status()), res);
}

void Register(httplib::Server& server, const Route& route) {
  auto names = std::make_shared<std::vector<std::string>>();
  const std::string regex = PatternRegex(route.pattern, *names);
  if (route.streams_body) {
    // httplib streams the body only to POST and PUT handlers with a content reader.
    auto handler = [route, names](const httplib::Request& req, httplib::Response& res,
                                  const httplib::ContentReader& reader) {
      Request request = ToRequest(req, *names);
      HttplibMultipartReader parts(reader, res);
      request.parts = &parts;
      Answer(route, request, res);
    };
    if (route.method == Method::kPut) {
      server.Put(regex, handler);
    } else {
      server.Post(regex, handler);
    }
    return;
  }
  auto handler = [route, names](const httplib::Request& req, httplib::Response& res) {
    Answer(route, ToRequest(req, *names), res);
  };
  switch (route.method) {
    case Method::kGet:
      server.Get(regex, handler);
      break;
    case Method::kPost:
      server.Post(regex, handler);
      break;
    case Method::kPut:
      server.Put(regex, handler);
      break;
    case Method::kDelete:
      server.Delete(regex, handler);
      break;
  }
}

void SendError(httplib::Response& res, int status, const std::string& message) {
  Send(ErrorReply(status, message), res);
}

}  // namespace

struct HttpServer::Impl {
  Impl(App& app, ServerOptions options) : app(app), options(std::move(options)) {}

  void Routes();

  App& app;
  ServerOptions options;
  httplib::Server server;
  std::atomic<bool> stopping{false};
};

void HttpServer::Impl::Routes() {
  for (const Route& route : BuildRoutes(RouteContext{app, options, stopping})) Register(server, route);

  // Anything that reaches here with an error status and no body gets a JSON error.
  server.set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request& req,
                                                                   httplib::Response& res)
                                                                    -> httplib::Server::HandlerResponse {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    std::string message;
    switch (res.status) {
      case 404:
        message = "no such endpoint: " + req.method + " " + req.path;
        break;
      case 413:
        message = "the request is larger than the server's upload limit";
        break;
      case 400:
        message =
            "malformed HTTP request (a POST without a body still needs Content-Length: 0, e.g. curl -d '')";
        break;
      default:
        message = "request failed with HTTP status " + std::to_string(res.status);
    }
    SendError(res, res.status, message);
    return httplib::Server::HandlerResponse::Handled;
  }));
  server.set_exception_handler(
      [](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "unknown exception";
        try {
          std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        spdlog::error("[HTTP] {} {} failed: {}", req.method, req.path, what);
        SendError(res, 500, "internal error: " + what);
      });
  server.set_logger([](const httplib::Request& req, const httplib::Response& res) {
    spdlog::debug("[HTTP] {} {} {}", req.method, req.path, res.status);
  });
}

HttpServer::HttpServer(App& app, ServerOptions options)
    : impl_(std::make_unique<Impl>(app, std::move(options))) {
  impl_->server.set_payload_max_length(impl_->options.max_upload_bytes);
  const int threads = std::max(1, impl_->options.threads);
  impl_->server.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  impl_->server.set_read_timeout(60, 0);
  impl_->Routes();
}

HttpServer::~HttpServer() = default;

Result<int> HttpServer::Bind() {
  auto& o = impl_->options;
  const int port = o.port == 0 ? impl_->server.bind_to_any_port(o.host)
                               : (impl_->server.bind_to_port(o.host, o.port) ? o.port : -1);
  if (port < 0) {
    return Status::IoError("cannot listen on " + o.host + ":" + std::to_string(o.port) +
                           " (is another server using the port?)");
  }
  return port;
}

Status HttpServer::Run() {
  if (!impl_->server.listen_after_bind()) return Status::IoError("the HTTP server stopped with an error");
  return Status::Ok();
}

void HttpServer::Stop() {
  impl_->stopping = true;
  impl_->server.stop();
}

}  // namespace samcache
