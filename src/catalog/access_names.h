// Roles and token kinds as text: how the catalog stores them and how replies and requests
// name them. Parse* accept exactly the names *Name returns.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "catalog/records.h"

namespace samcache {

// "viewer", "annotator", "admin".
std::string RoleName(Role role);
std::optional<Role> ParseRole(std::string_view name);

// "api", "session", "login".
std::string TokenKindName(TokenKind kind);
std::optional<TokenKind> ParseTokenKind(std::string_view name);

}  // namespace samcache
