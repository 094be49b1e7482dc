// The catalog: datasets, images and the distinct blobs they refer to, the prewarm queue and
// the annotations.
//
// Several narrow interfaces, each in its own header, that a caller can read whole:
//   CatalogSchema      catalog_schema.h      schema version and migration
//   ImageCatalog       image_catalog.h       datasets, images, blobs, perceptual hashes
//   ImagePages         image_pages.h         a dataset's images a page at a time, its counters
//   PrewarmQueue       prewarm_queue.h       prewarm job rows, claims, heartbeats, progress
//   AnnotationCatalog  annotation_catalog.h  annotations
//   AccessCatalog      access_catalog.h      projects, users, memberships, tokens, claims
// A Catalog is all of them over one database, opened together (OpenCatalog). Two backends:
// SQLite (one machine, the default) and PostgreSQL (several instances sharing one database),
// with the same schema versions and the same behaviour. Records (records.h) are plain structs;
// nothing backend-specific crosses these headers. Every method is thread-safe and each
// mutating method is one transaction: after a crash the catalog holds either all of a call's
// rows or none of them. CatalogWrapper (catalog_wrapper.h) forwards every call to another
// Catalog, for tests that inject faults.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "catalog/access_catalog.h"
#include "catalog/annotation_catalog.h"
#include "catalog/catalog_schema.h"
#include "catalog/image_catalog.h"
#include "catalog/image_pages.h"
#include "catalog/prewarm_queue.h"
#include "catalog/records.h"
#include "common/status.h"

namespace samcache {

class Catalog : public CatalogSchema,
                public ImageCatalog,
                public ImagePages,
                public PrewarmQueue,
                public AnnotationCatalog,
                public AccessCatalog {
 public:
  ~Catalog() override = default;
};

// Opens (creating if needed) the SQLite catalog at `path` and applies migrations.
Result<std::unique_ptr<Catalog>> OpenSqliteCatalog(const std::string& path);

struct PostgresOptions {
  // Connections kept open at most; calls beyond it wait for one to be free.
  size_t max_connections = 8;
  // Used unless the URL sets connect_timeout itself.
  int connect_timeout_seconds = 10;
};

// Connects to the PostgreSQL database at `url` (postgresql://user[:password]@host[:port]/dbname,
// libpq's URL syntax) and applies migrations; several processes may do so at once. Unavailable
// when the server cannot be reached; messages never contain the password.
Result<std::unique_ptr<Catalog>> OpenPostgresCatalog(const std::string& url,
                                                     const PostgresOptions& options = {});

// True for postgresql:// and postgres:// URLs.
bool IsPostgresUrl(const std::string& db);
// A PostgreSQL URL opens OpenPostgresCatalog; anything else is the path of a SQLite file.
Result<std::unique_ptr<Catalog>> OpenCatalog(const std::string& db, const PostgresOptions& options = {});
// `db` as it may be shown in logs and messages: a URL without its password and parameters.
std::string RedactCatalogLocation(const std::string& db);

}  // namespace samcache
