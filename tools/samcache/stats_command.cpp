// `samcache stats`: catalog, embedding cache and prewarm job counts.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>
#include <string>

#include "app_options.h"
#include "catalog/catalog.h"
#include "command.h"
#include "store/disk_tier.h"

namespace samcache {
namespace {

Status PrintStats(App& app, const CommonOptions& common) {
  SAMCACHE_ASSIGN_OR_RETURN(const CatalogStats s, app.catalog().Stats());
  std::printf(
      "datasets:        %lld\n"
      "images:          %lld\n"
      "distinct images: %lld\n"
      "stored bytes:    %lld\n"
      "schema version:  %d\n",
      static_cast<long long>(s.datasets), static_cast<long long>(s.images), static_cast<long long>(s.blobs),
      static_cast<long long>(s.blob_bytes), s.schema_version);

  DiskTier cache(CacheDir(common), /*max_bytes=*/0);  // 0: only look, never evict here
  SAMCACHE_RETURN_IF_ERROR(cache.Init());
  const TierStats disk = cache.Stats();
  std::printf("embedding cache: %llu embedding(s), %.1f MB in %s\n",
              static_cast<unsigned long long>(disk.entries), static_cast<double>(disk.bytes) / 1e6,
              CacheDir(common).string().c_str());
  for (const auto& [model_id, count] : cache.EntriesPerModel()) {
    std::printf("  model %s: %llu\n", model_id.c_str(), static_cast<unsigned long long>(count));
  }
  SAMCACHE_ASSIGN_OR_RETURN(const auto jobs, app.catalog().CountPrewarmJobsByStatus());
  std::string by_status;
  for (const auto& [status, count] : jobs) {
    by_status += (by_status.empty() ? "" : ", ") + std::to_string(count) + " " + status;
  }
  std::printf("prewarm jobs:    %s\n", by_status.empty() ? "none" : by_status.c_str());
  return Status::Ok();
}

int Stats(const CommonOptions& common) {
  auto app = OpenApp(common);
  if (!app.ok()) return Fail(app.status());
  return ExitCode(PrintStats(**app, common));
}

}  // namespace

Command AddStatsCommand(CLI::App& cli) {
  auto common = std::make_shared<CommonOptions>();
  CLI::App* stats = cli.add_subcommand("stats", "Print catalog, embedding cache and prewarm job statistics");
  AddCommonOptions(stats, *common);
  return {stats, [common] { return Stats(*common); }};
}

}  // namespace samcache
