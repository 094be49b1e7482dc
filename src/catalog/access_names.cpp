// Roles and token kinds as text (access_names.h).
#include "catalog/access_names.h"

namespace samcache {

std::string RoleName(Role role) {
  switch (role) {
    case Role::kViewer:
      return "viewer";
    case Role::kAnnotator:
      return "annotator";
    case Role::kAdmin:
      return "admin";
  }
  return "viewer";  // unreachable: every enumerator is handled above
}

std::optional<Role> ParseRole(std::string_view name) {
  if (name == "viewer") return Role::kViewer;
  if (name == "annotator") return Role::kAnnotator;
  if (name == "admin") return Role::kAdmin;
  return std::nullopt;
}

std::string TokenKindName(TokenKind kind) {
  switch (kind) {
    case TokenKind::kApi:
      return "api";
    case TokenKind::kSession:
      return "session";
    case TokenKind::kLogin:
      return "login";
  }
  return "api";  // unreachable: every enumerator is handled above
}

std::optional<TokenKind> ParseTokenKind(std::string_view name) {
  if (name == "api") return TokenKind::kApi;
  if (name == "session") return TokenKind::kSession;
  if (name == "login") return TokenKind::kLogin;
  return std::nullopt;
}

}  // namespace samcache
