// The ids clients send (path parameters and JSON fields), checked by form before any lookup:
// a malformed id costs no query, and no reply ever carries more than a short prefix of what
// a client sent.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace samcache {

// Every id the server hands out (dataset, image, annotation, prewarm job, prediction) is
// common/crypto.h's RandomId(): exactly 16 lowercase hex digits.
bool IsId(std::string_view text);

// What a reply may show of client-supplied text: at most `max_chars` characters (cut at a
// UTF-8 character boundary), with "…" when cut.
std::string ShortPrefix(std::string_view text, size_t max_chars = 16);

// Ok for a well-formed id. Otherwise the answer an unknown id gets from the catalog,
// NotFound("no <kind> with id '<prefix>'"), so a malformed id and an unknown one look alike.
Status CheckId(std::string_view id, std::string_view kind);

}  // namespace samcache
