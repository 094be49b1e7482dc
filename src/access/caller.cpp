#include "access/caller.h"

#include "catalog/access_names.h"

namespace samcache {

Caller Caller::Everyone() {
  Caller caller;
  caller.role = Role::kAdmin;
  return caller;
}

std::optional<Role> Caller::RoleIn(const std::string& project_id) const {
  if (admin()) return Role::kAdmin;
  auto it = memberships.find(project_id);
  if (it == memberships.end()) return std::nullopt;
  return it->second;
}

std::string Caller::Who() const { return user_name.empty() ? std::string("(no accounts)") : user_name; }

Status CheckRole(const Caller& caller, const std::string& project_id, Role needed,
                 const std::string& not_found) {
  const std::optional<Role> role = caller.RoleIn(project_id);
  if (!role) return Status::NotFound(not_found);
  if (*role < needed) {
    return Status::PermissionDenied("your role in this project (" + std::string(RoleName(*role)) +
                                    ") does not allow this; it needs " + std::string(RoleName(needed)));
  }
  return Status::Ok();
}

}  // namespace samcache
