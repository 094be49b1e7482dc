#include "common/bounded_json.h"

#include <string>

namespace samcache {
namespace {

struct TooDeep {};

// nlohmann's messages start with "[json.exception.parse_error.101] parse error at line 1,
// column 2: "; the rest is the part a person needs.
std::string PlainMessage(const nlohmann::json::exception& e) {
  std::string what = e.what();
  if (auto colon = what.find(": "); what.rfind("[json.exception", 0) == 0 && colon != std::string::npos) {
    what = what.substr(colon + 2);
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
