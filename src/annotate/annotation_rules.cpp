#include "annotate/annotation_rules.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "common/crypto.h"
#include "common/files.h"
#include "model/mask_codec.h"

namespace samcache {
namespace {

using json = nlohmann::json;

constexpr size_t kMaxCategoryChars = 200;
constexpr size_t kMaxPromptBytes = 64 * 1024;

size_t Utf8Length(const std::string& s) {
  return static_cast<size_t>(std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xC0) != 0x80; }));
}

std::string Trim(const std::string& s) {
  const auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return "";
  return s.substr(first, s.find_last_not_of(" \t\r\n") - first + 1);
}

// A COCO RLE object ({"size": [h, w], "counts": "..."} or with counts as a list of run
// lengths) for `image`: decoded, checked, and turned into the record's mask fields.
Status SetSegmentation(const json& seg, const ImageRecord& image, AnnotationRecord& a) {
  if (!seg.is_object() || !seg.contains("size") || !seg.contains("counts")) {
    return Status::InvalidArgument(
        "segmentation must be a COCO RLE object {\"size\": [height, width], \"counts\": \"...\"}, "
        "e.g. the rle of a mask from POST /api/sam/predict");
  }
  const json& size = seg["size"];
  if (!size.is_array() || size.size() != 2 || !size[0].is_number_integer() || !size[1].is_number_integer()) {
    return Status::InvalidArgument("segmentation.size must be [height, width] in pixels");
  }
  const int64_t height = size[0].get<int64_t>();
  const int64_t width = size[1].get<int64_t>();
  if (height != image.height || width != image.width) {
    return Status::InvalidArgument("segmentation.size is [" + std::to_string(height) + ", " +
                                   std::to_string(width) + "] but image " + image.id + " is " +
                                   std::to_string(image.height) + " x " + std::to_string(image.width) +
                                   " (height x width)");
  }
  Rle rle{image.height, image.width, {}};
  const json& counts = seg["counts"];
  if (counts.is_string()) {
    rle.counts = counts.get<std::string>();
  } else if (counts.is_array()) {
    std::vector<uint32_t> runs;
    for (const json& c : counts) {
      if (!c.is_number_integer() || c.get<int64_t>() < 0 || c.get<int64_t>() > int64_t{UINT32_MAX}) {
        return Status::InvalidArgument("segmentation.counts must hold non-negative run lengths");
      }
      runs.push_back(static_cast<uint32_t>(c.get<int64_t>()));
    }
    rle.counts = CompressRleCounts(runs);
  } else {
    return Status::InvalidArgument(
        "segmentation.counts must be a COCO compressed RLE string or a list of runs");
  }
  Result<BinaryMask> mask = DecodeRle(rle);
  if (!mask.ok()) return Status::InvalidArgument("segmentation does not decode: " + mask.status().message());
  const uint64_t area = MaskArea(*mask);
  if (area == 0) return Status::InvalidArgument("segmentation is empty: the mask has no foreground pixel");
  const std::array<int, 4> box = MaskBbox(*mask);
  a.mask_height = image.height;
  a.mask_width = image.width;
  a.rle_counts = std::move(rle.counts);
  for (size_t i = 0; i < 4; ++i) a.bbox[i] = box[i];
  a.area = static_cast<int64_t>(area);
  return Status::Ok();
}

}  // namespace

Status ApplyAnnotationFields(const json& body, const ImageRecord& image, bool creating, AnnotationRecord& a) {
  if (body.contains("category") || creating) {
    if (!body.contains("category") || !body["category"].is_string()) {
      return Status::InvalidArgument("category: required, the object's class name (a string), e.g. \"cat\"");
    }
    std::string category = Trim(body["category"].get<std::string>());
    if (category.empty()) return Status::InvalidArgument("category must not be empty");
    if (Utf8Length(category) > kMaxCategoryChars) {
      return Status::InvalidArgument("category: at most " + std::to_string(kMaxCategoryChars) +
                                     " characters");
    }
    a.category = std::move(category);
  }
  if (body.contains("segmentation") || creating) {
    if (!body.contains("segmentation")) {
      return Status::InvalidArgument(
          "segmentation: required, e.g. the rle of a mask from POST /api/sam/predict");
    }
    SAMCACHE_RETURN_IF_ERROR(SetSegmentation(body["segmentation"], image, a));
  }
  if (body.contains("score")) {
    const json& score = body["score"];
    if (score.is_null()) {
      a.score.reset();
    } else if (score.is_number() && std::isfinite(score.get<double>())) {
      a.score = score.get<double>();
    } else {
      return Status::InvalidArgument("score must be a number or null");
    }
  }
  if (body.contains("prompt")) {
    const json& prompt = body["prompt"];
    a.prompt_json = prompt.is_null() ? "" : prompt.dump();
    if (a.prompt_json.size() > kMaxPromptBytes) {
      return Status::InvalidArgument("prompt: at most " + std::to_string(kMaxPromptBytes) + " bytes of JSON");
    }
  }
  return Status::Ok();
}

Result<AnnotationRecord> CreateAnnotation(AnnotationCatalog& catalog, const ImageRecord& image,
                                          const json& body, const std::string& model_id) {
  AnnotationRecord a;
  a.id = RandomId();
  a.image_id = image.id;
  a.dataset_id = image.dataset_id;
  a.model_id = model_id;
  a.created_at = a.updated_at = NowIso8601();
  SAMCACHE_RETURN_IF_ERROR(ApplyAnnotationFields(body, image, /*creating=*/true, a));
  SAMCACHE_RETURN_IF_ERROR(catalog.CreateAnnotation(a));
  spdlog::info("[ANNOTATE] image {} ({}): \"{}\" saved, area {} px", image.id, image.filename, a.category,
               a.area);
  return a;
}

Result<AnnotationRecord> UpdateAnnotation(AnnotationCatalog& catalog, AnnotationRecord a,
                                          const ImageRecord& image, const json& body) {
  SAMCACHE_RETURN_IF_ERROR(ApplyAnnotationFields(body, image, /*creating=*/false, a));
  a.updated_at = NowIso8601();
  SAMCACHE_RETURN_IF_ERROR(catalog.UpdateAnnotation(a));
  return a;
}

}  // namespace samcache
