// The audit trail: one log line per change of who may do what, and per creation, deletion or
// export of data — who, what, on what. The time is the log line's own.
#pragma once

#include <string>
#include <string_view>

namespace samcache {

// `[AUDIT] who=<who> action=<action> <target>`; `who` and `target` lose control characters.
void Audit(std::string_view who, std::string_view action, std::string_view target);

}  // namespace samcache
