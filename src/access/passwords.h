// Passwords for the page's login: Argon2id (libargon2), a memory-hard hash, in its encoded
// form ($argon2id$v=19$m=...,t=...,p=...$salt$hash) so the parameters travel with it.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace samcache {

// InvalidArgument for a password under 8 or over 256 bytes.
Status CheckPasswordRules(std::string_view password);
// A fresh salt each call. 19 MiB and two passes (OWASP's minimum for Argon2id): about 30 ms
// on one core, so a login costs a little and a guessing attack a lot.
Result<std::string> HashPassword(std::string_view password);
// False for a wrong password and for an empty or malformed `encoded`.
bool VerifyPassword(const std::string& encoded, std::string_view password);

}  // namespace samcache
