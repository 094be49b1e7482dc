// The rules of an annotation (a named mask on one image): what a request may set, and how
// each field is checked: the category, the mask as COCO RLE against the image's size, the
// score, and the prompt that produced it. The bbox and area follow from the mask.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "catalog/annotation_catalog.h"
#include "common/status.h"

namespace samcache {

// What one annotation may hold (docs/API.md, "Limits"); each refusal is InvalidArgument
// naming the limit.
inline constexpr size_t kMaxCategoryChars = 200;      // UTF-8 characters, after trimming
inline constexpr size_t kMaxPromptBytes = 64 * 1024;  // the prompt as compact JSON
// Runs of the mask's RLE. A SAM mask has a few per column (about 2 x width for one blob);
// this is far above any real mask and keeps a stored mask, and its export, small.
inline constexpr size_t kMaxRleRuns = 500'000;

// Applies the fields present in `body` (a JSON object) to `a`; with `creating`, category and
// segmentation are required. InvalidArgument, naming the field, for a wrong one.
Status ApplyAnnotationFields(const nlohmann::json& body, const ImageRecord& image, bool creating,
                             AnnotationRecord& a);

// A new annotation of `image` from a request body, checked and stored. `model_id` is the
// active model's (empty without one).
Result<AnnotationRecord> CreateAnnotation(AnnotationCatalog& catalog, const ImageRecord& image,
                                          const nlohmann::json& body, const std::string& model_id);

// `a`, an annotation of `image`, with the fields of `body` applied, checked and stored.
Result<AnnotationRecord> UpdateAnnotation(AnnotationCatalog& catalog, AnnotationRecord a,
                                          const ImageRecord& image, const nlohmann::json& body);

}  // namespace samcache
