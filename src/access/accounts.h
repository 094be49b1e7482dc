// Users, projects, memberships and API tokens as an admin changes them, from the command line
// (samcache user|project|token) or the admin page: the rules (names, roles, the last admin)
// and the audit line of every change live here once.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "access/authenticator.h"
#include "catalog/access_catalog.h"
#include "common/status.h"

namespace samcache {

class Accounts {
 public:
  // Both must outlive this. `who` in each call names the acting user for the audit log.
  Accounts(AccessCatalog& catalog, Authenticator& authenticator);

  Result<UserRecord> AddUser(const std::string& who, const std::string& name, Role role,
                             const std::string& password);
  // By id or name. The last admin cannot be removed (nobody could manage accounts any more).
  Status RemoveUser(const std::string& who, const std::string& user);
  Status SetPassword(const std::string& who, const std::string& user, const std::string& password);
  // The last admin keeps its role (nobody could manage accounts any more).
  Status SetRole(const std::string& who, const std::string& user, Role role);
  Result<UserRecord> FindUser(const std::string& user);

  Result<ProjectRecord> AddProject(const std::string& who, const std::string& name);
  Status RemoveProject(const std::string& who, const std::string& project);
  Result<ProjectRecord> FindProject(const std::string& project);
  // Adds or changes a member (role kViewer or kAnnotator; nullopt: the user's own role, as
  // far as a membership goes); `remove` takes the user out.
  Status SetMember(const std::string& who, const std::string& project, const std::string& user,
                   std::optional<Role> role);
  Status RemoveMember(const std::string& who, const std::string& project, const std::string& user);

  Result<IssuedToken> CreateToken(const std::string& who, const std::string& user, const std::string& name,
                                  std::chrono::seconds lifetime);
  // A one-time login link's token for a user (the page exchanges it for a session).
  Result<IssuedToken> CreateLoginLink(const std::string& who, const std::string& user);
  Status RevokeToken(const std::string& who, const std::string& token_id);

 private:
  AccessCatalog& catalog_;
  Authenticator& authenticator_;
};

// Letters, digits and . _ @ - ; 1 to 64 characters.
Status CheckUserName(const std::string& name);
// 1 to 100 bytes of printable UTF-8 without control characters.
Status CheckProjectName(const std::string& name);

}  // namespace samcache
