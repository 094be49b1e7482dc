// A client's annotation body (POST /api/sam/image/{id}/annotations, PUT /api/sam/annotation/{id})
// as the routes take it: ParseBoundedJson with the server's limits, then the annotation rules
// (category, COCO RLE segmentation as a string or a list of runs, score, prompt) against one
// image, both for a new annotation and for a change to an existing one.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string_view>

#include "annotate/annotation_rules.h"
#include "common/bounded_json.h"
#include "fuzz_check.h"
#include "model/mask_codec.h"

namespace {

// The seeds' masks are of this size (height x width).
constexpr int kImageHeight = 12;
constexpr int kImageWidth = 16;

// What every accepted annotation must satisfy, whatever the body was.
void CheckAccepted(const samcache::AnnotationRecord& a) {
  FUZZ_CHECK(!a.category.empty());
  FUZZ_CHECK(a.mask_height == kImageHeight && a.mask_width == kImageWidth);
  FUZZ_CHECK(a.area > 0 && a.area <= int64_t{kImageHeight} * kImageWidth);
  FUZZ_CHECK(a.bbox[0] >= 0 && a.bbox[1] >= 0 && a.bbox[2] >= 1 && a.bbox[3] >= 1);
  FUZZ_CHECK(a.bbox[0] + a.bbox[2] <= kImageWidth && a.bbox[1] + a.bbox[3] <= kImageHeight);
  // What is stored decodes again to the same area (the COCO export copies it as is).
  const samcache::Result<samcache::BinaryMask> mask =
      samcache::DecodeRle(samcache::Rle{a.mask_height, a.mask_width, a.rle_counts});
  FUZZ_CHECK(mask.ok());
  FUZZ_CHECK(static_cast<int64_t>(samcache::MaskArea(*mask)) == a.area);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const samcache::Result<nlohmann::json> body = samcache::ParseBoundedJson(text);
  if (!body.ok() || !body->is_object()) return 0;

  samcache::ImageRecord image;
  image.id = "0123456789abcdef";
  image.dataset_id = "fedcba9876543210";
  image.height = kImageHeight;
  image.width = kImageWidth;

  samcache::AnnotationRecord created;
  const samcache::Status create = samcache::ApplyAnnotationFields(*body, image, /*creating=*/true, created);
  if (create.ok()) {
    CheckAccepted(created);
  } else {
    FUZZ_CHECK(create.code() == samcache::StatusCode::kInvalidArgument);
  }

  // A change to an existing, valid annotation: only what the body names is checked.
  samcache::AnnotationRecord existing;
  existing.category = "cat";
  existing.mask_height = kImageHeight;
  existing.mask_width = kImageWidth;
  existing.rle_counts = samcache::CompressRleCounts({0, kImageHeight * kImageWidth});
  existing.bbox = {0, 0, kImageWidth, kImageHeight};
  existing.area = kImageHeight * kImageWidth;
  const samcache::Status update = samcache::ApplyAnnotationFields(*body, image, /*creating=*/false, existing);
  if (update.ok()) {
    CheckAccepted(existing);
  } else {
    FUZZ_CHECK(update.code() == samcache::StatusCode::kInvalidArgument);
  }
  return 0;
}
