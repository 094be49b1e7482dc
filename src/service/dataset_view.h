// A dataset as a page shows it: its images with whether each embedding is cached, how many
// annotations each has and which one it is a pixel copy of, and the prewarm job that runs
// on it. Gathered from the catalog and the embedding cache in one place.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "catalog/catalog.h"
#include "common/status.h"

namespace samcache {

class ProjectCache;

struct DatasetViewImage {
  ImageRecord image;
  bool embedding_cached = false;  // cached, and claimed by the dataset's project (ProjectCache)
  int64_t annotation_count = 0;
  std::optional<std::string> duplicate_of;  // the image of the same project whose pixels this one repeats
};

struct DatasetView {
  DatasetRecord dataset;
  std::vector<DatasetViewImage> images;  // in upload order
  int64_t embeddings_cached = 0;
  // The queued or running prewarm job of the active model, so a page opened mid-prewarm can
  // follow it. Unset without a model or when the lookup fails.
  std::optional<PrewarmJobRecord> prewarm_job;
};

// `projects` is null without a model: nothing is cached then, and no job runs. What is
// cached and what repeats what is about the dataset's project only. NotFound for an unknown
// dataset.
Result<DatasetView> LoadDatasetView(Catalog& catalog, ProjectCache* projects, const std::string& dataset_id);

}  // namespace samcache
