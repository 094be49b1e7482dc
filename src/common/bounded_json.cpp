#include "common/bounded_json.h"

#include <string>

namespace samcache {
namespace {

struct TooDeep {};

// The longest parser message a reply carries: nlohmann quotes the token it stopped in
// ("last read: '...'"), which can be a whole megabyte-long string from the client.
constexpr size_t kMaxMessageBytes = 160;

// nlohmann's messages start with "[json.exception.parse_error.101] parse error at line 1,
// column 2: " (or "[json.exception.out_of_range.406] "); the rest is the part a person
// needs, cut to kMaxMessageBytes.
std::string PlainMessage(const nlohmann::json::exception& e) {
  std::string what = e.what();
  if (auto end = what.find("] "); what.rfind("[json.exception", 0) == 0 && end != std::string::npos) {
    what = what.substr(end + 2);
  }
  if (auto colon = what.find(": "); what.rfind("parse error", 0) == 0 && colon != std::string::npos) {
    what = what.substr(colon + 2);
  }
  if (what.size() > kMaxMessageBytes) {
    size_t end = kMaxMessageBytes;
    // Not in the middle of a UTF-8 character.
    while (end > 0 && (static_cast<unsigned char>(what[end]) & 0xC0) == 0x80) --end;
    what = what.substr(0, end) + "…";
  }
  return what;
}

}  // namespace

Result<nlohmann::json> ParseBoundedJson(std::string_view text, const JsonLimits& limits) {
  if (text.size() > limits.max_bytes) {
    return Status::InvalidArgument("JSON larger than " + std::to_string(limits.max_bytes) + " bytes");
  }
  const int max_depth = limits.max_depth;
  // The callback sees each object or array as it opens, before anything inside it is read.
  auto depth_check = [max_depth](int depth, nlohmann::json::parse_event_t event, nlohmann::json&) {
    if ((event == nlohmann::json::parse_event_t::object_start ||
         event == nlohmann::json::parse_event_t::array_start) &&
        depth >= max_depth) {
      throw TooDeep{};
    }
    return true;
  };
  try {
    return nlohmann::json::parse(text.begin(), text.end(), depth_check);
  } catch (const TooDeep&) {
    return Status::InvalidArgument("JSON nested deeper than " + std::to_string(max_depth) + " levels");
  } catch (const nlohmann::json::exception& e) {
    // e.g. "number overflow parsing '1e999'": JSON has no infinities, so they end here.
    return Status::InvalidArgument("not valid JSON: " + PlainMessage(e));
  }
}

}  // namespace samcache
