// The running parts of samcache for one data folder, opened once and shared by the
// commands (serve, ingest, migrate).
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "catalog/catalog.h"
#include "common/status.h"
#include "ingest/ingestor.h"
#include "store/blob_store.h"

namespace samcache {

struct AppOptions {
  std::filesystem::path data_dir = "./data";
  std::string catalog_path;  // default: <data_dir>/samcache.db
  IngestOptions ingest;
};

class App {
 public:
  // Creates the data folder if needed, opens the catalog (applying migrations) and the
  // blob store.
  static Result<std::unique_ptr<App>> Open(const AppOptions& options);

  Catalog& catalog() { return *catalog_; }
  BlobStore& blobs() { return *blobs_; }
  Ingestor& ingestor() { return *ingestor_; }
  const AppOptions& options() const { return options_; }

 private:
  AppOptions options_;
  std::unique_ptr<Catalog> catalog_;
  std::unique_ptr<BlobStore> blobs_;
  std::unique_ptr<Ingestor> ingestor_;
};

}  // namespace samcache
