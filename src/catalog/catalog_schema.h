// The catalog's schema version, shared by all its tables (see catalog.h).
#pragma once

#include "common/status.h"

namespace samcache {

class CatalogSchema {
 public:
  virtual ~CatalogSchema() = default;

  // Brings the schema to the newest version; safe to call on an up-to-date catalog.
  virtual Status Migrate() = 0;
  virtual Result<int> SchemaVersion() = 0;
};

}  // namespace samcache
