// Keeping the server's file paths out of what clients see: a message such as "cannot write
// /var/lib/samcache/tmp/x.tmp: No space left on device" tells a client where the data lives.
// Stores word their client-facing errors without paths (and log the full text); these are
// the tools for that and the last safety net at the HTTP edge.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace samcache {

// `text` with every absolute file path (a '/' at the start of a word, up to the next space,
// quote, ':' or ',') replaced by "<server path>". Endpoint paths ("/api/...", "/healthz")
// are kept: messages name them on purpose.
std::string WithoutServerPaths(std::string_view text);

// The last ": "-separated clause of an error message, where the file helpers put the system's
// reason ("No space left on device"); the whole message when it has none.
std::string_view ErrorReason(std::string_view message);

// A storage failure as a client may see it: logs `detailed` (with its paths) and returns a
// Status of the same code saying `what` and the system's reason, e.g. "the server could not
// write to its data folder: No space left on device".
Status ClientSafe(const Status& detailed, std::string_view what);

}  // namespace samcache
