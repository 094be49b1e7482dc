#include "http/page_params.h"

#include <charconv>
#include <vector>

#include "catalog/image_pages.h"
#include "http/ids.h"
#include "service/page_cursor.h"

namespace samcache {
namespace {

// True for well-formed UTF-8 (no overlong forms, surrogates or code points past U+10FFFF):
// a search string reaches the database, which refuses anything else.
bool IsUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t extra = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if (c >= 0xC2 && c <= 0xDF) {
      extra = 1, cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      extra = 2, cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      extra = 3, cp = c & 0x07;
    } else {
      return false;
    }
    if (i + extra >= s.size()) return false;
    for (size_t k = 1; k <= extra; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((extra == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
        (extra == 3 && (cp < 0x10000 || cp > 0x10FFFF))) {
      return false;
    }
    i += extra + 1;
  }
  return true;
}

}  // namespace

Result<int64_t> Int64Param(const Request& req, const std::string& name, int64_t min, int64_t max,
                           int64_t fallback) {
  if (!req.has_query(name)) return fallback;
  const std::string text = req.query_value(name);
  int64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || text.size() > 20 || error != std::errc() || end != text.data() + text.size() ||
      value < min || value > max) {
    return Status::InvalidArgument(name + ": must be an integer from " + std::to_string(min) + " to " +
                                   std::to_string(max));
  }
  return value;
}

Result<std::string> CursorParam(const Request& req) {
  if (!req.has_query("cursor")) return std::string();
  std::string cursor = req.query_value("cursor");
  if (cursor.empty()) return Status::InvalidArgument("cursor: empty; leave it out for the first page");
  if (cursor.size() > kMaxCursorBytes) return Status::InvalidArgument("cursor: longer than 128 bytes");
  return cursor;
}

Result<DatasetPageRequest> DatasetPageParams(const Request& req) {
  DatasetPageRequest out;
  SAMCACHE_ASSIGN_OR_RETURN(const int64_t limit,
                            Int64Param(req, "limit", 1, static_cast<int64_t>(kMaxImagePageLimit),
                                       static_cast<int64_t>(kDefaultDatasetPageLimit)));
  out.limit = static_cast<size_t>(limit);
  if (req.has_query("offset")) {
    SAMCACHE_ASSIGN_OR_RETURN(out.offset, Int64Param(req, "offset", 0, kMaxDatasetPageOffset, 0));
  }
  SAMCACHE_ASSIGN_OR_RETURN(out.cursor, CursorParam(req));
  std::vector<std::string> starts;
  for (const char* name : {"offset", "cursor", "after", "before"}) {
    if (req.has_query(name)) starts.push_back(name);
  }
  if (starts.size() > 1) {
    return Status::InvalidArgument(starts[0] + ": not together with " + starts[1] +
                                   "; give one of offset, cursor, after and before");
  }
  for (const char* name : {"after", "before"}) {
    if (!req.has_query(name)) continue;
    const std::string id = req.query_value(name);
    SAMCACHE_RETURN_IF_ERROR(CheckId(id, "image"));  // as an unknown image: 404
    (std::string(name) == "after" ? out.after_image : out.before_image) = id;
  }
  if (req.has_query("filter")) {
    SAMCACHE_ASSIGN_OR_RETURN(out.filter, ParseImageFilter(req.query_value("filter")));
  }
  out.q = req.query_value("q");
  if (out.q.size() > kMaxImagePageQueryBytes) return Status::InvalidArgument("q: longer than 256 bytes");
  if (!IsUtf8(out.q)) return Status::InvalidArgument("q: not valid UTF-8");
  return out;
}

}  // namespace samcache
