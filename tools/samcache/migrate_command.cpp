// `samcache migrate`: brings the catalog's schema to the newest version.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>

#include "app_options.h"
#include "catalog/catalog.h"
#include "command.h"

namespace samcache {
namespace {

Status PrintSchemaVersion(App& app) {
  SAMCACHE_ASSIGN_OR_RETURN(const int version, app.catalog().SchemaVersion());
  std::printf("catalog %s is at schema version %d\n",
              RedactCatalogLocation(app.options().catalog_path).c_str(), version);
  return Status::Ok();
}

int Migrate(const CommonOptions& common) {
  auto app = OpenApp(common);  // opening applies every pending migration
  if (!app.ok()) return Fail(app.status());
  return ExitCode(PrintSchemaVersion(**app));
}

}  // namespace

Command AddMigrateCommand(CLI::App& cli) {
  auto common = std::make_shared<CommonOptions>();
  CLI::App* migrate = cli.add_subcommand("migrate", "Bring the catalog's schema to the newest version");
  AddCommonOptions(migrate, *common);
  return {migrate, [common] { return Migrate(*common); }};
}

}  // namespace samcache
