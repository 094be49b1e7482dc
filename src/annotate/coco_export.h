// A dataset's annotations as a COCO file (instances with RLE segmentations), for the
// training tools that read COCO.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

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

// `text` as an export may carry it: without C0 controls, DEL, C1 controls (U+0080-U+009F)
// and the bidi embedding, override and isolate marks (U+202A-U+202E, U+2066-U+2069), which
// make a name display as another ("Trojan Source"). "unnamed" when nothing is left. Stored
// names keep them: they are data, only their way out is cleaned.
std::string ExportText(std::string_view text);

// COCO wants integer ids: images by upload order, categories by sorted name; the samcache
// ids go along as samcache_image_id and samcache_annotation_id. File, category and dataset
// names pass through ExportText (categories that differ only in stripped characters become
// one). NotFound for an unknown dataset.
Result<CocoExport> ExportCoco(Catalog& catalog, const std::string& dataset_id);

}  // namespace samcache
