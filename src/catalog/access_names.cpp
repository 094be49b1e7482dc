#include "catalog/access_names.h"

namespace samcache {

std::string_view RoleName(Role role) {
  switch (role) {
    case Role::kViewer:
      return "viewer";
    case Role::kAnnotator:
      return "annotator";
    case Role::kAdmin:
      return "admin";
  }
  return "viewer";
}

std::optional<Role> ParseRole(std::string_view name) {
  for (Role role : {Role::kViewer, Role::kAnnotator, Role::kAdmin}) {
    if (RoleName(role) == name) return role;
  }
  return std::nullopt;
}

std::string_view TokenKindName(TokenKind kind) {
  switch (kind) {
    case TokenKind::kApi:
      return "api";
    case TokenKind::kSession:
      return "session";
    case TokenKind::kLogin:
      return "login";
  }
  return "api";
}

std::optional<TokenKind> ParseTokenKind(std::string_view name) {
  for (TokenKind kind : {TokenKind::kApi, TokenKind::kSession, TokenKind::kLogin}) {
    if (TokenKindName(kind) == name) return kind;
  }
  return std::nullopt;
}

}  // namespace samcache
