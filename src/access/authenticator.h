// From a secret to a Caller: API tokens (Authorization: Bearer), page sessions (a cookie) and
// one-time login links, all checked against the catalog.
//
// Answers are kept for half a second, so a busy client costs one catalog read per half second
// and a token revoked on any instance sharing the catalog is refused everywhere within a
// second. last_used_at is written at most once a minute per token.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "access/caller.h"
#include "catalog/access_catalog.h"
#include "common/status.h"

namespace samcache {

struct AuthOptions {
  std::chrono::seconds session_lifetime = std::chrono::hours(12);
  std::chrono::seconds login_link_lifetime = std::chrono::hours(24 * 7);
  std::chrono::milliseconds cache_for = std::chrono::milliseconds(500);
};

// A token as its holder gets it: the secret is shown once and never again.
struct IssuedToken {
  TokenRecord record;
  std::string secret;
};

class Authenticator {
 public:
  // `catalog` must outlive the authenticator.
  explicit Authenticator(AccessCatalog& catalog, AuthOptions options = {});

  // The caller behind an API token or a session. Unauthenticated for anything else: no such
  // token, revoked, expired, a login link (those are only exchanged, by Login).
  Result<Caller> Authenticate(std::string_view secret);

  // Exchanges a login link (used up by this), an API token or a user name and password for a
  // new page session.
  Result<IssuedToken> LoginWithSecret(std::string_view secret);
  Result<IssuedToken> LoginWithPassword(const std::string& user_name, std::string_view password);
  // Ends the caller's session (an API token is revoked with `samcache token revoke`).
  Status Logout(const Caller& caller);

  // A new token for a user; `lifetime` zero: does not expire. `parent_id`: the API token a
  // session is made from (revoked with it).
  Result<IssuedToken> Issue(const std::string& user_id, const std::string& name, TokenKind kind,
                            std::chrono::seconds lifetime, const std::string& parent_id = "");

  // On first start (no users at all): creates the user "admin" with a one-time login link,
  // which the caller prints. Nothing when there are users already.
  Result<std::optional<IssuedToken>> Bootstrap();

  // Drops a cached answer at once (this instance revoked the token).
  void Forget(const std::string& token_id);

 private:
  Result<Caller> Load(const TokenRecord& token);
  Result<TokenRecord> ValidToken(std::string_view secret);
  void TouchLater(const std::string& token_id);

  AccessCatalog& catalog_;
  const AuthOptions options_;
  std::mutex mu_;
  struct Cached {
    Caller caller;
    std::chrono::steady_clock::time_point until;
  };
  std::map<std::string, Cached> cache_;                                   // by secret hash
  std::map<std::string, std::chrono::steady_clock::time_point> touched_;  // by token id
};

}  // namespace samcache
