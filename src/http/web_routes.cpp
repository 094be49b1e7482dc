#include "http/web_routes.h"

#include <spdlog/spdlog.h>

#include <filesystem>
#include <map>
#include <optional>
#include <string_view>

#include "common/crypto.h"
#include "common/embedded_files.h"
#include "common/files.h"
#include "http/json_reply.h"
#include "http/route.h"
#include "http/server.h"

namespace samcache {
namespace {

namespace fs = std::filesystem;

// Embedded files keep their path from the repository root.
constexpr std::string_view kEmbeddedPrefix = "web/";

struct WebFile {
  std::string bytes;
  std::string etag;
};

std::string EtagOf(std::string_view bytes) {
  std::string etag = "\"";
  etag += Sha256Hex(bytes).substr(0, 20);
  etag += '"';
  return etag;
}

// Whether the request's If-None-Match names `etag` (a list, or "*").
bool Matches(const Request& req, const std::string& etag) {
  const std::string header = req.header("If-None-Match");
  if (header.empty()) return false;
  if (header == "*") return true;
  size_t start = 0;
  while (start < header.size()) {
    size_t end = header.find(',', start);
    if (end == std::string::npos) end = header.size();
    std::string_view tag(header.data() + start, end - start);
    while (!tag.empty() && tag.front() == ' ') tag.remove_prefix(1);
    while (!tag.empty() && tag.back() == ' ') tag.remove_suffix(1);
    if (tag.starts_with("W/")) tag.remove_prefix(2);
    if (tag == etag) return true;
    start = end + 1;
  }
  return false;
}

class WebFiles {
 public:
  explicit WebFiles(std::string web_dir) : web_dir_(std::move(web_dir)) {
    if (web_dir_.empty()) {
      for (const auto& [name, bytes] : EmbeddedFiles()) {
        if (!name.starts_with(kEmbeddedPrefix)) continue;
        embedded_.emplace(std::string(name.substr(kEmbeddedPrefix.size())),
                          WebFile{std::string(bytes), EtagOf(bytes)});
      }
      if (embedded_.count("index.html") == 0)
        spdlog::warn("[WEB] the binary was built without web/index.html");
    } else {
      std::error_code ec;
      root_ = fs::weakly_canonical(fs::absolute(web_dir_), ec);
      if (ec) root_.clear();
      if (root_.empty() || !fs::is_regular_file(root_ / "index.html")) {
        spdlog::warn("[WEB] --web-dir {} has no index.html: the page will answer 404", web_dir_);
      } else {
        spdlog::info("[WEB] serving the web page from {}", root_.string());
      }
    }
  }

  // The file at `path` (already checked by IsSafeWebPath), or nullopt.
  std::optional<WebFile> Find(const std::string& path) const {
    if (web_dir_.empty()) {
      auto it = embedded_.find(path);
      if (it == embedded_.end()) return std::nullopt;
      return it->second;
    }
    if (root_.empty()) return std::nullopt;
    // The path has no ".." segments; resolving symlinks keeps even a linked file inside.
    std::error_code ec;
    const fs::path file = fs::weakly_canonical(root_ / path, ec);
    if (ec) return std::nullopt;
    const fs::path relative = file.lexically_relative(root_);
    if (relative.empty() || relative.native().starts_with("..")) return std::nullopt;
    if (!fs::is_regular_file(file, ec)) return std::nullopt;
    Result<std::string> bytes = ReadFile(file);
    if (!bytes.ok()) {
      spdlog::warn("[WEB] cannot read {}: {}", file.string(), bytes.status().message());
      return std::nullopt;
    }
    std::string etag = EtagOf(*bytes);
    return WebFile{std::move(bytes).value(), std::move(etag)};
  }

 private:
  const std::string web_dir_;
  fs::path root_;
  std::map<std::string, WebFile> embedded_;
};

Reply Serve(const WebFiles& files, const std::string& path, const Request& req) {
  std::optional<WebFile> file;
  if (IsSafeWebPath(path)) file = files.Find(path);
  if (!file) return ErrorReply(404, std::string("no such file in the web page: /web/") + path.substr(0, 200));
  Reply reply;
  reply
      .Header("ETag", file->etag)
      // Revalidated on every load (a cheap 304), so a new binary's page is never mixed with old modules.
      .Header("Cache-Control", "no-cache");
  if (Matches(req, file->etag)) {
    reply.status = 304;
    return reply;
  }
  reply.body = std::move(file->bytes);
  reply.content_type = WebContentType(path);
  return reply;
}

}  // namespace

std::string WebContentType(const std::string& path) {
  static const std::map<std::string, std::string, std::less<>> types = {
      {".html", "text/html; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".json", "application/json"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".ico", "image/x-icon"},
      {".txt", "text/plain; charset=utf-8"},
  };
  const size_t slash = path.rfind('/');
  const size_t dot = path.rfind('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash))
    return "application/octet-stream";
  auto it = types.find(std::string_view(path).substr(dot));
  return it == types.end() ? "application/octet-stream" : it->second;
}

bool IsSafeWebPath(const std::string& path) {
  if (path.empty() || path.size() > 512) return false;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    if (end == start || path[start] == '.') return false;  // empty segment, ".", ".." or a hidden file
    for (size_t i = start; i < end; ++i) {
      const char c = path[i];
      const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '_' || c == '.';
      if (!ok) return false;
    }
    start = end + 1;
  }
  return true;
}

void AddWebRoutes(RouteTable& routes, const RouteContext& context) {
  auto files = std::make_shared<const WebFiles>(context.options.web_dir);
  // The page and its files are public: the page itself asks for a login.
  routes.push_back({Method::kGet, "/",
                    [files](const Request& req) -> Result<Reply> { return Serve(*files, "index.html", req); },
                    /*upload=*/false, /*system=*/false, Access::kPublic});
  routes.push_back(
      {Method::kGet, "/web/{path*}",
       [files](const Request& req) -> Result<Reply> { return Serve(*files, req.param("path"), req); },
       /*upload=*/false, /*system=*/false, Access::kPublic});
}

}  // namespace samcache
