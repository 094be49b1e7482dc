#include "model/model_family.h"

#include <array>
#include <utility>

namespace samcache {
namespace {

constexpr std::array<std::pair<ModelFamily, std::string_view>, 6> kNames = {{
    {ModelFamily::kSam, "sam"},
    {ModelFamily::kSamHq, "sam-hq"},
    {ModelFamily::kEdgeSam, "edgesam"},
    {ModelFamily::kSam2, "sam2"},
    {ModelFamily::kSam2FullSize, "sam2-full-size"},
    {ModelFamily::kEfficientSam, "efficientsam"},
}};

}  // namespace

std::string_view FamilyName(ModelFamily family) {
  for (const auto& [value, name] : kNames) {
    if (value == family) return name;
  }
  return "unknown";
}

std::optional<ModelFamily> ParseFamily(std::string_view name) {
  for (const auto& [value, text] : kNames) {
    if (text == name) return value;
  }
  return std::nullopt;
}

}  // namespace samcache
