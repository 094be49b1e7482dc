// PostgreSQL backend: a dataset's images a page at a time, and the dataset counters (see
// image_pages.h and page_sql.h).
#include <algorithm>
#include <map>

#include "catalog/page_sql.h"
#include "catalog/postgres_catalog.h"

namespace samcache::catalog_internal::postgres {
namespace {

pqxx::result RunPage(pqxx::transaction_base& tx, const char* sql, const ImagePageQuery& query, int64_t key,
                     int64_t limit) {
  return tx.exec_params(sql, query.dataset_id, key, limit, query.project_id, query.model_id,
                        LikePattern(query.q));
}

DatasetCounts ReadCounts(pqxx::transaction_base& tx, const std::string& dataset_id,
                         const std::string& model_id) {
  return CountsFrom(
      Collect(tx.exec_params("SELECT name, value FROM dataset_counts WHERE dataset_id = $1", dataset_id),
              ReadKeyCount),
      model_id);
}

}  // namespace

Result<ImagePage> PostgresCatalog::ListImagePage(const ImagePageQuery& query) {
  return Run("list a page of images", [&](pqxx::connection& c) -> Result<ImagePage> {
    // One snapshot: the counters and the rows are of one moment.
    pqxx::transaction<pqxx::isolation_level::repeatable_read, pqxx::readwrite_policy::read_only> tx(c);
    const bool has_q = !query.q.empty();
    auto rows = [&](PageStatement statement, int64_t key, int64_t limit) -> Result<std::vector<PagedImage>> {
      return Collect(
          RunPage(tx, PageSql(Dialect::kPostgres, statement, query.filter, has_q), query, key, limit),
          ReadPagedImage);
    };
    auto count = [&](PageStatement statement, int64_t key) -> Result<int64_t> {
      return RunPage(tx, PageSql(Dialect::kPostgres, statement, query.filter, has_q), query, key, 0)[0][0]
          .as<int64_t>();
    };
    auto counts = [&]() -> Result<DatasetCounts> { return ReadCounts(tx, query.dataset_id, query.model_id); };
    Result<ImagePage> page = BuildImagePage(query, rows, count, counts);
    tx.commit();
    return page;
  });
}

Result<DatasetCounts> PostgresCatalog::CountDatasetImages(const std::string& dataset_id,
                                                          const std::string& model_id) {
  return Run("count a dataset's images", [&](pqxx::connection& c) -> Result<DatasetCounts> {
    pqxx::nontransaction tx(c);
    return ReadCounts(tx, dataset_id, model_id);
  });
}

Status PostgresCatalog::MarkNearDuplicates(const std::vector<std::string>& image_ids) {
  return Run("mark near duplicates", [&](pqxx::connection& c) -> Status {
    pqxx::work tx(c);
    std::vector<std::string> sorted = image_ids;
    std::sort(sorted.begin(), sorted.end());
    // The UPDATE takes each row's lock: an image is counted once however many mark it at once.
    const pqxx::result marked = tx.exec_params(
        "UPDATE images SET near_duplicate = 1 WHERE id = ANY($1::varchar[]) AND near_duplicate = 0 "
        "RETURNING dataset_id",
        ArrayLiteral(sorted));
    std::map<std::string, int64_t> per_dataset;
    for (const auto& row : marked) ++per_dataset[row[0].as<std::string>()];
    for (const auto& [dataset_id, n] : per_dataset) BumpCounter(tx, dataset_id, "near_duplicates", n);
    tx.commit();
    return Status::Ok();
  });
}

Result<std::string> PostgresCatalog::CursorKey() {
  std::lock_guard lock(cursor_key_mu_);
  if (!cursor_key_.empty()) return cursor_key_;
  SAMCACHE_ASSIGN_OR_RETURN(
      cursor_key_, Run("read the cursor key", [&](pqxx::connection& c) -> Result<std::string> {
        pqxx::nontransaction tx(c);
        const pqxx::result r = tx.exec("SELECT value FROM catalog_settings WHERE name = 'cursor_key'");
        if (r.empty()) return Status::Internal("the catalog has no cursor key (schema version 9)");
        return r[0][0].as<std::string>();
      }));
  return cursor_key_;
}

}  // namespace samcache::catalog_internal::postgres
