#include "http/ids.h"

namespace samcache {

bool IsId(std::string_view text) {
  if (text.size() != 16) return false;
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string ShortPrefix(std::string_view text, size_t max_chars) {
  size_t chars = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    // A character starts at every byte that is not a UTF-8 continuation byte.
    if ((static_cast<unsigned char>(text[i]) & 0xC0) == 0x80) continue;
    if (chars == max_chars) return std::string(text.substr(0, i)) + "…";
    ++chars;
  }
  return std::string(text);
}

Status CheckId(std::string_view id, std::string_view kind) {
  if (IsId(id)) return Status::Ok();
  return Status::NotFound("no " + std::string(kind) + " with id '" + ShortPrefix(id) + "'");
}

}  // namespace samcache
