#include "catalog/page_sql.h"

#include <algorithm>
#include <map>
#include <mutex>
#include <optional>
#include <tuple>

namespace samcache::catalog_internal {
namespace {

std::string FilterSql(ImageFilter filter) {
  // The partial indexes of migration 9 have these WHERE terms, word for word.
  switch (filter) {
    case ImageFilter::kAll:
      return "";
    case ImageFilter::kDuplicates:
      return " AND i.duplicate_of IS NOT NULL";
    case ImageFilter::kNearDuplicates:
      return " AND i.near_duplicate <> 0";
    case ImageFilter::kAnnotated:
      return " AND i.annotation_count > 0";
    case ImageFilter::kCached:
    case ImageFilter::kNotCached:
      return std::string(filter == ImageFilter::kCached ? " AND" : " AND NOT") +
             " EXISTS (SELECT 1 FROM embedding_claims c WHERE c.project_id = $4 AND c.pixel_hash = "
             "i.pixel_hash "
             "AND c.model_id IN ($5, '*'))";
  }
  return "";
}

std::string Build(Dialect dialect, PageStatement statement, ImageFilter filter, bool has_q) {
  const std::string match =
      FilterSql(filter) + (has_q ? (dialect == Dialect::kSqlite ? " AND i.filename LIKE $6 ESCAPE '\\'"
                                                                : " AND i.filename ILIKE $6 ESCAPE '\\'")
                                 : "");
  const std::string select =
      "SELECT i.id, i.dataset_id, i.filename, i.content_hash, b.pixel_hash, b.format, b.mime_type, "
      "b.byte_size, i.width, i.height, i.position, i.created_at, b.phash, b.phash_mirrored, "
      "i.annotation_count, i.duplicate_of, i.near_duplicate FROM images i "
      "JOIN blobs b ON b.content_hash = i.content_hash WHERE i.dataset_id = $1";
  std::string sql;
  bool uses[7] = {false, true, true, true, false, false, false};
  switch (statement) {
    case PageStatement::kAfter:
      sql = select + " AND i.position > $2" + match + " ORDER BY i.position LIMIT $3";
      break;
    case PageStatement::kBefore:
      sql = select + " AND i.position < $2" + match + " ORDER BY i.position DESC LIMIT $3";
      break;
    case PageStatement::kOffset:
      // The offset is walked on the (partial) index of positions, not on joined rows.
      sql = select + " AND i.position >= (SELECT i.position FROM images i WHERE i.dataset_id = $1" + match +
            " ORDER BY i.position LIMIT 1 OFFSET $2)" + match + " ORDER BY i.position LIMIT $3";
      break;
    case PageStatement::kCountBefore:
      sql = "SELECT COUNT(*) FROM images i WHERE i.dataset_id = $1 AND i.position < $2" + match;
      uses[3] = false;
      break;
    case PageStatement::kCountAll:
      sql = "SELECT COUNT(*) FROM images i WHERE i.dataset_id = $1" + match;
      uses[2] = uses[3] = false;
      break;
    case PageStatement::kFirstPosition:
    case PageStatement::kLastPosition:
      // Both ends of idx_images_dataset_position: a lookup each, not a scan.
      sql = std::string("SELECT COALESCE(") + (statement == PageStatement::kFirstPosition ? "MIN" : "MAX") +
            "(i.position), -1) FROM images i WHERE i.dataset_id = $1";
      uses[2] = uses[3] = false;
      break;
  }
  const bool matches =
      statement != PageStatement::kFirstPosition && statement != PageStatement::kLastPosition;
  if (matches && (filter == ImageFilter::kCached || filter == ImageFilter::kNotCached))
    uses[4] = uses[5] = true;
  uses[6] = matches && has_q;
  if (dialect == Dialect::kPostgres) {
    const char* types[7] = {"", "text", "bigint", "bigint", "text", "text", "text"};
    std::string unused;
    for (int k = 2; k <= 6; ++k) {
      if (!uses[k]) unused += " AND $" + std::to_string(k) + "::" + types[k] + " IS NOT NULL";
    }
    // Before ORDER BY of the outer statement, or at the end of a count.
    const size_t order = sql.rfind(" ORDER BY i.position");
    if (statement == PageStatement::kCountBefore || statement == PageStatement::kCountAll || !matches) {
      sql += unused;
    } else {
      sql.insert(order, unused);
    }
    // PostgreSQL wants LIMIT and OFFSET as bigint: the text parameters say nothing.
    for (const char* from : {"LIMIT $3", "OFFSET $2"}) {
      const size_t at = sql.find(from);
      if (at != std::string::npos) sql.insert(at + std::string(from).size(), "::bigint");
    }
    for (const char* from : {"position > $2", "position < $2"}) {
      const size_t at = sql.find(from);
      if (at != std::string::npos) sql.insert(at + std::string(from).size(), "::bigint");
    }
  } else {
    std::replace(sql.begin(), sql.end(), '$', '?');
  }
  return sql;
}

}  // namespace

const char* PageSql(Dialect dialect, PageStatement statement, ImageFilter filter, bool has_q) {
  static std::mutex mu;
  static std::map<std::tuple<Dialect, PageStatement, ImageFilter, bool>, std::string> built;
  std::lock_guard lock(mu);
  auto [it, inserted] = built.try_emplace(std::make_tuple(dialect, statement, filter, has_q));
  if (inserted) it->second = Build(dialect, statement, filter, has_q);
  return it->second.c_str();  // std::map nodes do not move
}

PagedImage ReadPagedImage(const RowReader& row) {
  PagedImage out;
  out.image = ReadImage(row);
  out.annotation_count = row.Int(14);
  if (!row.IsNull(15)) out.duplicate_of = row.Text(15);
  out.near_duplicate = row.Int(16) != 0;
  return out;
}

std::string LikePattern(const std::string& q) {
  std::string out = "%";
  for (const char c : q) {
    if (c == '%' || c == '_' || c == '\\') out += '\\';
    out += c;
  }
  return out + "%";
}

std::string ClaimedCounter(const std::string& model_id) { return "claimed:" + model_id; }

DatasetCounts CountsFrom(const std::vector<std::pair<std::string, int64_t>>& rows,
                         const std::string& model_id) {
  DatasetCounts out;
  const std::string claimed = ClaimedCounter(model_id);
  for (const auto& [name, value] : rows) {
    if (name == "images") out.all = value;
    if (name == "duplicates") out.duplicates = value;
    if (name == "near_duplicates") out.near_duplicates = value;
    if (name == "annotated") out.annotated = value;
    // Claims for every model ('*', from before claims were per model) count for each model;
    // a picture claimed both ways is counted under '*' only.
    if (!model_id.empty() && (name == claimed || name == ClaimedCounter("*"))) out.claimed += value;
  }
  return out;
}

Result<ImagePage> BuildImagePage(
    const ImagePageQuery& query,
    const std::function<Result<std::vector<PagedImage>>(PageStatement, int64_t, int64_t)>& rows,
    const std::function<Result<int64_t>(PageStatement, int64_t)>& count,
    const std::function<Result<DatasetCounts>()>& counts) {
  ImagePage page;
  if (!query.q.empty()) {
    SAMCACHE_ASSIGN_OR_RETURN(page.matched, count(PageStatement::kCountAll, 0));
  } else {
    SAMCACHE_ASSIGN_OR_RETURN(const DatasetCounts c, counts());
    switch (query.filter) {
      case ImageFilter::kAll:
        page.matched = c.all;
        break;
      case ImageFilter::kCached:
        page.matched = c.claimed;
        break;
      case ImageFilter::kNotCached:
        page.matched = std::max<int64_t>(0, c.all - c.claimed);
        break;
      case ImageFilter::kDuplicates:
        page.matched = c.duplicates;
        break;
      case ImageFilter::kNearDuplicates:
        page.matched = c.near_duplicates;
        break;
      case ImageFilter::kAnnotated:
        page.matched = c.annotated;
        break;
    }
  }
  // A dataset's positions are 0, 1, 2... in upload order, and images leave only with their
  // dataset (from the lowest position up): so they are usually dense, which is checked exactly
  // with the counters of this snapshot. Then, unfiltered, an offset is a position and a rank a
  // difference of positions, found by index lookups instead of walking the index to the offset.
  std::optional<int64_t> dense_from;
  if (query.filter == ImageFilter::kAll && query.q.empty() && page.matched > 0) {
    SAMCACHE_ASSIGN_OR_RETURN(const int64_t first, count(PageStatement::kFirstPosition, 0));
    SAMCACHE_ASSIGN_OR_RETURN(const int64_t last, count(PageStatement::kLastPosition, 0));
    if (first >= 0 && last - first + 1 == page.matched) dense_from = first;
  }
  // The rank of the first image at or after `position` among the matching images.
  auto rank_of = [&](int64_t position) -> Result<int64_t> {
    if (dense_from) return std::clamp<int64_t>(position - *dense_from, 0, page.matched);
    return count(PageStatement::kCountBefore, position);
  };
  const int64_t fetch = static_cast<int64_t>(query.limit) + 1;  // one more: is there a next page?
  switch (query.from) {
    case ImagePageQuery::From::kOffset: {
      if (dense_from) {
        SAMCACHE_ASSIGN_OR_RETURN(
            page.images,
            rows(PageStatement::kAfter, *dense_from + std::min(query.offset, page.matched) - 1, fetch));
      } else {
        SAMCACHE_ASSIGN_OR_RETURN(page.images, rows(PageStatement::kOffset, query.offset, fetch));
      }
      page.first_index = query.offset;
      page.more_before = query.offset > 0 && page.matched > 0;
      page.more_after = page.images.size() > query.limit;
      if (page.more_after) page.images.pop_back();
      break;
    }
    case ImagePageQuery::From::kAfter: {
      SAMCACHE_ASSIGN_OR_RETURN(page.images, rows(PageStatement::kAfter, query.position, fetch));
      page.more_after = page.images.size() > query.limit;
      if (page.more_after) page.images.pop_back();
      const int64_t first = page.images.empty() ? query.position + 1 : page.images.front().image.position;
      SAMCACHE_ASSIGN_OR_RETURN(page.first_index, rank_of(first));
      page.more_before = page.first_index > 0;
      break;
    }
    case ImagePageQuery::From::kBefore: {
      SAMCACHE_ASSIGN_OR_RETURN(page.images, rows(PageStatement::kBefore, query.position, fetch));
      page.more_before = page.images.size() > query.limit;
      if (page.more_before) page.images.pop_back();
      std::reverse(page.images.begin(), page.images.end());
      if (page.images.empty()) {
        page.first_index = 0;
      } else {
        SAMCACHE_ASSIGN_OR_RETURN(page.first_index, rank_of(page.images.front().image.position));
      }
      page.more_after = page.first_index + static_cast<int64_t>(page.images.size()) < page.matched;
      break;
    }
  }
  // Counters and rows are read one after the other: under concurrent uploads `matched` may lag.
  if (!page.images.empty()) {
    page.matched = std::max(page.matched, page.first_index + static_cast<int64_t>(page.images.size()));
  }
  return page;
}

}  // namespace samcache::catalog_internal
