// Who is asking: the user behind a request's token or session, with what it may do in
// which project. Every route decides with it; nothing else carries identity.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "catalog/records.h"
#include "common/status.h"

namespace samcache {

struct Caller {
  std::string user_id;
  std::string user_name;
  Role role = Role::kViewer;  // the user's own role; kAdmin sees and may do everything
  std::string token_id;       // the token or session the request came with
  TokenKind token_kind = TokenKind::kApi;
  std::map<std::string, Role> memberships;  // project id → role there

  // A server without accounts (--insecure-no-auth): an admin with no name.
  static Caller Everyone();

  bool admin() const { return role == Role::kAdmin; }
  // The role in a project; nullopt when the caller may not know it exists.
  std::optional<Role> RoleIn(const std::string& project_id) const;
  bool Sees(const std::string& project_id) const { return RoleIn(project_id).has_value(); }
  // The caller's name for the audit log.
  std::string Who() const;
};

// Ok when the caller has at least `needed` in the project. NotFound (with `not_found`, the
// message an unknown id gets) when it may not see the project at all, so that a refusal tells
// nothing an unknown id would not; PermissionDenied when it sees it but its role is too low.
Status CheckRole(const Caller& caller, const std::string& project_id, Role needed,
                 const std::string& not_found);

}  // namespace samcache
