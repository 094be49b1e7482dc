#include "app/app.h"

#include <spdlog/spdlog.h>

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

}  // namespace samcache
