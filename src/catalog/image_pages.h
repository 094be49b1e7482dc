// A dataset's images a page at a time (issue 18): by offset (a covering index) or by keyset
// (dataset, position) after or before an image, filtered and searched by filename, with the
// whole dataset's counts read from counters kept in the same transactions as the changes.
//
// Part of the Catalog (catalog.h): thread-safe. What each filter means:
//   kCached / kNotCached  claimed (embedding_claims) by the dataset's project for the model or
//                         '*'. The store is not asked here: the caller checks the page's
//                         images against it (an evicted embedding stays "claimed").
//   kDuplicates           an older image of the project has the same pixels (duplicate_of).
//   kNearDuplicates       marked (ImageCatalog::MarkNearDuplicates) when an upload found one.
//   kAnnotated            at least one annotation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "catalog/records.h"
#include "common/status.h"

namespace samcache {

enum class ImageFilter { kAll, kNotCached, kCached, kDuplicates, kNearDuplicates, kAnnotated };

struct ImagePageQuery {
  enum class From {
    kOffset,  // the offset-th matching image on
    kAfter,   // matching images with a position above `position`, in upload order
    kBefore,  // matching images with a position below `position`, nearest last
  };
  std::string dataset_id;
  std::string project_id;  // the dataset's: whose claims kCached / kNotCached read
  std::string model_id;    // for kCached / kNotCached
  ImageFilter filter = ImageFilter::kAll;
  std::string q;  // a case-insensitive filename substring (ASCII case folding); empty: all
  From from = From::kOffset;
  int64_t offset = 0;
  int64_t position = 0;
  size_t limit = 500;
};

struct PagedImage {
  ImageRecord image;
  int64_t annotation_count = 0;
  std::optional<std::string> duplicate_of;  // the oldest image of the project with these pixels
  bool near_duplicate = false;
};

struct ImagePage {
  std::vector<PagedImage> images;  // in upload order
  int64_t first_index = 0;         // rank of images[0] among the matching images (0-based)
  int64_t matched = 0;             // images matching the filter and q
  bool more_before = false;
  bool more_after = false;
};

// The whole dataset's counts, from counters (no scan).
struct DatasetCounts {
  int64_t all = 0;
  int64_t claimed = 0;  // by the project for the model (or '*')
  int64_t duplicates = 0;
  int64_t near_duplicates = 0;
  int64_t annotated = 0;
};

class ImagePages {
 public:
  virtual ~ImagePages() = default;

  // One page of a dataset's images (an unknown dataset answers an empty page).
  virtual Result<ImagePage> ListImagePage(const ImagePageQuery& query) = 0;
  // `model_id` selects the claimed counter (empty: claimed is 0).
  virtual Result<DatasetCounts> CountDatasetImages(const std::string& dataset_id,
                                                   const std::string& model_id) = 0;
  // 64 hex digits made at migration and shared by every process of the catalog: the key that
  // signs page cursors, so a cursor from one instance is good at another.
  virtual Result<std::string> CursorKey() = 0;
};

// Longest `q` (bytes) and largest page ListImagePage accepts; the HTTP layer refuses more.
inline constexpr size_t kMaxImagePageQueryBytes = 256;
inline constexpr size_t kMaxImagePageLimit = 1000;

}  // namespace samcache
