// SQLite backend: a dataset's images a page at a time, and the dataset counters (see
// image_pages.h and page_sql.h).
#include "catalog/page_sql.h"
#include "catalog/sqlite_catalog.h"

namespace samcache::catalog_internal::sqlite {
namespace {

Query& BindPage(Query& q, const ImagePageQuery& query, int64_t key, int64_t limit) {
  return q.Bind(query.dataset_id)
      .Bind(key)
      .Bind(limit)
      .Bind(query.project_id)
      .Bind(query.model_id)
      .Bind(LikePattern(query.q));
}

}  // namespace

Result<ImagePage> SqliteCatalog::ListImagePage(const ImagePageQuery& query) {
  std::lock_guard lock(mu_);
  const bool has_q = !query.q.empty();
  auto rows = [&](PageStatement statement, int64_t key, int64_t limit) -> Result<std::vector<PagedImage>> {
    SAMCACHE_ASSIGN_OR_RETURN(Query q,
                              conn_.Prepare(PageSql(Dialect::kSqlite, statement, query.filter, has_q)));
    return BindPage(q, query, key, limit).Collect(ReadPagedImage);
  };
  auto count = [&](PageStatement statement, int64_t key) -> Result<int64_t> {
    SAMCACHE_ASSIGN_OR_RETURN(Query q,
                              conn_.Prepare(PageSql(Dialect::kSqlite, statement, query.filter, has_q)));
    SAMCACHE_RETURN_IF_ERROR(BindPage(q, query, key, 0).Step());
    return q.Int(0);
  };
  auto counts = [&]() { return CountDatasetImagesLocked(query.dataset_id, query.model_id); };
  // One read transaction: the counters and the rows are of one moment.
  SAMCACHE_RETURN_IF_ERROR(conn_.Exec("BEGIN"));
  Result<ImagePage> page = BuildImagePage(query, rows, count, counts);
  (void)conn_.Exec("COMMIT");
  return page;
}

Result<DatasetCounts> SqliteCatalog::CountDatasetImages(const std::string& dataset_id,
                                                        const std::string& model_id) {
  std::lock_guard lock(mu_);
  return CountDatasetImagesLocked(dataset_id, model_id);
}

Result<DatasetCounts> SqliteCatalog::CountDatasetImagesLocked(const std::string& dataset_id,
                                                              const std::string& model_id) {
  SAMCACHE_ASSIGN_OR_RETURN(Query q,
                            conn_.Prepare("SELECT name, value FROM dataset_counts WHERE dataset_id = ?"));
  SAMCACHE_ASSIGN_OR_RETURN(const auto rows, q.Bind(dataset_id).Collect(ReadKeyCount));
  return CountsFrom(rows, model_id);
}

Status SqliteCatalog::MarkNearDuplicates(const std::vector<std::string>& image_ids) {
  std::lock_guard lock(mu_);
  return InWriteTransaction([&]() -> Status {
    for (const std::string& id : image_ids) {
      SAMCACHE_ASSIGN_OR_RETURN(
          Query q, conn_.Prepare("UPDATE images SET near_duplicate = 1 WHERE id = ? AND near_duplicate = 0"));
      SAMCACHE_RETURN_IF_ERROR(q.Bind(id).Run());
      if (conn_.Changes() == 0) continue;
      SAMCACHE_ASSIGN_OR_RETURN(Query d, conn_.Prepare("SELECT dataset_id FROM images WHERE id = ?"));
      SAMCACHE_ASSIGN_OR_RETURN(const std::optional<std::string> dataset, d.Bind(id).First(ReadFirstText));
      if (dataset) SAMCACHE_RETURN_IF_ERROR(BumpCounterLocked(*dataset, "near_duplicates", 1));
    }
    return Status::Ok();
  });
}

Result<std::string> SqliteCatalog::CursorKey() {
  std::lock_guard lock(mu_);
  SAMCACHE_ASSIGN_OR_RETURN(Query q,
                            conn_.Prepare("SELECT value FROM catalog_settings WHERE name = 'cursor_key'"));
  SAMCACHE_ASSIGN_OR_RETURN(const std::optional<std::string> key, q.First(ReadFirstText));
  if (!key) return Status::Internal("the catalog has no cursor key (schema version 9)");
  return *key;
}

Status SqliteCatalog::BumpCounterLocked(const std::string& dataset_id, const std::string& name,
                                        int64_t delta) {
  SAMCACHE_ASSIGN_OR_RETURN(
      Query q, conn_.Prepare("INSERT INTO dataset_counts (dataset_id, name, value) VALUES (?, ?, ?) "
                             "ON CONFLICT (dataset_id, name) DO UPDATE SET value = value + excluded.value"));
  return q.Bind(dataset_id).Bind(name).Bind(delta).Run();
}

}  // namespace samcache::catalog_internal::sqlite
