// PostgreSQL backend: projects, users, memberships, tokens and embedding claims (see
// postgres_catalog.h and access_catalog.h).
#include <algorithm>
#include <unordered_set>

#include "catalog/access_names.h"
#include "catalog/catalog_rows.h"
#include "catalog/page_sql.h"
#include "catalog/postgres_catalog.h"

namespace samcache::catalog_internal::postgres {
namespace {

// Hashes per statement of AddClaims and FilterClaimed: a prewarm batch of a few thousand
// takes a few statements, each passing its hashes as one array parameter.
constexpr size_t kClaimChunk = 1000;

std::vector<std::string> Slice(const std::vector<std::string>& values, size_t begin) {
  const size_t end = std::min(values.size(), begin + kClaimChunk);
  return {values.begin() + static_cast<std::ptrdiff_t>(begin),
          values.begin() + static_cast<std::ptrdiff_t>(end)};
}

}  // namespace

// ---- Projects ------------------------------------------------------------------------------

Status PostgresCatalog::CreateProject(const ProjectRecord& p) {
  return Run("create a project", [&](pqxx::connection& c) -> Status {
    pqxx::nontransaction tx(c);
    const pqxx::result r = tx.exec_params("INSERT INTO projects (" SAMCACHE_PROJECT_COLUMNS
                                          ") VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING",
                                          p.id, p.name, p.created_at);
    if (r.affected_rows() == 0) return Status::Conflict("a project named '" + p.name + "' exists already");
    return Status::Ok();
  });
}

Result<std::optional<ProjectRecord>> PostgresCatalog::FindProject(const std::string& id_or_name) {
  return Run("find a project", [&](pqxx::connection& c) -> Result<std::optional<ProjectRecord>> {
    pqxx::nontransaction tx(c);
    return First(
        tx.exec_params("SELECT " SAMCACHE_PROJECT_COLUMNS " FROM projects WHERE id = $1 OR name = $1 "
                       "ORDER BY (id = $1) DESC LIMIT 1",
                       id_or_name),
        ReadProject);
  });
}

Result<std::vector<ProjectRecord>> PostgresCatalog::ListProjects() {
  return Run("list projects", [&](pqxx::connection& c) -> Result<std::vector<ProjectRecord>> {
    pqxx::nontransaction tx(c);
    return Collect(tx.exec("SELECT " SAMCACHE_PROJECT_COLUMNS " FROM projects ORDER BY name"), ReadProject);
  });
}

Status PostgresCatalog::DeleteProject(const std::string& id) {
  return Run("delete a project", [&](pqxx::connection& c) -> Status {
    if (id == kDefaultProjectId) return Status::Conflict("the default project cannot be deleted");
    pqxx::work tx(c);
    // Locked first: a dataset being created in it holds a key share lock until it commits.
    if (tx.exec_params("SELECT 1 FROM projects WHERE id = $1 FOR UPDATE", id).empty()) {
      return Status::NotFound("no project with id '" + id + "'");
    }
    if (!tx.exec_params("SELECT 1 FROM datasets WHERE project_id = $1 LIMIT 1", id).empty()) {
      return Status::Conflict("the project still has datasets");
    }
    tx.exec_params("DELETE FROM project_members WHERE project_id = $1", id);
    tx.exec_params("DELETE FROM embedding_claims WHERE project_id = $1", id);
    tx.exec_params("DELETE FROM projects WHERE id = $1", id);
    tx.commit();
    return Status::Ok();
  });
}

// ---- Users ---------------------------------------------------------------------------------

Status PostgresCatalog::CreateUser(const UserRecord& u) {
  return Run("create a user", [&](pqxx::connection& c) -> Status {
    pqxx::nontransaction tx(c);
    const pqxx::result r = tx.exec_params("INSERT INTO users (" SAMCACHE_USER_COLUMNS
                                          ") VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name) DO NOTHING",
                                          u.id, u.name, RoleName(u.role), u.password_hash, u.created_at);
    if (r.affected_rows() == 0) return Status::Conflict("a user named '" + u.name + "' exists already");
    return Status::Ok();
  });
}

Result<std::optional<UserRecord>> PostgresCatalog::FindUser(const std::string& id_or_name) {
  return Run("find a user", [&](pqxx::connection& c) -> Result<std::optional<UserRecord>> {
    pqxx::nontransaction tx(c);
    return First(tx.exec_params("SELECT " SAMCACHE_USER_COLUMNS " FROM users WHERE id = $1 OR name = $1 "
                                "ORDER BY (id = $1) DESC LIMIT 1",
                                id_or_name),
                 ReadUser);
  });
}

Result<std::vector<UserRecord>> PostgresCatalog::ListUsers() {
  return Run("list users", [&](pqxx::connection& c) -> Result<std::vector<UserRecord>> {
    pqxx::nontransaction tx(c);
    return Collect(tx.exec("SELECT " SAMCACHE_USER_COLUMNS " FROM users ORDER BY name"), ReadUser);
  });
}

Result<int64_t> PostgresCatalog::CountUsers() {
  return Run("count users", [&](pqxx::connection& c) -> Result<int64_t> {
    pqxx::nontransaction tx(c);
    return tx.exec("SELECT COUNT(*) FROM users")[0][0].as<int64_t>();
  });
}

Status PostgresCatalog::UpdateUser(const UserRecord& u) {
  return Run("update a user", [&](pqxx::connection& c) -> Status {
    pqxx::nontransaction tx(c);
    const pqxx::result r = tx.exec_params("UPDATE users SET role = $1, password_hash = $2 WHERE id = $3",
                                          RoleName(u.role), u.password_hash, u.id);
    if (r.affected_rows() == 0) return Status::NotFound("no user with id '" + u.id + "'");
    return Status::Ok();
  });
}

Status PostgresCatalog::DeleteUser(const std::string& id) {
  return Run("delete a user", [&](pqxx::connection& c) -> Status {
    pqxx::work tx(c);
    // Locked first, so that no membership or token is added to it meanwhile.
    if (tx.exec_params("SELECT 1 FROM users WHERE id = $1 FOR UPDATE", id).empty()) {
      return Status::NotFound("no user with id '" + id + "'");
    }
    tx.exec_params("DELETE FROM project_members WHERE user_id = $1", id);
    tx.exec_params("DELETE FROM tokens WHERE user_id = $1", id);
    tx.exec_params("DELETE FROM users WHERE id = $1", id);
    tx.commit();
    return Status::Ok();
  });
}

// ---- Memberships ---------------------------------------------------------------------------

Status PostgresCatalog::SetMembership(const MembershipRecord& m) {
  return Run("set a membership", [&](pqxx::connection& c) -> Status {
    pqxx::work tx(c);
    if (tx.exec_params("SELECT 1 FROM projects WHERE id = $1 FOR KEY SHARE", m.project_id).empty()) {
      return Status::NotFound("no project with id '" + m.project_id + "'");
    }
    if (tx.exec_params("SELECT 1 FROM users WHERE id = $1 FOR KEY SHARE", m.user_id).empty()) {
      return Status::NotFound("no user with id '" + m.user_id + "'");
    }
    tx.exec_params("INSERT INTO project_members (" SAMCACHE_MEMBERSHIP_COLUMNS
                   ") VALUES ($1, $2, $3) "
                   "ON CONFLICT (project_id, user_id) DO UPDATE SET role = excluded.role",
                   m.project_id, m.user_id, RoleName(m.role));
    tx.commit();
    return Status::Ok();
  });
}

Status PostgresCatalog::RemoveMembership(const std::string& project_id, const std::string& user_id) {
  return Run("remove a membership", [&](pqxx::connection& c) -> Status {
    pqxx::nontransaction tx(c);
    if (tx.exec_params("DELETE FROM project_members WHERE project_id = $1 AND user_id = $2", project_id,
                       user_id)
            .affected_rows() == 0) {
      return Status::NotFound("the user is not a member of the project");
    }
    return Status::Ok();
  });
}

Result<std::vector<MembershipRecord>> PostgresCatalog::ListMemberships(const std::string& user_id,
                                                                       const std::string& project_id) {
  return Run("list memberships", [&](pqxx::connection& c) -> Result<std::vector<MembershipRecord>> {
    pqxx::nontransaction tx(c);
    return Collect(tx.exec_params("SELECT " SAMCACHE_MEMBERSHIP_COLUMNS
                                  " FROM project_members WHERE ($1::varchar = '' OR user_id = $1) "
                                  "AND ($2::varchar = '' OR project_id = $2) "
                                  "ORDER BY project_id COLLATE \"C\", user_id COLLATE \"C\"",
                                  user_id, project_id),
                   ReadMembership);
  });
}

// ---- Tokens --------------------------------------------------------------------------------

Status PostgresCatalog::CreateToken(const TokenRecord& t) {
  return Run("create a token", [&](pqxx::connection& c) -> Status {
    pqxx::work tx(c);
    if (tx.exec_params("SELECT 1 FROM users WHERE id = $1 FOR KEY SHARE", t.user_id).empty()) {
      return Status::NotFound("no user with id '" + t.user_id + "'");
    }
    tx.exec_params("INSERT INTO tokens (" SAMCACHE_TOKEN_COLUMNS
                   ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                   t.id, t.user_id, t.name, TokenKindName(t.kind), t.hash, t.created_at, t.last_used_at,
                   t.expires_at, t.revoked_at, t.parent_id);
    tx.commit();
    return Status::Ok();
  });
}

Result<std::optional<TokenRecord>> PostgresCatalog::FindTokenByHash(const std::string& hash) {
  return Run("find a token", [&](pqxx::connection& c) -> Result<std::optional<TokenRecord>> {
    pqxx::nontransaction tx(c);
    return First(tx.exec_params("SELECT " SAMCACHE_TOKEN_COLUMNS " FROM tokens WHERE hash = $1", hash),
                 ReadToken);
  });
}

Result<std::optional<TokenRecord>> PostgresCatalog::GetToken(const std::string& id) {
  return Run("read a token", [&](pqxx::connection& c) -> Result<std::optional<TokenRecord>> {
    pqxx::nontransaction tx(c);
    return First(tx.exec_params("SELECT " SAMCACHE_TOKEN_COLUMNS " FROM tokens WHERE id = $1", id),
                 ReadToken);
  });
}

Result<std::vector<TokenRecord>> PostgresCatalog::ListTokens(const std::string& user_id, TokenKind kind) {
  return Run("list tokens", [&](pqxx::connection& c) -> Result<std::vector<TokenRecord>> {
    pqxx::nontransaction tx(c);
    return Collect(tx.exec_params("SELECT " SAMCACHE_TOKEN_COLUMNS
                                  " FROM tokens WHERE ($1::varchar = '' OR user_id = $1) AND kind = $2 "
                                  "ORDER BY created_at DESC, seq DESC",
                                  user_id, TokenKindName(kind)),
                   ReadToken);
  });
}

Result<bool> PostgresCatalog::RevokeToken(const std::string& id, const std::string& revoked_at) {
  return Run("revoke a token", [&](pqxx::connection& c) -> Result<bool> {
    pqxx::work tx(c);
    // The sessions made from the token go with it, in the same transaction.
    tx.exec_params("UPDATE tokens SET revoked_at = $1 WHERE parent_id = $2 AND revoked_at = ''", revoked_at,
                   id);
    // One compare-and-set: a concurrent revocation waits for this one and then, re-checking
    // the WHERE clause on the new row, changes nothing.
    const bool revoked =
        tx.exec_params("UPDATE tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at = ''", revoked_at, id)
            .affected_rows() > 0;
    const bool exists = revoked || !tx.exec_params("SELECT 1 FROM tokens WHERE id = $1", id).empty();
    tx.commit();
    if (!exists) return Status::NotFound("no token with id '" + id + "'");
    return revoked;
  });
}

Status PostgresCatalog::TouchToken(const std::string& id, const std::string& last_used_at) {
  return Run("touch a token", [&](pqxx::connection& c) -> Status {
    pqxx::nontransaction tx(c);
    if (tx.exec_params("UPDATE tokens SET last_used_at = $1 WHERE id = $2", last_used_at, id)
            .affected_rows() == 0) {
      return Status::NotFound("no token with id '" + id + "'");
    }
    return Status::Ok();
  });
}

Result<int64_t> PostgresCatalog::PurgeTokens(TokenKind kind, const std::string& before) {
  return Run("purge tokens", [&](pqxx::connection& c) -> Result<int64_t> {
    pqxx::nontransaction tx(c);
    return static_cast<int64_t>(
        tx.exec_params("DELETE FROM tokens WHERE kind = $1 AND ((expires_at <> '' AND expires_at < $2) "
                       "OR (revoked_at <> '' AND revoked_at < $2))",
                       TokenKindName(kind), before)
            .affected_rows());
  });
}

// ---- Embedding claims ----------------------------------------------------------------------

Status PostgresCatalog::AddClaims(const std::string& project_id, const std::string& model_id,
                                  const std::vector<std::string>& pixel_hashes) {
  return Run("add embedding claims", [&](pqxx::connection& c) -> Status {
    pqxx::work tx(c);
    // Sorted, so that two batches claiming the same pictures lock them in one order.
    std::vector<std::string> sorted = pixel_hashes;
    std::sort(sorted.begin(), sorted.end());
    sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
    for (size_t begin = 0; begin < sorted.size(); begin += kClaimChunk) {
      const std::string chunk = ArrayLiteral(Slice(sorted, begin));
      // Taken in one order (sorted), as AddImage takes it for one picture: the images counted
      // below and the claims an upload counts see each other.
      tx.exec_params(
          "SELECT pg_advisory_xact_lock(hashtextextended('pixels/' || $1 || '/' || h, 0)) "
          "FROM unnest($2::varchar[]) AS h ORDER BY h",
          project_id, chunk);
      // The pictures newly claimed for the model (not yet by it, nor by '*'): the images
      // showing them in the project's datasets count as claimed from now on.
      const std::vector<std::string> fresh =
          Collect(tx.exec_params("SELECT h FROM unnest($3::varchar[]) AS h WHERE NOT EXISTS (SELECT 1 FROM "
                                 "embedding_claims c WHERE c.project_id = $1 AND c.pixel_hash = h "
                                 "AND c.model_id IN ($2, '*'))",
                                 project_id, model_id, chunk),
                  ReadFirstText);
      tx.exec_params(
          "INSERT INTO embedding_claims (project_id, model_id, pixel_hash) "
          "SELECT $1, $2, h FROM unnest($3::varchar[]) AS h ORDER BY h ON CONFLICT DO NOTHING",
          project_id, model_id, chunk);
      if (fresh.empty()) continue;
      tx.exec_params(
          "INSERT INTO dataset_counts (dataset_id, name, value) "
          "SELECT i.dataset_id, $1, COUNT(*) FROM images i JOIN datasets d ON d.id = i.dataset_id "
          "WHERE i.pixel_hash = ANY($2::varchar[]) AND d.project_id = $3 GROUP BY i.dataset_id ORDER BY "
          "i.dataset_id "
          "ON CONFLICT (dataset_id, name) DO UPDATE SET value = dataset_counts.value + excluded.value",
          ClaimedCounter(model_id), ArrayLiteral(fresh), project_id);
    }
    tx.commit();
    return Status::Ok();
  });
}

Result<std::vector<std::string>> PostgresCatalog::FilterClaimed(
    const std::string& project_id, const std::string& model_id,
    const std::vector<std::string>& pixel_hashes) {
  return Run("read embedding claims", [&](pqxx::connection& c) -> Result<std::vector<std::string>> {
    pqxx::nontransaction tx(c);
    std::unordered_set<std::string> claimed;
    for (size_t begin = 0; begin < pixel_hashes.size(); begin += kClaimChunk) {
      for (std::string& hash :
           Collect(tx.exec_params("SELECT DISTINCT pixel_hash FROM embedding_claims WHERE project_id = $1 "
                                  "AND model_id IN ($2, '*') AND pixel_hash = ANY($3::varchar[])",
                                  project_id, model_id, ArrayLiteral(Slice(pixel_hashes, begin))),
                   ReadFirstText)) {
        claimed.insert(std::move(hash));
      }
    }
    std::vector<std::string> out;  // in the caller's order
    for (const std::string& hash : pixel_hashes) {
      if (claimed.count(hash) > 0) out.push_back(hash);
    }
    return out;
  });
}

Result<int64_t> PostgresCatalog::CountClaims(const std::string& project_id, const std::string& model_id) {
  return Run("count claims", [&](pqxx::connection& c) -> Result<int64_t> {
    pqxx::nontransaction tx(c);
    return tx
        .exec_params(
            "SELECT COUNT(DISTINCT pixel_hash) FROM embedding_claims "
            "WHERE project_id = $1 AND model_id IN ($2, '*')",
            project_id, model_id)[0][0]
        .as<int64_t>();
  });
}

Result<std::vector<std::pair<std::string, std::string>>> PostgresCatalog::ListClaims(
    const std::string& model_id) {
  return Run("list embedding claims",
             [&](pqxx::connection& c) -> Result<std::vector<std::pair<std::string, std::string>>> {
               pqxx::nontransaction tx(c);
               return Collect(tx.exec_params("SELECT project_id, pixel_hash FROM embedding_claims "
                                             "WHERE model_id IN ($1, '*') GROUP BY project_id, pixel_hash "
                                             "ORDER BY pixel_hash COLLATE \"C\", project_id COLLATE \"C\"",
                                             model_id),
                              ReadTextPair);
             });
}

}  // namespace samcache::catalog_internal::postgres
