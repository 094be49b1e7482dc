#include "service/dataset_view.h"

#include <algorithm>
#include <array>
#include <utility>

#include "model/project_cache.h"
#include "service/page_cursor.h"

namespace samcache {
namespace {

constexpr std::array<std::pair<ImageFilter, std::string_view>, 6> kFilterNames{{
    {ImageFilter::kAll, "all"},
    {ImageFilter::kNotCached, "not_cached"},
    {ImageFilter::kCached, "cached"},
    {ImageFilter::kDuplicates, "duplicates"},
    {ImageFilter::kNearDuplicates, "near_duplicates"},
    {ImageFilter::kAnnotated, "annotated"},
}};

// What a cursor pages through: another dataset's, filter's or search's cursor does not fit.
std::string Listing(const std::string& dataset_id, const DatasetPageRequest& request) {
  return "images\n" + dataset_id + "\n" + std::string(ImageFilterName(request.filter)) + "\n" + request.q;
}

// The position of an image of this dataset; NotFound (as an unknown image) otherwise.
Result<int64_t> PositionIn(Catalog& catalog, const std::string& dataset_id, const std::string& image_id) {
  SAMCACHE_ASSIGN_OR_RETURN(const ImageRecord image, catalog.GetImage(image_id));
  if (image.dataset_id != dataset_id) return Status::NotFound("no image with id '" + image_id + "'");
  return image.position;
}

Result<ImagePageQuery> PageQuery(Catalog& catalog, const DatasetRecord& dataset, const std::string& model_id,
                                 const DatasetPageRequest& request) {
  ImagePageQuery query;
  query.dataset_id = dataset.id;
  query.project_id = dataset.project_id;
  query.model_id = model_id;
  query.filter = request.filter;
  query.q = request.q;
  query.limit = request.limit;
  if (!request.cursor.empty()) {
    SAMCACHE_ASSIGN_OR_RETURN(const std::string key, catalog.CursorKey());
    SAMCACHE_ASSIGN_OR_RETURN(const PageCursor cursor,
                              DecodeCursor(request.cursor, Listing(dataset.id, request), key));
    query.from = cursor.direction == PageCursor::Direction::kAfter ? ImagePageQuery::From::kAfter
                                                                   : ImagePageQuery::From::kBefore;
    query.position = cursor.position;
  } else if (!request.after_image.empty()) {
    query.from = ImagePageQuery::From::kAfter;
    SAMCACHE_ASSIGN_OR_RETURN(query.position, PositionIn(catalog, dataset.id, request.after_image));
  } else if (!request.before_image.empty()) {
    query.from = ImagePageQuery::From::kBefore;
    SAMCACHE_ASSIGN_OR_RETURN(query.position, PositionIn(catalog, dataset.id, request.before_image));
  } else {
    query.offset = request.offset.value_or(0);
  }
  return query;
}

}  // namespace

std::string_view ImageFilterName(ImageFilter filter) {
  for (const auto& [value, name] : kFilterNames) {
    if (value == filter) return name;
  }
  return "all";
}

Result<ImageFilter> ParseImageFilter(std::string_view name) {
  for (const auto& [value, known] : kFilterNames) {
    if (known == name) return value;
  }
  return Status::InvalidArgument(
      "filter: must be one of all, not_cached, cached, duplicates, near_duplicates, annotated");
}

Result<DatasetView> LoadDatasetView(Catalog& catalog, ProjectCache* projects, const std::string& dataset_id,
                                    const DatasetPageRequest& request) {
  DatasetView view;
  SAMCACHE_ASSIGN_OR_RETURN(view.dataset, catalog.GetDataset(dataset_id));
  const std::string model_id = projects != nullptr ? projects->model_id() : "";
  SAMCACHE_ASSIGN_OR_RETURN(ImagePageQuery query, PageQuery(catalog, view.dataset, model_id, request));
  // Without a model nothing is cached: no claim is asked about.
  const bool none = projects == nullptr && request.filter == ImageFilter::kCached;
  if (projects == nullptr && request.filter == ImageFilter::kNotCached) query.filter = ImageFilter::kAll;
  ImagePage page;
  if (none) {
    query.limit = 0;
    page.first_index = 0;
  } else {
    SAMCACHE_ASSIGN_OR_RETURN(page, catalog.ListImagePage(query));
  }
  SAMCACHE_ASSIGN_OR_RETURN(const DatasetCounts counts, catalog.CountDatasetImages(dataset_id, model_id));

  // The store is asked about the page's images only (one batched claim query, one store query).
  std::vector<ImageRecord> shown;
  shown.reserve(page.images.size());
  for (const PagedImage& p : page.images) shown.push_back(p.image);
  const std::vector<bool> cached = projects != nullptr ? projects->CachedFor(view.dataset.project_id, shown)
                                                       : std::vector<bool>(shown.size(), false);
  view.images.reserve(page.images.size());
  for (size_t i = 0; i < page.images.size(); ++i) {
    PagedImage& p = page.images[i];
    view.images.push_back(DatasetViewImage{std::move(p.image), cached[i], p.annotation_count,
                                           std::move(p.duplicate_of), p.near_duplicate,
                                           page.first_index + static_cast<int64_t>(i)});
  }

  view.counts = {counts.all, counts.claimed, 0, counts.duplicates, counts.near_duplicates, counts.annotated};
  if (projects == nullptr) {
    view.counts.cached = 0;
  } else if (counts.all <= kStoreCheckedCountUpTo) {
    // A small dataset: the store is asked about every image, as before paging.
    SAMCACHE_ASSIGN_OR_RETURN(const std::vector<ImageRecord> all, catalog.ListImages(dataset_id));
    const std::vector<bool> all_cached = projects->CachedFor(view.dataset.project_id, all);
    view.counts.cached = static_cast<int64_t>(std::count(all_cached.begin(), all_cached.end(), true));
  }
  view.counts.not_cached = std::max<int64_t>(0, view.counts.all - view.counts.cached);
  view.embeddings_cached = view.counts.cached;

  view.limit = request.limit;
  view.offset = page.first_index;
  view.matched = none ? 0 : page.matched;
  if (!view.images.empty()) {
    SAMCACHE_ASSIGN_OR_RETURN(const std::string key, catalog.CursorKey());
    const std::string listing = Listing(dataset_id, request);
    if (page.more_after) {
      view.next_cursor =
          EncodeCursor({PageCursor::Direction::kAfter, view.images.back().image.position, ""}, listing, key);
    }
    if (page.more_before) {
      view.prev_cursor = EncodeCursor(
          {PageCursor::Direction::kBefore, view.images.front().image.position, ""}, listing, key);
    }
  }
  if (projects != nullptr) {
    Result<std::optional<PrewarmJobRecord>> job = catalog.FindUnfinishedPrewarmJob(view.dataset.id, model_id);
    if (job.ok()) view.prewarm_job = std::move(*job);
  }
  return view;
}

}  // namespace samcache
