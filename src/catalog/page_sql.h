// The SQL of ImagePages (image_pages.h), shared by both backends, and the one place that turns
// a query into page rows, an index and flags. Internal to src/catalog.
//
// Every statement takes the same numbered parameters, bound in this order whether used or not:
//   1 dataset_id  2 key (a position, or the offset)  3 limit  4 project_id  5 model_id
//   6 the LIKE pattern of q
// SQLite reads them as ?1..?6, PostgreSQL as $1..$6 (which also gets `$k::type IS NOT NULL`
// for the ones a statement does not use, so that their types are known). The text of each
// statement is built once and lives as long as the process: the SQLite backend keeps prepared
// statements by the address of their text.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "catalog/catalog_rows.h"
#include "catalog/image_pages.h"

namespace samcache::catalog_internal {

enum class Dialect { kSqlite, kPostgres };

enum class PageStatement {
  kAfter,          // rows with position > key, ascending, up to limit
  kBefore,         // rows with position < key, descending, up to limit
  kOffset,         // rows from the key-th matching one, ascending, up to limit
  kCountBefore,    // matching rows with position < key
  kCountAll,       // matching rows
  kFirstPosition,  // the dataset's lowest position (-1 when empty); filter and q ignored
  kLastPosition,   // the dataset's highest position (-1 when empty); filter and q ignored
};

const char* PageSql(Dialect dialect, PageStatement statement, ImageFilter filter, bool has_q);

// The statement's columns: those of SAMCACHE_IMAGE_SELECT, then annotation_count,
// duplicate_of, near_duplicate.
PagedImage ReadPagedImage(const RowReader& row);

// `%q%` with LIKE's wildcards and the escape character escaped (ESCAPE '\').
std::string LikePattern(const std::string& q);

// The counters of a dataset as (name, value) rows, read into counts for `model_id`.
DatasetCounts CountsFrom(const std::vector<std::pair<std::string, int64_t>>& rows,
                         const std::string& model_id);

// The dataset_counts name of the claimed counter of a model.
std::string ClaimedCounter(const std::string& model_id);

// ListImagePage over a backend: `rows` runs a page statement with its key and limit,
// `count` a count statement with its key, `counts` reads the dataset's counters.
Result<ImagePage> BuildImagePage(
    const ImagePageQuery& query,
    const std::function<Result<std::vector<PagedImage>>(PageStatement, int64_t, int64_t)>& rows,
    const std::function<Result<int64_t>(PageStatement, int64_t)>& count,
    const std::function<Result<DatasetCounts>()>& counts);

}  // namespace samcache::catalog_internal
