#include "http/json_reply.h"

#include "common/bounded_json.h"
#include "common/server_paths.h"
#include "http/input_limits.h"

#include <spdlog/spdlog.h>

#include <cctype>
#include <cstdio>
#include <cstring>

namespace samcache {

using json = nlohmann::json;

int HttpStatusFor(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return 200;
    case StatusCode::kInvalidArgument:
      return 400;
    case StatusCode::kNotFound:
      return 404;
    case StatusCode::kUnauthenticated:
      return 401;
    case StatusCode::kPermissionDenied:
      return 403;
    case StatusCode::kRateLimited:
      return 429;
    case StatusCode::kTooLarge:
      return 413;
    case StatusCode::kUnsupported:
      return 415;
    case StatusCode::kCorrupt:
      return 422;
    case StatusCode::kConflict:
      return 409;
    case StatusCode::kUnavailable:
      return 503;
    case StatusCode::kIoError:
    case StatusCode::kInternal:
      return 500;
  }
  return 500;
}

std::string_view CodeName(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return "ok";
    case StatusCode::kInvalidArgument:
      return "invalid_argument";
    case StatusCode::kNotFound:
      return "not_found";
    case StatusCode::kUnauthenticated:
      return "unauthenticated";
    case StatusCode::kPermissionDenied:
      return "permission_denied";
    case StatusCode::kRateLimited:
      return "rate_limited";
    case StatusCode::kTooLarge:
      return "too_large";
    case StatusCode::kUnsupported:
      return "unsupported";
    case StatusCode::kCorrupt:
      return "corrupt";
    case StatusCode::kConflict:
      return "conflict";
    case StatusCode::kUnavailable:
      return "unavailable";
    case StatusCode::kIoError:
      return "io_error";
    case StatusCode::kInternal:
      return "internal";
  }
  return "internal";
}

Reply JsonReply(int status, const json& body) {
  Reply reply;
  reply.status = status;
  // Filenames come from uploaders and may not be valid UTF-8: replace, never throw.
  reply.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
  reply.content_type = "application/json";
  return reply;
}

Reply ErrorReply(int status, const std::string& message) {
  if (message.size() <= kMaxErrorMessageBytes) return JsonReply(status, json{{"error", message}});
  // A message that quotes too much of a request: the start says what is wrong.
  size_t end = kMaxErrorMessageBytes;
  while (end > 0 && (static_cast<unsigned char>(message[end]) & 0xC0) == 0x80) --end;
  return JsonReply(status, json{{"error", message.substr(0, end) + "…"}});
}

Reply StatusReply(const Status& status) {
  if (status.code() == StatusCode::kIoError || status.code() == StatusCode::kInternal) {
    spdlog::error("[HTTP] {}", status.message());
  }
  // The last safety net (the stores word their errors without paths): no server path
  // reaches a client, whatever a layer below said. The log above keeps the full text.
  Reply reply = ErrorReply(HttpStatusFor(status.code()), WithoutServerPaths(status.message()));
  if (status.code() == StatusCode::kUnavailable) reply.Header("Retry-After", "2");
  return reply;
}

Result<int> IntParam(const Request& request, const std::string& name, int min, int max, int fallback) {
  if (!request.has_query(name)) return fallback;
  const std::string text = request.query_value(name);
  const std::string expected = name + " must be a whole number from " + std::to_string(min) + " to " +
                               std::to_string(max) + ", got \"" + text.substr(0, 32) + "\"";
  if (text.empty() || text.size() > 9 || text.find_first_not_of("0123456789") != std::string::npos) {
    return Status::InvalidArgument(expected);
  }
  const int value = std::stoi(text);
  if (value < min || value > max) return Status::InvalidArgument(expected);
  return value;
}

Result<nlohmann::json> ParseJsonObject(const std::string& body, std::string_view example) {
  Result<nlohmann::json> parsed = ParseBoundedJson(body, JsonLimits{.max_bytes = body.size()});
  if (!parsed.ok()) return Status::InvalidArgument("the body is " + parsed.status().message());
  if (!parsed->is_object())
    return Status::InvalidArgument("the body must be a JSON object, e.g. " + std::string(example));
  return parsed;
}

std::string ContentDisposition(std::string_view disposition, const std::string& filename) {
  std::string encoded;
  for (unsigned char c : filename) {
    if (std::isalnum(c) || std::strchr("-._~", c) != nullptr) {
      encoded.push_back(static_cast<char>(c));
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      encoded += buf;
    }
  }
  return std::string(disposition) + "; filename*=UTF-8''" + encoded;
}

}  // namespace samcache
