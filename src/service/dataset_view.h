// A dataset as a page shows it, one page of images at a time (issue 18): each image with
// whether its embedding is cached, how many annotations it has, which image it is a pixel copy
// of and whether it has a near duplicate; the page's place among the images matching a filter
// and a filename search, cursors to the pages next to it, the whole dataset's counts, and the
// prewarm job that runs on it. Gathered from the catalog and the embedding cache in one place.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "catalog/catalog.h"
#include "common/status.h"

namespace samcache {

class ProjectCache;

inline constexpr size_t kDefaultDatasetPageLimit = 500;
inline constexpr int64_t kMaxDatasetPageOffset = 10'000'000;
// Up to this many images, `embeddings_cached` asks the store about every image of the
// dataset, as before paging; above it the count is the project's claims (image_pages.h).
inline constexpr int64_t kStoreCheckedCountUpTo = 500;

struct DatasetViewImage {
  ImageRecord image;
  bool embedding_cached = false;  // cached, and claimed by the dataset's project (ProjectCache)
  int64_t annotation_count = 0;
  std::optional<std::string> duplicate_of;  // the image of the same project whose pixels this one repeats
  bool near_duplicate = false;
  int64_t index = 0;  // rank among the images matching the filter and q
};

// Where a page starts: at most one of offset, cursor, after_image, before_image.
struct DatasetPageRequest {
  ImageFilter filter = ImageFilter::kAll;
  std::string q;
  size_t limit = kDefaultDatasetPageLimit;
  std::optional<int64_t> offset;
  std::string cursor;
  std::string after_image;
  std::string before_image;
};

struct DatasetViewCounts {
  int64_t all = 0;
  int64_t cached = 0;
  int64_t not_cached = 0;
  int64_t duplicates = 0;
  int64_t near_duplicates = 0;
  int64_t annotated = 0;
};

struct DatasetView {
  DatasetRecord dataset;
  std::vector<DatasetViewImage> images;  // in upload order
  int64_t embeddings_cached = 0;
  // The queued or running prewarm job of the active model, so a page opened mid-prewarm can
  // follow it. Unset without a model or when the lookup fails.
  std::optional<PrewarmJobRecord> prewarm_job;
  size_t limit = kDefaultDatasetPageLimit;
  int64_t offset = 0;  // index of images[0]
  int64_t matched = 0;
  std::optional<std::string> next_cursor;
  std::optional<std::string> prev_cursor;
  DatasetViewCounts counts;
};

std::string_view ImageFilterName(ImageFilter filter);
// InvalidArgument("filter: ...") listing the allowed values.
Result<ImageFilter> ParseImageFilter(std::string_view name);

// `projects` is null without a model: nothing is cached then, and no job runs. What is
// cached and what repeats what is about the dataset's project only. NotFound for an unknown
// dataset, or an after/before image not in it; InvalidArgument for a bad cursor.
Result<DatasetView> LoadDatasetView(Catalog& catalog, ProjectCache* projects, const std::string& dataset_id,
                                    const DatasetPageRequest& request = {});

}  // namespace samcache
