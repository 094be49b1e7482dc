#include "access/passwords.h"

#include <argon2.h>

#include "common/crypto.h"

namespace samcache {

namespace {
constexpr uint32_t kPasses = 2;
constexpr uint32_t kMemoryKiB = 19 * 1024;
constexpr uint32_t kLanes = 1;
constexpr size_t kSaltBytes = 16;
constexpr size_t kHashBytes = 32;
constexpr size_t kMinPassword = 8;
constexpr size_t kMaxPassword = 256;
}  // namespace

Status CheckPasswordRules(std::string_view password) {
  if (password.size() < kMinPassword)
    return Status::InvalidArgument("a password needs at least 8 characters");
  if (password.size() > kMaxPassword) return Status::InvalidArgument("a password may have at most 256 bytes");
  return Status::Ok();
}

Result<std::string> HashPassword(std::string_view password) {
  SAMCACHE_RETURN_IF_ERROR(CheckPasswordRules(password));
  const std::string salt = RandomHex(kSaltBytes);  // 128 random bits, as hex
  const size_t length = argon2_encodedlen(kPasses, kMemoryKiB, kLanes, static_cast<uint32_t>(salt.size()),
                                          kHashBytes, Argon2_id);
  std::string encoded(length, '\0');
  const int rc = argon2id_hash_encoded(kPasses, kMemoryKiB, kLanes, password.data(), password.size(),
                                       salt.data(), salt.size(), kHashBytes, encoded.data(), encoded.size());
  if (rc != ARGON2_OK) return Status::Internal(std::string("argon2: ") + argon2_error_message(rc));
  encoded.resize(encoded.find('\0') == std::string::npos ? encoded.size() : encoded.find('\0'));
  return encoded;
}

bool VerifyPassword(const std::string& encoded, std::string_view password) {
  if (encoded.empty() || password.size() > kMaxPassword) return false;
  return argon2id_verify(encoded.c_str(), password.data(), password.size()) == ARGON2_OK;
}

}  // namespace samcache
