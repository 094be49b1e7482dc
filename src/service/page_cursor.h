// The opaque `cursor` of a paged listing (docs/API.md): a direction and a position in upload
// order, signed with the catalog's cursor key (ImagePages::CursorKey, shared by every instance)
// over the listing it belongs to (dataset, filter, q). A cursor edited, cut, or taken from
// another dataset's or another filter's listing fails the signature: it never reaches rows
// its listing would not show.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace samcache {

struct PageCursor {
  enum class Direction { kAfter, kBefore };
  Direction direction = Direction::kAfter;
  int64_t position = 0;  // exclusive
  // A listing keyed by something else than a position (datasets: created_at and id); letters,
  // digits and ":.-" only.
  std::string key;
};

// Longest cursor accepted (bytes); ours are under 60.
inline constexpr size_t kMaxCursorBytes = 128;

// `listing` names what the cursor pages through, e.g. "images/<dataset>/<filter>/<q>".
std::string EncodeCursor(const PageCursor& cursor, std::string_view listing, std::string_view key);
// InvalidArgument("cursor: ...") for a malformed, oversized or forged cursor.
Result<PageCursor> DecodeCursor(std::string_view text, std::string_view listing, std::string_view key);

// HMAC-SHA256 as lowercase hex.
std::string HmacSha256Hex(std::string_view key, std::string_view message);

}  // namespace samcache
