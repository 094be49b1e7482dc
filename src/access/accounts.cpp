#include "access/accounts.h"

#include "access/audit.h"
#include "access/passwords.h"
#include "catalog/access_names.h"
#include "common/crypto.h"
#include "common/files.h"

namespace samcache {

namespace {

std::string Short(const std::string& text) { return text.substr(0, 64); }

}  // namespace

Status CheckUserName(const std::string& name) {
  if (name.empty() || name.size() > 64)
    return Status::InvalidArgument("a user name needs 1 to 64 characters");
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '_' || c == '@' || c == '-';
    if (!ok) return Status::InvalidArgument("a user name may hold only letters, digits and . _ @ -");
  }
  return Status::Ok();
}

Status CheckProjectName(const std::string& name) {
  if (name.empty() || name.size() > 100)
    return Status::InvalidArgument("a project name needs 1 to 100 bytes");
  for (char c : name) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
      return Status::InvalidArgument("a project name may not hold control characters");
  }
  return Status::Ok();
}

Accounts::Accounts(AccessCatalog& catalog, Authenticator& authenticator)
    : catalog_(catalog), authenticator_(authenticator) {}

Result<UserRecord> Accounts::FindUser(const std::string& user) {
  SAMCACHE_ASSIGN_OR_RETURN(std::optional<UserRecord> found, catalog_.FindUser(user));
  if (!found) return Status::NotFound("no user '" + Short(user) + "'");
  return *std::move(found);
}

Result<ProjectRecord> Accounts::FindProject(const std::string& project) {
  SAMCACHE_ASSIGN_OR_RETURN(std::optional<ProjectRecord> found, catalog_.FindProject(project));
  if (!found) return Status::NotFound("no project '" + Short(project) + "'");
  return *std::move(found);
}

Result<UserRecord> Accounts::AddUser(const std::string& who, const std::string& name, Role role,
                                     const std::string& password) {
  SAMCACHE_RETURN_IF_ERROR(CheckUserName(name));
  UserRecord user;
  user.id = RandomId();
  user.name = name;
  user.role = role;
  user.created_at = NowIso8601();
  if (!password.empty()) {
    SAMCACHE_ASSIGN_OR_RETURN(user.password_hash, HashPassword(password));
  }
  SAMCACHE_RETURN_IF_ERROR(catalog_.CreateUser(user));
  Audit(who, "user.add", name + " (" + std::string(RoleName(role)) + ")");
  return user;
}

Status Accounts::RemoveUser(const std::string& who, const std::string& user) {
  SAMCACHE_ASSIGN_OR_RETURN(const UserRecord found, FindUser(user));
  if (found.role == Role::kAdmin) {
    SAMCACHE_ASSIGN_OR_RETURN(const std::vector<UserRecord> users, catalog_.ListUsers());
    int admins = 0;
    for (const UserRecord& u : users) admins += u.role == Role::kAdmin ? 1 : 0;
    if (admins <= 1)
      return Status::Conflict("'" + found.name + "' is the last admin; add another admin first");
  }
  SAMCACHE_ASSIGN_OR_RETURN(const std::vector<TokenRecord> sessions,
                            catalog_.ListTokens(found.id, TokenKind::kSession));
  SAMCACHE_ASSIGN_OR_RETURN(const std::vector<TokenRecord> tokens,
                            catalog_.ListTokens(found.id, TokenKind::kApi));
  SAMCACHE_RETURN_IF_ERROR(catalog_.DeleteUser(found.id));
  for (const auto* list : {&sessions, &tokens}) {
    for (const TokenRecord& t : *list) authenticator_.Forget(t.id);
  }
  Audit(who, "user.remove", found.name);
  return Status::Ok();
}

Status Accounts::SetPassword(const std::string& who, const std::string& user, const std::string& password) {
  SAMCACHE_ASSIGN_OR_RETURN(UserRecord found, FindUser(user));
  SAMCACHE_ASSIGN_OR_RETURN(found.password_hash, HashPassword(password));
  SAMCACHE_RETURN_IF_ERROR(catalog_.UpdateUser(found));
  Audit(who, "user.password", found.name);
  return Status::Ok();
}

Status Accounts::SetRole(const std::string& who, const std::string& user, Role role) {
  SAMCACHE_ASSIGN_OR_RETURN(UserRecord found, FindUser(user));
  if (found.role == Role::kAdmin && role != Role::kAdmin) {
    SAMCACHE_ASSIGN_OR_RETURN(const std::vector<UserRecord> users, catalog_.ListUsers());
    int admins = 0;
    for (const UserRecord& u : users) admins += u.role == Role::kAdmin ? 1 : 0;
    if (admins <= 1)
      return Status::Conflict("'" + found.name + "' is the last admin; add another admin first");
  }
  found.role = role;
  SAMCACHE_RETURN_IF_ERROR(catalog_.UpdateUser(found));
  // Its callers' cached answers still carry the old role for up to half a second.
  Audit(who, "user.role", found.name + " (" + std::string(RoleName(role)) + ")");
  return Status::Ok();
}

Result<ProjectRecord> Accounts::AddProject(const std::string& who, const std::string& name) {
  SAMCACHE_RETURN_IF_ERROR(CheckProjectName(name));
  ProjectRecord project{RandomId(), name, NowIso8601()};
  SAMCACHE_RETURN_IF_ERROR(catalog_.CreateProject(project));
  Audit(who, "project.add", project.id + " " + name);
  return project;
}

Status Accounts::RemoveProject(const std::string& who, const std::string& project) {
  SAMCACHE_ASSIGN_OR_RETURN(const ProjectRecord found, FindProject(project));
  SAMCACHE_RETURN_IF_ERROR(catalog_.DeleteProject(found.id));
  Audit(who, "project.remove", found.id + " " + found.name);
  return Status::Ok();
}

Status Accounts::SetMember(const std::string& who, const std::string& project, const std::string& user,
                           std::optional<Role> role) {
  SAMCACHE_ASSIGN_OR_RETURN(const ProjectRecord p, FindProject(project));
  SAMCACHE_ASSIGN_OR_RETURN(const UserRecord u, FindUser(user));
  Role effective = role.value_or(u.role == Role::kAdmin ? Role::kAnnotator : u.role);
  if (effective == Role::kAdmin) return Status::InvalidArgument("a project role is viewer or annotator");
  SAMCACHE_RETURN_IF_ERROR(catalog_.SetMembership(MembershipRecord{p.id, u.id, effective}));
  Audit(who, "project.member", p.name + ": " + u.name + " as " + std::string(RoleName(effective)));
  return Status::Ok();
}

Status Accounts::RemoveMember(const std::string& who, const std::string& project, const std::string& user) {
  SAMCACHE_ASSIGN_OR_RETURN(const ProjectRecord p, FindProject(project));
  SAMCACHE_ASSIGN_OR_RETURN(const UserRecord u, FindUser(user));
  SAMCACHE_RETURN_IF_ERROR(catalog_.RemoveMembership(p.id, u.id));
  Audit(who, "project.member_remove", p.name + ": " + u.name);
  return Status::Ok();
}

Result<IssuedToken> Accounts::CreateToken(const std::string& who, const std::string& user,
                                          const std::string& name, std::chrono::seconds lifetime) {
  if (name.empty() || name.size() > 100) return Status::InvalidArgument("a token name needs 1 to 100 bytes");
  SAMCACHE_ASSIGN_OR_RETURN(const UserRecord u, FindUser(user));
  SAMCACHE_ASSIGN_OR_RETURN(IssuedToken issued, authenticator_.Issue(u.id, name, TokenKind::kApi, lifetime));
  Audit(who, "token.create", issued.record.id + " '" + name + "' for " + u.name);
  return issued;
}

Result<IssuedToken> Accounts::CreateLoginLink(const std::string& who, const std::string& user) {
  SAMCACHE_ASSIGN_OR_RETURN(const UserRecord u, FindUser(user));
  SAMCACHE_ASSIGN_OR_RETURN(IssuedToken issued, authenticator_.Issue(u.id, "login link", TokenKind::kLogin,
                                                                     std::chrono::hours(24)));
  Audit(who, "token.login_link", issued.record.id + " for " + u.name);
  return issued;
}

Status Accounts::RevokeToken(const std::string& who, const std::string& token_id) {
  SAMCACHE_ASSIGN_OR_RETURN(const std::optional<TokenRecord> token, catalog_.GetToken(token_id));
  if (!token) return Status::NotFound("no token '" + Short(token_id) + "'");
  SAMCACHE_RETURN_IF_ERROR(catalog_.RevokeToken(token->id, NowIso8601()));
  authenticator_.Forget(token->id);
  Audit(who, "token.revoke", token->id + " '" + token->name + "'");
  return Status::Ok();
}

}  // namespace samcache
