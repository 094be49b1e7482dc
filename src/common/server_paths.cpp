#include "common/server_paths.h"

#include <spdlog/spdlog.h>

namespace samcache {
namespace {

bool StartsWord(std::string_view text, size_t i) {
  if (i == 0) return true;
  const char before = text[i - 1];
  return before == ' ' || before == '\t' || before == '\n' || before == '\'' || before == '"' ||
         before == '(' || before == '[' || before == '=';
}

bool EndsPath(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\'' || c == '"' || c == ':' || c == ',' || c == ')' ||
         c == ']';
}

// Paths that name the service's own endpoints, not files.
bool IsEndpoint(std::string_view path) { return path.starts_with("/api/") || path == "/healthz"; }

}  // namespace

std::string WithoutServerPaths(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] != '/' || !StartsWord(text, i) || i + 1 >= text.size() || EndsPath(text[i + 1]) ||
        text[i + 1] == '/') {
      out.push_back(text[i++]);
      continue;
    }
    size_t end = i + 1;
    while (end < text.size() && !EndsPath(text[end])) ++end;
    const std::string_view path = text.substr(i, end - i);
    out += IsEndpoint(path) ? path : std::string_view("<server path>");
    i = end;
  }
  return out;
}

std::string_view ErrorReason(std::string_view message) {
  const size_t colon = message.rfind(": ");
  return colon == std::string_view::npos ? message : message.substr(colon + 2);
}

Status ClientSafe(const Status& detailed, std::string_view what) {
  if (detailed.ok()) return detailed;
  spdlog::error("{}: {}", what, detailed.message());
  std::string message = std::string(what) + ": " + WithoutServerPaths(ErrorReason(detailed.message()));
  switch (detailed.code()) {
    case StatusCode::kNotFound:
      return Status::NotFound(std::move(message));
    case StatusCode::kCorrupt:
      return Status::Corrupt(std::move(message));
    case StatusCode::kInternal:
      return Status::Internal(std::move(message));
    default:
      // What the stores fail with; other codes do not come from the file system.
      return Status::IoError(std::move(message));
  }
}

}  // namespace samcache
