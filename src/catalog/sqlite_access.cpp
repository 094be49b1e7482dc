// SQLite backend: projects, users, memberships, tokens and embedding claims (see
// sqlite_catalog.h and access_catalog.h).
#include <algorithm>
#include <cstdio>
#include <unordered_set>

#include "catalog/access_names.h"
#include "catalog/catalog_rows.h"
#include "catalog/sqlite_catalog.h"

namespace samcache::catalog_internal::sqlite {
namespace {

// Hashes per statement of AddClaims and FilterClaimed: a prewarm batch of a few thousand
// takes a few statements, each passing its hashes as one JSON array (json_each).
constexpr size_t kClaimChunk = 500;

// `values` as a JSON array of strings.
std::string JsonArray(const std::vector<std::string>& values, size_t begin, size_t end) {
  std::string out = "[";
  for (size_t i = begin; i < end; ++i) {
    if (i > begin) out += ',';
    out += '"';
    for (const char ch : values[i]) {
      const auto c = static_cast<unsigned char>(ch);
      if (c == '"' || c == '\\') {
        out += '\\';
        out += ch;
      } else if (c < 0x20) {
        char escaped[8];
        std::snprintf(escaped, sizeof escaped, "\\u%04x", c);
        out += escaped;
      } else {
        out += ch;
      }
    }
    out += '"';
  }
  out += ']';
  return out;
}

}  // namespace

// ---- Projects ------------------------------------------------------------------------------

Status SqliteCatalog::CreateProject(const ProjectRecord& p) {
  std::lock_guard lock(mu_);
  SAMCACHE_ASSIGN_OR_RETURN(Query q, conn_.Prepare("INSERT INTO projects (" SAMCACHE_PROJECT_COLUMNS
                                                   ") VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING"));
  SAMCACHE_RETURN_IF_ERROR(q.Bind(p.id).Bind(p.name).Bind(p.created_at).Run());
  if (conn_.Changes() == 0) return Status::Conflict("a project named '" + p.name + "' exists already");
  return Status::Ok();
}

Result<std::optional<ProjectRecord>> SqliteCatalog::FindProject(const std::string& id_or_name) {
  std::lock_guard lock(mu_);
  SAMCACHE_ASSIGN_OR_RETURN(
      Query q, conn_.Prepare("SELECT " SAMCACHE_PROJECT_COLUMNS " FROM projects WHERE id = ? OR name = ? "
                             "ORDER BY (id = ?) DESC LIMIT 1"));
  return q.Bind(id_or_name).Bind(id_or_name).Bind(id_or_name).First(ReadProject);
}

Result<std::vector<ProjectRecord>> SqliteCatalog::ListProjects() {
  std::lock_guard lock(mu_);
  SAMCACHE_ASSIGN_OR_RETURN(Query q,
                            conn_.Prepare("SELECT " SAMCACHE_PROJECT_COLUMNS " FROM projects ORDER BY name"));
  return q.Collect(ReadProject);
}

Status SqliteCatalog::DeleteProject(const std::string& id) {
  std::lock_guard lock(mu_);
  return InWriteTransaction([&]() -> Status {
    if (id == kDefaultProjectId) return Status::Conflict("the default project cannot be deleted");
    {
      SAMCACHE_ASSIGN_OR_RETURN(Query q, conn_.Prepare("SELECT 1 FROM projects WHERE id = ?"));
      SAMCACHE_ASSIGN_OR_RETURN(const bool found, q.Bind(id).Step());
      if (!found) return Status::NotFound("no project with id '" + id + "'");
    }
    {
      SAMCACHE_ASSIGN_OR_RETURN(Query q,
                                conn_.Prepare("SELECT 1 FROM datasets WHERE project_id = ? LIMIT 1"));
      SAMCACHE_ASSIGN_OR_RETURN(const bool has_datasets, q.Bind(id).Step());
      if (has_datasets) return Status::Conflict("the project still has datasets");
    }
    for (const char* sql :
         {"DELETE FROM project_members WHERE project_id = ?",
          "DELETE FROM embedding_claims WHERE project_id = ?", "DELETE FROM projects WHERE id = ?"}) {
      SAMCACHE_ASSIGN_OR_RETURN(Query q, conn_.Prepare(sql));
      SAMCACHE_RETURN_IF_ERROR(q.Bind(id).Run());
    }
    return Status::Ok();
  });
}

// ---- Users ---------------------------------------------------------------------------------

Status SqliteCatalog::CreateUser(const UserRecord& u) {
  std::lock_guard lock(mu_);
  SAMCACHE_ASSIGN_OR_RETURN(Query q, conn_.Prepare("INSERT INTO users (" SAMCACHE_USER_COLUMNS
                                                   ") VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING"));
  SAMCACHE_RETURN_IF_ERROR(
      q.Bind(u.id).Bind(u.name).Bind(RoleName(u.role)).Bind(u.password_hash).Bind(u.created_at).Run());
  if (conn_.Changes() == 0) return Status::Conflict("a user named '" + u.name + "' exists already");
  return Status::Ok();
}

Result<std::optional<UserRecord>> SqliteCatalog::FindUser(const std::string& id_or_name) {
  std::lock_guard lock(mu_);
  SAMCACHE_ASSIGN_OR_RETURN(
      Query q, conn_.Prepare("SELECT " SAMCACHE_USER_COLUMNS " FROM users WHERE id = ? OR name = ? "
                             "ORDER BY (id = ?) DESC LIMIT 1"));
  return q.Bind(id_or_name).Bind(id_or_name).Bind(id_or_name).First(ReadUser);
}

Result<std::vector<UserRecord>> SqliteCatalog::ListUsers() {
  std::lock_guard lock(mu_);
  SAMCACHE_ASSIGN_OR_RETURN(Query q,
                            conn_.Prepare("SELECT " SAMCACHE_USER_COLUMNS " FROM users ORDER BY name"));
  return q.Collect(ReadUser);
}

Result<int64_t> SqliteCatalog::CountUsers() {
  std::lock_guard lock(mu_);
  SAMCACHE_ASSIGN_OR_RETURN(Query q, conn_.Prepare("SELECT COUNT(*) FROM users"));
  SAMCACHE_RETURN_IF_ERROR(q.Step());
  return q.Int(0);
}

Status SqliteCatalog::UpdateUser(const UserRecord& u) {
  std::lock_guard lock(mu_);
  SAMCACHE_ASSIGN_OR_RETURN(Query q,
                            conn_.Prepare("UPDATE users SET role = ?, password_hash = ? WHERE id = ?"));
  SAMCACHE_RETURN_IF_ERROR(q.Bind(RoleName(u.role)).Bind(u.password_hash).Bind(u.id).Run());
  if (conn_.Changes() == 0) return Status::NotFound("no user with id '" + u.id + "'");
  return Status::Ok();
}

Status SqliteCatalog::DeleteUser(const std::string& id) {
  std::lock_guard lock(mu_);
  return InWriteTransaction([&]() -> Status {
    for (const char* sql : {"DELETE FROM project_members WHERE user_id = ?",
                            "DELETE FROM tokens WHERE user_id = ?", "DELETE FROM users WHERE id = ?"}) {
      SAMCACHE_ASSIGN_OR_RETURN(Query q, conn_.Prepare(sql));
      SAMCACHE_RETURN_IF_ERROR(q.Bind(id).Run());
    }
    if (conn_.Changes() == 0) return Status::NotFound("no user with id '" + id + "'");
    return Status::Ok();
  });
}

// ---- Memberships ---------------------------------------------------------------------------

Status SqliteCatalog::SetMembership(const MembershipRecord& m) {
  std::lock_guard lock(mu_);
  return InWriteTransaction([&]() -> Status {
    {
      SAMCACHE_ASSIGN_OR_RETURN(Query q, conn_.Prepare("SELECT 1 FROM projects WHERE id = ?"));
      SAMCACHE_ASSIGN_OR_RETURN(const bool found, q.Bind(m.project_id).Step());
      if (!found) return Status::NotFound("no project with id '" + m.project_id + "'");
    }
    {
      SAMCACHE_ASSIGN_OR_RETURN(Query q, conn_.Prepare("SELECT 1 FROM users WHERE id = ?"));
      SAMCACHE_ASSIGN_OR_RETURN(const bool found, q.Bind(m.user_id).Step());
      if (!found) return Status::NotFound("no user with id '" + m.user_id + "'");
    }
    SAMCACHE_ASSIGN_OR_RETURN(
        Query q,
        conn_.Prepare("INSERT INTO project_members (" SAMCACHE_MEMBERSHIP_COLUMNS ") VALUES (?, ?, ?) "
                      "ON CONFLICT (project_id, user_id) DO UPDATE SET role = excluded.role"));
    return q.Bind(m.project_id).Bind(m.user_id).Bind(RoleName(m.role)).Run();
  });
}

Status SqliteCatalog::RemoveMembership(const std::string& project_id, const std::string& user_id) {
  std::lock_guard lock(mu_);
  SAMCACHE_ASSIGN_OR_RETURN(
      Query q, conn_.Prepare("DELETE FROM project_members WHERE project_id = ? AND user_id = ?"));
  SAMCACHE_RETURN_IF_ERROR(q.Bind(project_id).Bind(user_id).Run());
  if (conn_.Changes() == 0) return Status::NotFound("the user is not a member of the project");
  return Status::Ok();
}

Result<std::vector<MembershipRecord>> SqliteCatalog::ListMemberships(const std::string& user_id,
                                                                     const std::string& project_id) {
  std::lock_guard lock(mu_);
  SAMCACHE_ASSIGN_OR_RETURN(Query q,
                            conn_.Prepare("SELECT " SAMCACHE_MEMBERSHIP_COLUMNS
                                          " FROM project_members WHERE (? = '' OR user_id = ?) "
                                          "AND (? = '' OR project_id = ?) ORDER BY project_id, user_id"));
  return q.Bind(user_id).Bind(user_id).Bind(project_id).Bind(project_id).Collect(ReadMembership);
}

// ---- Tokens --------------------------------------------------------------------------------

Status SqliteCatalog::CreateToken(const TokenRecord& t) {
  std::lock_guard lock(mu_);
  return InWriteTransaction([&]() -> Status {
    {
      SAMCACHE_ASSIGN_OR_RETURN(Query q, conn_.Prepare("SELECT 1 FROM users WHERE id = ?"));
      SAMCACHE_ASSIGN_OR_RETURN(const bool found, q.Bind(t.user_id).Step());
      if (!found) return Status::NotFound("no user with id '" + t.user_id + "'");
    }
    SAMCACHE_ASSIGN_OR_RETURN(Query q, conn_.Prepare("INSERT INTO tokens (" SAMCACHE_TOKEN_COLUMNS
                                                     ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
    return q.Bind(t.id)
        .Bind(t.user_id)
        .Bind(t.name)
        .Bind(TokenKindName(t.kind))
        .Bind(t.hash)
        .Bind(t.created_at)
        .Bind(t.last_used_at)
        .Bind(t.expires_at)
        .Bind(t.revoked_at)
        .Bind(t.parent_id)
        .Run();
  });
}

Result<std::optional<TokenRecord>> SqliteCatalog::FindTokenByHash(const std::string& hash) {
  std::lock_guard lock(mu_);
  SAMCACHE_ASSIGN_OR_RETURN(Query q,
                            conn_.Prepare("SELECT " SAMCACHE_TOKEN_COLUMNS " FROM tokens WHERE hash = ?"));
  return q.Bind(hash).First(ReadToken);
}

Result<std::optional<TokenRecord>> SqliteCatalog::GetToken(const std::string& id) {
  std::lock_guard lock(mu_);
  SAMCACHE_ASSIGN_OR_RETURN(Query q,
                            conn_.Prepare("SELECT " SAMCACHE_TOKEN_COLUMNS " FROM tokens WHERE id = ?"));
  return q.Bind(id).First(ReadToken);
}

Result<std::vector<TokenRecord>> SqliteCatalog::ListTokens(const std::string& user_id, TokenKind kind) {
  std::lock_guard lock(mu_);
  SAMCACHE_ASSIGN_OR_RETURN(Query q, conn_.Prepare("SELECT " SAMCACHE_TOKEN_COLUMNS
                                                   " FROM tokens WHERE (? = '' OR user_id = ?) AND kind = ? "
                                                   "ORDER BY created_at DESC, rowid DESC"));
  return q.Bind(user_id).Bind(user_id).Bind(TokenKindName(kind)).Collect(ReadToken);
}

Result<bool> SqliteCatalog::RevokeToken(const std::string& id, const std::string& revoked_at) {
  std::lock_guard lock(mu_);
  return InWriteTransaction([&]() -> Result<bool> {
    {
      SAMCACHE_ASSIGN_OR_RETURN(
          Query q, conn_.Prepare("UPDATE tokens SET revoked_at = ? WHERE parent_id = ? AND revoked_at = ''"));
      SAMCACHE_RETURN_IF_ERROR(q.Bind(revoked_at).Bind(id).Run());
    }
    {
      SAMCACHE_ASSIGN_OR_RETURN(
          Query q, conn_.Prepare("UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at = ''"));
      SAMCACHE_RETURN_IF_ERROR(q.Bind(revoked_at).Bind(id).Run());
      if (conn_.Changes() > 0) return true;
    }
    SAMCACHE_ASSIGN_OR_RETURN(Query q, conn_.Prepare("SELECT 1 FROM tokens WHERE id = ?"));
    SAMCACHE_ASSIGN_OR_RETURN(const bool found, q.Bind(id).Step());
    if (!found) return Status::NotFound("no token with id '" + id + "'");
    return false;
  });
}

Status SqliteCatalog::TouchToken(const std::string& id, const std::string& last_used_at) {
  std::lock_guard lock(mu_);
  SAMCACHE_ASSIGN_OR_RETURN(Query q, conn_.Prepare("UPDATE tokens SET last_used_at = ? WHERE id = ?"));
  SAMCACHE_RETURN_IF_ERROR(q.Bind(last_used_at).Bind(id).Run());
  if (conn_.Changes() == 0) return Status::NotFound("no token with id '" + id + "'");
  return Status::Ok();
}

Result<int64_t> SqliteCatalog::PurgeTokens(TokenKind kind, const std::string& before) {
  std::lock_guard lock(mu_);
  SAMCACHE_ASSIGN_OR_RETURN(
      Query q, conn_.Prepare("DELETE FROM tokens WHERE kind = ? AND ((expires_at <> '' AND expires_at < ?) "
                             "OR (revoked_at <> '' AND revoked_at < ?))"));
  SAMCACHE_RETURN_IF_ERROR(q.Bind(TokenKindName(kind)).Bind(before).Bind(before).Run());
  return conn_.Changes();
}

// ---- Embedding claims ----------------------------------------------------------------------

Status SqliteCatalog::AddClaims(const std::string& project_id, const std::string& model_id,
                                const std::vector<std::string>& pixel_hashes) {
  std::lock_guard lock(mu_);
  return InWriteTransaction([&]() -> Status {
    for (size_t begin = 0; begin < pixel_hashes.size(); begin += kClaimChunk) {
      const size_t end = std::min(pixel_hashes.size(), begin + kClaimChunk);
      const std::string chunk = JsonArray(pixel_hashes, begin, end);
      // The pictures this claim makes newly claimed for the model (not yet by it, nor by '*'):
      // the images showing them in the project's datasets count as claimed from now on.
      std::vector<std::string> fresh;
      {
        SAMCACHE_ASSIGN_OR_RETURN(
            Query q, conn_.Prepare("SELECT DISTINCT value FROM json_each(?1) WHERE NOT EXISTS (SELECT 1 FROM "
                                   "embedding_claims c WHERE c.project_id = ?2 AND c.pixel_hash = value "
                                   "AND c.model_id IN (?3, '*'))"));
        SAMCACHE_ASSIGN_OR_RETURN(fresh,
                                  q.Bind(chunk).Bind(project_id).Bind(model_id).Collect(ReadFirstText));
      }
      // "WHERE true" tells the parser that ON CONFLICT is the upsert clause, not a join's.
      SAMCACHE_ASSIGN_OR_RETURN(
          Query q, conn_.Prepare("INSERT INTO embedding_claims (project_id, model_id, pixel_hash) "
                                 "SELECT ?, ?, value FROM json_each(?) WHERE true ON CONFLICT DO NOTHING"));
      SAMCACHE_RETURN_IF_ERROR(q.Bind(project_id).Bind(model_id).Bind(chunk).Run());
      if (fresh.empty()) continue;
      SAMCACHE_ASSIGN_OR_RETURN(
          Query count,
          conn_.Prepare(
              "INSERT INTO dataset_counts (dataset_id, name, value) "
              "SELECT i.dataset_id, ?1, COUNT(*) FROM images i JOIN datasets d ON d.id = i.dataset_id "
              "WHERE i.pixel_hash IN (SELECT value FROM json_each(?2)) AND d.project_id = ?3 "
              "GROUP BY i.dataset_id "
              "ON CONFLICT (dataset_id, name) DO UPDATE SET value = value + excluded.value"));
      SAMCACHE_RETURN_IF_ERROR(
          count.Bind("claimed:" + model_id).Bind(JsonArray(fresh, 0, fresh.size())).Bind(project_id).Run());
    }
    return Status::Ok();
  });
}

Result<std::vector<std::string>> SqliteCatalog::FilterClaimed(const std::string& project_id,
                                                              const std::string& model_id,
                                                              const std::vector<std::string>& pixel_hashes) {
  std::lock_guard lock(mu_);
  std::unordered_set<std::string> claimed;
  for (size_t begin = 0; begin < pixel_hashes.size(); begin += kClaimChunk) {
    const size_t end = std::min(pixel_hashes.size(), begin + kClaimChunk);
    SAMCACHE_ASSIGN_OR_RETURN(
        Query q,
        conn_.Prepare("SELECT DISTINCT pixel_hash FROM embedding_claims WHERE project_id = ? "
                      "AND model_id IN (?, '*') AND pixel_hash IN (SELECT value FROM json_each(?))"));
    SAMCACHE_ASSIGN_OR_RETURN(
        std::vector<std::string> found,
        q.Bind(project_id).Bind(model_id).Bind(JsonArray(pixel_hashes, begin, end)).Collect(ReadFirstText));
    claimed.insert(found.begin(), found.end());
  }
  std::vector<std::string> out;  // in the caller's order
  for (const std::string& hash : pixel_hashes) {
    if (claimed.count(hash) > 0) out.push_back(hash);
  }
  return out;
}

Result<int64_t> SqliteCatalog::CountClaims(const std::string& project_id, const std::string& model_id) {
  std::lock_guard lock(mu_);
  SAMCACHE_ASSIGN_OR_RETURN(Query q, conn_.Prepare("SELECT COUNT(DISTINCT pixel_hash) FROM embedding_claims "
                                                   "WHERE project_id = ? AND model_id IN (?, '*')"));
  SAMCACHE_RETURN_IF_ERROR(q.Bind(project_id).Bind(model_id).Step());
  return q.Int(0);
}

Result<std::vector<std::pair<std::string, std::string>>> SqliteCatalog::ListClaims(
    const std::string& model_id) {
  std::lock_guard lock(mu_);
  SAMCACHE_ASSIGN_OR_RETURN(Query q,
                            conn_.Prepare("SELECT DISTINCT project_id, pixel_hash FROM embedding_claims "
                                          "WHERE model_id IN (?, '*') ORDER BY pixel_hash, project_id"));
  return q.Bind(model_id).Collect(ReadTextPair);
}

}  // namespace samcache::catalog_internal::sqlite
