// The duplicate report behind `samcache dupes`: which images are the same file, which are
// the same picture in other files, and which are near duplicates of each other.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "catalog/image_catalog.h"
#include "common/status.h"
#include "similar/near_duplicates.h"

namespace samcache {

struct ReportedImage {
  ImageRecord image;
  std::string dataset_name;
  // Near-duplicate groups only: distance to the group's first image, and whether it looks like
  // that image mirrored.
  int distance = 0;
  bool mirrored = false;
};

struct DuplicateGroup {
  std::string key;  // content_hash (same file), pixel_hash (same pixels), or empty (near)
  std::vector<ReportedImage> images;
};

struct DuplicateReport {
  std::optional<DatasetRecord> dataset;  // the dataset it was asked for, if any
  int max_distance = 0;
  size_t images_examined = 0;
  // Images with identical bytes (content_hash).
  std::vector<DuplicateGroup> same_file;
  // Pictures stored in more than one distinct file: identical pixels (pixel_hash), other bytes.
  std::vector<DuplicateGroup> same_pixels;
  // Pictures linked by perceptual hashes within max_distance (a group holds every picture
  // reachable through such links, so its ends may be further apart). All images of a picture
  // are listed; the oldest image comes first and the others give their distance to it.
  std::vector<DuplicateGroup> near_duplicates;
};

// Builds the report over the whole catalog, or only the groups that include an image of
// `dataset_id` (their members in other datasets are listed too, in any project: the report
// is for the operator at the command line, who may see every project; no route serves it). NotFound for an
// unknown dataset. `finder` must hold the catalog's pictures (NearDuplicateFinder::Rebuild).
Result<DuplicateReport> BuildDuplicateReport(ImageCatalog& catalog, const NearDuplicateFinder& finder,
                                             const std::optional<std::string>& dataset_id, int max_distance);

}  // namespace samcache
