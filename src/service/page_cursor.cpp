#include "service/page_cursor.h"

#include <charconv>

#include "common/crypto.h"

namespace samcache {
namespace {

constexpr size_t kMacHexChars = 32;  // 128 bits of the HMAC

std::string HexToBytes(std::string_view hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

std::string Mac(char direction, std::string_view body, std::string_view listing, std::string_view key) {
  std::string message = "samcache-cursor-v1\n";
  message += listing;
  message += '\n';
  message += direction;
  message += body;
  return HmacSha256Hex(key, message).substr(0, kMacHexChars);
}

Status Malformed() {
  return Status::InvalidArgument("cursor: malformed; use a next_cursor or prev_cursor as given");
}

}  // namespace

std::string HmacSha256Hex(std::string_view key, std::string_view message) {
  constexpr size_t kBlock = 64;
  std::string k(key);
  if (k.size() > kBlock) k = HexToBytes(Sha256Hex(k));
  k.resize(kBlock, '\0');
  std::string inner(kBlock, '\0');
  std::string outer(kBlock, '\0');
  for (size_t i = 0; i < kBlock; ++i) {
    inner[i] = static_cast<char>(k[i] ^ 0x36);
    outer[i] = static_cast<char>(k[i] ^ 0x5c);
  }
  inner.append(message);
  outer.append(HexToBytes(Sha256Hex(inner)));
  return Sha256Hex(outer);
}

std::string EncodeCursor(const PageCursor& cursor, std::string_view listing, std::string_view key) {
  const char direction = cursor.direction == PageCursor::Direction::kAfter ? 'a' : 'b';
  std::string body = std::to_string(cursor.position);
  if (!cursor.key.empty()) body += "~" + cursor.key;
  return std::string(1, direction) + body + "." + Mac(direction, body, listing, key);
}

Result<PageCursor> DecodeCursor(std::string_view text, std::string_view listing, std::string_view key) {
  if (text.size() > kMaxCursorBytes) return Status::InvalidArgument("cursor: longer than 128 bytes");
  const size_t dot = text.rfind('.');
  if (text.size() < 3 || dot == std::string_view::npos || dot < 2) return Malformed();
  const char direction = text[0];
  if (direction != 'a' && direction != 'b') return Malformed();
  const std::string_view body = text.substr(1, dot - 1);
  const std::string_view mac = text.substr(dot + 1);
  if (mac.size() != kMacHexChars) return Malformed();
  const size_t tilde = body.find('~');
  const std::string_view digits = body.substr(0, tilde);
  const std::string_view cursor_key = tilde == std::string_view::npos ? "" : body.substr(tilde + 1);
  if (digits.empty() || digits.size() > 19 || (digits.size() > 1 && digits[0] == '0')) return Malformed();
  for (const char c : digits) {
    if (c < '0' || c > '9') return Malformed();
  }
  for (const char c : cursor_key) {
    const bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == ':' ||
                    c == '.' || c == '-';
    if (!ok) return Malformed();
  }
  PageCursor out;
  const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), out.position);
  if (error != std::errc() || end != digits.data() + digits.size()) return Malformed();
  // Compared whole, without an early exit.
  const std::string expected = Mac(direction, body, listing, key);
  unsigned char diff = 0;
  for (size_t i = 0; i < kMacHexChars; ++i) diff |= static_cast<unsigned char>(expected[i] ^ mac[i]);
  if (diff != 0) {
    return Status::InvalidArgument(
        "cursor: not a cursor of this listing (another dataset, filter or q, or altered)");
  }
  out.direction = direction == 'a' ? PageCursor::Direction::kAfter : PageCursor::Direction::kBefore;
  out.key = std::string(cursor_key);
  return out;
}

}  // namespace samcache
