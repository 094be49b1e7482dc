// The running parts of samcache for one data folder, opened once and shared by the
// commands (serve, ingest, migrate).
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "catalog/catalog.h"
#include "common/status.h"
#include "ingest/ingestor.h"
#include "similar/near_duplicates.h"
#include "store/blob_store.h"

namespace samcache {

struct AppOptions {
  std::filesystem::path data_dir = "./data";
  std::string catalog_path;  // default: <data_dir>/samcache.db
  IngestOptions ingest;
  int near_duplicate_distance = kDefaultNearDuplicateDistance;
};

class App {
 public:
  // Creates the data folder if needed, opens the catalog (applying migrations) and the
  // blob store.
  static Result<std::unique_ptr<App>> Open(const AppOptions& options);

  Catalog& catalog() { return *catalog_; }
  BlobStore& blobs() { return *blobs_; }
  Ingestor& ingestor() { return *ingestor_; }
  // Null until EnableNearDuplicates().
  NearDuplicateFinder* near_duplicates() { return near_duplicates_.get(); }

  // Turns on near-duplicate detection: computes the perceptual hashes missing from content
  // stored before schema version 3, builds the index from the catalog and hands it to the
  // ingestor. Takes a while on a large catalog; call once, before serving.
  Status EnableNearDuplicates();
  const AppOptions& options() const { return options_; }

 private:
  AppOptions options_;
  std::unique_ptr<Catalog> catalog_;
  std::unique_ptr<BlobStore> blobs_;
  std::unique_ptr<NearDuplicateFinder> near_duplicates_;  // used by the ingestor: declared before it
  std::unique_ptr<Ingestor> ingestor_;
};

}  // namespace samcache
