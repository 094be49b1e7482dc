#include "app/app.h"

#include <spdlog/spdlog.h>

#include <chrono>

namespace samcache {

Result<std::unique_ptr<App>> App::Open(const AppOptions& options) {
  auto app = std::unique_ptr<App>(new App());
  app->options_ = options;
  std::error_code ec;
  std::filesystem::create_directories(options.data_dir, ec);
  if (ec) return Status::IoError("cannot create data folder " + options.data_dir.string() + ": " + ec.message());
  if (app->options_.catalog_path.empty()) {
    app->options_.catalog_path = (options.data_dir / "samcache.db").string();
  }
  Result<std::unique_ptr<Catalog>> catalog = OpenSqliteCatalog(app->options_.catalog_path);
  if (!catalog.ok()) return catalog.status();
  app->catalog_ = std::move(catalog).value();
  app->blobs_ = std::make_unique<BlobStore>(options.data_dir);
  SAMCACHE_RETURN_IF_ERROR(app->blobs_->Init());
  app->ingestor_ = std::make_unique<Ingestor>(*app->catalog_, *app->blobs_, options.ingest);
  return app;
}

Status App::EnableNearDuplicates() {
  if (near_duplicates_) return Status::Ok();
  const auto start = std::chrono::steady_clock::now();
  Result<BackfillOutcome> backfill = ingestor_->BackfillPerceptualHashes();
  if (!backfill.ok()) return backfill.status();
  if (backfill->hashed + backfill->failed > 0) {
    spdlog::info("[NEAR-DUP] computed the perceptual hash of {} stored file(s) from before schema version 3 "
                 "({} could not be read)",
                 backfill->hashed, backfill->failed);
  }
  auto finder = std::make_unique<NearDuplicateFinder>(*catalog_, options_.near_duplicate_distance);
  SAMCACHE_RETURN_IF_ERROR(finder->Rebuild());
  spdlog::info("[NEAR-DUP] index of {} distinct picture(s) ready in {:.2f} s (near-duplicate distance {})",
               finder->picture_count(),
               std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(),
               finder->default_distance());
  near_duplicates_ = std::move(finder);
  ingestor_->set_near_duplicate_finder(near_duplicates_.get());
  return Status::Ok();
}

}  // namespace samcache
