// The rules of an annotation (a named mask on one image): what a request may set, and how
// each field is checked: the category, the mask as COCO RLE against the image's size, the
// score, and the prompt that produced it. The bbox and area follow from the mask.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "catalog/annotation_catalog.h"
#include "common/status.h"

namespace samcache {

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
