// Who may see what: projects, users, their memberships and tokens, and which projects have
// claimed a picture's embedding.
//
// Part of the Catalog (catalog.h): thread-safe, and each mutating method is one transaction.
// Every instance sharing the catalog sees a change at its next read (a revoked token is
// refused everywhere).
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "catalog/records.h"
#include "common/status.h"

namespace samcache {

class AccessCatalog {
 public:
  virtual ~AccessCatalog() = default;

  // --- Projects ---
  // Conflict when the name is taken.
  virtual Status CreateProject(const ProjectRecord& project) = 0;
  // By id, or else by exact name.
  virtual Result<std::optional<ProjectRecord>> FindProject(const std::string& id_or_name) = 0;
  // By name.
  virtual Result<std::vector<ProjectRecord>> ListProjects() = 0;
  // NotFound when no project has this id; Conflict while it still has datasets, and for the
  // default project. Its memberships and claims go with it.
  virtual Status DeleteProject(const std::string& id) = 0;

  // --- Users ---
  // Conflict when the name is taken.
  virtual Status CreateUser(const UserRecord& user) = 0;
  // By id, or else by exact name.
  virtual Result<std::optional<UserRecord>> FindUser(const std::string& id_or_name) = 0;
  // By name.
  virtual Result<std::vector<UserRecord>> ListUsers() = 0;
  virtual Result<int64_t> CountUsers() = 0;
  // Changes role and password_hash. NotFound when no user has this id.
  virtual Status UpdateUser(const UserRecord& user) = 0;
  // Removes the user with its memberships and tokens. NotFound when no user has this id.
  virtual Status DeleteUser(const std::string& id) = 0;

  // --- Memberships ---
  // Adds the user to the project or changes its role there. NotFound for an unknown project
  // or user.
  virtual Status SetMembership(const MembershipRecord& membership) = 0;
  // NotFound when the user is not a member.
  virtual Status RemoveMembership(const std::string& project_id, const std::string& user_id) = 0;
  // One user's memberships (empty project_id), or one project's (empty user_id).
  virtual Result<std::vector<MembershipRecord>> ListMemberships(const std::string& user_id,
                                                                const std::string& project_id) = 0;

  // --- Tokens ---
  // NotFound when the user does not exist; Conflict when the hash is taken.
  virtual Status CreateToken(const TokenRecord& token) = 0;
  // The token with this hash, revoked or not, whatever its kind.
  virtual Result<std::optional<TokenRecord>> FindTokenByHash(const std::string& hash) = 0;
  virtual Result<std::optional<TokenRecord>> GetToken(const std::string& id) = 0;
  // A user's tokens (empty user_id: everyone's) of one kind, newest first, revoked ones too.
  virtual Result<std::vector<TokenRecord>> ListTokens(const std::string& user_id, TokenKind kind) = 0;
  // Sets revoked_at unless the token is revoked already, and on the tokens made from it
  // (parent_id). True when this call revoked it: of
  // two concurrent uses of a one-time token exactly one sees true. NotFound for an unknown id.
  virtual Result<bool> RevokeToken(const std::string& id, const std::string& revoked_at) = 0;
  virtual Status TouchToken(const std::string& id, const std::string& last_used_at) = 0;
  // Removes expired and revoked tokens of `kind` whose expiry or revocation is before `before`.
  virtual Result<int64_t> PurgeTokens(TokenKind kind, const std::string& before) = 0;

  // --- Embedding claims ---
  // A project claims a picture's embedding for a model once something in it asked for that
  // embedding (prewarm, a click, a warm). "Cached" is only ever said to a project that has
  // claimed the picture: otherwise it would tell that another project has the picture.
  // DeleteDataset drops the project's claims of pictures it no longer has, and an embedding
  // that no project claims is the garbage collector's. Model id "*" (claims from before
  // projects existed) stands for every model.
  virtual Status AddClaims(const std::string& project_id, const std::string& model_id,
                           const std::vector<std::string>& pixel_hashes) = 0;
  // Of `pixel_hashes`, those the project has claimed for the model (or for "*").
  virtual Result<std::vector<std::string>> FilterClaimed(const std::string& project_id,
                                                         const std::string& model_id,
                                                         const std::vector<std::string>& pixel_hashes) = 0;
  // How many distinct pictures the project has claimed for the model (or for "*"): the
  // embeddings its cache holds for the model, counted on the claims' index.
  virtual Result<int64_t> CountClaims(const std::string& project_id, const std::string& model_id) = 0;
  // Every claim of a model (with the "*" ones): the embeddings the garbage collector keeps.
  virtual Result<std::vector<std::pair<std::string, std::string>>> ListClaims(
      const std::string& model_id) = 0;
};

}  // namespace samcache
