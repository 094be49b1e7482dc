#include "access/secrets.h"

#include "common/crypto.h"

namespace samcache {

namespace {
constexpr std::string_view kPrefix = "sc_";
constexpr size_t kRandomBytes = 32;
}  // namespace

std::string NewSecret() { return std::string(kPrefix) + RandomHex(kRandomBytes); }

std::string SecretHash(std::string_view secret) { return Sha256Hex(secret); }

bool LooksLikeSecret(std::string_view secret) {
  if (secret.size() != kPrefix.size() + 2 * kRandomBytes || !secret.starts_with(kPrefix)) return false;
  for (char c : secret.substr(kPrefix.size())) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace samcache
