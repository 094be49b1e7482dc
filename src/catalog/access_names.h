// Roles and token kinds as text: in the catalog's rows, in JSON and on the command line.
#pragma once

#include <optional>
#include <string_view>

#include "catalog/records.h"

namespace samcache {

std::string_view RoleName(Role role);  // "viewer", "annotator", "admin"
std::optional<Role> ParseRole(std::string_view name);
std::string_view TokenKindName(TokenKind kind);  // "api", "session", "login"
std::optional<TokenKind> ParseTokenKind(std::string_view name);

}  // namespace samcache
