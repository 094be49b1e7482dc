// `samcache list`: the datasets, or one dataset's images a page at a time (the catalog's paged
// query, as GET /api/sam/dataset/{id}: a 100,000-image dataset is never loaded whole).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>
#include <string>

#include "app_options.h"
#include "catalog/catalog.h"
#include "command.h"
#include "service/dataset_view.h"

namespace samcache {
namespace {

struct ListOptions {
  std::string dataset;  // id or name; empty: list the datasets
  size_t limit = 50;
  int64_t offset = 0;
  std::string filter = "all";
  std::string search;
};

Status PrintDatasets(Catalog& catalog) {
  SAMCACHE_ASSIGN_OR_RETURN(const std::vector<DatasetRecord> datasets, catalog.ListDatasets());
  for (const DatasetRecord& d : datasets) {
    std::printf("%s  %8lld image(s)  %s  %s\n", d.id.c_str(), static_cast<long long>(d.image_count),
                d.created_at.c_str(), d.name.c_str());
  }
  return Status::Ok();
}

Status PrintImages(Catalog& catalog, const ListOptions& o) {
  SAMCACHE_ASSIGN_OR_RETURN(const std::optional<DatasetRecord> dataset, catalog.FindDataset(o.dataset));
  if (!dataset) return Status::NotFound("no dataset with id or name '" + o.dataset + "'");
  DatasetPageRequest request;
  SAMCACHE_ASSIGN_OR_RETURN(request.filter, ParseImageFilter(o.filter));
  if (request.filter == ImageFilter::kCached || request.filter == ImageFilter::kNotCached) {
    return Status::InvalidArgument("filter: cached and not_cached need a model: use the HTTP API");
  }
  request.q = o.search;
  request.limit = o.limit;
  request.offset = o.offset;
  SAMCACHE_ASSIGN_OR_RETURN(const DatasetView view, LoadDatasetView(catalog, nullptr, dataset->id, request));
  std::printf("%s '%s': %lld image(s), %lld matching, showing %lld-%lld\n", view.dataset.id.c_str(),
              view.dataset.name.c_str(), static_cast<long long>(view.counts.all),
              static_cast<long long>(view.matched), static_cast<long long>(view.offset),
              static_cast<long long>(view.offset + static_cast<int64_t>(view.images.size())));
  for (const DatasetViewImage& e : view.images) {
    std::printf("%8lld  %s  %5dx%-5d  %3lld annotation(s)%s%s  %s\n", static_cast<long long>(e.index),
                e.image.id.c_str(), e.image.width, e.image.height, static_cast<long long>(e.annotation_count),
                e.duplicate_of ? ("  copy of " + *e.duplicate_of).c_str() : "",
                e.near_duplicate ? "  near-duplicate" : "", e.image.filename.c_str());
  }
  return Status::Ok();
}

int List(const CommonOptions& common, const ListOptions& o) {
  auto app = OpenApp(common);
  if (!app.ok()) return Fail(app.status());
  return ExitCode(o.dataset.empty() ? PrintDatasets((*app)->catalog()) : PrintImages((*app)->catalog(), o));
}

}  // namespace

Command AddListCommand(CLI::App& cli) {
  auto common = std::make_shared<CommonOptions>();
  auto options = std::make_shared<ListOptions>();
  CLI::App* list = cli.add_subcommand("list", "List the datasets, or a page of one dataset's images");
  AddCommonOptions(list, *common);
  list->add_option("dataset", options->dataset, "A dataset's id or name: list a page of its images");
  list->add_option("--limit", options->limit, "Images per page")->check(CLI::Range(1, 1000));
  list->add_option("--offset", options->offset, "Start at this image (0-based) among the matching ones")
      ->check(CLI::Range(int64_t{0}, kMaxDatasetPageOffset));
  list->add_option("--filter", options->filter, "all, duplicates, near_duplicates or annotated");
  list->add_option("--search", options->search, "Only filenames containing this (any case)")
      ->check(
          [](const std::string& s) { return s.size() > kMaxImagePageQueryBytes ? "at most 256 bytes" : ""; });
  return {list, [common, options] { return List(*common, *options); }};
}

}  // namespace samcache
