#include "access/authenticator.h"

#include <spdlog/spdlog.h>

#include <vector>

#include "access/audit.h"
#include "access/passwords.h"
#include "access/secrets.h"
#include "common/crypto.h"
#include "common/files.h"

namespace samcache {

namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* kInvalid =
    "this token or session is not valid (unknown, revoked or expired); log in again";
constexpr size_t kMaxCached = 10000;

std::string ExpiryAfter(std::chrono::seconds lifetime) {
  if (lifetime.count() <= 0) return "";
  return Iso8601(std::chrono::system_clock::now() + lifetime);
}

bool Expired(const TokenRecord& token) {
  return !token.expires_at.empty() && token.expires_at <= NowIso8601();
}

}  // namespace

Authenticator::Authenticator(AccessCatalog& catalog, AuthOptions options)
    : catalog_(catalog), options_(options) {}

Result<TokenRecord> Authenticator::ValidToken(std::string_view secret) {
  if (!LooksLikeSecret(secret)) return Status::Unauthenticated(kInvalid);
  SAMCACHE_ASSIGN_OR_RETURN(const std::optional<TokenRecord> token,
                            catalog_.FindTokenByHash(SecretHash(secret)));
  if (!token || !token->revoked_at.empty() || Expired(*token)) return Status::Unauthenticated(kInvalid);
  return *token;
}

Result<Caller> Authenticator::Load(const TokenRecord& token) {
  SAMCACHE_ASSIGN_OR_RETURN(const std::optional<UserRecord> user, catalog_.FindUser(token.user_id));
  if (!user) return Status::Unauthenticated(kInvalid);
  Caller caller;
  caller.user_id = user->id;
  caller.user_name = user->name;
  caller.role = user->role;
  caller.token_id = token.id;
  caller.token_kind = token.kind;
  SAMCACHE_ASSIGN_OR_RETURN(const std::vector<MembershipRecord> memberships,
                            catalog_.ListMemberships(user->id, ""));
  for (const MembershipRecord& m : memberships) caller.memberships[m.project_id] = m.role;
  return caller;
}

Result<Caller> Authenticator::Authenticate(std::string_view secret) {
  if (!LooksLikeSecret(secret)) return Status::Unauthenticated(kInvalid);
  const std::string hash = SecretHash(secret);
  const Clock::time_point now = Clock::now();
  {
    std::lock_guard lock(mu_);
    auto it = cache_.find(hash);
    if (it != cache_.end() && it->second.until > now) return it->second.caller;
  }
  SAMCACHE_ASSIGN_OR_RETURN(const TokenRecord token, ValidToken(secret));
  if (token.kind == TokenKind::kLogin) {
    return Status::Unauthenticated(
        "a login link logs in once (open it in the browser); it is not an API token");
  }
  SAMCACHE_ASSIGN_OR_RETURN(Caller caller, Load(token));
  TouchLater(token.id);
  std::lock_guard lock(mu_);
  if (cache_.size() >= kMaxCached) cache_.clear();  // many distinct secrets: start over
  cache_[hash] = Cached{caller, now + options_.cache_for};
  return caller;
}

void Authenticator::TouchLater(const std::string& token_id) {
  const Clock::time_point now = Clock::now();
  {
    std::lock_guard lock(mu_);
    auto it = touched_.find(token_id);
    if (it != touched_.end() && now - it->second < std::chrono::minutes(1)) return;
    if (touched_.size() >= kMaxCached) touched_.clear();
    touched_[token_id] = now;
  }
  const Status touched = catalog_.TouchToken(token_id, NowIso8601());
  if (!touched.ok()) spdlog::warn("[AUTH] cannot record a token's last use: {}", touched.message());
}

void Authenticator::Forget(const std::string& token_id) {
  std::lock_guard lock(mu_);
  std::erase_if(cache_, [&](const auto& entry) { return entry.second.caller.token_id == token_id; });
}

Result<IssuedToken> Authenticator::Issue(const std::string& user_id, const std::string& name, TokenKind kind,
                                         std::chrono::seconds lifetime, const std::string& parent_id) {
  IssuedToken issued;
  issued.secret = NewSecret();
  TokenRecord& t = issued.record;
  t.id = RandomId();
  t.user_id = user_id;
  t.name = name;
  t.kind = kind;
  t.hash = SecretHash(issued.secret);
  t.created_at = NowIso8601();
  t.expires_at = ExpiryAfter(lifetime);
  t.parent_id = parent_id;
  SAMCACHE_RETURN_IF_ERROR(catalog_.CreateToken(t));
  return issued;
}

Result<IssuedToken> Authenticator::LoginWithSecret(std::string_view secret) {
  SAMCACHE_ASSIGN_OR_RETURN(const TokenRecord token, ValidToken(secret));
  if (token.kind == TokenKind::kSession) return Status::Unauthenticated(kInvalid);
  if (token.kind == TokenKind::kLogin) {
    // Used up before the session exists: of two tabs opening the link, one gets in.
    SAMCACHE_ASSIGN_OR_RETURN(const bool used_now, catalog_.RevokeToken(token.id, NowIso8601()));
    if (!used_now) return Status::Unauthenticated("this login link was used already; ask for a new one");
  }
  SAMCACHE_ASSIGN_OR_RETURN(const Caller caller, Load(token));
  // A session from an API token lives no longer than the token; one from a login link stands
  // on its own (the link is used up).
  SAMCACHE_ASSIGN_OR_RETURN(
      IssuedToken session,
      Issue(caller.user_id, "page session", TokenKind::kSession, options_.session_lifetime,
            token.kind == TokenKind::kApi ? token.id : std::string()));
  Audit(caller.Who(), "session.login",
        token.kind == TokenKind::kLogin ? "with a login link" : "with an API token");
  return session;
}

Result<IssuedToken> Authenticator::LoginWithPassword(const std::string& user_name,
                                                     std::string_view password) {
  SAMCACHE_ASSIGN_OR_RETURN(const std::optional<UserRecord> user, catalog_.FindUser(user_name));
  // The same work and answer for an unknown name, so that a login does not tell who exists.
  static const std::string kDecoy = HashPassword("not anyone's password").value();
  const bool match = VerifyPassword(user ? user->password_hash : kDecoy, password) && user.has_value() &&
                     !user->password_hash.empty();
  if (!match) {
    Audit(user_name.substr(0, 64), "session.login_failed", "wrong user name or password");
    return Status::Unauthenticated("wrong user name or password");
  }
  SAMCACHE_ASSIGN_OR_RETURN(IssuedToken session,
                            Issue(user->id, "page session", TokenKind::kSession, options_.session_lifetime));
  Audit(user->name, "session.login", "with a password");
  return session;
}

Status Authenticator::Logout(const Caller& caller) {
  if (caller.token_kind != TokenKind::kSession) return Status::Ok();
  SAMCACHE_RETURN_IF_ERROR(catalog_.RevokeToken(caller.token_id, NowIso8601()));
  Forget(caller.token_id);
  Audit(caller.Who(), "session.logout", "");
  return Status::Ok();
}

Result<std::optional<IssuedToken>> Authenticator::Bootstrap() {
  SAMCACHE_ASSIGN_OR_RETURN(const int64_t users, catalog_.CountUsers());
  if (users > 0) return std::optional<IssuedToken>();
  UserRecord admin;
  admin.id = RandomId();
  admin.name = "admin";
  admin.role = Role::kAdmin;
  admin.created_at = NowIso8601();
  const Status created = catalog_.CreateUser(admin);
  // Another instance sharing the catalog got there first: it prints the link.
  if (created.code() == StatusCode::kConflict) return std::optional<IssuedToken>();
  SAMCACHE_RETURN_IF_ERROR(created);
  Audit("(first start)", "user.add", "admin (admin)");
  SAMCACHE_ASSIGN_OR_RETURN(IssuedToken link, Issue(admin.id, "first-start login link", TokenKind::kLogin,
                                                    options_.login_link_lifetime));
  return std::optional<IssuedToken>(std::move(link));
}

}  // namespace samcache
