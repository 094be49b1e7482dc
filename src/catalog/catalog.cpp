// Chooses the catalog backend from its location.
#include "catalog/catalog.h"

namespace samcache {

bool IsPostgresUrl(const std::string& db) {
  return db.rfind("postgresql://", 0) == 0 || db.rfind("postgres://", 0) == 0;
}

Result<std::unique_ptr<Catalog>> OpenCatalog(const std::string& db, const PostgresOptions& options) {
  if (IsPostgresUrl(db)) return OpenPostgresCatalog(db, options);
  return OpenSqliteCatalog(db);
}

}  // namespace samcache
