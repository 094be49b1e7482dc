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

// The most characters one 32-bit count takes in a compressed RLE string (5 bits each).
constexpr size_t kMaxCharsPerRun = 7;

size_t Utf8Length(const std::string& s) {
  return static_cast<size_t>(std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xC0) != 0x80; }));
}

std::string Trim(const std::string& s) {
  const auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return "";
  return s.substr(first, s.find_last_not_of(" \t\r\n") - first + 1);
}

std::string TooManyRuns() { return "segmentation.counts: at most " + std::to_string(kMaxRleRuns) + " runs"; }

// The area and box of a mask given as COCO runs (column-major, background first), found
// from the runs alone: no height x width mask is built, which at 100 megapixels would cost
// 100 MB per request. InvalidArgument unless the runs cover the mask exactly.
Status SetShapeFromRuns(const std::vector<uint32_t>& runs, int height, int width, AnnotationRecord& a) {
  const uint64_t h = static_cast<uint64_t>(height);
  const uint64_t total = h * static_cast<uint64_t>(width);
  uint64_t at = 0;
  uint64_t area = 0;
  uint64_t min_x = UINT64_MAX, max_x = 0, min_y = UINT64_MAX, max_y = 0;
  for (size_t i = 0; i < runs.size(); ++i) {
    const uint64_t n = runs[i];
    if (i % 2 == 1 && n > 0 && at + n <= total) {
      const uint64_t first = at;
      const uint64_t last = at + n - 1;
      min_x = std::min(min_x, first / h);
      max_x = std::max(max_x, last / h);
      // A run within one column covers its rows; one that wraps into the next column
      // covers the bottom of one and the top of the other, i.e. every row.
      const bool one_column = first / h == last / h;
      min_y = std::min(min_y, one_column ? first % h : 0);
      max_y = std::max(max_y, one_column ? last % h : h - 1);
      area += n;
    }
    at += n;  // at most 500,000 runs of < 2^32: no overflow
  }
  if (at != total) {
    return Status::InvalidArgument("segmentation does not decode: RLE counts sum to " + std::to_string(at) +
                                   ", not " + std::to_string(height) + "x" + std::to_string(width));
  }
  if (area == 0) return Status::InvalidArgument("segmentation is empty: the mask has no foreground pixel");
  a.bbox = {static_cast<double>(min_x), static_cast<double>(min_y), static_cast<double>(max_x - min_x + 1),
            static_cast<double>(max_y - min_y + 1)};
  a.area = static_cast<int64_t>(area);
  return Status::Ok();
}

// A COCO RLE object ({"size": [h, w], "counts": "..."} or with counts as a list of run
// lengths) for `image`: checked, and turned into the record's mask fields.
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
  if (image.height <= 0 || image.width <= 0 ||
      static_cast<uint64_t>(image.height) * static_cast<uint64_t>(image.width) > UINT32_MAX) {
    return Status::InvalidArgument("segmentation does not decode: the image is too large for COCO RLE");
  }
  // Every limit is checked before the runs are read into memory.
  const json& counts = seg["counts"];
  std::vector<uint32_t> runs;
  std::string compressed;
  if (counts.is_string()) {
    const std::string& text = counts.get_ref<const std::string&>();
    if (text.size() > kMaxRleRuns * kMaxCharsPerRun) return Status::InvalidArgument(TooManyRuns());
    Result<std::vector<uint32_t>> decoded = DecompressRleCounts(text);
    if (!decoded.ok()) {
      return Status::InvalidArgument("segmentation does not decode: " + decoded.status().message());
    }
    runs = std::move(decoded).value();
    if (runs.size() > kMaxRleRuns) return Status::InvalidArgument(TooManyRuns());
    compressed = text;
  } else if (counts.is_array()) {
    if (counts.size() > kMaxRleRuns) return Status::InvalidArgument(TooManyRuns());
    runs.reserve(counts.size());
    for (const json& c : counts) {
      if (!c.is_number_integer() || c.get<int64_t>() < 0 || c.get<int64_t>() > int64_t{UINT32_MAX}) {
        return Status::InvalidArgument("segmentation.counts must hold non-negative run lengths");
      }
      runs.push_back(static_cast<uint32_t>(c.get<int64_t>()));
    }
    compressed = CompressRleCounts(runs);
  } else {
    return Status::InvalidArgument(
        "segmentation.counts must be a COCO compressed RLE string or a list of runs");
  }
  SAMCACHE_RETURN_IF_ERROR(SetShapeFromRuns(runs, image.height, image.width, a));
  a.mask_height = image.height;
  a.mask_width = image.width;
  a.rle_counts = std::move(compressed);
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
