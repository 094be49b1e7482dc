// How the API shows images, datasets and near-duplicates; shared by the dataset and image
// routes.
#pragma once

#include <nlohmann/json.hpp>

#include "catalog/catalog.h"
#include "similar/near_duplicates.h"

namespace samcache {

nlohmann::json ImageJson(const ImageRecord& image, bool embedding_cached);
nlohmann::json DatasetJson(const DatasetRecord& dataset);
// One entry of an upload's "near_duplicates" or of GET /api/sam/image/{id}/similar.
nlohmann::json SimilarJson(const SimilarImage& similar);
// The hex perceptual hash, or null for content without one.
nlohmann::json PerceptualHashJson(const ImageRecord& image);

}  // namespace samcache
