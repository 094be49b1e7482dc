// JSON bodies from the network through ParseBoundedJson, with the server's limits and with a
// tight nesting limit: neither may crash or overflow the stack, the nesting limit must hold
// for what is returned, and a value must survive dump() and a second parse unchanged.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/bounded_json.h"
#include "fuzz_check.h"

namespace {

// Depth of arrays and objects inside each other, without recursion (the value came from the
// network; its depth is what is being checked).
int NestingDepth(const nlohmann::json& root) {
  int deepest = 0;
  std::vector<std::pair<const nlohmann::json*, int>> stack{{&root, 0}};
  while (!stack.empty()) {
    const auto [value, depth] = stack.back();
    stack.pop_back();
    if (!value->is_structured()) continue;
    deepest = std::max(deepest, depth + 1);
    for (const nlohmann::json& child : *value) stack.emplace_back(&child, depth + 1);
  }
  return deepest;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  const samcache::JsonLimits server_limits;
  const samcache::Result<nlohmann::json> parsed = samcache::ParseBoundedJson(text, server_limits);
  if (parsed.ok()) {
    FUZZ_CHECK(NestingDepth(*parsed) <= server_limits.max_depth);
    // Invalid UTF-8 in strings is refused when parsing, so dump() must not throw either.
    const std::string dumped = parsed->dump();
    const samcache::Result<nlohmann::json> again = samcache::ParseBoundedJson(dumped, server_limits);
    FUZZ_CHECK(again.ok());
    FUZZ_CHECK(*again == *parsed);
  } else {
    FUZZ_CHECK(!parsed.status().message().empty());
  }

  const samcache::JsonLimits tight{.max_bytes = 4096, .max_depth = 3};
  const samcache::Result<nlohmann::json> shallow = samcache::ParseBoundedJson(text, tight);
  if (shallow.ok()) {
    FUZZ_CHECK(NestingDepth(*shallow) <= tight.max_depth);
    FUZZ_CHECK(parsed.ok() && *shallow == *parsed);  // a tighter limit never accepts more
  }
  return 0;
}
