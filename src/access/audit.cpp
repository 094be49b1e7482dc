#include "access/audit.h"

#include <spdlog/spdlog.h>

namespace samcache {

namespace {
// Names come from clients: no line breaks or escapes in the log, and a bounded length.
std::string Printable(std::string_view text) {
  std::string out;
  for (char c : text.substr(0, 300))
    out.push_back(static_cast<unsigned char>(c) < 0x20 || c == 0x7f ? '?' : c);
  return out;
}
}  // namespace

void Audit(std::string_view who, std::string_view action, std::string_view target) {
  spdlog::info("[AUDIT] who={} action={} {}", Printable(who), action, Printable(target));
}

}  // namespace samcache
