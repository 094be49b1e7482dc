// A dataset's annotations as a COCO file (instances with RLE segmentations), for the
// training tools that read COCO.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>

#include "catalog/catalog.h"
#include "common/status.h"

namespace samcache {

struct CocoExport {
  DatasetRecord dataset;
  nlohmann::json coco;  // info, licenses, images, annotations, categories
  size_t images = 0;
  size_t annotations = 0;
  size_t categories = 0;
};

// COCO wants integer ids: images by upload order, categories by sorted name; the samcache
// ids go along as samcache_image_id and samcache_annotation_id. NotFound for an unknown
// dataset.
Result<CocoExport> ExportCoco(Catalog& catalog, const std::string& dataset_id);

}  // namespace samcache
