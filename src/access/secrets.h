// The secrets that stand for a user: API tokens, page sessions and one-time login links.
// A secret is 32 random bytes; the catalog keeps only its SHA-256, which is enough for a
// random value of that size (a password needs a slow hash, passwords.h; a token does not).
#pragma once

#include <string>
#include <string_view>

namespace samcache {

// "sc_" and 64 hex digits: recognisable in a leaked log or commit, and high-entropy.
std::string NewSecret();
// What the catalog stores for `secret`.
std::string SecretHash(std::string_view secret);
// True when `secret` has NewSecret's shape; anything else is refused before a lookup.
bool LooksLikeSecret(std::string_view secret);

}  // namespace samcache
