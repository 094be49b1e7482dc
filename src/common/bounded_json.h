// JSON from the network, parsed with bounds: a nesting limit checked while parsing (a body
// nested 60,000 deep must fail at depth 65, not overflow the stack later) and a size limit
// checked before parsing starts.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string_view>

#include "common/status.h"

namespace samcache {

struct JsonLimits {
  size_t max_bytes = size_t{1} << 20;
  int max_depth = 64;  // arrays and objects inside each other
};

// The parsed value, or InvalidArgument saying what is wrong ("nested deeper than 64 levels",
// "not valid JSON: ..."). Never throws.
Result<nlohmann::json> ParseBoundedJson(std::string_view text, const JsonLimits& limits = {});

}  // namespace samcache
